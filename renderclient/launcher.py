"""The kept reaper: one compiled reaper per event loop that starts every render on request.

A reaper started for each render costs an exec of its own on top of the
command's. `Launcher` starts the compiled reaper once (`reaper CLIENT_PID
--serve`, see reaper.c) and asks it for each command over a socket pair: the
arguments, the environment, the folder and the output descriptor go over. The
kept reaper forks (no exec) a reaper for the render, which runs the command as
the reaper of a single render does; the pid that comes back is that render
reaper's, and later its wait status, which is the command's. So a render is
still one tree under a reaper of its own: the leader of a new session (its pid
is its process group) and the subreaper of everything the command starts,
stdin from /dev/null, stdout and stderr to the output descriptor, SIGPIPE and
SIGXFSZ at their default actions, no other descriptor inherited. A command
that cannot run (not found, not executable, a folder that cannot be entered)
ends with 127 and the reason on its output, as under the one-shot reaper; a
command that ends has what it left in its tree (daemons included) ended by its
reaper, SIGTERM then SIGKILL 2 s later, before the exit is reported (a process
SIGKILL cannot end is named on the output after 5 s more, and left). A render
reaper that is itself killed by a signal may leave its tree: the kept reaper
kills every child of its own that is no render reaper whenever a render reaper
ends by a signal. A late render (see below) is killed through a pidfd, only
while the kept reaper is still its parent: its pid may have been reaped and
taken since.

The start's answer only waits for the kept reaper's fork(), never for the
command's exec or folder, and `await spawn()` waits for it without holding the
loop: the answers come in the order of the requests, so the socket's reader
settles the oldest start waiting with each pid or errno, and exit reports as they
come. A start with no answer within START_TIMEOUT_S fails with `StartTimedOut`. If
the reaper answered something else meanwhile, or read all we sent it (TIOCOUTQ: a
fork stalled on a loaded or swapping machine), it is slow and the start fails
alone: if its render starts later, nobody waits for it, and it is killed at once.
If it answered nothing and left requests unread (a stalled fork with later requests
behind it looks so too), it is stuck, checked even when the start's caller was
cancelled: it fails as if it had ended (below). A start that finds the socket full
waits for it to take the request whole (a datagram: queued whole or not at all, so
the answers keep their order); past its time the same check replaces a stuck
reaper and the request goes to the next one, else the start fails. If the reaper ends
(it was killed, or its end of the socket closed), the starts and the commands
waiting on it get `LauncherError`, the latter with its exit status, and the next
start begins a new reaper.
Where no compiled reaper exists (no C compiler), `for_loop()` says None and
renders keep a reaper each (renderclient/spawn.py).
"""

from __future__ import annotations

import array
import asyncio
import contextlib
import errno
import fcntl
import logging
import os
import signal
import socket
import struct
import termios
import weakref
from collections import deque
from collections.abc import Callable, Mapping, Sequence

from dispatcher.errors import CorralError
from renderclient import reaper

logger = logging.getLogger(__name__)

ANSWER = struct.Struct("=cii")
REQUEST_HEAD = struct.Struct("=cII")
MAX_REQUEST_BYTES = 1 << 20  # the reaper's receive buffer (reaper.c REQUEST_BYTES)
# A start is a fork of a small process, answered in milliseconds; a loaded or swapping
# machine can take seconds. Past this the start fails: alone (the renders running stay)
# if the reaper answered anything meanwhile, else the reaper is stuck and fails too.
START_TIMEOUT_S = 30.0
RETIRED_POLL_S = 0.02
RETIRED_MAX_POLL_S = 5.0  # (a retired reaper polled less often the longer it takes)
REAP_POLLS = 100  # 2 s for an ended reaper to be reaped before its waiters fail


