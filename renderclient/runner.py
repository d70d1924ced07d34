"""Runs one chunk's processes: a sequence of command lines, each in its own process group.

Output (stdout and stderr merged) is handed to a callback in batches every
`log_batch_s`; a chunk's run also spools it for the template's log checks
(renderclient/logwatch.py: checked as it streams, then whole at the end). A chunk's processes do not outlive it: when a command's leader exits,
whatever it left behind in its process group gets SIGTERM, then SIGKILL after
`term_grace_s`. Each command runs under a reaper (renderclient/reaper.py), so
that none of its processes outlives the render client either.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import shutil
import signal
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from dispatcher.errors import TemplateError
from dispatcher.protocol import Assign, Ref, Result
from hooks.api.objects import MJob
from hooks.api.template import MTemplate
from hooks.runtime import TemplateSet
from renderclient import processes, reaper, spawn
from renderclient.cgroups import MemoryCgroup, kernel_oom_kills
from renderclient.chunklog import expected_outputs, missing_outputs
from renderclient.hookcalls import DEFAULT_HOOK_TIMEOUT_S, failure_text, run_limited
from renderclient.invocation import Invocation, build_invocations, chunk_frames, judge_result
from renderclient.launcher import LauncherError
from renderclient.logwatch import LOG_CHECK_INTERVAL_S, LogWatch
from renderclient.verdicts import Judgement

logger = logging.getLogger(__name__)

TAIL_BYTES = 64 * 1024
# A leader killed by SIGKILL, or a shell reporting that its child was (128 + 9).
OOM_EXIT_CODES = (-signal.SIGKILL, 128 + signal.SIGKILL)
TERM_GRACE_S = 2.0
DRAIN_S = 1.0


@dataclass(slots=True)
class RunOutcome:
    """What happened to one chunk's command sequence. Times are Unix seconds."""

    exit_code: int | None
    error: str
    killed: bool
    timed_out: bool
    started: float
    finished: float
    log_tail: bytes
    commands_done: int = 0


class _LogBatcher:
    """Collects output and hands it on at most every `batch_s`; keeps the tail."""

    def __init__(self, on_output: Callable[[bytes], None], batch_s: float, tail_bytes: int) -> None:
        self._on_output = on_output
        self._batch_s = batch_s
        self._tail_bytes = tail_bytes
        self._pending = bytearray()
        self._tail = bytearray()
        self._handle: asyncio.TimerHandle | None = None

    def add(self, data: bytes) -> None:
        self._pending += data
        self._tail += data
        if len(self._tail) > 2 * self._tail_bytes:
            del self._tail[: len(self._tail) - self._tail_bytes]
        if self._handle is None:
            self._handle = asyncio.get_running_loop().call_later(self._batch_s, self.flush)

    def flush(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        if self._pending:
            data = bytes(self._pending)
            self._pending.clear()
            try:
                self._on_output(data)
            except Exception:
                logger.exception("action=log_forward_failed bytes=%d", len(data))

    @property
    def tail(self) -> bytes:
        return bytes(self._tail[-self._tail_bytes :])


class _PipeReader(asyncio.Protocol):
    """Reads one child's merged output pipe until every writer has closed it."""

    def __init__(self, batcher: _LogBatcher) -> None:
        self._batcher = batcher
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def data_received(self, data: bytes) -> None:
        self._batcher.add(data)

    def eof_received(self) -> bool | None:
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)


def _signal_group(pgid: int, signum: int) -> bool:
    """Send a signal to a process group; False when the group has no process left."""
    try:
        os.killpg(pgid, signum)
    except ProcessLookupError:
        return False
    except PermissionError:
        logger.warning("action=signal_refused pgid=%d signal=%d", pgid, signum)
        return False
    return True


Child = asyncio.subprocess.Process | spawn.Started
"""A running command's leader: started the fast way (spawn.py) or by the loop."""


