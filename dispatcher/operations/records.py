"""Log, statistics and history operations: the dispatcher's message log, the activity
and action log files, and the time-ranged statistics and history tables.

Reading needs no permission beyond being known; adding a message needs submit;
clearing or removing anything needs administer.
"""

from __future__ import annotations

import time
from typing import Any

from dispatcher.activity import LogFolder
from dispatcher.auth import Permission
from dispatcher.errors import ValidationError
from dispatcher.events import SystemEvent
from dispatcher.operations.actor import Actor
from dispatcher.operations.farm import Area

TABLES = ("statistics", "history")
LOG_KINDS = ("activity", "action")


def _time(value: object, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValidationError(f"{what}: seconds since the epoch", field=what)
    return float(value)


def _text(value: object, what: str, *, empty: bool = False) -> str:
    if not isinstance(value, str) or (not empty and not value.strip()):
        raise ValidationError(f"{what}: a non-empty string is required", field=what)
    return value


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
        """The counters the statistics sampler stores every interval."""
        farm = self.farm
        return {
            "time": time.time(),
            "jobs": len(farm.queue.jobs),
            "nodes": len(farm.queue.nodes),
            "nodes_online": len(farm.node_server.connected()),
            "chunks_running": len(farm.queue.running),
            "results": farm.node_server.results,
            "assigned": farm.node_server.scheduler.assigned,
            "hook_faults": farm.hook_host.faults,
        }
