"""`corral config show` and `corral dispatcher --config`: the settings a command line
gives, where each comes from, and one line with exit 2 for a bad value."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import dispatcher.app
from console.cli import main


def show(args: list[str], env: dict[str, str | None] | None = None) -> Any:
    result = CliRunner().invoke(main, ["config", "show", "--json", *args], env=env)
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def test_show_gives_each_setting_its_value_and_origin(tmp_path: Path) -> None:
    config = tmp_path / "farm.toml"
    config.write_text(
        f'data_dir = "{tmp_path}"\nmax_frame_bytes = 65536\nassign_ahead = 2\nhttp_port = 9900\n'
    )
    found = show(
        ["--config", str(config), "--assign-ahead", "4"],
        env={"CORRAL_HTTP_PORT": "9901", "CORRAL_DATA_DIR": None},
    )
    assert found["file"] == str(config)
    rows = found["settings"]
    assert rows["max_frame_bytes"] == {
        "value": 65536, "origin": "file", "where": str(config), "live": False,
    }  # fmt: skip
    assert rows["http_port"] == {
        "value": 9901, "origin": "env", "where": "CORRAL_HTTP_PORT", "live": False,
    }  # fmt: skip
    assert rows["assign_ahead"] == {
        "value": 4, "origin": "option", "where": "--assign-ahead", "live": False,
    }  # fmt: skip
    assert rows["heartbeat_interval_s"] == {
        "value": 5.0, "origin": "default", "where": "", "live": True,
    }  # fmt: skip
    assert rows["data_dir"]["value"] == str(tmp_path)


def test_show_as_text_has_one_line_per_setting(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main, ["config", "show", "--data-dir", str(tmp_path), "--heartbeat-s", "2"]
    )
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "file: (none)"
    heartbeat = next(line for line in lines if line.startswith("heartbeat_interval_s "))
    assert heartbeat.split() == ["heartbeat_interval_s", "2.0", "option", "--heartbeat-s", "(live)"]
    assert len(lines) == 1 + len(show(["--data-dir", str(tmp_path)])["settings"])


@pytest.mark.parametrize("command", [["config", "show"], ["dispatcher"]])
def test_a_bad_file_is_one_line_and_exit_2_and_nothing_starts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: list[str]
) -> None:
    def refuse(*_: object, **__: object) -> None:
        raise AssertionError("the dispatcher was built from a bad configuration")

    monkeypatch.setattr(dispatcher.app, "Dispatcher", refuse)
    config = tmp_path / "farm.toml"
    config.write_text("max_frame_bytes = 12\n")
    result = CliRunner().invoke(
        main, [*command, "--config", str(config), "--data-dir", str(tmp_path)]
    )
    assert result.exit_code == 2
    assert result.stderr == (
        f"corral: error: {config}: max_frame_bytes: Input should be greater than or equal to 1024\n"
    )
    assert not (tmp_path / "corral.db").exists()


def test_a_bad_variable_is_named(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main,
        ["dispatcher", "--data-dir", str(tmp_path)],
        env={"CORRAL_EXCLUDE_AFTER_FAILURES": "0"},
    )
    assert result.exit_code == 2
    assert result.stderr.startswith(
        "corral: error: CORRAL_EXCLUDE_AFTER_FAILURES: exclude_after_failures: "
    )


def test_an_unknown_variable_is_a_warning(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main,
        ["config", "show", "--data-dir", str(tmp_path)],
        env={"CORRAL_HEARTBEAT_S": "1"},
    )
    assert result.exit_code == 0
    assert "corral: warning: CORRAL_HEARTBEAT_S is not a setting; ignored" in result.stderr
