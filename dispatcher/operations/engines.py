"""Engine operations: the per-node settings and event commands Smedge's engines have,
the dispatch report of a node, failure resets, and the dispatcher's own identity.

A node's engine settings are named strings (Smedge's `UseGPUs`, or any other a
studio's tools read) kept in the records (kind `config`, named
`engine:NODE-UUID`, so they outlive restarts and renames of the host) and shown
in the node's view. Settings whose names end in `Evt` are event commands: the
dispatcher sends one to the node's render client after each chunk the node
finishes (dispatcher/engine_events.py makes its arguments), the render client
runs it there, and its exit code and output go into the dispatcher log with the
node's name. Changing settings needs manage-nodes.

The dispatcher's identity is a UUID made on its first start and kept in the
records: the same across restarts, so scripts can tell two farms apart.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import re
import time
import uuid
from typing import Any

from dispatcher import VERSION, engine_events
from dispatcher import protocol as p
from dispatcher.auth import Permission
from dispatcher.control import Answer
from dispatcher.errors import ValidationError
from dispatcher.events import NodeEvent
from dispatcher.model import Node
from dispatcher.nodes import NodeSession
from dispatcher.operations.actor import Actor
from dispatcher.operations.farm import Area
from dispatcher.records import Records

log = logging.getLogger(__name__)

IDENTITY = "dispatcher_identity"  # the "config" record holding the dispatcher's UUID
PREFIX = "engine:"  # + node UUID: the "config" record of a node's engine settings
SETTING_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_.]{0,63}")
MAX_SETTINGS = 256
MAX_VALUE_CHARS = 4096
# Names Corral keeps elsewhere: the node's own fields, changed by their own operations.
READ_ONLY = {"id", "name", "host", "instance", "status", "cpus", "pools", "platform", "online",
             "enabled", "note", "notes"}  # fmt: skip
EVENT_TIMEOUT_S = 60.0
REPLY_MARGIN_S = 5.0
KEPT_EVENTS = 20  # per node, the last event outcomes its dispatch report shows
LOGGED_OUTPUT_CHARS = 4000


def _text(value: object, name: str) -> str | None:
    """A setting's value as Smedge keeps it (text); None removes the setting."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int | float):
        return str(value)
    if not isinstance(value, str):
        raise ValidationError(f"{name}: a text, a number or null", field=name)
    if len(value) > MAX_VALUE_CHARS:
        raise ValidationError(f"{name}: at most {MAX_VALUE_CHARS} characters", field=name)
    return value


def stored_settings(records: Records, node: Node) -> dict[str, str]:
    """The node's engine settings (events included), by name, from the records."""
    stored = records.find("config", PREFIX + node.uuid) or {}
    return {str(name): str(value) for name, value in stored.items()}


def forget_settings(records: Records, node: Node) -> None:
    """Drop a removed node's engine settings (a node registered again gets a new UUID)."""
    if records.find("config", PREFIX + node.uuid) is not None:
        records.remove("config", PREFIX + node.uuid)


def checked_settings(settings: object) -> dict[str, str | None]:
    """Settings as given ({name: value}), checked; ValidationError names the first bad one."""
    if not isinstance(settings, dict) or not settings:
        raise ValidationError("settings: an object of setting names and values", "settings")
    if len(settings) > MAX_SETTINGS:
        raise ValidationError(f"settings: at most {MAX_SETTINGS} at once", field="settings")
    checked: dict[str, str | None] = {}
    for name, value in settings.items():
        if not isinstance(name, str) or not SETTING_NAME.fullmatch(name):
            raise ValidationError(
                f"{str(name)[:64]!r}: a setting name is a letter, then letters, digits, "
                "'_' or '.', at most 64 characters",
                field="settings",
            )
        if name.lower() in READ_ONLY:
            raise ValidationError(
                f"{name}: not supported as an engine setting (Corral keeps it with the node; "
                "enable, disable, pools and notes have their own calls)",
                field=name,
            )
        text = _text(value, name)
        if name.endswith("Evt") and text:
            if name not in engine_events.EVENTS:
                raise ValidationError(
                    f"{name}: event not supported; Corral runs "
                    f"{' and '.join(engine_events.EVENTS)}",
                    field=name,
                )
            try:
                engine_events.split(text)
            except ValueError as exc:
                raise ValidationError(f"{name}: {exc}", field=name) from None
        if name.endswith("Evt") and not text:
            text = None  # an empty event command removes it
        checked[name] = text
    return checked


