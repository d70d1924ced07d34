"""The web console's static files: which paths name a file, and the headers they carry."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dispatcher.errors import NotFound
from dispatcher.web import webconsole


@pytest.mark.parametrize(
    "path", ["index.html", "console.css", "js/app.js", "js/pages/index.js", "favicon.svg"]
)
def test_the_consoles_own_files_are_found(path: str) -> None:
    found = webconsole.console_file(path)
    assert found.is_file() and found.is_relative_to(webconsole.ROOT)


@pytest.mark.parametrize(
    "path",
    [
        "", "..", "../webconsole.py", "js/../../webconsole.py", "js/..", ".hidden.js", "js/.x.js",
        "/etc/passwd", "js", "js/", "js//app.js", "js\\app.js", "js/app.js\x00.css", "app.py",
        "nothing.js", "a" * 300 + ".js", "js/app.js/", "~/x.js", "js/app.JS",
    ],
)  # fmt: skip
def test_anything_else_is_not_found(path: str) -> None:
    with pytest.raises(NotFound):
        webconsole.console_file(path)


def test_a_link_out_of_the_folder_is_not_followed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "console"
    root.mkdir()
    (tmp_path / "secret.js").write_text("secret")
    (root / "out.js").symlink_to(tmp_path / "secret.js")
    (root / "in.js").write_text("ok")
    monkeypatch.setattr(webconsole, "ROOT", root.resolve())
    assert webconsole.console_file("in.js").read_text() == "ok"
    with pytest.raises(NotFound):
        webconsole.console_file("out.js")


def test_the_policy_runs_only_the_consoles_own_scripts() -> None:
    policy = webconsole.CONTENT_SECURITY_POLICY
    assert "script-src 'self'" in policy and "default-src 'none'" in policy
    assert "unsafe" not in policy and "frame-ancestors 'none'" in policy
    assert webconsole.CONTENT_TYPES[".js"] == "text/javascript"


def test_a_files_body_and_etag_are_kept_until_it_changes(tmp_path: Path) -> None:
    path = tmp_path / "app.js"
    path.write_bytes(b"one")
    body, etag = webconsole.file_content(path)
    assert body == b"one" and etag.startswith('"') and len(etag) == 34
    again, same = webconsole.file_content(path)
    assert again is body and same == etag  # kept: not read again
    path.write_bytes(b"three")  # another size
    body, changed = webconsole.file_content(path)
    assert body == b"three" and changed != etag
    path.write_bytes(b"four!")  # the same size, a later modification time
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 1_000_000))
    body, last = webconsole.file_content(path)
    assert body == b"four!" and last not in (etag, changed)
