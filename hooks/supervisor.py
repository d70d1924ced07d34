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

Every caller gets its answer or an error, always:

- Results are matched to calls by call id (`HookCall.id`, `Done.call`); a
  frame that answers no waiting call is logged and dropped.
- A call that cannot be encoded (a value msgpack cannot carry) fails alone
  with that reason; the rest of its batch runs.
- The worker that feeds the host is supervised: a fault inside it is logged
  with its traceback, fails the calls of the work in hand with the real cause
  (the host is killed, its state unknown), and the worker goes on; should the
  worker task itself end, it is logged and started again. Each piece of work
  also has an outer bound, so nothing waits past it even on a bug.
- The host's output is read in bounded pieces: a line longer than
  `MAX_LOG_LINE_BYTES` is logged cut short, never held whole.

The host and everything its hooks start form one process group, killed as a
whole whenever the host is stopped or restarted; the host itself asks for a
parent-death signal, so a dispatcher killed without a word takes it along.

API calls from the host are read with flow control (hooks/host_protocol.py): a
hook that sends thousands of calls without reading replies waits on its own pipe
instead of growing the dispatcher or holding its loop.

The time and memory limits are start options: taken once here and passed to
every host started, never changed while the dispatcher runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import itertools
import logging
import os
import signal
import socket
import sys
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dispatcher.histogram import LoopHistogram
from dispatcher.tasks import cancel_all
from hooks import wire
from hooks.host_protocol import HostDied, HostProtocol

log = logging.getLogger(__name__)

READY_TIMEOUT_S = 30.0
RESTART_BACKOFF_S = 0.5
MAX_LOG_LINE_BYTES = 8 * 1024  # longer lines of the host's stdout/stderr are cut

CALLER_DEPTH: contextvars.ContextVar[int] = contextvars.ContextVar("corral_hook_depth", default=0)

ApiHandler = Callable[[wire.ApiCall], wire.ApiReply | Awaitable[wire.ApiReply]]


@dataclass
class _Work:
    calls: list[wire.HookCall] | None
    script: tuple[str, str] | None
    depth: int
    future: asyncio.Future[list[wire.Done]]
    actor: str = ""  # the user a script runs for; its API calls act as them
    results: dict[int, wire.Done] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return len(self.calls) if self.calls is not None else 1


@dataclass
class _Process:
    process: asyncio.subprocess.Process
    transport: asyncio.Transport
    protocol: HostProtocol
    pid: int
    readers: list[asyncio.Task[None]] = field(default_factory=list)


class _LineLog:
    """Splits a stream into lines for the log, cutting lines over MAX_LOG_LINE_BYTES."""

    def __init__(self, pid: int, name: str) -> None:
        self.pid, self.name = pid, name
        self.pending = b""
        self.dropped = 0  # bytes of an over-long line not kept

    def feed(self, data: bytes) -> None:
        *lines, self.pending = (self.pending + data).split(b"\n")
        for line in lines:
            self._emit(line)
        if len(self.pending) > MAX_LOG_LINE_BYTES:
            if not self.dropped:
                self._emit(self.pending[:MAX_LOG_LINE_BYTES], cut=True)
            self.dropped += len(self.pending)
            self.pending = b""

    def close(self) -> None:
        if self.pending or self.dropped:
            self._emit(self.pending)

    def _emit(self, line: bytes, cut: bool = False) -> None:
        if self.dropped and not cut:  # the end of a line already logged cut short
            self.dropped = 0
            return
        text = line.decode("utf-8", "replace").rstrip()
        if cut:
            text += " ... (line truncated)"
        if text:
            log.warning("action=hook_host_%s pid=%d %s", self.name, self.pid, text)


