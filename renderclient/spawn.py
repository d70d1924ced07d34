"""Starting a render's process the fast way, and waiting for it without a child watcher.

uvloop starts processes with fork(), and any start with a `preexec_fn` forks
too: the whole client process is copied for each render, which here limits a
node to about a quarter of the spawns per second the machine can do.
`os.posix_spawn` starts the child with vfork() and exec() (nothing copied), with
the environment encoded in C; the exit is then seen through a pidfd (Linux 5.3+)
that the loop watches, and the child is reaped at once. A child that must start
in another folder, or whose program is looked up in PATH, is started by
`subprocess.Popen` without a `preexec_fn` (vfork() and exec() too, with more
work in Python per start).

The reaper every render runs under sets its own parent-death signal and checks
its parent, so nothing needs to run in the child before exec. What does (joining
a memory cgroup, a nice value that the command's own children must inherit)
keeps the forked start: `fast_spawn_usable()` says when this one is allowed.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
from collections.abc import Mapping, Sequence

from renderclient import launcher, reaper


def _pidfd_works() -> bool:
    if not hasattr(os, "pidfd_open"):
        return False
    try:
        fd = os.pidfd_open(os.getpid())
    except OSError:  # an older kernel, or a sandbox that refuses the call
        return False
    os.close(fd)
    return True


PIDFD = _pidfd_works()


def fast_spawn_usable(*, in_cgroup: bool, nice: int | None) -> bool:
    """True when a render can start with `spawn()`: pidfds work, and nothing has to run
    in the child before exec."""
    return PIDFD and not in_cgroup and nice is None


class SpawnedProcess:
    """A child started by `spawn()`: its pid, `returncode` (None while it runs) and
    `await wait()`, as asyncio's Process has them. Reaped as soon as it exits."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.returncode: int | None = None
        self._pidfd = os.pidfd_open(pid)  # before any reaping: the pid is ours
        # Watched from the start, so the child is reaped even when nobody waits.
        loop = asyncio.get_running_loop()
        self._exited: asyncio.Future[int] = loop.create_future()
        self._exited.add_done_callback(lambda done: done.cancelled() or done.exception())
        loop.add_reader(self._pidfd, self._on_exit)

    @property
    def exit_future(self) -> asyncio.Future[int]:
        """Done with the exit code once the process exited and was reaped (callbacks on
        it run on the loop; never cancel it)."""
        return self._exited

    async def wait(self) -> int:
        """The exit code (a negative signal number when a signal ended it), once it exited;
        cancelling a waiter leaves the watch in place for the others."""
        if self.returncode is not None:
            return self.returncode
        return await asyncio.shield(self._exited)

    def _on_exit(self) -> None:
        asyncio.get_running_loop().remove_reader(self._pidfd)
        with contextlib.suppress(OSError):
            os.close(self._pidfd)
        self._pidfd = -1
        code = self._reap()
        if not self._exited.done():
            self._exited.set_result(code)

    def _reap(self) -> int:
        """It exited (its pidfd said so): collect its status at once."""
        while True:
            try:
                _, status = os.waitpid(self.pid, 0)
            except InterruptedError:
                continue
            except ChildProcessError:  # someone else reaped it: its code is lost
                status = 255 << 8
            break
        self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode


_posix_spawn_works = hasattr(os, "posix_spawn")
# The signals Python ignores (SIGPIPE, SIGXFSZ) are given back their default action in
# the child, as subprocess.Popen does: a render in a pipeline dies of a closed pipe.
DEFAULT_SIGNALS = tuple(
    getattr(signal, name) for name in ("SIGPIPE", "SIGXFSZ") if hasattr(signal, name)
)


def _start(argv: list[str], output_fd: int, env: Mapping[str, str] | None, cwd: str | None) -> int:
    """The child's pid. os.posix_spawn (vfork+exec in C, the environment encoded in C)
    when the program is a path and the child keeps our folder; else subprocess.Popen,
    which also changes folder and searches PATH in the child's environment."""
    global _posix_spawn_works
    if _posix_spawn_works and cwd is None and os.sep in argv[0]:
        actions = [
            (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
            (os.POSIX_SPAWN_DUP2, output_fd, 1),
            (os.POSIX_SPAWN_DUP2, output_fd, 2),
        ]
        try:
            return os.posix_spawn(
                argv[0], argv, os.environ if env is None else env,
                file_actions=actions, setsid=True, setsigdef=DEFAULT_SIGNALS,
            )  # fmt: skip
        except NotImplementedError:  # no POSIX_SPAWN_SETSID in this C library
            _posix_spawn_works = False
    popen = subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=output_fd,
        stderr=output_fd,
        env=env,
        cwd=cwd,
        start_new_session=True,
    )
    popen.returncode = 0  # reaped by SpawnedProcess, not by this object
    return popen.pid


Started = SpawnedProcess | launcher.LaunchedProcess
"""A command started by `spawn()`: by this process, or by the kept reaper."""


async def spawn(
    argv: Sequence[str],
    *,
    output_fd: int,
    env: Mapping[str, str] | None,
    cwd: str | None,
    reaped: bool = False,
) -> Started:
    """Start `argv` in a new session, stdin from /dev/null, stdout and stderr to
    `output_fd`; OSError when it cannot start (as exec says).

    `reaped`: under a reaper, so that none of its processes outlives this one. The
    loop's kept reaper starts it (renderclient/launcher.py; its answer is awaited,
    LauncherError when it fails); without a compiled reaper, or for a request too
    large for it, a reaper of its own runs it.

    Descriptors the client inherited without close-on-exec are not closed here
    (os.posix_spawn cannot): the reaper closes them before it runs the command."""
    if reaped:
        kept = launcher.for_loop()
        if kept is not None:
            with contextlib.suppress(launcher.RequestTooLarge):
                return await kept.spawn(argv, output_fd=output_fd, env=env, cwd=cwd)
        argv = reaper.wrap(list(argv))
    pid = _start(list(argv), output_fd, env, cwd)
    try:
        return SpawnedProcess(pid)
    except OSError:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)
        raise
