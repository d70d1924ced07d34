"""Node control: what wranglers (REST, CLI, MDispatcherAPI) can make a render node do.

`NodeControl` takes node ids. Each method checks its input, changes the node
(recorded for the store: callers then await `store.commit()`) and sends the
render client the matching `protocol.Command`. Unknown nodes raise NotFound;
actions that need a connected node raise Conflict when it is not connected.

A kill asks the render client to stop the attempt and waits for its report:
the killed attempt's result puts the chunk back in the queue without counting
a failure or toward an exclusion (an administrator's kill counts toward
neither). "Redo" (kill and restart) then starts the same chunk again on the
same node as a new attempt. A kill whose command was lost with the
connection is sent again when the node reconnects.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from dataclasses import dataclass

from dispatcher import protocol as p
from dispatcher.errors import Conflict, NotFound, ValidationError
from dispatcher.model import CHUNK_QUEUED, Node, parse_id
from dispatcher.nodes import NodeServer, NodeSession
from dispatcher.queue import Queue
from dispatcher.store.sqlite import SqliteStore

log = logging.getLogger(__name__)

THEN = ("pause", "redo", "go-on")
SYSTEM_EVENTS = ("shutdown", "reboot", "logoff")
NICE_MIN, NICE_MAX = -20, 19
MAX_NOTES = 65536
MAX_CODE_BYTES = 1024 * 1024
REPLY_MARGIN_S = 5.0
SYSTEM_EVENT_TIMEOUT_S = 70.0


@dataclass(frozen=True, slots=True)
class Answer:
    """What a render client said to a command: success and its text."""

    ok: bool
    output: str


class NodeControl:
    """The node actions of the seed API, for one dispatcher's node server."""

    def __init__(
        self,
        *,
        queue: Queue,
        store: SqliteStore,
        nodes: NodeServer,
        python_timeout_s: float = 60.0,
    ) -> None:
        self.queue = queue
        self.store = store
        self.nodes = nodes
        self.python_timeout_s = python_timeout_s
        self._requests: dict[int, tuple[int, asyncio.Future[Answer]]] = {}
        self._numbers = itertools.count(1)
        self._killing: dict[p.Ref, int] = {}
        self._redo: dict[p.Ref, int] = {}
        nodes.on_reply = self._on_reply
        nodes.after_result = self._after_result
        nodes.on_attached = self._on_attached

    # -- lookups -------------------------------------------------------------
    def node(self, node_id: int) -> Node:
        if isinstance(node_id, bool) or not isinstance(node_id, int):
            raise ValidationError(f"node: {node_id!r} is not a node id", field="node")
        node = self.queue.nodes.get(node_id)
        if node is None:
            raise NotFound(f"no node with id {node_id}")
        return node

    def find(self, key: int | str) -> Node:
        """A node by id, or by name ('name' or 'name#instance')."""
        text = str(key).strip()
        if text.isdecimal():
            node_id = parse_id(text)
            if node_id is None:
                raise NotFound(f"no node with id {text[:32]}")
            return self.node(node_id)
        matches = [node for node in self.queue.nodes.values() if text in (node.label, node.name)]
        exact = [node for node in matches if node.label == text]
        if exact:
            return exact[0]
        if not matches:
            raise NotFound(f"no node named {text!r}")
        if len(matches) > 1:
            named = ", ".join(
                f"{node.id} ({node.label})" for node in sorted(matches, key=lambda n: n.id)
            )
            raise Conflict(f"{len(matches)} nodes are named {text!r} (ids {named}); use an id")
        return matches[0]

    def session(self, node_id: int) -> NodeSession:
        """The node's live session; Conflict when it is not connected."""
        node = self.node(node_id)
        session = self.nodes.live.get(node_id)
        if session is None or session.closed or session.state != "ready":
            raise Conflict(f"node {node.label} is not connected")
        return session

    # -- killing -------------------------------------------------------------
    def kill(self, node_id: int) -> list[p.Ref]:
        """Kill every attempt running on the node; the chunks go back to the queue."""
        session = self.session(node_id)
        return self._kill(session, self.queue.runs_on(node_id))

    def kill_and_pause(self, node_id: int) -> list[p.Ref]:
        session = self.session(node_id)
        self.pause(node_id)
        return self._kill(session, self.queue.runs_on(node_id))

    def kill_and_restart(self, node_id: int) -> list[p.Ref]:
        """Kill the node's attempts and start the same chunks again there."""
        session = self.session(node_id)
        refs = self._kill(session, self.queue.runs_on(node_id))
        for ref in refs:
            self._redo[ref] = node_id
        return refs

    def kill_nodes_working_on_job(self, job_id: int, then: str) -> list[int]:
        """Kill the job's attempts on every connected node running it, then pause the
        nodes, redo the chunks there, or let the nodes go on with other work."""
        if then not in THEN:
            raise ValidationError(f"then: must be one of {', '.join(THEN)}, not {then!r}", "then")
        job = self.queue.get(job_id)
        touched: list[int] = []
        for node_id in sorted(self.queue.job_nodes.get(job.id, ())):
            session = self.nodes.live.get(node_id)
            if session is None or session.state != "ready":
                continue
            refs = [ref for ref in self.queue.runs_on(node_id) if ref.job == job.id]
            if then == "pause":
                self.pause(node_id)
            self._kill(session, refs)
            if then == "redo":
                for ref in refs:
                    self._redo[ref] = node_id
            touched.append(node_id)
        log.info("action=kill_nodes_on_job job=%d then=%s nodes=%s", job.id, then, touched)
        return touched

    def _kill(self, session: NodeSession, refs: list[p.Ref]) -> list[p.Ref]:
        for ref in refs:
            self._killing[ref] = session.node.id
            session.send(p.Command("kill", ref=ref))
            log.info(
                "action=admin_kill node=%d job=%d chunk=%d attempt=%d",
                session.node.id,
                ref.job,
                ref.chunk,
                ref.attempt,
            )
        return refs

    def _after_result(self, session: NodeSession, result: p.Result) -> None:
        ref = result.ref
        self._killing.pop(ref, None)
        node_id = self._redo.pop(ref, None)
        if node_id is None or node_id != session.node.id:
            return
        job = self.queue.jobs.get(ref.job)
        if job is None or job.chunk_status[ref.chunk] != CHUNK_QUEUED:
            return
        if session.closed or session.draining or session.node.paused:
            return
        again = self.queue.start_attempt(job, ref.chunk, node_id)
        session.take(again)
        self.nodes.scheduler.job_changed(job)
        self.nodes.send_assigns([(session, again)])
        log.info(
            "action=redo node=%d job=%d chunk=%d attempt=%d",
            node_id,
            again.job,
            again.chunk,
            again.attempt,
        )

    def _on_attached(self, session: NodeSession) -> None:
        """A node (re)connected: send its settings and any kill it may have missed."""
        node = session.node
        if node.process_priority is not None:
            session.send(p.Command("priority", args={"nice": node.process_priority}))
        if not node.realtime_log:
            session.send(p.Command("realtime_log", args={"on": False}))
        for ref, node_id in list(self._killing.items()):
            if not self.queue.is_current(ref, node_id):
                del self._killing[ref]
            elif node_id == node.id:
                session.send(p.Command("kill", ref=ref))

    # -- pausing and settings ------------------------------------------------
    def pause(self, node_id: int) -> None:
        """The node takes no new chunks; what it runs goes on."""
        node = self.node(node_id)
        if not node.paused:
            node.paused = True
            self.store.put_node(node)
        self.nodes.scheduler.node_gone(node_id)

    def resume(self, node_id: int) -> None:
        node = self.node(node_id)
        if node.paused:
            node.paused = False
            self.store.put_node(node)
        session = self.nodes.live.get(node_id)
        if session is not None:
            self.nodes.scheduler.node_free(session)

    def force_update(self, node_id: int) -> None:
        """Ask the node for a status report now (resources and running chunks)."""
        self.session(node_id).send(p.Command("update"))

    def soft_restart(self, node_id: int) -> None:
        """The render client hands back its chunks and re-executes itself; it comes
        back under the same node ids (every instance of that client process)."""
        self.session(node_id).send(p.Command("soft_restart"))
        log.warning("action=soft_restart node=%d", node_id)

    def set_process_priority(self, node_id: int, priority: int) -> None:
        """Renice the node's renders (nice -20..19): the running ones and those to come."""
        node = self.node(node_id)
        if isinstance(priority, bool) or not isinstance(priority, int):
            raise ValidationError("priority: must be a whole number", field="priority")
        if not NICE_MIN <= priority <= NICE_MAX:
            raise ValidationError(
                f"priority: must be a nice value {NICE_MIN}..{NICE_MAX}, not {priority}",
                field="priority",
            )
        node.process_priority = priority
        self.store.put_node(node)
        session = self.nodes.live.get(node_id)
        if session is not None:
            session.send(p.Command("priority", args={"nice": priority}))

    def set_realtime_log(self, node_id: int, on: bool) -> None:
        """On: render output streams while it runs; off: it arrives when the chunk ends."""
        node = self.node(node_id)
        if not isinstance(on, bool):
            raise ValidationError("on: must be true or false", field="on")
        node.realtime_log = on
        self.store.put_node(node)
        session = self.nodes.live.get(node_id)
        if session is not None:
            session.send(p.Command("realtime_log", args={"on": on}))

    def set_notes(self, node_id: int, notes: str) -> None:
        node = self.node(node_id)
        if not isinstance(notes, str) or len(notes) > MAX_NOTES:
            raise ValidationError(f"notes: must be text of at most {MAX_NOTES} characters", "notes")
        node.notes = notes
        self.store.put_node(node)

    # -- exclusions ----------------------------------------------------------
    def exclude_template(self, node_id: int, template: str) -> None:
        node = self.node(node_id)
        if not isinstance(template, str) or not template.strip():
            raise ValidationError("template: a template key is required", field="template")
        node.excluded_templates.add(template.strip())
        self.store.put_node(node)

    def purge_template_exclusions(self, node_id: int, template: str | None) -> list[str]:
        """Forget the node's exclusion of `template` (None: of every template)."""
        node = self.node(node_id)
        if template is None:
            purged = sorted(node.excluded_templates)
        elif not isinstance(template, str):
            raise ValidationError("template: must be a template key", field="template")
        else:
            purged = [template] if template in node.excluded_templates else []
        node.excluded_templates.difference_update(purged)
        self._after_purge(node, purged)
        return purged

    def purge_job_exclusions(self, node_id: int, job_id: int | None) -> list[int]:
        """Forget the node's exclusion from `job_id` (None: from every job) and its
        failure counts there, so it is excluded again only after new failures."""
        node = self.node(node_id)
        if job_id is not None and (isinstance(job_id, bool) or not isinstance(job_id, int)):
            raise ValidationError("job: must be a job id", field="job")
        purged = sorted(node.excluded_jobs) if job_id is None else [job_id]
        purged = [job for job in purged if job in node.excluded_jobs]
        node.excluded_jobs.difference_update(purged)
        self.queue.forget_node_failures(node_id, job_id)
        self._after_purge(node, purged)
        return purged

    def _after_purge(self, node: Node, purged: list[int] | list[str]) -> None:
        self.store.put_node(node)
        log.info("action=purge_exclusions node=%d purged=%s", node.id, purged)
        session = self.nodes.live.get(node.id)
        if session is not None:
            self.nodes.scheduler.node_free(session)

    # -- registration --------------------------------------------------------
    def remove_registration(self, node_id: int) -> None:
        """Forget an offline node; attempts it still held get new attempts elsewhere."""
        node = self.node(node_id)
        if node_id in self.nodes.live:
            raise Conflict(f"node {node.label} is connected; stop its render client first")
        for ref in self.queue.runs_on(node_id):
            self.queue.requeue_attempt(ref, f"node {node.label} was removed")
        del self.queue.nodes[node_id]
        self.queue.forget_node_failures(node_id)
        self.nodes.deadlines.pop(node_id, None)
        self.nodes.scheduler.node_gone(node_id)
        self.store.delete_node(node_id)
        log.warning("action=node_removed node=%d name=%s", node_id, node.label)

    def reset_key(self, node_id: int) -> None:
        """Forget the node's key: the next render client to connect under its name gets a
        new one. A connected node is disconnected, so it reconnects and takes it at once."""
        node = self.node(node_id)
        node.key = ""
        self.store.put_node(node)
        log.warning("action=node_key_reset node=%d name=%s", node_id, node.label)
        session = self.nodes.live.get(node_id)
        if session is not None and not session.closed:
            session.send(p.Bye("node key reset by an administrator; reconnect for a new one"))
            session.abort("node key reset by an administrator")

    # -- commands with an answer ---------------------------------------------
    def send_system_event(self, node_id: int, event: str) -> asyncio.Future[Answer]:
        """Hand shutdown, reboot or logoff to the node's event command (a node without
        one refuses and logs it). The future holds the node's answer."""
        if event not in SYSTEM_EVENTS:
            raise ValidationError(
                f"event: must be one of {', '.join(SYSTEM_EVENTS)}, not {event!r}", "event"
            )
        session = self.session(node_id)
        log.warning("action=system_event node=%d event=%s", node_id, event)
        return self._ask(session, "system_event", {"event": event}, SYSTEM_EVENT_TIMEOUT_S)

    async def run_python(self, node_id: int, code: str) -> str:
        """Run `code` on the node in the render-client context; returns what it printed."""
        return (await self.run_python_answer(node_id, code)).output

    async def run_python_answer(self, node_id: int, code: str) -> Answer:
        if not isinstance(code, str) or not code.strip():
            raise ValidationError("code: Python code is required", field="code")
        if len(code.encode()) > MAX_CODE_BYTES:
            raise ValidationError(f"code: at most {MAX_CODE_BYTES} bytes", field="code")
        try:
            compile(code, "<node code>", "exec")
        except SyntaxError as exc:
            raise ValidationError(f"code: line {exc.lineno}: {exc.msg}", field="code") from None
        session = self.session(node_id)
        args = {"code": code, "timeout_s": self.python_timeout_s}
        log.warning("action=run_python node=%d bytes=%d", node_id, len(code))
        return await self._ask(session, "run_python", args, self.python_timeout_s + REPLY_MARGIN_S)

    def ask(
        self, session: NodeSession, action: str, args: dict[str, object], timeout_s: float
    ) -> asyncio.Future[Answer]:
        """Send a command with a request number; the future holds the node's answer (or a
        failed one after `timeout_s`)."""
        return self._ask(session, action, args, timeout_s)

    def _ask(
        self, session: NodeSession, action: str, args: dict[str, object], timeout_s: float
    ) -> asyncio.Future[Answer]:
        loop = asyncio.get_running_loop()
        number = next(self._numbers)
        future: asyncio.Future[Answer] = loop.create_future()
        self._requests[number] = (session.node.id, future)
        session.send(p.Command(action, args={**args, "request": number}))
        label = session.node.label

        def expire() -> None:
            entry = self._requests.pop(number, None)
            if entry is not None and not entry[1].done():
                entry[1].set_result(Answer(False, f"node {label} did not answer {action} in time"))

        handle = loop.call_later(timeout_s, expire)
        future.add_done_callback(lambda _: handle.cancel())
        return future

    def _on_reply(self, session: NodeSession, reply: p.Reply) -> None:
        entry = self._requests.get(reply.request)
        if entry is None or entry[0] != session.node.id:
            log.warning(
                "action=reply_unexpected node=%d request=%d", session.node.id, reply.request
            )
            return
        del self._requests[reply.request]
        if not entry[1].done():
            entry[1].set_result(Answer(reply.ok, reply.output))