class ProcessRunner:
    """Runs `argvs` one after another; the first failing command stops the sequence.

    `time_limit_s` (0 = none) bounds the whole sequence: past it the running
    process group is ended and the outcome says `timed_out`. `kill(reason)` ends
    it early from outside (the outcome says `killed`). `env` is the complete
    environment of the children; `cwd` None means the client's own directory.
    """

    def __init__(
        self,
        argvs: Sequence[Sequence[str]],
        *,
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
        time_limit_s: float = 0.0,
        on_output: Callable[[bytes], None],
        log_batch_s: float = 0.05,
        tail_bytes: int = TAIL_BYTES,
        term_grace_s: float = TERM_GRACE_S,
        label: str = "",
        cgroup: MemoryCgroup | None = None,
        nice: int | None = None,
        on_spawn: Callable[[int], None] | None = None,
        on_command_done: Callable[[int], None] | None = None,
    ) -> None:
        self._argvs = [list(argv) for argv in argvs]
        self._on_command_done = on_command_done
        self._cgroup = cgroup
        self.nice = nice
        self._on_spawn = on_spawn
        self._members: set[int] = set()
        self._env = dict(env) if env is not None else None
        self._cwd = cwd
        self._time_limit_s = time_limit_s
        self._batcher = _LogBatcher(on_output, log_batch_s, tail_bytes)
        self._term_grace_s = term_grace_s
        self._label = label
        self._stop = asyncio.Event()
        self._wakers: list[Callable[[bool], None]] = []  # a _wait() waiting for kill()
        self._kill_reason = ""
        self.pid: int | None = None

    def kill(self, reason: str) -> None:
        """Ask the sequence to stop now; run() returns with killed=True and this error."""
        if not self._stop.is_set():
            self._kill_reason = reason
            self._stop.set()
            for wake in list(self._wakers):
                wake(False)

    async def run(self) -> RunOutcome:
        started = time.time()
        deadline = time.monotonic() + self._time_limit_s if self._time_limit_s > 0 else None
        exit_code: int | None = None
        error = ""
        timed_out = False
        done = 0
        try:
            for argv in self._argvs:
                if self._stop.is_set():
                    break
                try:
                    exit_code, timed_out = await self._run_one(argv, deadline)
                except OSError as exc:
                    exit_code, error = (
                        None,
                        f"could not start {argv[0] if argv else '(empty)'}: {exc}",
                    )
                    break
                except LauncherError as exc:  # the kept reaper failed: this render with it
                    exit_code, error = None, f"the render's reaper failed: {exc}"
                    break
                if timed_out or self._stop.is_set() or exit_code != 0:
                    break
                done += 1
                if self._on_command_done is not None:
                    self._on_command_done(done)
        finally:
            self._batcher.flush()
        if timed_out:
            error = f"time limit of {self._time_limit_s:g} s exceeded"
        elif self._stop.is_set():
            error = self._kill_reason
        elif not error and exit_code not in (0, None):
            error = f"exit code {exit_code}"
        return RunOutcome(
            exit_code=exit_code,
            error=error,
            killed=self._stop.is_set() and not timed_out,
            timed_out=timed_out,
            started=started,
            finished=time.time(),
            log_tail=self._batcher.tail,
            commands_done=done,
        )

    async def _run_one(self, argv: list[str], deadline: float | None) -> tuple[int | None, bool]:
        """Run one command; returns (exit code, timed out)."""
        if not argv:
            raise OSError("empty command line")
        self._check_startable(argv[0])
        loop = asyncio.get_running_loop()
        read_fd, write_fd = os.pipe()
        process: Child
        try:
            if spawn.fast_spawn_usable(in_cgroup=self._cgroup is not None, nice=self.nice):
                process = spawn.spawn(
                    argv, output_fd=write_fd, env=self._env, cwd=self._cwd, reaped=True
                )
            else:
                process = await asyncio.create_subprocess_exec(
                    *reaper.wrap(argv),
                    stdin=asyncio.subprocess.DEVNULL,
                    stdout=write_fd,
                    stderr=write_fd,
                    env=self._env,
                    cwd=self._cwd,
                    start_new_session=True,
                    preexec_fn=self._in_child,
                )
        except BaseException:
            os.close(read_fd)
            os.close(write_fd)
            raise
        os.close(write_fd)
        self.pid = process.pid
        self._members = {process.pid}
        if self.nice is not None:
            processes.renice([process.pid], self.nice)
        if self._on_spawn is not None:
            self._on_spawn(process.pid)
        logger.debug("action=process_started %s pid=%d argv=%r", self._label, process.pid, argv)
        reader = _PipeReader(self._batcher)
        transport, _ = await loop.connect_read_pipe(lambda: reader, os.fdopen(read_fd, "rb", 0))
        timed_out = False
        try:
            timed_out = await self._wait(process, deadline)
            if timed_out or self._stop.is_set():
                self._signal_tree(process.pid, signal.SIGTERM)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(process.wait(), self._term_grace_s)
            await self._end_group(process, reader)
        finally:
            if process.returncode is None:
                # Cancelled while running: leave nothing behind.
                _signal_group(process.pid, signal.SIGKILL)
            self._kill_members()
            transport.close()
        return process.returncode, timed_out

    def _in_child(self) -> None:
        """Runs in the forked child before exec: die with the client, join the cgroup,
        take the nice value (so that everything the command starts inherits it)."""
        processes.die_with_parent()
        if self._cgroup is not None:
            self._cgroup.join()
        if self.nice is not None:
            with contextlib.suppress(OSError):
                os.setpriority(os.PRIO_PROCESS, 0, self.nice)

    def _check_startable(self, program: str) -> None:
        """Raise OSError as exec would for a program that cannot start (the reaper
        starts it, so its own exec error would reach us only as exit code 127)."""
        if os.sep in program:
            path = os.path.join(self._cwd or os.getcwd(), program)
            if os.path.isdir(path) or not os.access(path, os.F_OK):
                raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), program)
            if not os.access(path, os.X_OK):
                raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), program)
            return
        search = (self._env if self._env is not None else os.environ).get("PATH", os.defpath)
        if shutil.which(program, path=search) is None:
            raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), program)

    def _signal_tree(self, leader: int, signum: int) -> None:
        """Signal the leader's group and every descendant, remembering who they were."""
        self._members.update(info.pid for info in processes.tree(leader))
        _signal_group(leader, signum)
        for pid in self._members:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signum)

    def _kill_members(self) -> None:
        """SIGKILL what is left of a stopped tree (descendants that left the group too)."""
        for pid in self._members - {self.pid}:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)

    def tree_pids(self) -> list[int]:
        """The running command's process tree, leader first (empty between commands)."""
        return [info.pid for info in processes.tree(self.pid)] if self.pid else []

    async def _wait(self, process: Child, deadline: float | None) -> bool:
        """Wait for the leader to exit or a stop; True when the deadline passed first.

        One future, settled by whichever comes first: the leader's exit (a callback
        on a fast-started process's exit future, else a task awaiting the loop's
        process), kill(), or the deadline's timer."""
        if process.returncode is not None or self._stop.is_set():
            return False
        loop = asyncio.get_running_loop()
        woken: asyncio.Future[bool] = loop.create_future()

        def wake(timed_out: bool) -> None:
            if not woken.done():
                woken.set_result(timed_out)

        exited: asyncio.Future[Any]
        if isinstance(process, asyncio.subprocess.Process):
            exited = asyncio.create_task(process.wait(), name=f"corral-runner-wait-{process.pid}")
        else:
            exited = process.exit_future

        def on_exit(_: asyncio.Future[Any]) -> None:
            wake(False)

        exited.add_done_callback(on_exit)
        self._wakers.append(wake)
        timer = (
            None
            if deadline is None
            else loop.call_at(loop.time() + max(0.0, deadline - time.monotonic()), wake, True)
        )
        try:
            return await woken
        finally:
            if timer is not None:
                timer.cancel()
            self._wakers.remove(wake)
            exited.remove_done_callback(on_exit)
            if isinstance(exited, asyncio.Task):
                exited.cancel()
                await asyncio.gather(exited, return_exceptions=True)

    async def _end_group(self, process: Child, reader: _PipeReader) -> None:
        """End whatever is left of the group once its leader is gone; drain the output."""
        if process.returncode is None:
            _signal_group(process.pid, signal.SIGKILL)
            await process.wait()
        if _signal_group(process.pid, signal.SIGTERM):
            # Left-behind processes: give them the grace to exit (their pipe closes).
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(reader.closed), self._term_grace_s)
            _signal_group(process.pid, signal.SIGKILL)
        if not reader.closed.done():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(reader.closed), DRAIN_S)


