"""Where the console finds its dispatcher URL and token, in the documented order."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from console.auth import (
    DEFAULT_URL,
    CliState,
    data_dir_from,
    find_dispatcher_url,
    find_token,
    normalize_url,
)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "home"
    path.mkdir()
    return path


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    path = tmp_path / "data"
    path.mkdir()
    return path


def _write_user_token(home: Path, token: str) -> None:
    folder = home / ".config" / "corral"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "token").write_text(token + "\n")


def test_token_order_option_then_env_then_user_file_then_data_dir(
    home: Path, data_dir: Path
) -> None:
    _write_user_token(home, "from-home")
    (data_dir / "admin.token").write_text("from-data\n")
    env = {"CORRAL_TOKEN": "from-env"}

    found = find_token("from-option", env, home, data_dir)
    assert found is not None and (found.value, found.source) == ("from-option", "--token")
    found = find_token(None, env, home, data_dir)
    assert found is not None and (found.value, found.source) == ("from-env", "CORRAL_TOKEN")
    found = find_token(None, {}, home, data_dir)
    assert found is not None and found.value == "from-home"
    (home / ".config" / "corral" / "token").unlink()
    found = find_token(None, {}, home, data_dir)
    assert found is not None and found.value == "from-data"
    assert found.source == str(data_dir / "admin.token")


def test_no_token_anywhere(home: Path, data_dir: Path) -> None:
    assert find_token(None, {}, home, data_dir) is None
    assert find_token("  ", {"CORRAL_TOKEN": ""}, None, None) is None


def test_empty_or_unreadable_token_files_are_skipped(home: Path, data_dir: Path) -> None:
    _write_user_token(home, "   ")
    (data_dir / "admin.token").mkdir()  # a folder cannot be read as a token
    assert find_token(None, {}, home, data_dir) is None


def test_data_dir_comes_from_option_or_env(tmp_path: Path) -> None:
    assert data_dir_from(tmp_path, {"CORRAL_DATA_DIR": "/elsewhere"}) == tmp_path
    assert data_dir_from(None, {"CORRAL_DATA_DIR": str(tmp_path)}) == tmp_path
    assert data_dir_from(None, {}) is None


def test_url_order_option_then_env_then_dispatcher_json_then_default(data_dir: Path) -> None:
    (data_dir / "dispatcher.json").write_text(
        json.dumps({"pid": 1, "render_port": 9681, "http_port": 9999, "http_url": "http://h:9999/"})
    )
    env = {"CORRAL_DISPATCHER": "http://env-host:1234"}
    assert find_dispatcher_url("opt-host:9890", env, data_dir).value == "http://opt-host:9890"
    assert find_dispatcher_url(None, env, data_dir).value == "http://env-host:1234"
    assert find_dispatcher_url(None, {}, data_dir).value == "http://h:9999"
    assert find_dispatcher_url(None, {}, None).value == DEFAULT_URL


def test_dispatcher_json_with_only_a_port(data_dir: Path) -> None:
    (data_dir / "dispatcher.json").write_text(json.dumps({"pid": 1, "http_port": 4321}))
    assert find_dispatcher_url(None, {}, data_dir).value == "http://127.0.0.1:4321"


@pytest.mark.parametrize("content", ["not json", "[1, 2]", '{"http_port": "x"}', ""])
def test_unusable_dispatcher_json_falls_back_to_default(data_dir: Path, content: str) -> None:
    (data_dir / "dispatcher.json").write_text(content)
    assert find_dispatcher_url(None, {}, data_dir).value == DEFAULT_URL


def test_normalize_url() -> None:
    assert normalize_url(" farm:9890/ ") == "http://farm:9890"
    assert normalize_url("https://farm/corral/") == "https://farm/corral"


def test_cli_state_builds_one_client_with_a_hint_when_no_token(home: Path, data_dir: Path) -> None:
    (data_dir / "admin.token").write_text("secret-token")
    state = CliState(env={"CORRAL_DATA_DIR": str(data_dir)}, home=home)
    client = state.client()
    assert client is state.client()
    assert client.token == "secret-token"
    assert client.base_url == DEFAULT_URL
    assert client.auth_hint == ""

    bare = CliState(env={}, home=home).client()
    assert bare.token is None
    assert "CORRAL_TOKEN" in bare.auth_hint


def test_cli_state_reads_home_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, home: Path
) -> None:
    monkeypatch.setenv("HOME", str(home))
    _write_user_token(home, "home-token")
    assert CliState(env={}, home=Path.home()).client().token == "home-token"
