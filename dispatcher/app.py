"""The Dispatcher: starts the store, queue, node server and HTTP API in order and
closes them in reverse."""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import os
import time
from pathlib import Path
from typing import Any

from aiohttp import web

from dispatcher import jobspec
from dispatcher.auth import Users, farm_secret
from dispatcher.config import Settings
from dispatcher.control import NodeControl
from dispatcher.errors import ValidationError
from dispatcher.logs import ActionLog, ChunkLogs
from dispatcher.looplag import LoopLag
from dispatcher.model import Job, JobKind
from dispatcher.nodes import NodeServer
from dispatcher.protocol import PROTOCOL_VERSION
from dispatcher.queue import Queue
from dispatcher.services import HookServices
from dispatcher.store.sqlite import SqliteStore
from dispatcher.web.app import current_user, make_app
from hooks.catalog import TemplateCatalog
from hooks.runtime import bundled_templates_dir

log = logging.getLogger(__name__)

VERSION = "0.1.0"


class Dispatcher(HookServices):
    """One farm's dispatcher. `await start()`, then `await close()` (safe twice)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.store = SqliteStore(settings.db_path, durability=settings.durability)
        self.queue = Queue(self.store, exclude_after_failures=settings.exclude_after_failures)
        self.users = Users(self.store, settings.data_dir)
        self.loop_lag = LoopLag(stall_s=settings.loop_stall_s)
        self.templates: TemplateCatalog
        self.chunk_logs: ChunkLogs
        self.actions: ActionLog
        self.node_server: NodeServer
        self.control: NodeControl
        self._runner: web.AppRunner | None = None
        self.render_address: tuple[str, int] = ("", 0)
        self.http_url = ""
        self.compat_url = ""
        self.started_at = 0.0
        self._started = False
        self._closed = asyncio.Event()

    # -- lifecycle -----------------------------------------------------------
    async def start(self) -> None:
        settings = self.settings
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        recorded = _read_json(settings.data_dir / "dispatcher.json")
        await self.loop_lag.start()
        await self.store.open()
        snapshot = await self.store.load()
        self.users.load(snapshot.users)
        self.queue.load(snapshot)
        self.chunk_logs = ChunkLogs(settings.logs_dir)
        self.actions = ActionLog(settings.logs_dir)
        await self.reload_templates()
        self.node_server = NodeServer(
            _with_port(settings, "port", recorded.get("render_port")),
            queue=self.queue,
            store=self.store,
            logs=self.chunk_logs,
            secret=farm_secret(settings.data_dir),
            templates=lambda: (self.templates.digest, self.templates.sources),
        )
        scheduler = self.node_server.scheduler
        self.queue.on_change = scheduler.job_changed
        self.queue.on_remove = scheduler.job_removed
        self.queue.on_kill = self.node_server.kill
        self.control = NodeControl(queue=self.queue, store=self.store, nodes=self.node_server)
        await self.start_hook_services()
        await self.store.commit()
        await self.node_server.start()
        for job in self.queue.jobs.values():
            scheduler.job_changed(job)
        self.render_address = self.node_server.address
        self._runner = web.AppRunner(make_app(self), access_log=None, handle_signals=False)
        await self._runner.setup()
        http_port = await self._listen(settings.http_port, recorded.get("http_port"))
        self.http_url = f"http://{_url_host(settings.http_host)}:{http_port}"
        if settings.compat_port is not None:
            compat = await self._listen(settings.compat_port, recorded.get("compat_port"))
            self.compat_url = f"http://{_url_host(settings.http_host)}:{compat}"
        self.started_at = time.time()
        self._write_state(http_port)
        self._started = True
        log.info(
            "action=started jobs=%d nodes=%d render=%s:%d http=%s",
            len(self.queue.jobs), len(self.queue.nodes), *self.render_address, self.http_url,
        )  # fmt: skip

    async def _listen(self, port: int, recorded: Any) -> int:
        assert self._runner is not None
        candidates = [recorded, 0] if port == 0 and isinstance(recorded, int) else [port]
        for candidate in candidates:
            site = web.TCPSite(self._runner, self.settings.http_host, candidate, backlog=1024)
            try:
                await site.start()
            except OSError:
                if candidate is candidates[-1]:
                    raise
                continue
            sockets = (
                getattr(site._server, "sockets", None) or []
            )  # uvloop's server is its own class
            return int(sockets[0].getsockname()[1])
        raise AssertionError("unreachable")

    def _write_state(self, http_port: int) -> None:
        state = {
            "pid": os.getpid(),
            "render_host": self.render_address[0],
            "render_port": self.render_address[1],
            "http_port": http_port,
            "http_url": self.http_url,
            "compat_port": int(self.compat_url.rsplit(":", 1)[1]) if self.compat_url else None,
            "version": VERSION,
        }
        path = self.settings.data_dir / "dispatcher.json"
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps(state, indent=2) + "\n")
        temporary.replace(path)

    async def close(self) -> None:
        """Stop taking work, close sessions and HTTP, flush the store. Safe twice."""
        if not self._started:
            await self.close_hook_services()
            await self.store.close()
            await self.loop_lag.close()
            self._closed.set()
            return
        self._started = False
        log.info("action=stopping")
        self.node_server.scheduler.paused = True
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        await self.close_hook_services()
        await self.node_server.close()
        await self.store.close()
        self.chunk_logs.close()
        await self.loop_lag.close()
        log.info("action=stopped")
        self._closed.set()

    async def wait_closed(self) -> None:
        await self._closed.wait()

    # -- operations used by the consoles -------------------------------------
    async def reload_templates(self) -> TemplateCatalog:
        """Load the template folders in a child process (a template never runs in the dispatcher)."""
        dirs = [bundled_templates_dir(), *self.settings.templates_dirs]
        self.templates = await asyncio.to_thread(TemplateCatalog.load, dirs)
        for error in self.templates.errors:
            log.error("action=template_error %s", error)
        return self.templates

    async def submit(self, specs: list[jobspec.JobSpec], user: str) -> list[Job]:
        """Queue validated jobs and return them once they are durable."""
        for position, spec in enumerate(specs):
            if spec.kind is JobKind.JOB:
                template = self.templates.get(spec.template)
                if template is None:
                    known = ", ".join(sorted(self.templates.keys()))
                    where = f"job #{position}: " if len(specs) > 1 else ""
                    raise ValidationError(
                        f"{where}template: no template {spec.template!r} (known: {known})",
                        field="template",
                    )
                spec.template = template.getKey()
        specs = await self.hooks.admit(specs, user)
        jobs = self.queue.submit(specs, user)
        self.hooks.submitted(jobs)
        await self.store.commit()
        return jobs

    async def commit(self, action: str, request: web.Request, **detail: object) -> None:
        """Record an operator's action and wait until it is durable."""
        self.actions.record(current_user(request).name, action, **detail)
        await self.store.commit()

    def why(self, job: Job) -> list[str]:
        nodes = list(self.queue.nodes.values())
        return self.node_server.scheduler.why(job, nodes, self.node_server.connected())

    def status(self, *, collect_garbage: bool = False) -> dict[str, Any]:
        """The dispatcher's counters. `collect_garbage` runs a full collection first, so that
        `rss_bytes` is the resident memory the queue really needs (it pauses the loop)."""
        if collect_garbage:
            gc.collect()
        return {
            "version": VERSION,
            "protocol": PROTOCOL_VERSION,
            "uptime_s": round(time.time() - self.started_at, 3),
            "jobs": len(self.queue.jobs),
            "nodes": len(self.queue.nodes),
            "nodes_online": len(self.node_server.connected()),
            "chunks_running": len(self.queue.running),
            "chunks_assigned": self.node_server.scheduler.assigned,
            "results": self.node_server.results,
            "store_batches": self.store.batches,
            "store": self.store.pragmas(),
            "templates": sorted(self.templates.keys()),
            "render_port": self.render_address[1],
            "rss_bytes": _rss_bytes(),
            "loop": self.loop_lag.view(),
            **self.hook_status(),
        }


def _rss_bytes() -> int | None:
    """This process's resident memory now (Linux); None where /proc is missing."""
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


def _read_json(path: Path) -> dict[str, Any]:
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def _with_port(settings: Settings, name: str, recorded: Any) -> Settings:
    """Settings whose port is the recorded one when the setting says 0 and it is free."""
    if getattr(settings, name) != 0 or not isinstance(recorded, int):
        return settings
    import socket

    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((settings.host, recorded))
        except OSError:
            return settings
    return settings.model_copy(update={name: recorded})


def _url_host(host: str) -> str:
    if host in ("0.0.0.0", ""):
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host
