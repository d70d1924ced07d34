"""HookHost: the dispatcher's side of the hook host process (hooks/host.py).

The dispatcher owns one long-lived host. `invoke(calls)` runs a batch of hook
calls there and `run_script(name, code)` a dispatcher-context script; both
wait their turn, one piece of work at a time. While the host runs something,
its MDispatcherAPI calls arrive here and are answered by `handler` on the
dispatcher loop. `CALLER_DEPTH` is the hook depth of the work an API call
comes from, so that the hooks it triggers are queued one level deeper.

Faults never reach the caller as exceptions: a hook that raised, ran past its
time limit, exited or crashed the host comes back as a failed `Done` with the
reason and traceback (also logged). A host that died is restarted before the
next piece of work; calls of a batch that had not run yet are run on the new
host. A hook stuck where SIGALRM cannot reach it is killed with the host at
a hard deadline (the time limit plus as much again, at least 1 s).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import itertools
import logging
import socket
import sys
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hooks import wire

log = logging.getLogger(__name__)

READY_TIMEOUT_S = 30.0
RESTART_BACKOFF_S = 0.5

CALLER_DEPTH: contextvars.ContextVar[int] = contextvars.ContextVar("corral_hook_depth", default=0)

ApiHandler = Callable[[wire.ApiCall], wire.ApiReply | Awaitable[wire.ApiReply]]


class HostDied(Exception):
    """The host process ended or its pipe broke."""


@dataclass
class _Work:
    calls: list[wire.HookCall] | None
    script: tuple[str, str] | None
    depth: int
    future: asyncio.Future[list[wire.Done]]
    actor: str = ""  # the user a script runs for; its API calls act as them


@dataclass
class _Process:
    process: asyncio.subprocess.Process
    transport: asyncio.Transport
    protocol: _HostProtocol
    pid: int
    readers: list[asyncio.Task[None]] = field(default_factory=list)


class _HostProtocol(asyncio.Protocol):
    """Frames from the host: Ready, Done, ApiCall."""

    def __init__(self, owner: HookHost) -> None:
        self.owner = owner
        self.buffer = wire.FrameBuffer()
        self.transport: asyncio.Transport | None = None
        self.ready: asyncio.Future[wire.Ready] = asyncio.get_running_loop().create_future()
        self.ready.add_done_callback(lambda done: done.cancelled() or done.exception())
        self.done: asyncio.Queue[wire.Done | None] = asyncio.Queue()
        self.lost = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        try:
            for body in self.buffer.feed(data):
                self._handle(wire.decode(body))
        except wire.WireError as exc:
            log.error("action=hook_host_protocol_error error=%s; restarting the host", exc)
            if self.transport is not None:
                self.transport.close()

    def _handle(self, message: wire.Message) -> None:
        if isinstance(message, wire.ApiCall):
            self.owner._api_call(self, message)
        elif isinstance(message, wire.Done):
            self.done.put_nowait(message)
        elif isinstance(message, wire.Ready) and not self.ready.done():
            self.ready.set_result(message)

    def send(self, message: wire.Message) -> None:
        if self.transport is not None and not self.lost:
            self.transport.write(wire.encode(message))

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        if not self.ready.done():
            self.ready.set_exception(HostDied("the hook host exited before it was ready"))
        self.done.put_nowait(None)


class HookHost:
    """Starts, feeds and restarts the hook host. `await start()`, then `await close()`."""

    def __init__(
        self,
        handler: ApiHandler,
        *,
        templates_dirs: Callable[[], list[Path]],
        timeout_s: Callable[[], float],
        memory_limit_mb: Callable[[], int],
    ) -> None:
        self.handler = handler
        self.templates_dirs = templates_dirs
        self.timeout_s = timeout_s
        self.memory_limit_mb = memory_limit_mb
        self._queue: deque[_Work] = deque()
        self._wake = asyncio.Event()
        self._worker: asyncio.Task[None] | None = None
        self._process: _Process | None = None
        self._api_tasks: set[asyncio.Task[Any]] = set()
        self._batches = itertools.count(1)
        self._restart_wanted = False
        self._closing = False
        self.current_depth = 0
        self.current_actor = ""
        self.starts = 0
        self.faults = 0
        self.template_keys: list[str] = []

    # -- lifecycle -------------------------------------------------------------
    async def start(self) -> None:
        """Start the worker; the host process itself starts with the first work (or now)."""
        if self._worker is None and not self._closing:
            self._worker = asyncio.create_task(self._work_loop(), name="hook-host")
            self._worker.add_done_callback(self._worker_done)

    def _worker_done(self, task: asyncio.Task[None]) -> None:
        if self._closing or task.cancelled():
            return
        log.error("action=hook_host_worker_died error=%r; restarting it", task.exception())
        self._worker = None
        asyncio.get_running_loop().call_soon(lambda: asyncio.ensure_future(self.start()))

    async def close(self) -> None:
        """Fail waiting work, stop the worker and the process. Safe twice."""
        if self._closing:
            return
        self._closing = True
        if self._worker is not None:
            self._worker.cancel()
            await asyncio.gather(self._worker, return_exceptions=True)
            self._worker = None
        while self._queue:
            work = self._queue.popleft()
            if not work.future.done():
                work.future.set_result(self._failed_all(work, "the dispatcher is closing"))
        for task in list(self._api_tasks):
            task.cancel()
        await self._stop_process()

    def request_restart(self) -> None:
        """Start a fresh host (templates reloaded) once the current work is done."""
        self._restart_wanted = True
        self._wake.set()

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    # -- submitting work ---------------------------------------------------------
    async def invoke(self, calls: list[wire.HookCall], depth: int = 1) -> list[wire.Done]:
        """Run hook calls in order; one Done per call (failed ones carry the reason)."""
        if not calls:
            return []
        return await self._submit(_Work(calls, None, depth, self._future()))

    async def run_script(self, name: str, code: str, actor: str = "") -> wire.Done:
        """Run a dispatcher-context script for user `actor`; its Done has its output and
        failed API calls."""
        results = await self._submit(_Work(None, (name, code), 1, self._future(), actor))
        return results[0]

    def _future(self) -> asyncio.Future[list[wire.Done]]:
        return asyncio.get_running_loop().create_future()

    async def _submit(self, work: _Work) -> list[wire.Done]:
        if self._closing:
            return self._failed_all(work, "the dispatcher is closing")
        self._queue.append(work)
        self._wake.set()
        return await asyncio.shield(work.future)

    def _failed_all(self, work: _Work, reason: str) -> list[wire.Done]:
        count = len(work.calls) if work.calls is not None else 1
        return [wire.Done(0, index, ok=False, error=reason) for index in range(count)]

    # -- the worker ----------------------------------------------------------------
    async def _start_early(self) -> None:
        """Start the host before it has work: the first hook need not wait, load errors show now."""
        try:
            await self._ensure_process()
        except (HostDied, OSError, TimeoutError) as exc:
            log.error(
                "action=hook_host_start_failed error=%s; it is tried again with the first hook", exc
            )

    async def _work_loop(self) -> None:
        await self._start_early()
        while True:
            if self._restart_wanted:
                self._restart_wanted = False
                await self._stop_process()
                await self._start_early()
            if not self._queue:
                self._wake.clear()
                if not self._restart_wanted:
                    await self._wake.wait()
                continue
            work = self._queue.popleft()
            self.current_depth, self.current_actor = work.depth, work.actor
            try:
                results = await self._run(work)
            finally:
                self.current_depth, self.current_actor = 0, ""
            if not work.future.done():
                work.future.set_result(results)

    async def _run(self, work: _Work) -> list[wire.Done]:
        total = len(work.calls) if work.calls is not None else 1
        results: dict[int, wire.Done] = {}
        while len(results) < total:
            pending = [index for index in range(total) if index not in results]
            try:
                process = await self._ensure_process()
            except (HostDied, OSError, TimeoutError) as exc:
                log.error(
                    "action=hook_host_start_failed error=%s; retrying in %.1f s",
                    exc,
                    RESTART_BACKOFF_S,
                )
                await asyncio.sleep(RESTART_BACKOFF_S)
                results[pending[0]] = wire.Done(
                    0, pending[0], ok=False, error=f"the hook host did not start: {exc}"
                )
                continue
            batch = next(self._batches)
            if work.calls is not None:
                process.protocol.send(wire.Invoke(batch, [work.calls[index] for index in pending]))
            else:
                assert work.script is not None
                process.protocol.send(wire.RunScript(batch, *work.script))
            await self._collect(process, batch, work, pending, results)
        return [results[index] for index in range(total)]

    async def _collect(
        self,
        process: _Process,
        batch: int,
        work: _Work,
        pending: list[int],
        results: dict[int, wire.Done],
    ) -> None:
        """Gather the Done frames of one sent batch; on a fault the current call fails."""
        timeout = self.timeout_s()
        hard_deadline_s = timeout + max(1.0, timeout)
        position = 0
        while position < len(pending):
            index = pending[position]
            try:
                done = await asyncio.wait_for(process.protocol.done.get(), hard_deadline_s)
            except TimeoutError:
                done = None
                reason = (
                    f"it ran past the hard deadline of {hard_deadline_s:g} s; the host was killed"
                )
                await self._stop_process(kill=True)
            else:
                reason = await self._death_reason(process) if done is None else ""
            if done is None or done.batch != batch:
                if done is not None:
                    continue  # a late frame of an earlier batch
                results[index] = wire.Done(batch, index, ok=False, error=reason, fatal=True)
                self._report(work, index, results[index])
                await self._stop_process()
                return
            done.index = index
            results[index] = done
            self._report(work, index, done)
            position += 1
            if done.fatal:
                await self._stop_process()
                return

    def _report(self, work: _Work, index: int, done: wire.Done) -> None:
        if work.calls is not None:
            call = work.calls[index]
            what = f"template={call.template} hook={call.method}"
        else:
            assert work.script is not None
            what = f"script={work.script[0]}"
        if done.output:
            log.info("action=hook_output %s output=%r", what, done.output[-2000:])
        if done.error:
            self.faults += 1
            log.error("action=hook_failed %s depth=%d: %s", what, work.depth, done.error.rstrip())

    # -- the process ---------------------------------------------------------------
    async def _ensure_process(self) -> _Process:
        if self._process is not None and not self._process.protocol.lost:
            return self._process
        if self._process is not None:
            await self._stop_process()
        parent, child = socket.socketpair()
        try:
            args = [sys.executable, "-m", "hooks.host", "--fd", str(child.fileno()),
                    "--timeout-s", repr(self.timeout_s()), "--memory-mb", str(self.memory_limit_mb())]  # fmt: skip
            for folder in self.templates_dirs():
                args += ["--templates-dir", str(folder)]
            process = await asyncio.create_subprocess_exec(
                *args,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                pass_fds=(child.fileno(),),
            )
        except BaseException:
            parent.close()
            raise
        finally:
            child.close()
        loop = asyncio.get_running_loop()
        transport, protocol = await loop.create_unix_connection(
            lambda: _HostProtocol(self), sock=parent
        )
        running = _Process(process, transport, protocol, process.pid)
        for name, stream in (("stdout", process.stdout), ("stderr", process.stderr)):
            if stream is not None:
                running.readers.append(
                    asyncio.create_task(
                        self._log_stream(stream, process.pid, name), name=f"hook-host-{name}"
                    )
                )
        self._process = running
        try:
            ready = await asyncio.wait_for(asyncio.shield(protocol.ready), READY_TIMEOUT_S)
        except BaseException:
            await self._stop_process(kill=True)
            raise
        self.starts += 1
        self.template_keys = list(ready.templates)
        log.info(
            "action=hook_host_started pid=%d templates=%s start=%d",
            process.pid,
            ",".join(ready.templates),
            self.starts,
        )
        return running

    async def _log_stream(self, stream: asyncio.StreamReader, pid: int, name: str) -> None:
        while True:
            line = await stream.readline()
            if not line:
                return
            text = line.decode("utf-8", "replace").rstrip()
            if text:
                log.warning("action=hook_host_%s pid=%d %s", name, pid, text)

    async def _death_reason(self, process: _Process) -> str:
        code = None
        with contextlib.suppress(TimeoutError):
            code = await asyncio.wait_for(process.process.wait(), 2.0)
        for reader in process.readers:  # let the traceback reach the log first
            with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(asyncio.shield(reader), 1.0)
        if code is None:
            return "the hook host closed its pipe"
        if code < 0:
            return f"the hook host was killed by signal {-code} (a crash, e.g. a segfault); see its traceback above"
        return f"the hook host exited with code {code}"

    async def _stop_process(self, kill: bool = False) -> None:
        running, self._process = self._process, None
        if running is None:
            return
        running.transport.close()
        process = running.process
        if process.returncode is None:
            if kill:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
            try:
                await asyncio.wait_for(process.wait(), 2.0)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                await process.wait()
        for reader in running.readers:
            with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(reader, 1.0)
        log.info("action=hook_host_stopped pid=%d code=%s", running.pid, process.returncode)

    # -- API calls from the host ----------------------------------------------------
    def _api_call(self, protocol: _HostProtocol, call: wire.ApiCall) -> None:
        token = CALLER_DEPTH.set(self.current_depth)
        try:
            answer = self.handler(call)
            if isinstance(answer, wire.ApiReply):
                protocol.send(answer)
                return
            task = asyncio.ensure_future(answer)
        except Exception as exc:  # the handler maps errors itself; this is a bug's last net
            log.exception("action=hook_api_error function=%s", call.function)
            protocol.send(wire.ApiReply(call.call, 11, f"internal error: {exc}"))
            return
        finally:
            CALLER_DEPTH.reset(token)
        self._api_tasks.add(task)
        started = time.monotonic()

        def finished(done: asyncio.Future[wire.ApiReply]) -> None:
            self._api_tasks.discard(task)
            if done.cancelled():
                return
            error = done.exception()
            if error is not None:
                log.error("action=hook_api_error function=%s error=%r", call.function, error)
                protocol.send(wire.ApiReply(call.call, 11, f"internal error: {error}"))
            else:
                protocol.send(done.result())
            log.debug(
                "action=hook_api_call function=%s took_s=%.3f",
                call.function,
                time.monotonic() - started,
            )

        task.add_done_callback(finished)
