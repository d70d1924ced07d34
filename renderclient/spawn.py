"""Starting a render's process the fast way, and waiting for it without a child watcher.

uvloop starts processes with fork(), and any start with a `preexec_fn` forks
too: the whole client process is copied for each render, which here limits a
node to about a quarter of the spawns per second the machine can do. The
stdlib's `subprocess.Popen` without a `preexec_fn` starts the child with
vfork() and exec() (nothing copied); the exit is then seen through a pidfd
(Linux 5.3+) that the loop watches, and the child is reaped at once.

The reaper every render runs under sets its own parent-death signal and checks
its parent, so nothing needs to run in the child before exec. What does (joining
a memory cgroup, a nice value that the command's own children must inherit)
keeps the forked start: `fast_spawn_usable()` says when this one is allowed.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
from collections.abc import Mapping, Sequence


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

    def __init__(self, popen: subprocess.Popen[bytes]) -> None:
        self._popen = popen
        self.pid = popen.pid
        self._pidfd = os.pidfd_open(popen.pid)  # before any reaping: the pid is ours
        # Watched from the start, so the child is reaped even when nobody waits.
        loop = asyncio.get_running_loop()
        self._exited: asyncio.Future[int] = loop.create_future()
        self._exited.add_done_callback(lambda done: done.cancelled() or done.exception())
        loop.add_reader(self._pidfd, self._on_exit)

    @property
    def returncode(self) -> int | None:
        return self._popen.returncode

    async def wait(self) -> int:
        """The exit code (a negative signal number when a signal ended it), once it exited;
        cancelling a waiter leaves the watch in place for the others."""
        if self._popen.returncode is not None:
            return self._popen.returncode
        return await asyncio.shield(self._exited)

    def _on_exit(self) -> None:
        asyncio.get_running_loop().remove_reader(self._pidfd)
        with contextlib.suppress(OSError):
            os.close(self._pidfd)
        self._pidfd = -1
        code = self._popen.wait()  # it exited: this reaps it at once
        if not self._exited.done():
            self._exited.set_result(code)


def spawn(
    argv: Sequence[str],
    *,
    output_fd: int,
    env: Mapping[str, str] | None,
    cwd: str | None,
) -> SpawnedProcess:
    """Start `argv` in a new session, stdin from /dev/null, stdout and stderr to
    `output_fd`; OSError when it cannot start (as exec says)."""
    popen = subprocess.Popen(
        list(argv),
        stdin=subprocess.DEVNULL,
        stdout=output_fd,
        stderr=output_fd,
        env=env,
        cwd=cwd,
        start_new_session=True,
    )
    try:
        return SpawnedProcess(popen)
    except OSError:
        popen.kill()
        popen.wait()
        raise