class EngineOperations(Area):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._outcomes: dict[int, collections.deque[dict[str, Any]]] = {}
        self._pending: set[asyncio.Future[Answer]] = set()

    # -- the dispatcher's identity ---------------------------------------------------
    def identify(self) -> str:
        """The dispatcher's UUID, made and recorded on first use."""
        records = self.farm.records
        stored = records.find("config", IDENTITY)
        if stored is None or not isinstance(stored.get("uuid"), str):
            stored = {"uuid": str(uuid.uuid4()), "created": time.time()}
            records.put("config", IDENTITY, stored)
        return str(stored["uuid"])

    def identity(self, actor: Actor) -> dict[str, Any]:
        return {"uuid": self.identify(), "version": VERSION, "started": self.farm.started_at}

    # -- settings ------------------------------------------------------------------------
    def settings_of(self, node: Node) -> dict[str, str]:
        """The node's engine settings (events included), by name."""
        return stored_settings(self.farm.records, node)

    def _node(self, key: int | str) -> Node:
        control = self.farm.control
        return control.find(key) if isinstance(key, str) else control.node(key)

    def view(self, actor: Actor, key: int | str) -> dict[str, Any]:
        node = self._node(key)
        return {"node": node.label, "id": node.id, "uuid": node.uuid,
                "settings": self.settings_of(node)}  # fmt: skip

    async def configure(self, actor: Actor, key: int | str, settings: object) -> dict[str, Any]:
        """Set engine settings of one node (manage-nodes); a null value removes one."""
        actor.require(Permission.MANAGE_NODES)
        node = self._node(key)
        changes = checked_settings(settings)
        current = self.settings_of(node)
        for name, value in changes.items():
            if value is None:
                current.pop(name, None)
            else:
                current[name] = value
        if len(current) > MAX_SETTINGS:
            raise ValidationError(
                f"settings: a node keeps at most {MAX_SETTINGS}; remove some first", "settings"
            )
        self.writable()
        records = self.farm.records
        if current:
            records.put("config", PREFIX + node.uuid, current)
        elif records.find("config", PREFIX + node.uuid) is not None:
            records.remove("config", PREFIX + node.uuid)
        event = NodeEvent(action="node_engine_settings", actor=actor.name, nodes=[node.id])
        await self.finish(actor, event, node=node.id, settings=sorted(changes))
        return self.view(actor, node.id)

    async def reset_failures(self, actor: Actor, key: int | str) -> dict[str, Any]:
        """Forget the node's failure counts and job exclusions (manage-nodes)."""
        actor.require(Permission.MANAGE_NODES)
        node = self._node(key)
        self.writable()
        purged = self.farm.control.purge_job_exclusions(node.id, None)
        event = NodeEvent(action="node_reset_failures", actor=actor.name, nodes=[node.id])
        await self.finish(actor, event, node=node.id, jobs=purged)
        return {"node": node.label, "uuid": node.uuid, "jobs": purged}

    # -- the dispatch report ---------------------------------------------------------------
    def dispatch_report(self, actor: Actor, key: int | str) -> dict[str, Any]:
        """Why the node takes work or not, what it runs, and its last event commands."""
        node = self._node(key)
        queue, server = self.farm.queue, self.farm.node_server
        session = server.live.get(node.id)
        connected = node.id in server.connected()
        lines = [f"engine {node.label} ({node.uuid})"]
        if not connected:
            lines.append("not connected: it gets no work until its render client connects")
        elif node.paused:
            lines.append("disabled (paused): it gets no new work")
        elif session is not None and session.draining:
            lines.append("its render client is shutting down: it gets no new work")
        elif self.farm.node_server.scheduler.paused:
            lines.append("the dispatcher's engine is paused: no node gets new work")
        else:
            lines.append("enabled: it takes work from the jobs of its pools")
        lines.append(f"pools: {', '.join(node.pools) or '(none: jobs without pools)'}")
        running = queue.runs_on(node.id)
        lines += [
            f"running job {ref.job} chunk {ref.chunk} attempt {ref.attempt}" for ref in running
        ]
        if node.excluded_jobs:
            lines.append("excluded from jobs: " + ", ".join(map(str, sorted(node.excluded_jobs))))
        failures = {job: count for (job, node_id), count in queue.node_failures.items()
                    if node_id == node.id}  # fmt: skip
        if failures:
            lines.append(
                "failures: " + ", ".join(f"job {j}: {c}" for j, c in sorted(failures.items()))
            )
        for outcome in self._outcomes.get(node.id, ()):
            lines.append(
                f"{outcome['event']} for job {outcome['job']} chunk {outcome['chunk']}: "
                f"{'ok' if outcome['ok'] else 'failed'}"
            )
        return {"node": node.label, "uuid": node.uuid, "report": "\n".join(lines),
                "events": list(self._outcomes.get(node.id, ()))}  # fmt: skip

    # -- event commands ------------------------------------------------------------------
    def after_result(self, session: NodeSession, result: p.Result) -> None:
        """A node finished an attempt (a result that counted, never a stale or repeated
        one): send it its event command for the outcome."""
        try:
            self._send_event(session, result)
        except Exception:  # an event command must never disturb the result's handling
            log.exception("action=engine_event_failed node=%d", session.node.id)

    def _send_event(self, session: NodeSession, result: p.Result) -> None:
        node = session.node
        name = engine_events.SUCCESS if result.ok else engine_events.FAILURE
        # One value of the node's settings, not a copy of them all: this runs for every
        # result (Records.value, read in place: two calls less).
        settings = self.farm.records.items["config"].get(PREFIX + node.uuid)
        stored = None if settings is None else settings.get(name)
        command = None if stored is None else str(stored)
        job = self.farm.queue.jobs.get(result.ref.job)
        if not command or job is None or result.ref.chunk >= job.chunk_count:
            return
        values = engine_events.variables(
            job, result.ref.chunk, node, ok=result.ok, exit_code=result.exit_code,
            error=result.error,
        )  # fmt: skip
        try:
            argv = engine_events.command_line(command, values)
        except ValueError as exc:  # stored before a check that now refuses it
            self._outcome(node, name, result.ref, Answer(False, f"not run: {exc}"))
            return
        if not argv:
            return
        args = {"event": name, "argv": argv, "timeout_s": EVENT_TIMEOUT_S}
        future = self.farm.control.ask(
            session, "engine_event", args, EVENT_TIMEOUT_S + REPLY_MARGIN_S
        )
        self._pending.add(future)
        ref = result.ref

        def done(answered: asyncio.Future[Answer]) -> None:
            self._pending.discard(answered)
            if not answered.cancelled():
                self._outcome(node, name, ref, answered.result())

        future.add_done_callback(done)
        log.info(
            "action=engine_event node=%d event=%s job=%d chunk=%d",
            node.id,
            name,
            ref.job,
            ref.chunk,
        )

    def _outcome(self, node: Node, event: str, ref: p.Ref, answer: Answer) -> None:
        output = answer.output.strip()
        kept = self._outcomes.setdefault(node.id, collections.deque(maxlen=KEPT_EVENTS))
        kept.append({"event": event, "job": ref.job, "chunk": ref.chunk, "ok": answer.ok,
                     "output": output[-LOGGED_OUTPUT_CHARS:], "time": time.time()})  # fmt: skip
        text = output[-LOGGED_OUTPUT_CHARS:].replace("\n", " | ")
        self.farm.message_log.add(
            f"{event} job={ref.job} chunk={ref.chunk} ok={answer.ok}: {text}",
            source=f"engine {node.label}",
        )