class HookHost:
    """Starts, feeds and restarts the hook host. `await start()`, then `await close()`.

    `timeout_s` (per hook call) and `memory_limit_mb` (the host's address space,
    0: none) are fixed for the host's life: the dispatcher's start options.
    """

    def __init__(
        self,
        handler: ApiHandler,
        *,
        templates_dirs: Callable[[], list[Path]],
        timeout_s: float,
        memory_limit_mb: int,
    ) -> None:
        self.handler = handler
        self.templates_dirs = templates_dirs
        self.timeout_s = float(timeout_s)
        self.memory_limit_mb = int(memory_limit_mb)
        self._queue: deque[_Work] = deque()
        self._wake = asyncio.Event()
        self._worker: asyncio.Task[None] | None = None
        self._current: _Work | None = None
        self._process: _Process | None = None
        self._api_tasks: set[asyncio.Task[Any]] = set()
        self._batches = itertools.count(1)
        self._call_ids = itertools.count(1)
        self._restart_wanted = False
        self._closing = False
        self.current_depth = 0
        self.current_actor = ""
        self.starts = 0
        self.faults = 0
        self.worker_faults = 0
        self.template_keys: list[str] = []
        # Seconds each hook call took in the host, by hook method ("script": scripts).
        self.call_latency: dict[str, LoopHistogram] = {}

    @property
    def hard_deadline_s(self) -> float:
        """When a call that SIGALRM could not stop is killed with its host."""
        return self.timeout_s + max(1.0, self.timeout_s)

    # -- lifecycle -------------------------------------------------------------
    async def start(self) -> None:
        """Start the worker; the host process itself starts with the first work (or now)."""
        if self._worker is None and not self._closing:
            self._worker = asyncio.create_task(self._work_loop(), name="hook-host")
            self._worker.add_done_callback(self._worker_done)

    def _worker_done(self, task: asyncio.Task[None]) -> None:
        """The worker ended outside close(): fail its work in hand, log, start it again."""
        self._worker = None
        if self._closing:
            return
        cause: BaseException = (
            asyncio.CancelledError("the hook host worker was cancelled")
            if task.cancelled()
            else task.exception() or RuntimeError("the hook host worker returned")
        )
        self.worker_faults += 1
        log.error("action=hook_host_worker_died error=%r; restarting it", cause, exc_info=cause)
        work, self._current = self._current, None
        if work is not None:
            self._finish(work, f"the hook host's supervisor failed: {cause!r}")
        self._restart_wanted = True  # the process's state is unknown
        asyncio.get_running_loop().call_later(RESTART_BACKOFF_S, self._restart_worker)

    def _restart_worker(self) -> None:
        if not self._closing:
            asyncio.ensure_future(self.start())

    async def close(self) -> None:
        """Fail waiting work, stop the worker and the process (and its group). Safe twice."""
        if self._closing:
            return
        self._closing = True
        if self._worker is not None:
            await cancel_all([self._worker])
            self._worker = None
        if self._current is not None:
            self._finish(self._current, "the dispatcher is closing")
            self._current = None
        while self._queue:
            self._finish(self._queue.popleft(), "the dispatcher is closing")
        for task in list(self._api_tasks):
            task.cancel()
        await self._stop_process(kill=True)

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
            self._finish(work, "the dispatcher is closing")
        else:
            self._queue.append(work)
            self._wake.set()
        return await asyncio.shield(work.future)

    def _finish(self, work: _Work, reason: str = "") -> None:
        """Answer the work's waiter: its results so far, `reason` for every call without one."""
        if work.future.done():
            return
        for index in range(work.total):
            if index not in work.results:
                work.results[index] = wire.Done(0, index, ok=False, error=reason or "no result")
        work.future.set_result([work.results[index] for index in range(work.total)])

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
            work = self._current = self._queue.popleft()
            self.current_depth, self.current_actor = work.depth, work.actor
            try:
                await self._run_bounded(work)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a bug here must not strand the waiters
                self.worker_faults += 1
                log.exception("action=hook_host_worker_fault error=%r", exc)
                self._finish(work, f"the hook host's supervisor failed: {exc!r}")
                await self._stop_process_quietly()
            finally:
                self.current_depth, self.current_actor = 0, ""
            self._current = None
            self._finish(work)

    async def _run_bounded(self, work: _Work) -> None:
        """Run the work within an outer bound: every call a start and a hard deadline."""
        bound_s = READY_TIMEOUT_S + work.total * (
            self.hard_deadline_s + READY_TIMEOUT_S + RESTART_BACKOFF_S
        )
        try:
            async with asyncio.timeout(bound_s) as scope:
                await self._run(work)
        except TimeoutError:
            if not scope.expired():
                raise
            log.error("action=hook_work_overdue bound_s=%.1f; the host is killed", bound_s)
            self._finish(work, f"no result within {bound_s:g} s; the hook host was killed")
            await self._stop_process_quietly()

    async def _run(self, work: _Work) -> None:
        while len(work.results) < work.total:
            pending = [index for index in range(work.total) if index not in work.results]
            try:
                process = await self._ensure_process()
            except (HostDied, OSError, TimeoutError) as exc:
                log.error(
                    "action=hook_host_start_failed error=%s; retrying in %.1f s",
                    exc,
                    RESTART_BACKOFF_S,
                )
                await asyncio.sleep(RESTART_BACKOFF_S)
                self._record(
                    work,
                    pending[0],
                    wire.Done(0, pending[0], ok=False, error=f"the hook host did not start: {exc}"),
                )
                continue
            sent = self._send(process, work, pending)
            if sent:
                await self._collect(process, work, sent)

    def _send(self, process: _Process, work: _Work, pending: list[int]) -> dict[int, int]:
        """Send the pending calls as one frame; returns call id -> index of those sent.

        A call that cannot be encoded is answered with the reason here and left out.
        """
        batch = next(self._batches)
        if work.script is not None:
            call_id = next(self._call_ids)
            message: wire.Message = wire.RunScript(batch, *work.script, call=call_id)
            sent = {call_id: 0}
        else:
            assert work.calls is not None
            sent = {}
            for index in pending:
                work.calls[index].id = call_id = next(self._call_ids)
                sent[call_id] = index
            message = wire.Invoke(batch, [work.calls[index] for index in pending])
        try:
            process.protocol.send(message)
            return sent
        except wire.EncodeError:
            pass
        if work.calls is None:  # a script's text and name are str: only a lone surrogate
            self._record(work, 0, wire.Done(batch, 0, ok=False, error="the script could not be sent: it is not valid text"))  # fmt: skip
            return {}
        fit: dict[int, int] = {}
        for call_id, index in sent.items():
            try:
                wire.encode(wire.Invoke(batch, [work.calls[index]]))
            except wire.EncodeError as exc:
                self._record(work, index, wire.Done(batch, index, ok=False, call=call_id,
                                                    error=f"the hook call could not be sent: {exc}"))  # fmt: skip
            else:
                fit[call_id] = index
        if fit:
            process.protocol.send(wire.Invoke(batch, [work.calls[index] for index in fit.values()]))
        return fit

    async def _collect(self, process: _Process, work: _Work, sent: dict[int, int]) -> None:
        """Gather the Done frames of the sent calls, matched by call id.

        The host runs calls in the order sent, so the lowest unanswered id is the
        one running: a hard deadline or the host's death fails that call; the
        calls after it are sent again to the next host.
        """
        deadline_s = self.hard_deadline_s
        began = time.monotonic()  # the host runs the calls one after the other
        while sent:
            try:
                done = await process.protocol.next_done(deadline_s)
            except TimeoutError:
                running = min(sent)
                reason = f"it ran past the hard deadline of {deadline_s:g} s; the host was killed"
                await self._stop_process(kill=True)
                self._record(work, sent[running], wire.Done(0, sent[running], ok=False, call=running, error=reason, fatal=True))  # fmt: skip
                return
            if done is None:
                running = min(sent)
                reason = await self._death_reason(process)
                self._record(work, sent[running], wire.Done(0, sent[running], ok=False, call=running, error=reason, fatal=True))  # fmt: skip
                await self._stop_process()
                return
            index = sent.pop(done.call, None)
            if index is None:
                log.warning(
                    "action=hook_result_unmatched call=%d batch=%d; no call waits for it, dropped",
                    done.call,
                    done.batch,
                )
                continue
            ended = time.monotonic()
            self._time_call(work, index, ended - began)
            began = ended
            self._record(work, index, done)
            if done.fatal:
                await self._stop_process()
                return

    def _time_call(self, work: _Work, index: int, seconds: float) -> None:
        method = work.calls[index].method if work.calls is not None else "script"
        histogram = self.call_latency.get(method)
        if histogram is None:  # hook methods are a fixed set: the labels stay few
            histogram = self.call_latency[method] = LoopHistogram()
        histogram.observe(seconds)

    def _record(self, work: _Work, index: int, done: wire.Done) -> None:
        done.index = index
        work.results[index] = done
        self._report(work, index, done)

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
            await self._stop_process(kill=True)
        parent, child = socket.socketpair()
        try:
            args = [sys.executable, "-m", "hooks.host", "--fd", str(child.fileno()),
                    "--timeout-s", repr(self.timeout_s), "--memory-mb", str(self.memory_limit_mb),
                    "--parent-pid", str(os.getpid())]  # fmt: skip
            for folder in self.templates_dirs():
                args += ["--templates-dir", str(folder)]
            process = await asyncio.create_subprocess_exec(
                *args,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                pass_fds=(child.fileno(),),
                start_new_session=True,  # its own process group, killed as a whole
            )
        except BaseException:
            parent.close()
            raise
        finally:
            child.close()
        loop = asyncio.get_running_loop()
        transport, protocol = await loop.create_unix_connection(
            lambda: HostProtocol(self._api_call), sock=parent
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
        lines = _LineLog(pid, name)
        try:
            while data := await stream.read(64 * 1024):
                lines.feed(data)
        except Exception:  # the log of a dying host must not take anything down
            log.exception("action=hook_host_%s_unreadable pid=%d", name, pid)
        finally:
            lines.close()

    async def _death_reason(self, process: _Process) -> str:
        code = None
        with contextlib.suppress(TimeoutError):
            code = await asyncio.wait_for(process.process.wait(), 2.0)
        await self._await_readers(process)  # let the traceback reach the log first
        if code is None:
            return "the hook host closed its pipe"
        if code < 0:
            return f"the hook host was killed by signal {-code} (a crash, e.g. a segfault); see its traceback above"
        return f"the hook host exited with code {code}"

    async def _await_readers(self, running: _Process) -> None:
        for reader in running.readers:
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.wait_for(asyncio.shield(reader), 1.0)

    async def _stop_process_quietly(self) -> None:
        try:
            await self._stop_process(kill=True)
        except Exception:
            log.exception("action=hook_host_stop_failed")

    async def _stop_process(self, kill: bool = False) -> None:
        """End the host and then its whole process group (whatever its hooks started)."""
        running, self._process = self._process, None
        if running is None:
            return
        running.transport.close()
        process = running.process
        if process.returncode is None:
            if kill:
                _kill_group(running.pid)
            try:
                await asyncio.wait_for(process.wait(), 2.0)
            except TimeoutError:
                _kill_group(running.pid)
                await process.wait()
        _kill_group(running.pid)  # children of its hooks, left behind by a host that exited
        await self._await_readers(running)
        for reader in running.readers:
            reader.cancel()
        log.info("action=hook_host_stopped pid=%d code=%s", running.pid, process.returncode)

    # -- API calls from the host ----------------------------------------------------
    def _api_call(self, protocol: HostProtocol, call: wire.ApiCall) -> None:
        token = CALLER_DEPTH.set(self.current_depth)
        try:
            answer = self.handler(call)
            if isinstance(answer, wire.ApiReply):
                protocol.reply(answer)
                return
            task = asyncio.ensure_future(answer)
        except Exception as exc:  # the handler maps errors itself; this is a bug's last net
            log.exception("action=hook_api_error function=%s", call.function)
            protocol.reply(wire.ApiReply(call.call, 11, f"internal error: {exc}"))
            return
        finally:
            CALLER_DEPTH.reset(token)
        self._api_tasks.add(task)
        started = time.monotonic()

        def finished(done: asyncio.Future[wire.ApiReply]) -> None:
            self._api_tasks.discard(task)
            if done.cancelled():
                protocol.answered()
                return
            error = done.exception()
            if error is not None:
                log.error("action=hook_api_error function=%s error=%r", call.function, error)
                protocol.reply(wire.ApiReply(call.call, 11, f"internal error: {error}"))
            else:
                protocol.reply(done.result())
            log.debug(
                "action=hook_api_call function=%s took_s=%.3f",
                call.function,
                time.monotonic() - started,
            )

        task.add_done_callback(finished)


def _kill_group(pid: int) -> None:
    """SIGKILL the process group the host leads (it is gone already: nothing to do)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