class LauncherError(CorralError):
    """The kept reaper ended or stopped answering; `status` is its wait status if known."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class StartTimedOut(LauncherError):
    """The reaper gave no answer to one start within START_TIMEOUT_S; that start failed
    alone (the reaper and its other renders go on)."""


class RequestTooLarge(ValueError):
    """The command line and environment do not fit in one request to the reaper."""


class LaunchedProcess:
    """A command started by the kept reaper: its pid, `returncode` (None while it runs),
    `exit_future` and `await wait()`, as spawn.SpawnedProcess has them."""

    def __init__(self, pid: int, exited: asyncio.Future[int]) -> None:
        self.pid = pid
        self.returncode: int | None = None
        self._exited = exited
        exited.add_done_callback(self._on_exit)

    @property
    def exit_future(self) -> asyncio.Future[int]:
        """Done with the exit code (a negative signal number when a signal ended it), or
        LauncherError when the reaper ended first; never cancel it."""
        return self._exited

    async def wait(self) -> int:
        if self.returncode is not None:
            return self.returncode
        return await asyncio.shield(self._exited)

    def _on_exit(self, done: asyncio.Future[int]) -> None:
        if not done.cancelled() and done.exception() is None:
            self.returncode = done.result()


class _Start:
    """A start sent and not yet answered: settled by its answer, or failed by its timer.
    `heard` counts the reaper's answers when it was sent."""

    __slots__ = ("answered", "heard", "program", "timer")

    def __init__(
        self,
        program: str,
        heard: int,
        loop: asyncio.AbstractEventLoop,
        expire: Callable[[_Start], None],
    ) -> None:
        self.program = program
        self.heard = heard
        self.answered: asyncio.Future[LaunchedProcess] = loop.create_future()
        self.timer = loop.call_later(START_TIMEOUT_S, expire, self)


