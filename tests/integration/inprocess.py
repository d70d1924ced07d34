"""A real dispatcher in the test's own event loop: real SQLite file, real HTTP on port 0,
real hook host and render clients as subprocesses. The test can watch what only the
process knows: the events on the bus and the operations it reaches."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from dispatcher.app import Dispatcher
from dispatcher.config import Settings
from dispatcher.events import CoreEvent, Event
from dispatcher.operations import Actor
from tests.integration.farm import stop_processes

CORRAL = str(Path(sys.executable).parent / "corral")


class HttpError(Exception):
    def __init__(self, status: int, body: Any) -> None:
        super().__init__(f"HTTP {status}: {body}")
        self.status = status
        self.body = body


@dataclass
class Live:
    """The dispatcher, its admin token, and what it published since the start."""

    dispatcher: Dispatcher
    session: aiohttp.ClientSession
    token: str
    events: list[Event] = field(default_factory=list)
    clients: list[subprocess.Popen[str]] = field(default_factory=list)

    @property
    def ops(self) -> Any:
        return self.dispatcher.operations

    async def rest(self, method: str, path: str, body: Any = None, token: str | None = None) -> Any:
        headers = {"Authorization": f"Bearer {token or self.token}"}
        url = self.dispatcher.http_url + path
        async with self.session.request(method, url, json=body, headers=headers) as answer:
            text = await answer.text()
            value = json.loads(text) if text and "json" in answer.content_type else text
            if answer.status >= 400:
                raise HttpError(answer.status, value)
            return value

    async def script(self, code: str, token: str | None = None) -> Any:
        """Run `code` in the dispatcher context; the last line it printed, as JSON."""
        result = await self.rest(
            "POST", "/api/v1/scripts/run", {"name": "t.py", "code": textwrap.dedent(code)}, token
        )
        assert result["ok"], result
        return json.loads(result["output"].strip().splitlines()[-1])

    def actions(self) -> list[dict[str, Any]]:
        path = self.dispatcher.settings.logs_dir / "actions.log"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]

    async def user(self, name: str, *permissions: str) -> str:
        """A user with these permissions; returns a bearer token."""
        ops = self.dispatcher.operations
        user = await ops.accounts.add_user(
            Actor.system(), {"name": name, "permissions": list(permissions)}
        )
        token = self.dispatcher.users.new_token(user)
        await self.dispatcher.store.commit()
        return token

    def client(self, name: str) -> subprocess.Popen[str]:
        """Start `corral renderclient` against this dispatcher."""
        data = self.dispatcher.settings.data_dir
        host, port = self.dispatcher.render_address
        log = (data.parent / f"client-{name}.log").open("a")
        process = subprocess.Popen(
            [CORRAL, "renderclient", "--dispatcher", f"127.0.0.1:{port}", "--name", name,
             "--secret-file", str(data / "farm.secret"), "--state-dir", str(data.parent / f"state-{name}")],
            stdout=log, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        self.clients.append(process)
        return process

    async def wait(self, predicate: Any, timeout_s: float = 20.0, what: str = "condition") -> Any:
        deadline = asyncio.get_running_loop().time() + timeout_s
        while True:
            value = predicate()
            if asyncio.iscoroutine(value):
                value = await value
            if value:
                return value
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
            await asyncio.sleep(0.05)


@asynccontextmanager
async def live_dispatcher(
    data_dir: Path, templates: Path | None = None, **settings: Any
) -> AsyncIterator[Live]:
    options: dict[str, Any] = {
        "data_dir": data_dir, "port": 0, "http_port": 0, "compat_port": None,
        "heartbeat_interval_s": 0.2, "hook_timeout_s": 5.0, "chunk_hold_recheck_s": 0.2,
        "templates_dirs": (templates,) if templates else (), **settings,
    }  # fmt: skip
    dispatcher = Dispatcher(Settings(**options))
    await dispatcher.start()
    token = (data_dir / "admin.token").read_text().strip()
    try:
        async with aiohttp.ClientSession() as session:
            live = Live(dispatcher, session, token)
            # The operations' events; the core's own (progress, node states) come and go
            # with the render clients' timing, so they are not recorded here.
            dispatcher.bus.subscribe(
                lambda event: None if isinstance(event, CoreEvent) else live.events.append(event)
            )
            try:
                yield live
            finally:  # waited for off the loop: the dispatcher is still serving them
                await asyncio.to_thread(stop_processes, live.clients)
    finally:
        await dispatcher.close()
