"""The Blender add-on (addons/blender) in Debian's real Blender, in background mode,
against a real dispatcher: installed as the zip (library bundled) and as the single
file (library found through its preferences), its operator submits the saved scene
as a `blender` job with the frames, chunk size, priority and pools set in its
properties. Skips, saying why, where `blender` is missing."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.farm import Farm
from tests.integration.hookfarm import start_farm

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
DRIVER = ROOT / "tests" / "data" / "blender" / "submit_with_addon.py"
BLENDER = shutil.which("blender")

if BLENDER is None:
    pytest.skip(
        "blender is not installed (`make test` installs Debian's blender when run as root)",
        allow_module_level=True,
    )


@pytest.fixture(scope="module")
def farm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Farm]:
    farm = start_farm(tmp_path_factory.mktemp("addon") / "farm")
    for name in ("gpu", "cpu", "comp"):
        farm.request("POST", "/api/v1/pools/", {"name": name})
    yield farm
    farm.close()


def addon_file(form: str, folder: Path) -> tuple[Path, str]:
    """The file Blender installs and the library folder its preferences name."""
    if form == "zip":
        target = folder / "corral_submit.zip"
        subprocess.run(
            [sys.executable, str(ROOT / "addons" / "blender" / "make_zip.py"), str(target)],
            check=True, capture_output=True, timeout=60,
        )  # fmt: skip
        return target, ""
    return ROOT / "addons" / "blender" / "corral_submit.py", str(ROOT)


def run_blender(farm: Farm, folder: Path, form: str, **settings: Any) -> dict[str, Any]:
    addon, library = addon_file(form, folder)
    args = {
        "addon": str(addon),
        "library_path": library,
        "dispatcher": farm.url,
        "token": farm.token,
        "blend": str(folder / "shot.blend"),
        "output": str(folder / "frames"),
        "result": str(folder / "result.json"),
        **settings,
    }
    (folder / "args.json").write_text(json.dumps(args))
    # Blender's own user folder in the test's folder: the install goes there, and
    # no corral_client on PYTHONPATH (the add-on must find its own).
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    env["BLENDER_USER_SCRIPTS"] = str(folder / "scripts")
    env["BLENDER_USER_CONFIG"] = str(folder / "config")
    env.pop("CORRAL_CLIENT_PATH", None)
    done = subprocess.run(
        [str(BLENDER), "-b", "--factory-startup", "--python-exit-code", "1",
         "--python", str(DRIVER), "--", str(folder / "args.json")],
        capture_output=True, text=True, timeout=180, env=env, cwd=folder,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    result: dict[str, Any] = json.loads((folder / "result.json").read_text())
    result["stdout"] = done.stdout
    return result


@pytest.mark.parametrize("form", ["zip", "single file"])
def test_addon_submits_the_scene(farm: Farm, tmp_path: Path, form: str) -> None:
    before = {job["id"] for job in farm.request("GET", "/api/v1/jobs/")}
    result = run_blender(
        farm, tmp_path, form,
        title=f"addon {form}", frames=[3, 17], chunk_size=4, priority=71, pools=["gpu", "comp"],
    )  # fmt: skip

    assert "corral_submit" in result["menu"], result["menu"]
    assert result["unsaved"][0] == "CANCELLED", result
    assert "save the .blend file first" in result["unsaved"][1]
    assert result["refresh"] == ["FINISHED"], result["stdout"]
    assert result["pools_listed"] == ["comp", "cpu", "gpu"]
    assert result["submit"] == ["FINISHED"], result["stdout"]

    after = [job for job in farm.request("GET", "/api/v1/jobs/") if job["id"] not in before]
    assert [job["id"] for job in after] == [result["job_id"]], after
    job = farm.job(result["job_id"])
    assert job["title"] == f"addon {form}"
    assert job["template"] == "blender"
    assert (job["start"], job["end"], job["batch"]) == (3.0, 17.0, 4)
    assert job["chunks"]["total"] == 4  # 3-6, 7-10, 11-14, 15-17
    assert job["priority"] == 71
    assert sorted(job["pools"]) == ["comp", "gpu"]
    assert job["data"]["job_file"] == str(tmp_path / "shot.blend")
    assert job["data"]["output_folder"] == str(tmp_path / "frames")
    assert job["data"]["output_prefix"] == "shot_"
    assert (tmp_path / "shot.blend").is_file()


def test_addon_reports_the_dispatchers_refusal(farm: Farm, tmp_path: Path) -> None:
    """A bad token: the operator is cancelled with the dispatcher's 401, nothing queued."""
    before = len(farm.request("GET", "/api/v1/jobs/"))
    addon, _ = addon_file("zip", tmp_path)
    result = run_blender(
        Farm(farm.data_dir, url=farm.url, token="not-a-token"), tmp_path, "zip",
        title="refused", frames=[1, 2], chunk_size=1, priority=50, pools=[],
    )  # fmt: skip
    assert addon.is_file()
    assert result["refresh"][0] == "CANCELLED", result
    assert result["submit"][0] == "CANCELLED", result
    assert "HTTP 401" in result["submit"][1], result
    assert len(farm.request("GET", "/api/v1/jobs/")) == before