class Launcher:
    """One kept reaper, read on the event loop that started it."""

    def __init__(self, program: str) -> None:
        self._program = program
        # Weakly: the launchers are kept per loop, and a loop that is gone takes its own.
        self._loop = weakref.ref(asyncio.get_running_loop())
        self._running: dict[int, asyncio.Future[int]] = {}
        self._starts: deque[_Start] = deque()  # sent, in order, awaiting their answers
        self._heard = 0  # answers read from the reaper (P, E and X), for telling it stuck
        self._send_waiters: list[asyncio.Future[bool]] = []  # starts the full socket holds
        self._reaper_pid = 0
        self._sock: socket.socket | None = None
        self._finalizer: weakref.finalize[..., None] | None = None

    @property
    def reaper_pid(self) -> int:
        return self._reaper_pid

    def start(self) -> None:
        """Start the reaper (OSError when it cannot start)."""
        if self._sock is not None:
            return
        _reap_retired()
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        with contextlib.suppress(OSError):  # larger requests go to a reaper of their own
            ours.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, MAX_REQUEST_BYTES)
        try:
            self._reaper_pid = os.posix_spawn(
                self._program,
                [self._program, str(os.getpid()), "--serve"],
                {},  # it needs none, and each command brings its own
                file_actions=[(os.POSIX_SPAWN_DUP2, theirs.fileno(), 0)],
                setsid=True,
            )
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        ours.setblocking(False)
        self._sock = ours
        self._finalizer = weakref.finalize(self, _retire, ours, self._reaper_pid)
        self._running_loop().add_reader(ours.fileno(), self._on_readable)
        logger.debug("action=launcher_started reaper_pid=%d", self._reaper_pid)

    def close(self) -> None:
        """Close our end: the reaper kills what still runs and exits (reaped here)."""
        if self._drop_socket():
            self._end("the render client closed its reaper")

    def _running_loop(self) -> asyncio.AbstractEventLoop:
        loop = self._loop()
        if loop is None:
            raise RuntimeError("the launcher's event loop is gone")
        return loop

    def _drop_socket(self) -> bool:
        sock, self._sock = self._sock, None
        if sock is None:
            return False
        if self._finalizer is not None:
            self._finalizer.detach()
        loop = self._loop()
        if loop is not None and not loop.is_closed():
            loop.remove_reader(sock.fileno())
            loop.remove_writer(sock.fileno())
        self._wake_senders()  # they send again, to the next reaper
        sock.close()
        return True

    async def spawn(
        self,
        argv: Sequence[str],
        *,
        output_fd: int,
        env: Mapping[str, str] | None,
        cwd: str | None,
    ) -> LaunchedProcess:
        """Start `argv` (looked up in `env`'s PATH when it names no folder) under a render
        reaper of its own; ValueError for a NUL in a string, OSError when the reaper
        cannot fork, StartTimedOut past START_TIMEOUT_S without an answer, LauncherError
        when the kept reaper fails (it is then replaced). The loop runs meanwhile, and
        while the socket is full (a slow reaper) the request waits to be sent whole."""
        request = _request(argv, os.environ if env is None else env, cwd)
        fds = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [output_fd]))]
        deadline, heard = 0.0, 0
        sock = None
        attempt = 1
        while True:
            self.start()
            assert self._sock is not None
            if self._sock is not sock:  # (a new reaper: the start has its full time again)
                sock, deadline = self._sock, self._running_loop().time() + START_TIMEOUT_S
                heard = self._heard
            try:
                # One datagram: queued whole or not at all, so the answers keep their order.
                self._sock.sendmsg([request], fds)
            except BlockingIOError:
                await self._writable(argv[0], deadline, heard)
                continue
            except OSError as exc:
                if exc.errno == errno.EMSGSIZE:
                    raise RequestTooLarge(f"a request of {len(request)} bytes") from exc
                if exc.errno not in (errno.EPIPE, errno.ECONNRESET):
                    raise
                # The reaper died unnoticed: once more with a fresh one.
                self._fail(f"the reaper was gone: {exc}")
                if attempt == 2:
                    raise LauncherError(f"the reaper did not start {argv[0]}: {exc}") from exc
                attempt += 1
                continue
            return await self._answer(argv[0])

    async def _writable(self, program: str, deadline: float, heard: int) -> None:
        """Wait until the socket takes a request again (or it was replaced). Past the
        start's deadline a reaper that answered nothing since `heard` (answers read when
        the wait began) and left requests unread is stuck: it fails, and the start goes
        to the next one; else StartTimedOut."""
        sock = self._sock
        assert sock is not None
        loop = self._running_loop()
        waiter: asyncio.Future[bool] = loop.create_future()
        if not self._send_waiters:
            loop.add_writer(sock.fileno(), self._wake_senders)
        self._send_waiters.append(waiter)
        timer = loop.call_at(deadline, lambda: waiter.done() or waiter.set_result(False))
        try:
            sent = await waiter
        finally:
            timer.cancel()
            if waiter in self._send_waiters:
                self._send_waiters.remove(waiter)
                if not self._send_waiters and sock is self._sock:
                    loop.remove_writer(sock.fileno())
        if sent:
            return
        self._on_readable()  # (answers may wait unread: the loop was busy)
        if sock is not self._sock:  # replaced meanwhile: the start goes to the next one
            return
        if self._stuck(heard):
            self._fail(f"stuck: no answer and no request taken in {START_TIMEOUT_S:g} s")
            return
        raise StartTimedOut(
            f"the reaper took no request to start {program} within {START_TIMEOUT_S:g} s"
        )

    def _wake_senders(self) -> None:
        """The socket takes requests again (or is gone): the waiting starts send."""
        waiters, self._send_waiters = self._send_waiters, []
        if self._sock is not None:
            loop = self._loop()
            if loop is not None and not loop.is_closed():
                loop.remove_writer(self._sock.fileno())
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(True)

    async def _answer(self, program: str) -> LaunchedProcess:
        """The answer to the start just sent, settled by the socket's reader."""
        start = _Start(program, self._heard, self._running_loop(), self._expire)
        self._starts.append(start)
        reaper_pid = self._reaper_pid
        try:
            return await start.answered
        except asyncio.CancelledError:
            answered = start.answered
            if answered.done() and not answered.cancelled() and answered.exception() is None:
                # started as we were cancelled
                _kill_render(answered.result().pid, program, reaper_pid)
            raise

    def _expire(self, start: _Start) -> None:
        """No answer in time: this start fails (unless its caller was cancelled). A slow
        reaper keeps it in line for its late answer; a stuck one fails as if it had died
        (so that the next start brings up a new one instead of waiting for it in vain)."""
        self._on_readable()  # (its answer may wait unread: the loop was busy)
        if start not in self._starts:  # answered meanwhile, or the reaper ended
            return
        stuck = self._stuck(start.heard)
        if not start.answered.done():  # (done: its caller was cancelled, nobody to tell)
            self._time_out(start, stuck)
        if stuck:
            self._fail(
                f"stuck: no answer at all within {START_TIMEOUT_S:g} s of the start of "
                f"{start.program}"
            )

    def _time_out(self, start: _Start, stuck: bool) -> None:
        logger.warning(
            "action=launcher_start_timeout reaper_pid=%d program=%s timeout_s=%g stuck=%s: "
            "the render fails, %s",
            self._reaper_pid,
            start.program,
            START_TIMEOUT_S,
            stuck,
            "and the reaper with its renders" if stuck else "and is killed if it starts later",
        )
        start.answered.set_exception(
            StartTimedOut(
                f"the reaper gave no answer to the start of {start.program} "
                f"within {START_TIMEOUT_S:g} s"
            )
        )

    def _stuck(self, heard: int) -> bool:
        """The reaper answered nothing since `heard` answers were read, and requests we
        sent wait unread (not known: taken as unread)."""
        return self._heard == heard and (self._sock is None or _unread(self._sock) != 0)

    def _on_readable(self) -> None:
        sock = self._sock
        if sock is None:
            return
        try:
            while True:
                self._settle(sock.recv(ANSWER.size))
        except BlockingIOError:
            pass
        except (OSError, LauncherError) as exc:
            self._fail(str(exc))

    def _settle(self, answer: bytes) -> None:
        """Settle an exit report, or the oldest start with its pid or errno."""
        if not answer:
            raise LauncherError("the reaper closed its end")
        self._heard += 1
        kind, value, status = ANSWER.unpack(answer)
        if kind == b"X":
            exited = self._running.pop(value, None)
            if exited is not None and not exited.done():
                exited.set_result(os.waitstatus_to_exitcode(status))
            return
        if kind not in (b"P", b"E") or not self._starts:
            raise LauncherError(f"an answer {kind!r} to no start")
        start = self._starts.popleft()
        start.timer.cancel()
        if kind == b"E":
            if not start.answered.done():
                start.answered.set_exception(OSError(value, os.strerror(value), start.program))
        elif start.answered.done():  # timed out or cancelled: nobody waits for it
            _kill_render(value, start.program, self._reaper_pid)
        else:
            exited = self._running_loop().create_future()
            self._running[value] = exited
            start.answered.set_result(LaunchedProcess(value, exited))

    def _fail(self, why: str) -> None:
        """The reaper is gone or broken: fail its commands' waiters, start anew next time."""
        sock = self._sock
        if sock is not None:  # exits it reported before it went are still true
            with contextlib.suppress(OSError, LauncherError):
                while True:
                    self._settle(sock.recv(ANSWER.size))
        self._drop_socket()  # first: on that EOF the reaper kills its tree itself
        if self._reaper_pid:  # it may still run, stuck: the render reapers' parent-death
            with contextlib.suppress(ProcessLookupError):
                os.kill(self._reaper_pid, signal.SIGKILL)  # signal takes their trees
        logger.error("action=launcher_failed reaper_pid=%d error=%s", self._reaper_pid, why)
        self._end(why)

    def _end(self, why: str) -> None:
        """Fail what still waits once the reaper is reaped (it exits once our end is
        closed), with its wait status; polled on the loop's timer, never blocking it."""
        pid, self._reaper_pid = self._reaper_pid, 0
        running, self._running = self._running, {}
        starts, self._starts = self._starts, deque()
        for start in starts:  # unanswered: they fail now, with no status to wait for
            start.timer.cancel()
            if not start.answered.done():
                error = LauncherError(f"the reaper did not start {start.program}: {why}")
                start.answered.set_exception(error)
        _end_reaper(pid, running, why, self._loop(), REAP_POLLS)


