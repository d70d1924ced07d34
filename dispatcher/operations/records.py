"""Log, statistics and history operations: the dispatcher's message log, the activity
and action log files, and the time-ranged statistics and history tables.

Reading needs no permission beyond being known; adding a message needs submit;
clearing or removing anything needs administer.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import msgspec

from dispatcher import tail
from dispatcher.activity import LogFolder
from dispatcher.auth import Permission
from dispatcher.errors import LimitExceeded, NotFound, ValidationError
from dispatcher.events import SystemEvent
from dispatcher.model import parse_id
from dispatcher.operations.actor import Actor
from dispatcher.operations.farm import Area

TABLES = ("statistics", "history")
LOG_KINDS = ("activity", "action")
FOLLOW_KINDS = ("dispatcher", *LOG_KINDS)
MAX_SAMPLES = 10_000


def _time(value: object, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValidationError(f"{what}: seconds since the epoch", field=what)
    return float(value)


def _text(value: object, what: str, *, empty: bool = False) -> str:
    if not isinstance(value, str) or (not empty and not value.strip()):
        raise ValidationError(f"{what}: a non-empty string is required", field=what)
    return value


class LogTail:
    """A live tail holding one of the `max_log_followers` places until it ends or is
    closed: iterate it, and `aclose()` it in a `finally`."""

    def __init__(self, source: AsyncIterator[bytes], release: Callable[[], None]) -> None:
        self._source = source
        self._release: Callable[[], None] | None = release

    def __aiter__(self) -> LogTail:
        return self

    async def __anext__(self) -> bytes:
        try:
            return await anext(self._source)
        except StopAsyncIteration:
            await self.aclose()
            raise

    async def aclose(self) -> None:
        release, self._release = self._release, None
        if release is not None:
            release()
            await self._source.aclose()


class RecordOperations(Area):
    # -- statistics and history ------------------------------------------------------
    async def bounds(self, actor: Actor, table: str) -> tuple[float, float, int]:
        """(first time, last time, rows) of the statistics or history table."""
        if table not in TABLES:
            raise ValidationError(f"table: one of {', '.join(TABLES)}", field="table")
        store = self.farm.store
        await store.commit()  # what was recorded so far counts
        first, last, count = await store.bounds(table)
        return first or 0.0, last or 0.0, count

    async def clear(self, actor: Actor, table: str, start: object, end: object) -> None:
        """Delete the rows of `table` timed start..end (inclusive)."""
        actor.require(Permission.ADMINISTER)
        if table not in TABLES:
            raise ValidationError(f"table: one of {', '.join(TABLES)}", field="table")
        first, last = _time(start, "start"), _time(end, "end")
        self.writable()
        self.farm.store.clear_range(table, first, last)
        event = SystemEvent(
            action=f"clear_{table}", actor=actor.name, detail={"start": first, "end": last}
        )
        await self.finish(actor, event, start=first, end=last)

    async def samples(
        self, actor: Actor, table: str, start: object, end: object, *, after: int, limit: int
    ) -> tuple[list[dict[str, Any]], int | None]:
        """Up to `limit` rows of `table` timed start..end (inclusive) after row `after`, in
        the order they were written, and the row to continue after (None: no more)."""
        if table not in TABLES:
            raise ValidationError(f"table: one of {', '.join(TABLES)}", field="table")
        first, last = _time(start, "start"), _time(end, "end")
        if not 1 <= limit <= MAX_SAMPLES:
            raise ValidationError(f"limit: 1 to {MAX_SAMPLES}", field="limit")
        store = self.farm.store
        await store.commit()  # what was recorded so far counts
        rows = await store.timed_rows(table, first, last, after, limit + 1)
        more = len(rows) > limit
        rows = rows[:limit]
        views = [_timed_view(table, row) for row in rows]
        return views, (rows[-1][0] if more else None)

    # -- log files -----------------------------------------------------------------------
    def _folder(self, kind: str) -> LogFolder:
        if kind == "activity":
            return self.farm.activity.files
        if kind == "action":
            return self.farm.action_logs
        raise ValidationError(f"kind: one of {', '.join(LOG_KINDS)}", field="kind")

    def log_names(self, actor: Actor, kind: str) -> list[str]:
        return self._folder(kind).names()

    def read_log(self, actor: Actor, kind: str, name: object) -> str:
        return self._folder(kind).read(_text(name, "name"))

    async def remove_log(self, actor: Actor, kind: str, name: object) -> None:
        actor.require(Permission.ADMINISTER)
        text = _text(name, "name")
        self._folder(kind).remove(text)
        event = SystemEvent(action=f"remove_{kind}_log", actor=actor.name, detail={"name": text})
        await self.finish(actor, event, name=text)

    def follow_log(
        self,
        actor: Actor,
        kind: str,
        name: object,
        *,
        duration_s: float,
        max_bytes: int,
        stop: Callable[[], bool],
    ) -> LogTail:
        """What is written to a log from now on (the dispatcher log: kind `dispatcher`, no
        name), for at most `duration_s` and `max_bytes`, or until `stop()`; at most
        `max_log_followers` at once (LimitExceeded past it)."""
        self._check_follow(duration_s, max_bytes)
        path = self._log_path(kind, name)
        return self._tail(path, duration_s, max_bytes, stop)

    def follow_chunk_log(
        self,
        actor: Actor,
        job_key: int | str,
        chunk: object,
        attempt: int | None,
        *,
        duration_s: float,
        max_bytes: int,
        stop: Callable[[], bool],
    ) -> LogTail:
        """What an attempt of a chunk (by default its current one: the one running, or the
        last that ran) writes to its log from now on, bounded as `follow_log`; the tail
        ends once the attempt is over and all it wrote was read."""
        job = self.farm.queue.get(job_key)
        number = parse_id(chunk) if isinstance(chunk, str) else None
        if number is None:
            raise ValidationError(
                f"chunk: {str(chunk)[:32]!r} is not a chunk number", field="chunk"
            )
        index = self.farm.queue.chunk(job, number)
        logs = self.farm.chunk_logs
        current = job.chunk_attempts[index]
        if attempt is None:
            attempt = current  # the one running, or the last that ran
        if not 1 <= attempt <= current:
            detail = "has not run yet" if current == 0 else f"has had attempts 1 to {current}"
            raise NotFound(f"job {job.id} chunk {index} {detail}")
        self._check_follow(duration_s, max_bytes)
        running = self.farm.queue.running

        def finished() -> bool:
            now = running.get((job.id, index))
            return now is None or now.attempt != attempt

        self._take_follower()
        source = logs.follow(
            job.id, index, attempt, duration_s=duration_s, max_bytes=max_bytes, stop=stop,
            finished=finished,
        )  # fmt: skip
        return LogTail(source, self._release)

    def _tail(
        self,
        path: Path,
        duration_s: float,
        max_bytes: int,
        stop: Callable[[], bool],
        refresh: Callable[[], None] = lambda: None,
        finished: Callable[[], bool] = lambda: False,
    ) -> LogTail:
        self._take_follower()
        source = tail.follow(
            path, duration_s=duration_s, max_bytes=max_bytes, stop=stop, refresh=refresh,
            finished=finished,
        )  # fmt: skip
        return LogTail(source, self._release)

    _followers = 0

    def _take_follower(self) -> None:
        """Count one more live tail; LimitExceeded past `max_log_followers`."""
        settings = self.farm.settings
        if self._followers >= settings.max_log_followers:
            raise LimitExceeded(
                f"{self._followers} live log tails run already (the limit)",
                "max_log_followers", settings.max_log_followers,
            )  # fmt: skip
        self._followers += 1

    def _check_follow(self, duration_s: float, max_bytes: int) -> None:
        limit_s = self.farm.settings.max_log_follow_s
        if not 0 < duration_s <= limit_s:
            raise ValidationError(
                f"follow_s: more than 0 and at most {limit_s:g} seconds", field="follow_s"
            )
        if max_bytes < 1:
            raise ValidationError("max_bytes: at least 1", field="max_bytes")

    def _release(self) -> None:
        self._followers -= 1

    def _log_path(self, kind: str, name: object) -> Path:
        if kind == "dispatcher":
            return self.farm.message_log.path
        if kind not in LOG_KINDS:
            raise ValidationError(f"kind: one of {', '.join(FOLLOW_KINDS)}", field="kind")
        return self._folder(kind).path(_text(name, "name"))

    # -- the dispatcher's message log ------------------------------------------------------
    async def add_message(self, actor: Actor, message: object, *, internal: bool = False) -> None:
        actor.require(Permission.SUBMIT)
        text = _text(message, "message", empty=True)
        self.farm.message_log.add(text, internal=internal)
        action = "log_internal_message" if internal else "log_message"
        self.record(actor, SystemEvent(action=action, actor=actor.name), bytes=len(text))

    async def clear_messages(self, actor: Actor) -> None:
        actor.require(Permission.ADMINISTER)
        self.farm.message_log.clear()
        self.record(actor, SystemEvent(action="log_clear", actor=actor.name))

    def messages(self, actor: Actor) -> str:
        return self.farm.message_log.read()

    def statistics_sample(self) -> dict[str, Any]:
        """The counters the statistics sampler stores every interval. `nodes_busy` counts the
        nodes running a chunk; `chunks_queued` the chunks waiting in unfinished jobs."""
        farm = self.farm
        queue = farm.queue
        return {
            "time": time.time(),
            "jobs": len(queue.jobs),
            "nodes": len(queue.nodes),
            "nodes_online": len(farm.node_server.connected()),
            "nodes_busy": len({entry.node_id for entry in queue.running.values()}),
            "chunks_running": len(queue.running),
            "chunks_queued": queue.queued_chunks(),
            "results": farm.node_server.results,
            "assigned": farm.node_server.scheduler.assigned,
            "hook_faults": farm.hook_host.faults,
        }


def _timed_view(table: str, row: tuple[Any, ...]) -> dict[str, Any]:
    if table == "statistics":
        info = msgspec.json.decode(row[2])
        return {**info, "time": row[1]} if isinstance(info, dict) else {"time": row[1]}
    return {"time": row[1], "job": row[2], "event": row[3], "detail": msgspec.json.decode(row[4])}
