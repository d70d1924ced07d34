"""The Dispatcher: holds the farm's parts, starts them in order and closes them in reverse.

The parts, in start order: the store, the users, records and queue loaded from
it, the log files, the templates, the node server with its scheduler and node
control, the statistics sampler, the hook host and the template hooks, and
the HTTP API. The operations (dispatcher/operations/) act on these parts; the
fronts (the HTTP API, the hook API) only call the operations.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections.abc import Callable, Coroutine, Mapping
from pathlib import Path
from typing import Any

from aiohttp import web

from dispatcher import VERSION, limits, tls
from dispatcher.activity import ActivityLog, LogFolder, MessageLog, StatisticsSampler
from dispatcher.auth import FARM_SECRET_META, Users, adopt_farm_secret, farm_secret
from dispatcher.config import Settings
from dispatcher.config_sources import Origin
from dispatcher.control import NodeControl
from dispatcher.datadir import DataDirLock
from dispatcher.errors import StartupError
from dispatcher.events import EventBus
from dispatcher.logs import ActionLog, ChunkLogKeeper, ChunkLogs
from dispatcher.looplag import LoopLag
from dispatcher.metrics import Metrics
from dispatcher.nodes import NodeServer
from dispatcher.notify import Notifier
from dispatcher.operations import Operations
from dispatcher.progress import Progress
from dispatcher.protocol import STANDBY_REFUSAL
from dispatcher.queue import Queue
from dispatcher.records import Records
from dispatcher.roles import Role
from dispatcher.scheduler import Scheduler
from dispatcher.software import Registry
from dispatcher.store.refusal import store_wiring
from dispatcher.store.sqlite import SqliteStore
from dispatcher.store.urls import is_postgres
from dispatcher.streams import Streams
from dispatcher.web.app import make_app
from hooks.catalog import TemplateCatalog
from hooks.lifecycle import Hooks
from hooks.runtime import bundled_templates_dir
from hooks.service import ApiService
from hooks.supervisor import HookHost

log = logging.getLogger(__name__)

__all__ = ["VERSION", "Dispatcher"]


def chain(*callbacks: Callable[..., None]) -> Callable[..., None]:
    """One callable that calls each of `callbacks` in order."""

    def call_all(*args: Any) -> None:
        for callback in callbacks:
            callback(*args)

    return call_all


def open_store(settings: Settings, *, leader_epoch: int | None = None) -> SqliteStore:
    """The store the settings name: SQLite in the data directory, or PostgreSQL (fenced
    with `leader_epoch` under hot standby: dispatcher/leadership.py)."""
    if is_postgres(settings.store):
        from dispatcher.store.postgres import PostgresStore  # (asyncpg only when used)

        return PostgresStore(
            settings.store,
            durability=settings.durability,
            retry_max_s=settings.store_retry_max_s,
            leader_epoch=leader_epoch,
        )
    return SqliteStore(
        settings.db_path,
        durability=settings.durability,
        checkpoint_interval_s=settings.checkpoint_interval_s,
        retry_max_s=settings.store_retry_max_s,
    )


class Dispatcher:
    """One farm's dispatcher. `await start()`, then `await close()` (safe twice)."""

    def __init__(
        self,
        settings: Settings,
        *,
        origins: Mapping[str, Origin] | None = None,
        role: Role | None = None,
    ) -> None:
        """`origins`: where each setting came from (dispatcher/config_sources.py); a
        setting given as a command-line option keeps its value over a stored one.
        `role`: under hot standby, leader (with its epoch) or standby
        (dispatcher/standby.py); None for a dispatcher alone on its store."""
        self.settings = settings
        self.role = role
        self.lock = DataDirLock(settings.data_dir)
        self.store = open_store(settings, leader_epoch=None if role is None else role.epoch)
        self.users = Users(self.store, settings.data_dir, token_ttl_s=settings.token_ttl_s)
        self.records = Records(self.store)
        self.software = Registry(self.records)
        self.queue = Queue(
            self.store,
            exclude_after_failures=settings.exclude_after_failures,
            chunk_limits=settings.chunk_limits,
        )
        self.bus = EventBus()
        self.streams = Streams(self.bus)
        self.metrics = Metrics()
        self.progress = Progress(
            self.bus, self.store, self.queue.jobs, lambda: self.settings.events_progress_interval_s
        )
        self.operations = Operations(self)
        self.operations.system.origins.update(origins or {})
        self.api = ApiService(self.operations)  # the hook API's front
        self.loop_lag = LoopLag(stall_s=settings.loop_stall_s)
        self.notifier = Notifier(lambda: self.settings, self.users)
        self.templates: TemplateCatalog
        self.chunk_logs: ChunkLogKeeper
        self.actions: ActionLog
        self.message_log: MessageLog
        self.activity: ActivityLog
        self.action_logs: LogFolder
        self.node_server: NodeServer
        self.scheduler: Scheduler
        self.control: NodeControl
        self.sampler: StatisticsSampler
        self.hook_host: HookHost
        self.hooks: Hooks
        self.web: web.AppRunner | None = None
        self.secret = b""
        self.render_address: tuple[str, int] = ("", 0)
        self.http_url = ""
        self.compat_url = ""
        self.started_at = 0.0
        self._started = False
        self._closed = asyncio.Event()
        self.fatal: BaseException | None = None
        self._fatal_close: asyncio.Task[None] | None = None
        self.stepped_down = ""  # why a leader stepped down (it closed itself)

    # -- lifecycle -----------------------------------------------------------
    @property
    def standby(self) -> bool:
        return self.role is not None and self.role.name == "standby"

    async def start(self) -> None:
        """Start the parts in order. A standby (dispatcher/standby.py) loads the farm
        to answer reads, but assigns nothing, writes nothing, runs no hooks and refuses
        render clients."""
        settings = self.settings
        self.lock.acquire()  # one dispatcher per data directory
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        recorded = _read_json(settings.data_dir / "dispatcher.json")
        await self.loop_lag.start()
        await self.store.open()
        snapshot = await self.store.load()
        self.users.load(snapshot.users)
        self.queue.load(snapshot)
        self.records.load(await self.store.records())
        self.secret = self._farm_secret(snapshot.meta)
        logs = settings.logs_dir
        self.chunk_logs = self._chunk_logs()
        await self.chunk_logs.start()
        self.actions = ActionLog(logs)
        self.message_log = MessageLog(logs)
        self.activity = ActivityLog(logs, self.store)
        self.action_logs = LogFolder(logs, r"actions(-[\w.-]+)?\.log")
        await self.operations.system.load_templates()
        self._start_node_server(recorded)
        if self.standby:
            self.scheduler.paused = True
            self.node_server.refuse_with = self._refusal_of_standby
        self.operations.system.apply_stored()
        self.sampler = StatisticsSampler(
            self.store,
            self.operations.records.statistics_sample,
            lambda: self.settings.statistics_interval_s,
        )
        self._start_hooks()
        store_wiring(self.store, self.queue, self.users, self.records, self.scheduler, self._fatal)
        if self.role is not None:
            self.store.on_fenced = self.step_down  # type: ignore[attr-defined]
        if not self.standby:
            await self._start_notifier()
            self.operations.pools.identify()
            self.operations.engines.identify()
            await self.hooks.start()
            await self.sampler.start()
            await self.store.commit()
        await self.node_server.start()
        if not self.standby:
            for job in self.queue.jobs.values():
                self.scheduler.job_changed(job)
        self.render_address = self.node_server.address
        await self._start_web(recorded)
        self.started_at = time.time()
        self._started = True
        log.info(
            "action=started jobs=%d nodes=%d render=%s:%d http=%s",
            len(self.queue.jobs), len(self.queue.nodes), *self.render_address, self.http_url,
        )  # fmt: skip

    def _farm_secret(self, meta: Mapping[str, str]) -> bytes:
        """SQLite: DATA_DIR/farm.secret. PostgreSQL: the database's (every dispatcher on
        it shares it), written to the data directory's file too; a farm's first start
        on the database stores the file's (committed with the start's first batch)."""
        data_dir = self.settings.data_dir
        if not is_postgres(self.settings.store):
            return farm_secret(data_dir)
        stored = meta.get(FARM_SECRET_META, "")
        if stored:
            adopt_farm_secret(data_dir, stored)
            return stored.encode()
        if self.standby:  # (a standby starts once a leader has stored it: not expected)
            raise StartupError("the database holds no farm secret yet", path="meta")
        secret = farm_secret(data_dir)
        self.store.put_meta(FARM_SECRET_META, secret.decode())
        return secret

    def _chunk_logs(self) -> ChunkLogKeeper:
        """Chunk logs: files under `shared_log_dir` when set; else the database with
        PostgreSQL (every dispatcher of the farm reads them), DATA_DIR/logs with SQLite."""
        settings = self.settings
        if settings.shared_log_dir is not None:
            return ChunkLogs(settings.shared_log_dir)
        if is_postgres(settings.store):
            from dispatcher.shared_logs import DatabaseChunkLogs  # (asyncpg only when used)

            table = self.store.chunk_log_table()  # type: ignore[attr-defined]
            return DatabaseChunkLogs(table, earlier=ChunkLogs(settings.logs_dir))
        return ChunkLogs(settings.logs_dir)

    def _start_node_server(self, recorded: dict[str, Any]) -> None:
        """The node server, its scheduler and node control, wired to the queue."""
        self.node_server = NodeServer(
            _with_port(self.settings, "port", recorded.get("render_port")),
            queue=self.queue,
            store=self.store,
            logs=self.chunk_logs,
            secret=self.secret,
            templates=lambda: (self.templates.digest, self.templates.sources),
        )
        self.scheduler = self.node_server.scheduler
        self.scheduler.template_platforms = lambda key: self.templates.platforms_of(key)
        self.queue.on_change = self.scheduler.job_changed
        self.queue.on_remove = self.scheduler.job_removed
        self.queue.on_kill = self.node_server.kill
        self.queue.on_progress = self.progress.job_moved
        self.progress.running_of = self.queue.chunks_progress
        self.queue.on_remove = chain(
            self.queue.on_remove, self.progress.job_removed, self.node_server.assign_views.forget
        )
        self.node_server.on_node_change = self.progress.node_changed
        self.control = NodeControl(queue=self.queue, store=self.store, nodes=self.node_server)
        self.node_server.on_attached = chain(
            self.operations.pools.node_attached,
            self.operations.software.node_attached,
            self.node_server.on_attached,
        )
        self.node_server.template_config_of = self.operations.template_config.layer_for
        self.node_server.after_accepted = self.operations.engines.after_result
        self.node_server.repositories = lambda: [info for _, info in self.records.all("repository")]
        self.scheduler.licenses.templates = lambda: self.templates.templates
        self.queue.on_released = self.scheduler.released

    def _start_hooks(self) -> None:
        """The hook host (its API calls answered by the hook API front) and the hook points."""
        self.hook_host = HookHost(
            self.api.handle,
            templates_dirs=lambda: [bundled_templates_dir(), *self.settings.templates_dirs],
            timeout_s=self.settings.hook_timeout_s,  # start options: fixed for the host's life
            memory_limit_mb=self.settings.hook_memory_limit_mb,
        )
        self.api.host = self.hook_host
        self.hooks = hooks = Hooks(self, self.hook_host)
        self.scheduler.holds = hooks.holding.holds
        self.scheduler.holds_job = hooks.holding.holds_job
        queue = self.queue
        queue.on_change = chain(hooks.job_changed, queue.on_change)
        queue.on_finished = chain(queue.on_finished, hooks.job_finished)
        queue.on_edited = hooks.job_edited
        queue.on_deleted = hooks.job_deleted
        queue.on_reinit = hooks.job_reinit
        queue.on_started = hooks.job_started

    async def _start_notifier(self) -> None:
        """Notified users hear of a job's end from the queue, of its deletion from the queue
        (what the job was) and the bus (once the deletion is durable)."""
        queue, notifier = self.queue, self.notifier
        queue.on_finished = chain(queue.on_finished, notifier.job_finished)
        queue.on_deleted = chain(queue.on_deleted, notifier.job_deleted)
        self.bus.subscribe(notifier.on_event)
        await notifier.start()

    async def _start_web(self, recorded: dict[str, Any]) -> None:
        settings = self.settings
        app = make_app(
            self.operations,
            max_request_bytes=settings.max_request_bytes,
            leader_url=self._leader_url if self.standby else None,
        )
        self.web = web.AppRunner(
            app, access_log=None, handle_signals=False,
            max_line_size=limits.MAX_REQUEST_LINE_BYTES,
        )  # fmt: skip
        await self.web.setup()
        http_port = await self._listen(settings.http_port, recorded.get("http_port"))
        scheme = "https" if settings.tls_cert is not None else "http"
        self.http_url = f"{scheme}://{_url_host(settings.http_host)}:{http_port}"
        if settings.compat_port is not None:
            compat = await self._listen(settings.compat_port, recorded.get("compat_port"))
            self.compat_url = f"{scheme}://{_url_host(settings.http_host)}:{compat}"
        self._write_state(http_port)

    async def _listen(self, port: int, recorded: Any) -> int:
        assert self.web is not None
        candidates = [recorded, 0] if port == 0 and isinstance(recorded, int) else [port]
        ssl_context = tls.server_context(self.settings)  # None without a certificate
        for candidate in candidates:
            site = web.TCPSite(
                self.web, self.settings.http_host, candidate, backlog=1024, ssl_context=ssl_context
            )
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
        """Stop taking work, then close the parts in reverse order. Safe twice. Whoever
        waits for the close (`wait_closed`) is let go even when a part fails to close."""
        try:
            await self._close_parts()
        finally:
            self._closed.set()

    async def _close_parts(self) -> None:
        if not self._started:
            await self.notifier.close()
            await self._close_hooks()
            await self.store.close()
            self.lock.release()
            await self.loop_lag.close()
            return
        self._started = False
        log.info("action=stopping")
        self.scheduler.paused = True
        self.progress.close()
        if self.web is not None:
            await self.web.cleanup()
            self.web = None
        await self.notifier.close()
        await self._close_hooks()
        await self.node_server.close()
        if hasattr(self, "chunk_logs"):
            await self.chunk_logs.aclose()
        await self.store.close()
        self.lock.release()
        await self.loop_lag.close()
        log.info("action=stopped")

    async def _close_hooks(self) -> None:
        """The hooks (and their host), the sampler and the activity file; safe twice."""
        if hasattr(self, "hooks"):
            await self.hooks.close()
        if hasattr(self, "sampler"):
            await self.sampler.close()
        if hasattr(self, "activity"):
            self.activity.close()

    # -- hot standby ---------------------------------------------------------
    def _leader_url(self) -> str:
        """Where a standby sends writes: the leader's URL ('' while none is known)."""
        return "" if self.role is None else self.role.leader.http_url

    def _refusal_of_standby(self) -> str:
        """What a standby says to a render client that tries to connect to it."""
        leader = "" if self.role is None else self.role.leader.render_address
        if not leader:
            return f"{STANDBY_REFUSAL} and no leader is known yet; try again"
        return f"{STANDBY_REFUSAL}; render clients connect to the leader: leader={leader}"

    def role_view(self) -> dict[str, Any]:
        """role, epoch, leader_url and leader_render for the status route (a dispatcher
        alone on its store is its farm's leader, without an epoch)."""
        if self.role is not None:
            return self.role.view()
        host, port = self.render_address
        render = f"{host}:{port}" if port else None
        return {
            "role": "leader",
            "epoch": None,
            "leader_url": self.http_url,
            "leader_render": render,
        }

    async def refresh(self) -> None:
        """A standby's view of the farm, read again from the store."""
        snapshot = await self.store.load()
        records = await self.store.records()
        self.queue.reload(snapshot)
        self.users.reload(snapshot.users)
        self.records.reload(records)

    def step_down(self, cause: BaseException | str) -> None:
        """A leader that lost the lead (its batch was fenced, or its lock session is
        gone) stops at once: no more assignments, render clients disconnected, then
        the whole dispatcher closes (dispatcher/standby.py starts a standby)."""
        if self.stepped_down or self.standby:
            return
        self.stepped_down = str(cause) or type(cause).__name__
        log.critical("action=step_down reason=%s; the dispatcher stops leading", self.stepped_down)
        if self._started:
            self.scheduler.paused = True
        self._close_in_background(self._close_stepping_down(), "dispatcher-step-down")

    async def _close_stepping_down(self) -> None:
        if self._started:
            await self.node_server.close()  # (first: no render client works for it)
        await self.close()

    def _fatal(self, exc: BaseException) -> None:
        """The store can no longer be trusted: stop loudly (the CLI exits non-zero)."""
        self.fatal = exc
        self._close_in_background(self.close(), "dispatcher-fatal-close")

    def _close_in_background(self, closing: Coroutine[Any, Any, None], name: str) -> None:
        """Close from a callback (once): the task is kept, and a part that fails to
        close is logged (the close lets its waiters go either way)."""
        if self._fatal_close is not None:
            closing.close()
            return
        self._fatal_close = asyncio.get_running_loop().create_task(closing, name=name)
        self._fatal_close.add_done_callback(_log_close_failure)

    async def wait_closed(self) -> None:
        await self._closed.wait()


def _log_close_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("action=close_failed task=%s error=%r", task.get_name(), task.exception())


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