def _unread(sock: socket.socket) -> int:
    """How much of what we sent the peer has not read yet (its queue's size, not exact
    bytes on a Unix socket: 0 when it read everything), or -1 when not known."""
    try:
        queued = fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, bytes(4))
    except OSError:
        return -1
    return struct.unpack("=i", queued)[0]


def _kill_render(pid: int, program: str, reaper_pid: int) -> None:
    """A render started for a start nobody waits for any more: its reaper and its group
    die at once (the kept reaper reaps the reaper, kills the orphans it leaves, and its
    exit report finds no waiter)."""
    killed = _kill_child_of(pid, reaper_pid)
    logger.warning(
        "action=launcher_late_start_killed pid=%d program=%s killed=%s", pid, program, killed
    )


def _kill_child_of(pid: int, parent: int) -> bool:
    """SIGKILL `pid` and the process group it leads, only while it is `parent`'s child.

    We are not its parent: it may have ended and been reaped, and its pid taken by
    another process. A pidfd names the process itself; the parent is read after it was
    opened, so a pid reused since then fails the check or the signal (ESRCH). The
    leader is stopped first: alive, it holds its group's id while the group is killed;
    gone already, its group's id may be taken, and nothing is killed."""
    if pid <= 1 or parent <= 1:  # (never a signal to our own group, or to every process)
        return False
    try:
        pidfd = os.pidfd_open(pid)
    except ProcessLookupError:
        return False
    except OSError:  # no pidfd here (Linux before 5.3): the parent check alone
        pidfd = -1
    try:
        found_parent, group = _parent_and_group(pid)
        if found_parent != parent:
            return False
        if group == pid:
            if pidfd >= 0:
                try:
                    signal.pidfd_send_signal(pidfd, signal.SIGSTOP)
                except ProcessLookupError:
                    return False
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
        return _kill(pidfd, pid)
    finally:
        if pidfd >= 0:
            os.close(pidfd)


