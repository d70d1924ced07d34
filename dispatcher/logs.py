"""Log files under the data directory: chunk output per attempt, and the action log.

Chunk output never goes through the store's transactions: it is appended to
`logs/jobs/JOB/CHUNK.ATTEMPT.log` as it arrives (under `shared_log_dir` instead
when that is set; with PostgreSQL and no such folder, into the database:
dispatcher/shared_logs.py, which has the same interface).
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import IO, Protocol

from dispatcher import tail
from dispatcher.errors import NotFound

log = logging.getLogger(__name__)

MAX_OPEN_FILES = 128
_LOST_WRITE_LOG_EVERY_S = 60.0
_lost_logged: dict[str, float] = {}


def lost_write(path: Path, exc: OSError) -> None:
    """A log file could not be written (disk full, read-only): the line is dropped.

    Log files are the record of what happened, not the farm's state: a failed write
    must never fail the change it describes (that is committed in the store). Warned
    once a minute per file."""
    now = time.monotonic()
    key = str(path)
    if now - _lost_logged.get(key, -_LOST_WRITE_LOG_EVERY_S) >= _LOST_WRITE_LOG_EVERY_S:
        _lost_logged[key] = now
        log.warning("action=log_write_failed path=%s error=%s; lines are dropped", path, exc)


class ChunkLogKeeper(Protocol):
    """Where chunk output goes: files (ChunkLogs) or the database (shared_logs.py)."""

    async def start(self) -> None: ...
    async def aclose(self) -> None: ...
    def append(self, job: int, chunk: int, attempt: int, data: bytes) -> None: ...
    def flush(self, job: int, chunk: int, attempt: int) -> None: ...
    def end(self, job: int, chunk: int, attempt: int) -> None: ...
    def remove_job(self, job: int) -> None: ...
    async def read_async(
        self, job: int, chunk: int, attempt: int | None = None, limit: int = 4 << 20
    ) -> bytes: ...
    def follow(
        self,
        job: int,
        chunk: int,
        attempt: int,
        *,
        duration_s: float,
        max_bytes: int,
        stop: Callable[[], bool],
        finished: Callable[[], bool],
    ) -> AsyncIterator[bytes]: ...


class ChunkLogs:
    """Append-only chunk output files, with a small cache of open handles."""

    def __init__(self, root: Path) -> None:
        self.root = root / "jobs"
        self.root.mkdir(parents=True, exist_ok=True)
        self._open: OrderedDict[tuple[int, int, int], IO[bytes]] = OrderedDict()

    def path(self, job: int, chunk: int, attempt: int) -> Path:
        return self.root / str(job) / f"{chunk}.{attempt}.log"

    def append(self, job: int, chunk: int, attempt: int, data: bytes) -> None:
        key = (job, chunk, attempt)
        handle = self._open.get(key)
        try:
            if handle is None:
                path = self.path(*key)
                path.parent.mkdir(parents=True, exist_ok=True)
                handle = path.open("ab")
                self._open[key] = handle
                if len(self._open) > MAX_OPEN_FILES:
                    _, oldest = self._open.popitem(last=False)
                    _close_quietly(oldest)
            else:
                self._open.move_to_end(key)
            handle.write(data)
        except OSError as exc:
            lost_write(self.path(*key), exc)

    def flush(self, job: int, chunk: int, attempt: int) -> None:
        """Write what the attempt's open file holds in its buffer (a live tail reads it)."""
        handle = self._open.get((job, chunk, attempt))
        if handle is not None:
            try:
                handle.flush()
            except OSError as exc:
                lost_write(self.path(job, chunk, attempt), exc)

    def end(self, job: int, chunk: int, attempt: int) -> None:
        """The attempt is over: flush and close its file."""
        handle = self._open.pop((job, chunk, attempt), None)
        if handle is not None:
            _close_quietly(handle)

    def attempts(self, job: int, chunk: int) -> list[int]:
        folder = self.root / str(job)
        found = []
        for path in folder.glob(f"{chunk}.*.log"):
            try:
                found.append(int(path.name.split(".")[1]))
            except (IndexError, ValueError):
                continue
        return sorted(found)

    def read(self, job: int, chunk: int, attempt: int | None = None, limit: int = 4 << 20) -> bytes:
        """The output of one attempt (the latest by default), at most `limit` bytes from its end."""
        if attempt is None:
            attempts = self.attempts(job, chunk)
            if not attempts:
                raise NotFound(f"no log for job {job} chunk {chunk}")
            attempt = attempts[-1]
        handle = self._open.get((job, chunk, attempt))
        if handle is not None:
            handle.flush()
        path = self.path(job, chunk, attempt)
        if not path.exists():
            raise NotFound(f"no log for job {job} chunk {chunk} attempt {attempt}")
        with path.open("rb") as source:
            size = path.stat().st_size
            if size > limit:
                source.seek(size - limit)
            return source.read()

    async def read_async(
        self, job: int, chunk: int, attempt: int | None = None, limit: int = 4 << 20
    ) -> bytes:
        """As `read` (the interface every chunk log keeper has)."""
        return self.read(job, chunk, attempt, limit)

    def follow(
        self,
        job: int,
        chunk: int,
        attempt: int,
        *,
        duration_s: float,
        max_bytes: int,
        stop: Callable[[], bool],
        finished: Callable[[], bool],
    ) -> AsyncIterator[bytes]:
        """What the attempt writes to its log from now on (dispatcher/tail.py's bounds)."""
        return tail.follow(
            self.path(job, chunk, attempt), duration_s=duration_s, max_bytes=max_bytes,
            stop=stop, refresh=lambda: self.flush(job, chunk, attempt), finished=finished,
        )  # fmt: skip

    async def start(self) -> None:
        """Nothing to start: files are written as output arrives."""

    async def aclose(self) -> None:
        self.close()

    def remove_job(self, job: int) -> None:
        for key in [key for key in self._open if key[0] == job]:
            _close_quietly(self._open.pop(key))
        shutil.rmtree(self.root / str(job), ignore_errors=True)

    def close(self) -> None:
        while self._open:
            _, handle = self._open.popitem()
            _close_quietly(handle)


class ActionLog:
    """Who did what: one JSON line per management action, in `logs/actions.log`."""

    def __init__(self, root: Path) -> None:
        root.mkdir(parents=True, exist_ok=True)
        self.path = root / "actions.log"

    def record(self, user: str, action: str, **detail: object) -> None:
        line = json.dumps(
            {"time": time.time(), "user": user, "action": action, **detail}, default=str
        )
        try:
            with self.path.open("a", encoding="utf-8") as out:
                out.write(line + "\n")
        except OSError as exc:
            lost_write(self.path, exc)
        log.info(
            "action=%s user=%s %s", action, user, " ".join(f"{k}={v}" for k, v in detail.items())
        )


def _close_quietly(handle: IO[bytes]) -> None:
    """Close a log file; buffered lines that cannot be written are dropped."""
    try:
        handle.close()
    except OSError as exc:
        lost_write(Path(handle.name), exc)
