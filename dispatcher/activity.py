"""The dispatcher's message log, its daily activity logs, and job history.

- `MessageLog`: logs/dispatcher.log, the log scripts write with
  logAddMessage / logAddInternalMessage and empty with logClear.
- `ActivityLog`: logs/activity/activity-YYYY-MM-DD.log, one line per job event
  (submitted, started, completed, failed, deleted, ...), with the same event
  kept as a history row in the store for dbGetHistoryBounds.
- `LogFolder`: lists, reads and removes log files of one folder by name,
  refusing any name that is not one of its files.
- `StatisticsSampler`: a supervised task that stores a sample of the
  dispatcher's counters every `statistics_interval_s`.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any, Protocol

import msgspec

from dispatcher.errors import NotFound, ValidationError
from dispatcher.logs import lost_write
from dispatcher.tasks import cancel_all

log = logging.getLogger(__name__)

MAX_READ_BYTES = 8 << 20
# How often the activity log looks whether someone else removed today's file (it
# notices its own removals at once): a job starts and ends hundreds of times a second.
FILE_RECHECK_S = 1.0


class HistoryStore(Protocol):
    def put_history(self, time: float, job_id: int, event: str, info: bytes) -> None: ...

    def put_statistic(self, time: float, info: bytes) -> None: ...


def _stamp(moment: float) -> str:
    return datetime.datetime.fromtimestamp(moment, datetime.UTC).isoformat(timespec="milliseconds")


class MessageLog:
    """logs/dispatcher.log: messages added through the hook API."""

    def __init__(self, root: Path) -> None:
        root.mkdir(parents=True, exist_ok=True)
        self.path = root / "dispatcher.log"

    def add(self, message: str, *, internal: bool = False, source: str = "hook") -> None:
        text = " ".join(message.splitlines()) if message else ""
        kind = "internal" if internal else "message"
        try:
            with self.path.open("a", encoding="utf-8") as out:
                out.write(f"{_stamp(time.time())} {kind} {source}: {text}\n")
        except OSError as exc:
            lost_write(self.path, exc)
        log.log(
            logging.DEBUG if internal else logging.INFO,
            "action=log_%s source=%s %s",
            kind,
            source,
            text,
        )

    def clear(self) -> None:
        self.path.write_text("", encoding="utf-8")
        log.info("action=log_cleared path=%s", self.path)

    def read(self) -> str:
        try:
            return self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return ""


class LogFolder:
    """Log files of one folder whose names match `pattern`, addressed by name only."""

    def __init__(self, folder: Path, pattern: str) -> None:
        self.folder = folder
        self.pattern = re.compile(pattern)
        # Told of every file this folder removed (the activity log closes its file).
        self.on_remove: Callable[[Path], None] = lambda path: None

    def names(self) -> list[str]:
        if not self.folder.is_dir():
            return []
        return sorted(
            path.name
            for path in self.folder.iterdir()
            if path.is_file() and self.pattern.fullmatch(path.name)
        )

    def path(self, name: str) -> Path:
        """The file of log `name`: ValidationError for a name that is not one, NotFound when absent."""
        if (
            not isinstance(name, str)
            or not self.pattern.fullmatch(name)
            or "/" in name
            or "\\" in name
        ):
            raise ValidationError(
                f"{name!r} is not a log file name (see the list function)", field="name"
            )
        path = self.folder / name
        if not path.is_file():
            raise NotFound(f"no log file {name!r}")
        return path

    def read(self, name: str) -> str:
        path = self.path(name)
        with path.open("rb") as source:
            size = path.stat().st_size
            if size > MAX_READ_BYTES:
                source.seek(size - MAX_READ_BYTES)
            return source.read().decode("utf-8", "replace")

    def remove(self, name: str) -> None:
        path = self.path(name)
        path.unlink()
        self.on_remove(path)
        log.info("action=log_removed folder=%s name=%s", self.folder.name, name)


class ActivityLog:
    """Job events: a line in today's activity file and a history row in the store."""

    def __init__(self, root: Path, store: HistoryStore) -> None:
        self.folder = root / "activity"
        self.folder.mkdir(parents=True, exist_ok=True)
        self.files = LogFolder(self.folder, r"activity-\d{4}-\d{2}-\d{2}\.log")
        self.store = store
        self._day = ""
        self._out: IO[str] | None = None
        self._checked_at = 0.0  # (monotonic) when the open file was last seen to exist
        self.files.on_remove = self._removed

    def record(self, event: str, job_id: int, **detail: Any) -> None:
        moment = time.time()
        day = datetime.datetime.fromtimestamp(moment, datetime.UTC).strftime("%Y-%m-%d")
        words = " ".join(f"{key}={value!r}" for key, value in detail.items())
        path = self.folder / f"activity-{day}.log"
        try:
            if self._out is None or day != self._day or self._gone(path):  # new day, or removed
                self.close()
                self._out = path.open(
                    "a", encoding="utf-8", buffering=1
                )  # line-buffered: readable at once
                self._day = day
                self._checked_at = time.monotonic()
            self._out.write(f"{_stamp(moment)} {event} job={job_id} {words}\n")
        except OSError as exc:  # (a full disk must not fail the change this line describes)
            lost_write(path, exc)
        self.store.put_history(moment, job_id, event, msgspec.json.encode(detail))

    def _gone(self, path: Path) -> bool:
        """True when the open file was removed by someone else (looked at once a second)."""
        now = time.monotonic()
        if now - self._checked_at < FILE_RECHECK_S:
            return False
        self._checked_at = now
        return not path.exists()

    def _removed(self, path: Path) -> None:
        if self._out is not None and Path(self._out.name) == path:
            self.close()

    def close(self) -> None:
        out, self._out = self._out, None
        self._checked_at = 0.0
        if out is not None:
            try:
                out.close()
            except OSError as exc:
                lost_write(Path(out.name), exc)


class StatisticsSampler:
    """Stores `sample()` every `interval_s()` seconds. `start()` / `close()`."""

    def __init__(
        self,
        store: HistoryStore,
        sample: Callable[[], dict[str, Any]],
        interval_s: Callable[[], float],
    ) -> None:
        self.store = store
        self.sample = sample
        self.interval_s = interval_s
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name="statistics-sampler")
            self._task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.error(
                "action=sampler_died error=%r; statistics are no longer sampled", task.exception()
            )

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            await cancel_all([task])

    def take(self) -> None:
        self.store.put_statistic(time.time(), msgspec.json.encode(self.sample()))

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s())
            try:
                self.take()
            except Exception:
                log.exception("action=sample_failed; the sampler goes on")