def _kill(pidfd: int, pid: int) -> bool:
    try:
        if pidfd >= 0:
            signal.pidfd_send_signal(pidfd, signal.SIGKILL)
        else:
            os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return False
    return True


def _parent_and_group(pid: int) -> tuple[int, int]:
    """(parent pid, process group id) from /proc, or (0, 0) for a process gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as file:
            fields = file.read().rpartition(b")")[2].split()
        return int(fields[1]), int(fields[2])
    except (OSError, IndexError, ValueError):
        return 0, 0


def _end_reaper(
    pid: int,
    running: dict[int, asyncio.Future[int]],
    why: str,
    loop: asyncio.AbstractEventLoop | None,
    polls_left: int,
) -> None:
    status = _reap(pid) if pid else None
    alive = loop is not None and not loop.is_closed()
    if status is None and pid and alive and polls_left > 0:
        assert loop is not None
        loop.call_later(RETIRED_POLL_S, _end_reaper, pid, running, why, loop, polls_left - 1)
        return
    if status is None and pid:  # still not gone: reaped later, its waiters fail now
        _retire_pid(pid, loop)
    for command, exited in running.items():
        if not exited.done():
            error = LauncherError(f"{why} while command {command} ran (status {status})", status)
            exited.set_exception(error)
            exited.add_done_callback(lambda done: done.exception())


def _request(argv: Sequence[str], env: Mapping[str, str], cwd: str | None) -> bytes:
    """A start request: the strings joined and encoded at once (a render's environment
    is tens of variables, and this runs for every command)."""
    if not argv:
        raise ValueError("empty command line")
    for key in env:
        if not key or "=" in key:
            raise ValueError(f"illegal environment variable name {key!r}")
    strings = [cwd or "", *argv, *[f"{key}={value}" for key, value in env.items()]]
    text = "\0".join(strings)
    if text.count("\0") != len(strings) - 1:
        raise ValueError("embedded null byte")
    request = REQUEST_HEAD.pack(b"S", len(argv), len(env)) + os.fsencode(text) + b"\0"
    if len(request) > MAX_REQUEST_BYTES:
        raise RequestTooLarge(f"command line and environment past {MAX_REQUEST_BYTES} bytes")
    return request


# Reapers that were closed or dropped and had not exited yet: they exit once their
# socket is closed, and are reaped without blocking, on a timer of the loop and at
# the next launcher's start.
_retired: list[int] = []


def _reap(pid: int) -> int | None:
    """The wait status of `pid` if it has exited (255 << 8 when someone else reaped it)."""
    try:
        done, status = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return 255 << 8
    return status if done else None


def _retire(sock: socket.socket, pid: int) -> None:
    sock.close()
    _retired.append(pid)


# The loop whose timer reaps the retired reapers (one chain of polls for all of them,
# less often the longer one of them takes: a reaper stuck behind a child in
# uninterruptible sleep must not wake the loop fifty times a second for good).
_reaping: asyncio.AbstractEventLoop | None = None


def _retire_pid(pid: int, loop: asyncio.AbstractEventLoop | None) -> None:
    _retired.append(pid)
    _arm_reaping(loop, RETIRED_POLL_S)


def _arm_reaping(loop: asyncio.AbstractEventLoop | None, delay_s: float) -> None:
    global _reaping
    if loop is None or loop.is_closed() or (_reaping is not None and not _reaping.is_closed()):
        return
    _reaping = loop
    loop.call_later(delay_s, _reap_chain, loop, delay_s)


def _reap_chain(loop: asyncio.AbstractEventLoop, delay_s: float) -> None:
    global _reaping
    _reaping = None
    _reap_retired()
    if _retired:
        _arm_reaping(loop, min(2 * delay_s, RETIRED_MAX_POLL_S))


def _reap_retired() -> None:
    for pid in list(_retired):
        if _reap(pid) is not None:
            _retired.remove(pid)


_launchers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Launcher] = (
    weakref.WeakKeyDictionary()
)


def for_loop() -> Launcher | None:
    """The running loop's launcher (made on first use), or None without a compiled reaper."""
    loop = asyncio.get_running_loop()
    launcher = _launchers.get(loop)
    if launcher is None:
        program = reaper.compiled()
        if program is None:
            return None
        launcher = _launchers[loop] = Launcher(program)
    return launcher
