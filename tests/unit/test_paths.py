"""Path translation between platforms through repositories (dispatcher/paths.py)."""

from __future__ import annotations

from dispatcher import paths

PROJ = {"name": "proj", "windows": "P:\\proj", "linux": "/mnt/proj", "mac": "/Volumes/proj"}
DEEP = {"name": "shots", "windows": "P:\\proj\\shots", "linux": "/srv/shots", "mac": ""}
REPOS = [PROJ, DEEP]


def test_windows_to_linux_and_mac() -> None:
    assert paths.translate("P:\\proj\\a\\b.ma", [PROJ], "linux") == "/mnt/proj/a/b.ma"
    assert paths.translate("p:/PROJ/a/b.ma", [PROJ], "mac") == "/Volumes/proj/a/b.ma"


def test_linux_to_windows() -> None:
    assert paths.translate("/mnt/proj/a/b.ma", [PROJ], "windows") == "P:\\proj\\a\\b.ma"
    assert paths.translate("/mnt/proj", [PROJ], "windows") == "P:\\proj"


def test_the_longest_root_wins_and_a_missing_root_leaves_the_path() -> None:
    assert paths.translate("P:\\proj\\shots\\s1.ma", REPOS, "linux") == "/srv/shots/s1.ma"
    assert paths.translate("P:\\proj\\shots\\s1.ma", REPOS, "mac") == "P:\\proj\\shots\\s1.ma"


def test_paths_under_no_repository_stay() -> None:
    for path in ("/mnt/projects/x", "Q:\\proj\\x", "relative/x", "", "-t", "/mnt/pro"):
        assert paths.translate(path, REPOS, "windows") == path


def test_platform_of_a_render_clients_report() -> None:
    assert paths.platform_of("win32") == "windows"
    assert paths.platform_of("darwin") == "mac"
    assert paths.platform_of("linux") == "linux"


def test_translate_job_takes_the_marked_fields_only() -> None:
    job = {
        "subst": ["job_file", "command"],
        "command": ["render", "P:\\proj\\a.ma"],
        "data": {
            "job_file": "P:\\proj\\a.ma",
            "notes_path": "P:\\proj\\n.txt",
            "output": "P:\\proj\\out",
            "muster": {"subst": ["output"]},
        },
    }
    out = paths.translate_job(job, REPOS, "linux")
    assert out["command"] == ["render", "/mnt/proj/a.ma"]
    assert out["data"]["job_file"] == "/mnt/proj/a.ma"
    assert out["data"]["output"] == "/mnt/proj/out"  # a Muster REST attribute flagged subst
    assert out["data"]["notes_path"] == "P:\\proj\\n.txt"
    assert job["data"]["job_file"] == "P:\\proj\\a.ma"  # the job itself is unchanged
