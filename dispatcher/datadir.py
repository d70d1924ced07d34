"""One dispatcher per data directory: an exclusive lock held while it runs.

The lock is `fcntl.flock` on DATA_DIR/dispatcher.lock, which holds the pid of
its holder. The kernel drops it when the holder dies (even by kill -9), so a
stale file never blocks a restart; a second dispatcher finds it held and stops
with `DataDirLocked`, naming the holder's pid.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import os
from pathlib import Path

from dispatcher.errors import DataDirLocked, StartupError

log = logging.getLogger(__name__)

LOCK_NAME = "dispatcher.lock"


class DataDirLock:
    """`acquire()` at start, `release()` at close (safe twice)."""

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / LOCK_NAME
        self._fd: int | None = None

    def acquire(self) -> None:
        if self._fd is not None:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise _unusable(self.path.parent, exc) from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            holder = _read_pid(fd)
            os.close(fd)
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise _unusable(self.path.parent, exc) from exc
            who = f"pid {holder}" if holder else "another process"
            raise DataDirLocked(
                f"{self.path.parent} is in use by another dispatcher ({who}; lock file "
                f"{self.path}): stop it first, or give this one another --data-dir",
                path=str(self.path),
                holder_pid=holder,
            ) from None
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        except OSError as exc:
            os.close(fd)
            raise _unusable(self.path.parent, exc) from exc
        self._fd = fd
        log.info("action=data_dir_locked path=%s pid=%d", self.path, os.getpid())

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is None:
            return
        with contextlib.suppress(OSError):  # (no pid left behind to wonder about)
            os.ftruncate(fd, 0)
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def _read_pid(fd: int) -> int:
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
        return int(text) if text.isdecimal() else 0
    except OSError:
        return 0


def _unusable(data_dir: Path, exc: OSError) -> StartupError:
    if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        what = "is read-only" if exc.errno == errno.EROFS else "is not writable"
        return StartupError(
            f"the data directory {data_dir} {what} ({exc.strerror}): the dispatcher writes its "
            "database, lock and logs there; make it writable or choose another --data-dir",
            path=str(data_dir),
        )
    if exc.errno == errno.ENOSPC:
        return StartupError(
            f"the disk holding {data_dir} is full: free some space", path=str(data_dir)
        )
    return StartupError(f"cannot use the data directory {data_dir}: {exc}", path=str(data_dir))
