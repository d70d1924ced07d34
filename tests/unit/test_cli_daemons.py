"""`corral dispatcher` and `corral renderclient` with stand-ins for the daemons."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner

import dispatcher.app
import renderclient.client
import renderclient.main
from console.cli import main
from console.daemons_cli import CompatPort
from console.renderclient_cli import parse_address
from dispatcher.config import Settings
from dispatcher.config_sources import Origin


class FakeUsers:
    """The user table of a new data directory: the admin's first password, shown once."""

    def __init__(self) -> None:
        self.first_password: str | None = "first-admin-pw"

    def take_first_password(self) -> str | None:
        password, self.first_password = self.first_password, None
        return password


class FakeDispatcher:
    """Starts instantly, sends itself SIGTERM, and closes when told to."""

    instances: list[FakeDispatcher] = []

    def __init__(self, settings: Settings, *, origins: Mapping[str, Origin] | None = None) -> None:
        self.settings = settings
        self.origins = dict(origins or {})
        self.users = FakeUsers()
        self.render_address = ("", 0)
        self.http_url = ""
        self.closes = 0
        self._closed = asyncio.Event()
        FakeDispatcher.instances.append(self)

    async def start(self) -> None:
        self.render_address = ("127.0.0.1", 40001)
        self.http_url = "http://127.0.0.1:40002"
        loop = asyncio.get_running_loop()
        loop.call_later(0.05, os.kill, os.getpid(), signal.SIGTERM)

    async def close(self) -> None:
        self.closes += 1
        self._closed.set()

    async def wait_closed(self) -> None:
        await self._closed.wait()


@pytest.fixture
def fake_dispatcher(monkeypatch: pytest.MonkeyPatch) -> type[FakeDispatcher]:
    FakeDispatcher.instances = []
    monkeypatch.setattr(dispatcher.app, "Dispatcher", FakeDispatcher)
    return FakeDispatcher


def test_dispatcher_builds_settings_announces_and_closes_on_sigterm(
    fake_dispatcher: type[FakeDispatcher], tmp_path: Path
) -> None:
    result = CliRunner().invoke(
        main,
        ["dispatcher", "--data-dir", str(tmp_path), "--host", "127.0.0.1", "--port", "0",
         "--http-port", "0", "--compat-port", "off", "--durability", "normal",
         "--heartbeat-s", "0.5", "--node-lost-after-s", "3", "--reconnect-grace-s", "1",
         "--assign-ahead", "4", "--templates-dir", str(tmp_path), "--log-level", "warning"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert result.stdout == "listening render=127.0.0.1:40001 http=http://127.0.0.1:40002\n"
    assert "the user admin was created with the password: first-admin-pw" in result.stderr
    (instance,) = fake_dispatcher.instances
    assert instance.users.first_password is None
    assert instance.closes >= 1
    assert instance.settings == Settings(
        data_dir=tmp_path,
        host="127.0.0.1",
        port=0,
        http_port=0,
        compat_port=None,
        durability="normal",
        heartbeat_interval_s=0.5,
        node_lost_after_s=3.0,
        reconnect_grace_s=1.0,
        assign_ahead=4,
        templates_dirs=(tmp_path,),
    )


def test_dispatcher_defaults_match_settings(
    fake_dispatcher: type[FakeDispatcher], tmp_path: Path
) -> None:
    result = CliRunner().invoke(main, ["dispatcher", "--data-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert fake_dispatcher.instances[0].settings == Settings(data_dir=tmp_path)


def test_dispatcher_start_failure_is_one_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    class Busy(FakeDispatcher):
        async def start(self) -> None:
            raise OSError(98, "Address already in use")

    monkeypatch.setattr(dispatcher.app, "Dispatcher", Busy)
    result = CliRunner().invoke(main, ["dispatcher", "--data-dir", str(tmp_path)])
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines()[-1] == (
        "corral: error: cannot start the dispatcher: [Errno 98] Address already in use"
    )


def test_dispatcher_needs_a_data_dir() -> None:
    result = CliRunner().invoke(main, ["dispatcher"], env={"CORRAL_DATA_DIR": None})
    assert result.exit_code == 2
    assert result.stderr.startswith("corral: error: data_dir: required: give --data-dir")


class FakeRenderClient:
    def __init__(self, options: Any) -> None:
        self.options = options
        self.closed = asyncio.Event()

    async def close(self) -> None:
        self.closed.set()


def test_renderclient_builds_options_and_closes_on_sigterm(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    seen: list[FakeRenderClient] = []

    async def run(options: Any, *, client: FakeRenderClient) -> int:
        seen.append(client)
        asyncio.get_running_loop().call_later(0.05, os.kill, os.getpid(), signal.SIGTERM)
        await client.closed.wait()
        return 0

    monkeypatch.setattr(renderclient.client, "RenderClient", FakeRenderClient)
    monkeypatch.setattr(renderclient.main, "run", run)
    secret = tmp_path / "farm.secret"
    secret.write_text("s3cret\n")
    result = CliRunner().invoke(
        main,
        ["renderclient", "--dispatcher", "farm:9000", "--name", "rn01", "--secret-file",
         str(secret), "--pool", "gpu", "--pool", "linux", "--instances", "2",
         "--state-dir", str(tmp_path / "state"), "--finish-on-shutdown", "--log-level", "error"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    options = seen[0].options
    assert (options.host, options.port, options.name, options.secret) == (
        "farm", 9000, "rn01", b"s3cret",
    )  # fmt: skip
    assert options.pools == ("gpu", "linux") and options.instances == 2
    assert options.state_dir == tmp_path / "state" and options.finish_on_shutdown


def test_renderclient_secret_from_env_and_exit_code(monkeypatch: pytest.MonkeyPatch) -> None:
    async def run(options: Any, *, client: Any) -> int:
        assert options.secret == b"from-env" and options.port == 9681 and options.name
        return 3

    monkeypatch.setattr(renderclient.client, "RenderClient", FakeRenderClient)
    monkeypatch.setattr(renderclient.main, "run", run)
    result = CliRunner().invoke(
        main, ["renderclient", "--dispatcher", "farm"], env={"CORRAL_SECRET": "from-env"}
    )
    assert result.exit_code == 3


def test_renderclient_without_a_secret() -> None:
    result = CliRunner().invoke(
        main, ["renderclient", "--dispatcher", "farm:1"], env={"CORRAL_SECRET": None}
    )
    assert result.exit_code == 1
    assert result.stderr.startswith("corral: error: no farm secret")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("farm:9681", ("farm", 9681)),
        ("farm", ("farm", 9681)),
        ("10.0.0.1:1", ("10.0.0.1", 1)),
        ("[::1]:9000", ("::1", 9000)),
        ("[::1]", ("::1", 9681)),
    ],
)
def test_parse_address(text: str, expected: tuple[str, int]) -> None:
    assert parse_address(text) == expected


@pytest.mark.parametrize("text", [":9681", "farm:0", "farm:99999", "farm:x"])
def test_parse_address_refuses(text: str) -> None:
    with pytest.raises(click.BadParameter):
        parse_address(text)


def test_compat_port() -> None:
    port = CompatPort()
    assert port.convert("off", None, None) is None
    assert port.convert("0", None, None) == 0
    with pytest.raises(click.BadParameter):
        port.convert("70000", None, None)
