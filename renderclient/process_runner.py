"""Runs a chunk's processes: a sequence of command lines, each in its own process group.

Output (stdout and stderr merged) is handed to a callback in batches every
`log_batch_s`. A chunk's processes do not outlive it: when a command's leader exits,
whatever it left behind in its process group gets SIGTERM, then SIGKILL after
`term_grace_s`. Each command runs under a reaper (renderclient/reaper.py), which
does the same for what left the group (SIGTERM, SIGKILL 2 s later) before it ends,
and so that none of its processes outlives the render client either.
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
from typing import Any

from renderclient import processes, reaper, spawn
from renderclient.cgroups import MemoryCgroup
from renderclient.launcher import LauncherError, StartTimedOut

logger = logging.getLogger(__name__)

TAIL_BYTES = 64 * 1024
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


class _PipeReader:
    """Reads one child's merged output pipe until every writer has closed it.

    A reader callback on the descriptor rather than a pipe transport: no file object,
    protocol or waiter per command (most renders' output is a few reads)."""

    READ_BYTES = 256 * 1024

    def __init__(self, batcher: _LogBatcher, fd: int) -> None:
        self._batcher = batcher
        self._fd = fd
        self._loop = asyncio.get_running_loop()
        self.closed: asyncio.Future[None] = self._loop.create_future()
        os.set_blocking(fd, False)
        self._loop.add_reader(fd, self._readable)

    def _readable(self) -> None:
        try:
            data = os.read(self._fd, self.READ_BYTES)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if data:
            self._batcher.add(data)
        else:
            self.close()

    def close(self) -> None:
        """Stop reading (at the end of the output, or when the command is done with)."""
        if self._fd >= 0:
            self._loop.remove_reader(self._fd)
            os.close(self._fd)
            self._fd = -1
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
                except StartTimedOut as exc:  # (sent with no answer, or never taken)
                    exit_code, error = None, str(exc)
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
        read_fd, write_fd = os.pipe()
        process: Child
        try:
            if spawn.fast_spawn_usable(in_cgroup=self._cgroup is not None, nice=self.nice):
                process = await spawn.spawn(
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
        reader = _PipeReader(self._batcher, read_fd)
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
            reader.close()
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