def failed_result(ref: Ref, error: str, *, killed: bool = False) -> Result:
    """A Result for an attempt that never ran a process."""
    now = time.time()
    return Result(ref=ref, ok=False, error=error, started=now, finished=now, killed=killed)


class ChunkRun:
    """One assigned attempt: build its command lines from the template, run them, judge them.

    `run()` always returns a Result (it never raises for a bad template or a
    command that cannot start); `kill(reason)` stops it at any point.
    """

    def __init__(
        self,
        assign: Assign,
        templates: TemplateSet,
        *,
        instance: int,
        on_output: Callable[[bytes], None],
        log_batch_s: float = 0.05,
        label: str = "",
        env: Mapping[str, str] | None = None,
        cgroup: MemoryCgroup | None = None,
        nice: int | None = None,
        on_spawn: Callable[[int], None] | None = None,
        preferences_of: Callable[[MTemplate], dict[str, Any]] | None = None,
        hook_timeout_s: float = DEFAULT_HOOK_TIMEOUT_S,
        on_progress: Callable[[float, int], None] | None = None,
        log_check_interval_s: float = LOG_CHECK_INTERVAL_S,
    ) -> None:
        self.assign = assign
        self._on_progress = on_progress
        self._log_check_interval_s = log_check_interval_s
        self._preferences_of = preferences_of
        self._hook_timeout_s = hook_timeout_s
        self._templates = templates
        self._instance = instance
        self._on_output = on_output
        self._log_batch_s = log_batch_s
        self._label = label
        self._env = dict(env or {})
        self._cgroup = cgroup
        self._nice = nice
        self._on_spawn = on_spawn
        self._runner: ProcessRunner | None = None
        self._kill_reason = ""

    @property
    def ref(self) -> Ref:
        return self.assign.ref

    def kill(self, reason: str) -> None:
        if not self._kill_reason:
            self._kill_reason = reason
        if self._runner is not None:
            self._runner.kill(reason)

    def set_nice(self, nice: int) -> list[int]:
        """Renice the running process tree (and commands still to come); returns the pids."""
        self._nice = nice
        if self._runner is None:
            return []
        self._runner.nice = nice
        return processes.renice(self._runner.tree_pids(), nice)

    def tree_pids(self) -> list[int]:
        return self._runner.tree_pids() if self._runner is not None else []

    async def run(self) -> Result:
        assign = self.assign
        if self._kill_reason:
            return failed_result(assign.ref, self._kill_reason, killed=True)
        key = assign.job.get("template", "")
        template = self._find_template(key)
        if template is None:
            return failed_result(assign.ref, f"template {key} not installed on this node")
        ref = assign.ref

        def prepare() -> tuple[dict[str, Any], Invocation]:
            # The client configuration and the command line in one call: one trip
            # to a callback thread per chunk for both, under one time limit.
            preferences = self._preferences(template)
            return preferences, build_invocations(
                template,
                assign.job,
                assign.start,
                assign.end,
                self._instance,
                preferences,
                chunk_id=ref.chunk,
                attempt=ref.attempt,
            )

        try:
            preferences, invocation = await run_limited(
                prepare,
                timeout_s=self._hook_timeout_s,
                what=f"template {key}: building the command line",
            )
        except TemplateError as exc:
            logger.warning("action=build_failed %s template=%s error=%s", self._label, key, exc)
            self._log_text(failure_text(exc))
            return failed_result(ref, str(exc))
        except Exception as exc:
            logger.exception("action=build_failed %s template=%s", self._label, key)
            return failed_result(ref, f"template {key} could not build the command line: {exc!r}")
        try:
            frames = chunk_frames(assign.job, assign.start, assign.end)
        except (ValueError, ArithmeticError):
            frames = []
        watch = LogWatch(
            template,
            assign.job,
            assign.start,
            assign.end,
            preferences,
            chunk_id=ref.chunk,
            attempt=ref.attempt,
            frame_count=len(frames),
            hook_timeout_s=self._hook_timeout_s,
            on_progress=self._progress,
            on_abort=lambda verdict: self.kill(verdict.message),
            write=self._log_text,
            interval_s=self._log_check_interval_s,
        )
        try:
            return await self._run_watched(template, key, invocation, preferences, watch, frames)
        finally:
            watch.close()

    async def _run_watched(
        self,
        template: MTemplate,
        key: object,
        invocation: Invocation,
        preferences: dict[str, Any],
        watch: LogWatch,
        frames: list[Decimal],
    ) -> Result:
        assign, ref = self.assign, self.assign.ref

        def output(data: bytes) -> None:
            watch.add(data)
            self._on_output(data)

        self._runner = ProcessRunner(
            invocation.argvs,
            env={**invocation.env, **self._env},
            cwd=invocation.cwd,
            time_limit_s=assign.time_limit_s,
            on_output=output,
            log_batch_s=self._log_batch_s,
            label=self._label,
            cgroup=self._cgroup,
            nice=self._nice,
            on_spawn=self._on_spawn,
            on_command_done=watch.commands_done if len(invocation.argvs) > 1 else None,
        )
        if self._kill_reason:
            self._runner.kill(self._kill_reason)
        watch.start(f"corral-renderclient-logwatch-{ref.job}-{ref.chunk}-{ref.attempt}")
        oom_before = self._oom_counts()
        try:
            outcome = await self._runner.run()
        finally:
            await watch.stop()
        oom = self._oom_killed(outcome, oom_before)
        judgement = Judgement()
        error = outcome.error
        if watch.aborted is not None:
            judgement.fail(watch.aborted.message, watch.aborted.actions)
            error = watch.aborted.message
        elif oom:
            error = "killed by the out-of-memory killer"
            logger.warning("action=oom_killed %s %s", self._label, _ref_text(ref))
        elif not outcome.killed and not outcome.timed_out and outcome.exit_code is not None:
            judgement = await self._judge(template, key, outcome.exit_code, preferences, watch)
            if judgement.ok and template.getOutputPattern():
                await self._check_outputs(template, key, frames, judgement)
            self._log_findings(judgement)
            error = "" if judgement.ok else (judgement.message or error or "failed")
        ok = judgement.ok and watch.aborted is None and not oom and not outcome.killed
        ok = ok and not outcome.timed_out and outcome.exit_code is not None
        frames_done = len(frames) if ok else min(watch.frames_done, len(frames))
        if ok:
            self._progress(100.0, frames_done)
        return Result(
            ref=assign.ref,
            ok=ok,
            exit_code=outcome.exit_code,
            error="" if ok else (error or "failed"),
            started=outcome.started,
            finished=outcome.finished,
            killed=outcome.killed and watch.aborted is None,
            oom=oom,
            frames_done=frames_done,
            warnings=len(judgement.warnings),
            errors=judgement.error_count,
            actions=list(judgement.actions) if not ok else [],
        )

    async def _judge(
        self,
        template: MTemplate,
        key: object,
        exit_code: int,
        preferences: dict[str, Any],
        watch: LogWatch,
    ) -> Judgement:
        """The final check: onCheckExitCode, then onCheckLog with the whole log."""
        assign, ref = self.assign, self.assign.ref
        tracebacks: list[str] = []
        try:
            judgement = await run_limited(
                lambda: judge_result(
                    template,
                    assign.job,
                    assign.start,
                    assign.end,
                    exit_code,
                    watch.log.whole(),
                    preferences,
                    chunk_id=ref.chunk,
                    attempt=ref.attempt,
                    tracebacks=tracebacks,
                ),
                timeout_s=self._hook_timeout_s,
                what=f"template {key}: checking the result",
            )
            for text in tracebacks:
                self._log_text(f"[corral] template {key}: a result check raised\n{text}")
        except TemplateError as exc:
            self._log_text(failure_text(exc))
            judgement = Judgement()
            judgement.fail(str(exc))
        except Exception as exc:
            logger.warning("action=check_failed %s template=%s error=%r", self._label, key, exc)
            judgement = Judgement()
            judgement.fail(f"template {key} could not check the result: {exc}")
        return judgement

    async def _check_outputs(
        self, template: MTemplate, key: object, frames: list[Decimal], judgement: Judgement
    ) -> None:
        """Every frame's declared output must be a file (a missing one fails the chunk)."""
        paths = expected_outputs(template.getOutputPattern(), MJob(self.assign.job), frames)
        try:
            missing = await run_limited(
                lambda: missing_outputs(paths),
                timeout_s=self._hook_timeout_s,
                what=f"template {key}: checking the output files",
            )
        except TemplateError as exc:
            judgement.fail(str(exc))
            return
        if missing:
            shown = ", ".join(missing[:5]) + (
                f" and {len(missing) - 5} more" if len(missing) > 5 else ""
            )
            judgement.fail(f"missing output ({len(missing)} of {len(paths)} files): {shown}")

    def _log_findings(self, judgement: Judgement) -> None:
        """Warnings and notes go into the chunk's log (errors become the chunk's error)."""
        lines = [f"[corral] warning: {text}\n" for text in judgement.warnings]
        lines += [f"[corral] note: {text}\n" for text in judgement.notes]
        if lines:
            self._log_text("".join(lines))
        for text in judgement.warnings:
            logger.info("action=chunk_warning %s %s %s", self._label, _ref_text(self.ref), text)

    def _progress(self, percent: float, frames_done: int) -> None:
        if self._on_progress is not None:
            try:
                self._on_progress(percent, frames_done)
            except Exception:
                logger.exception("action=progress_forward_failed %s", self._label)

    def _preferences(self, template: MTemplate) -> dict[str, Any]:
        return self._preferences_of(template) if self._preferences_of is not None else {}

    def _log_text(self, text: str) -> None:
        """A line of Corral's own in the chunk's log (a template failure, the command)."""
        try:
            self._on_output(text.encode("utf-8", "replace"))
        except Exception:
            logger.exception("action=log_forward_failed %s", self._label)

    def _oom_counts(self) -> tuple[int | None, int | None]:
        in_group = self._cgroup.oom_kills() if self._cgroup is not None else None
        return kernel_oom_kills(), in_group

    def _oom_killed(self, outcome: RunOutcome, before: tuple[int | None, int | None]) -> bool:
        """A SIGKILL nobody here sent, while the kernel's OOM killer was at work."""
        if outcome.killed or outcome.timed_out or outcome.exit_code not in OOM_EXIT_CODES:
            return False
        after = self._oom_counts()
        return any(
            old is not None and new is not None and new > old
            for old, new in zip(before, after, strict=True)
        )

    def _find_template(self, key: object) -> MTemplate | None:
        if isinstance(key, bool) or not isinstance(key, str | int) or key == "":
            return None
        return self._templates.get(key)


def _ref_text(ref: Ref) -> str:
    return f"job={ref.job} chunk={ref.chunk} attempt={ref.attempt}"
