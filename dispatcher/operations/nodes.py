"""Node operations: what a wrangler can make a render node do, and the node views.

Each action checks the actor's permission (manage-nodes; run-python needs
administer), acts through `NodeControl`, commits, records `node_<action>` and
publishes one `NodeEvent`. It answers an `Answer` (ok and a sentence) that
each front turns into its own shape.
"""

from __future__ import annotations

from typing import Any

import msgspec

from dispatcher import listing
from dispatcher.auth import Permission
from dispatcher.control import Answer
from dispatcher.errors import ValidationError
from dispatcher.events import NodeEvent
from dispatcher.model import Node
from dispatcher.operations.actor import Actor
from dispatcher.operations.engines import forget_settings, stored_settings
from dispatcher.operations.farm import Area
from dispatcher.protocol import Ref, Resources
from dispatcher.views import node_view

__all__ = ["Answer", "NodeOperations"]


def _refs_text(verb: str, node: Node, refs: list[Ref]) -> str:
    chunks = ", ".join(f"job {ref.job} chunk {ref.chunk}" for ref in refs) or "nothing running"
    return f"{verb} node {node.label}: {chunks}"


class NodeOperations(Area):
    # -- lookups -----------------------------------------------------------------
    def get(self, actor: Actor, key: int | str) -> Node:
        """A node by id, or by name ('name' or 'name#instance'; Conflict listing the ids
        when several nodes bear it)."""
        control = self.farm.control
        return control.node(key) if isinstance(key, int) else control.find(key)

    def by_name(self, actor: Actor, name: str) -> Node:
        """A node by name only (a name made of digits is still a name here)."""
        if name.strip().isdecimal():
            queue = self.farm.queue
            matches = [node for node in queue.nodes.values() if name in (node.label, node.name)]
            if not matches:
                raise ValidationError(f"name: no node named {name!r}", field="name")
            return matches[0]
        return self.farm.control.find(name)

    def list(self, actor: Actor) -> list[Node]:
        return list(self.farm.queue.nodes.values())

    def listing(self, actor: Actor) -> tuple[listing.Selection, listing.Render]:
        """Every node by id, and how to render a slice of them (dispatcher/listing.py)."""
        nodes = self.farm.queue.nodes

        def render(keys: list[int]) -> list[Any]:
            # Once a slice rather than once a node: what runs, and which sessions are live.
            runs, online = self._runs_by_node(), self.farm.node_server.connected()
            return [
                self.view(nodes[key], runs=runs.get(key, []), online=online)
                for key in keys
                if key in nodes
            ]

        return listing.Selection.of_keys(nodes), render

    def present(self, node: Node) -> bool:
        return node.id in self.farm.queue.nodes

    def _runs_by_node(self) -> dict[int, list[Ref]]:
        """What every node runs now, by node id (the order of `queue.runs_on`)."""
        by_node: dict[int, list[Ref]] = {}
        for (job_id, chunk), running in self.farm.queue.running.items():
            by_node.setdefault(running.node_id, []).append(Ref(job_id, chunk, running.attempt))
        return by_node

    def view(
        self, node: Node, *, runs: list[Ref] | None = None, online: set[int] | None = None
    ) -> dict[str, Any]:
        """The REST view of a node with its settings, exclusions and last resources.
        A caller viewing many nodes passes what they run and the connected node ids."""
        server, queue = self.farm.node_server, self.farm.queue
        session = server.live.get(node.id)
        runs = queue.runs_on(node.id) if runs is None else runs
        connected = node.id in (server.connected() if online is None else online)
        view = node_view(node, runs, connected)
        failures = {
            str(job_id): count
            for (job_id, node_id), count in sorted(queue.node_failures.items())
            if node_id == node.id
        }
        view.update(
            status=_status(node, runs, connected),
            excluded_templates=sorted(node.excluded_templates),
            failures=failures,
            process_priority=node.process_priority,
            realtime_log=node.realtime_log,
            connected_since=session.connected_at if session is not None else None,
            resources=_resources_view(session.resources if session is not None else None),
            engine_settings=stored_settings(self.farm.records, node),
        )
        return view

    def api_view(self, node: Node) -> dict[str, Any]:
        """The MNode form: the plain view plus a status name and the template exclusions."""
        runs = self.farm.queue.runs_on(node.id)
        connected = node.id in self.farm.node_server.connected()
        view = node_view(node, runs, connected)
        view.update(
            status=_status(node, runs, connected),
            excluded_templates=sorted(node.excluded_templates),
        )
        return view

    def hosts(self, actor: Actor) -> list[dict[str, Any]]:
        """Per host name: its node instances, the latest resources and the renders running."""
        hosts: dict[str, dict[str, Any]] = {}
        runs, online = self._runs_by_node(), self.farm.node_server.connected()
        for node in sorted(self.farm.queue.nodes.values(), key=lambda node: node.id):
            detail = self.view(node, runs=runs.get(node.id, []), online=online)
            host = hosts.setdefault(
                node.host or node.name,
                {"host": node.host or node.name, "nodes": [], "resources": None, "renders": 0},
            )
            host["nodes"].append({"id": node.id, "name": node.label, "online": detail["online"]})
            resources = detail["resources"]
            if resources is not None:
                host["renders"] += len(resources.get("renders") or [])
                latest = host["resources"]
                if latest is None or resources["sampled"] > latest["sampled"]:
                    host["resources"] = {k: v for k, v in resources.items() if k != "renders"}
        return list(hosts.values())

    # -- the common ending ---------------------------------------------------------
    def _node(self, actor: Actor, key: int | str, permission: Permission) -> Node:
        actor.require(permission)
        node = self.get(actor, key)
        self.writable()
        return node

    async def _done(
        self, actor: Actor, action: str, node: Node, answer: Answer, /, **detail: Any
    ) -> Answer:
        event = NodeEvent(action=action, actor=actor.name, nodes=[node.id], ok=answer.ok)
        await self.finish(actor, event, node=node.id, ok=answer.ok, **detail)
        return answer

    # -- killing -------------------------------------------------------------------
    async def kill(self, actor: Actor, key: int | str) -> Answer:
        """Kill what the node runs; the chunks go back to the queue for any node."""
        node = self._node(actor, key, Permission.MANAGE_NODES)
        refs = self.farm.control.kill(node.id)
        answer = Answer(True, _refs_text("killed on", node, refs))
        return await self._done(actor, "node_kill", node, answer, chunks=len(refs))

    async def kill_and_pause(self, actor: Actor, key: int | str) -> Answer:
        node = self._node(actor, key, Permission.MANAGE_NODES)
        refs = self.farm.control.kill_and_pause(node.id)
        answer = Answer(True, _refs_text("paused and killed on", node, refs))
        return await self._done(actor, "node_kill_and_pause", node, answer, chunks=len(refs))

    async def kill_and_restart(self, actor: Actor, key: int | str) -> Answer:
        """Kill what the node runs and start the same chunks again on the same node."""
        node = self._node(actor, key, Permission.MANAGE_NODES)
        refs = self.farm.control.kill_and_restart(node.id)
        answer = Answer(True, _refs_text("restarting on", node, refs))
        return await self._done(actor, "node_kill_and_restart", node, answer, chunks=len(refs))

    async def kill_on_job(self, actor: Actor, job_key: int | str, then: object) -> list[int]:
        """Kill the job's chunks on every node running them, then pause those nodes, redo
        the chunks there, or let the nodes go on with other work."""
        actor.require(Permission.MANAGE_NODES)
        job = self.farm.queue.get(job_key)
        if not isinstance(then, str):
            raise ValidationError("then: required (pause, redo or go-on)", field="then")
        self.writable()
        touched = self.farm.control.kill_nodes_working_on_job(job.id, then)
        event = NodeEvent(action="kill_nodes_on_job", actor=actor.name, nodes=touched, job=job.id)
        await self.finish(actor, event, job=job.id, then=then, nodes=touched)
        return touched

    # -- state and settings -----------------------------------------------------------
    async def pause(self, actor: Actor, key: int | str) -> Answer:
        node = self._node(actor, key, Permission.MANAGE_NODES)
        self.farm.control.pause(node.id)
        return await self._done(
            actor, "node_pause", node, Answer(True, f"paused node {node.label}")
        )

    async def resume(self, actor: Actor, key: int | str) -> Answer:
        node = self._node(actor, key, Permission.MANAGE_NODES)
        self.farm.control.resume(node.id)
        return await self._done(
            actor, "node_resume", node, Answer(True, f"resumed node {node.label}")
        )

    async def force_update(self, actor: Actor, key: int | str) -> Answer:
        """Ask the node for a status report (resources, running chunks) now."""
        node = self._node(actor, key, Permission.MANAGE_NODES)
        self.farm.control.force_update(node.id)
        answer = Answer(True, f"asked node {node.label} for its status")
        return await self._done(actor, "node_update", node, answer)

    async def soft_restart(self, actor: Actor, key: int | str) -> Answer:
        node = self._node(actor, key, Permission.MANAGE_NODES)
        self.farm.control.soft_restart(node.id)
        answer = Answer(True, f"node {node.label} is restarting")
        return await self._done(actor, "node_soft_restart", node, answer)

    async def remove(self, actor: Actor, key: int | str) -> Answer:
        """Forget an offline node's registration."""
        node = self._node(actor, key, Permission.MANAGE_NODES)
        self.farm.control.remove_registration(node.id)
        forget_settings(self.farm.records, node)
        return await self._done(
            actor, "node_remove", node, Answer(True, f"removed node {node.label}")
        )

    async def reset_key(self, actor: Actor, key: int | str) -> Answer:
        """Forget the node's key (administer): the next render client under its name gets a
        new one, and a connected node is disconnected so that it takes it at once."""
        node = self._node(actor, key, Permission.ADMINISTER)
        self.farm.control.reset_key(node.id)
        answer = Answer(True, f"reset the key of node {node.label}; it gets a new one")
        return await self._done(actor, "node_reset_key", node, answer)

    async def set_priority(self, actor: Actor, key: int | str, priority: object) -> Answer:
        node = self._node(actor, key, Permission.MANAGE_NODES)
        if priority is None:
            raise ValidationError("priority: required (a nice value -20..19)", field="priority")
        self.farm.control.set_process_priority(node.id, priority)  # type: ignore[arg-type]
        answer = Answer(True, f"process priority of node {node.label} set to {priority}")
        return await self._done(actor, "node_priority", node, answer, priority=priority)

    async def set_realtime_log(self, actor: Actor, key: int | str, on: object) -> Answer:
        node = self._node(actor, key, Permission.MANAGE_NODES)
        if on is None:
            raise ValidationError("on: required (true or false)", field="on")
        self.farm.control.set_realtime_log(node.id, on)  # type: ignore[arg-type]
        answer = Answer(True, f"real-time log of node {node.label} {'on' if on else 'off'}")
        return await self._done(actor, "node_realtime_log", node, answer, on=on)

    async def set_notes(self, actor: Actor, key: int | str, notes: object) -> Answer:
        node = self._node(actor, key, Permission.MANAGE_NODES)
        if notes is None:
            raise ValidationError("notes: required", field="notes")
        self.farm.control.set_notes(node.id, notes)  # type: ignore[arg-type]
        return await self._done(
            actor, "node_notes", node, Answer(True, f"notes of node {node.label} set")
        )

    async def exclude_template(self, actor: Actor, key: int | str, template: object) -> Answer:
        node = self._node(actor, key, Permission.MANAGE_NODES)
        if template is None:
            raise ValidationError("template: required", field="template")
        self.farm.control.exclude_template(node.id, template)  # type: ignore[arg-type]
        answer = Answer(True, f"node {node.label} excludes template {template}")
        return await self._done(actor, "node_exclude", node, answer, template=template)

    async def purge_exclusions(
        self,
        actor: Actor,
        key: int | str,
        *,
        templates: bool,
        template: object = None,
        jobs: bool,
        job: object = None,
    ) -> Answer:
        """Let the node run excluded templates (one, or all with None) and/or jobs again."""
        node = self._node(actor, key, Permission.MANAGE_NODES)
        control = self.farm.control
        if template is not None and not isinstance(template, str | int):
            raise ValidationError("template: must be a template key or id", field="template")
        purged: list[str] = []
        if templates:
            name = None
            if template is not None:
                found = self.farm.templates.get(str(template))
                name = found.getKey() if found is not None else str(template)
            purged += [
                f"template {key}" for key in control.purge_template_exclusions(node.id, name)
            ]
        if jobs:
            purged += [f"job {job_id}" for job_id in control.purge_job_exclusions(node.id, job)]  # type: ignore[arg-type]
        answer = Answer(True, f"node {node.label}: purged {', '.join(purged) or 'nothing'}")
        return await self._done(actor, "node_purge_exclusions", node, answer, purged=purged)

    # -- commands with an answer ----------------------------------------------------------
    async def system_event(self, actor: Actor, key: int | str, event: object) -> Answer:
        """Shutdown, reboot or logoff through the node's configured event command."""
        node = self._node(actor, key, Permission.MANAGE_NODES)
        answer = await self.farm.control.send_system_event(node.id, event)  # type: ignore[arg-type]
        return await self._done(actor, "node_system_event", node, answer, event=event)

    async def run_python(self, actor: Actor, key: int | str, code: object) -> Answer:
        """Run Python on the node in the render-client context (administer)."""
        node = self._node(actor, key, Permission.ADMINISTER)
        answer = await self.farm.control.run_python_answer(node.id, code)  # type: ignore[arg-type]
        return await self._done(actor, "node_run_python", node, answer)


def _status(node: Node, runs: object, connected: bool) -> str:
    """The node's state as one name (MNode's): offline, paused, busy or idle."""
    if not connected:
        return "offline"
    if node.paused:
        return "paused"
    return "busy" if runs else "idle"


def _resources_view(resources: Resources | None) -> dict[str, Any] | None:
    if resources is None:
        return None
    view: dict[str, Any] = msgspec.to_builtins(resources)
    view["renders"] = [
        {
            **render,
            "ref": {"job": usage.ref.job, "chunk": usage.ref.chunk, "attempt": usage.ref.attempt},
        }
        for render, usage in zip(view["renders"], resources.renders, strict=True)
    ]
    return view
