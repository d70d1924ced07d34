"""Chunk operations: their views with the attempts that ran, their logs, and setting a
chunk's state (requeue, skip, complete)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dispatcher import listing, pyfarm
from dispatcher.errors import Conflict, NotFound, ValidationError
from dispatcher.events import ChunkEvent
from dispatcher.model import CHUNK_RUNNING, CHUNK_STATUS, Job, Node, Status, parse_id
from dispatcher.operations.actor import Actor
from dispatcher.operations.farm import Area
from dispatcher.views import chunk_view, chunk_views, outcome_fields, run_view


class ChunkOperations(Area):
    def _job(self, key: int | str) -> Job:
        return self.farm.queue.get(key)

    def _names(self) -> dict[int, str]:
        return {node.id: node.label for node in self.farm.queue.nodes.values()}

    def index(self, job: Job, chunk: object) -> int:
        """A chunk number of the job (0-based); NotFound past its last chunk."""
        if isinstance(chunk, str) and chunk.isdecimal():
            number = parse_id(chunk)
            if number is None:
                raise NotFound(f"job {job.id} has no chunk {chunk[:32]}")
            chunk = number
        if isinstance(chunk, bool) or not isinstance(chunk, int):
            raise ValidationError(f"chunk: {chunk!r} is not a chunk number", field="chunk")
        return self.farm.queue.chunk(job, chunk)

    # -- lookups -----------------------------------------------------------------
    def listing(
        self, actor: Actor, key: int | str, query: Mapping[str, str]
    ) -> tuple[listing.Selection, listing.Render]:
        """A job's chunks by index (filter `state`) and how to render a slice of them with
        their last attempt's times; a front pages or streams it (dispatcher/listing.py)."""
        job = self._job(key)
        queue = self.farm.queue
        return listing.chunk_selection(job, query), listing.chunk_render(
            self.farm.store, queue, job
        )

    async def list(
        self, actor: Actor, key: int | str, *, runs: bool = True
    ) -> list[dict[str, Any]]:
        """Every chunk's view, built in slices; with `runs`, the times, exit code and error
        of its last attempt."""
        job = self._job(key)
        selection, render = self.listing(actor, job.id, {})
        if not runs:
            names = self._names()

            def render(keys: list[int]) -> list[Any]:
                return chunk_views(job, keys, names)

        return await listing.collect(selection, render, slice_items=listing.CHUNK_SLICE)

    async def get(
        self, actor: Actor, key: int | str, chunk: object, *, runs: bool = True
    ) -> dict[str, Any]:
        """One chunk's view; with `runs`, every attempt that ran."""
        job = self._job(key)
        index = self.index(job, chunk)
        view = chunk_view(job, index, self._names())
        if runs:
            rows = [run for run in await self.farm.store.runs(job.id, [index]) if run[1] == index]
            view["runs"] = [run_view(run) for run in rows]
            live = self.farm.queue.running_progress(job.id, index)
            view.update(outcome_fields(view["state"], rows[-1] if rows else None, live))
        return view

    async def log(self, actor: Actor, key: int | str, chunk: object, attempt: int | None) -> bytes:
        """The output of one attempt of a chunk (the latest by default)."""
        job = self._job(key)
        index = self.index(job, chunk)
        return await self.farm.chunk_logs.read_async(job.id, index, attempt)

    # -- changing ----------------------------------------------------------------
    async def set_status(
        self, actor: Actor, key: int | str, chunk: object, state: object
    ) -> dict[str, Any]:
        """Set a chunk queued (run it again), skipped or done; a running one is killed."""
        job = self._job(key)
        actor.may_manage(job)
        index = self.index(job, chunk)
        try:
            status = Status(state)
        except ValueError:
            raise ValidationError(f"state: unknown state {state!r}", field="state") from None
        self.farm.queue.set_chunk_status(job, index, status)
        event = ChunkEvent(
            action="chunk_set_status", actor=actor.name, job=job.id, chunk=index, state=status.value
        )
        await self.finish(actor, event, job=job.id, chunk=index, state=status.value)
        return chunk_view(job, index, self._names())

    # -- PyFarm's tasks: chunks by global task id -------------------------------------
    def task(self, actor: Actor, key: int | str, task: object) -> tuple[Job, int]:
        """The job and chunk index of global task id `task` (NotFound when the job has no
        such task)."""
        job = self._job(key)
        number = parse_id(task) if isinstance(task, str) else None
        if isinstance(task, int) and not isinstance(task, bool):
            number = task
        index = job.task_index(number) if number is not None else None
        if index is None:
            raise NotFound(f"job {job.id} has no task {str(task)[:32]}")
        return job, index

    def task_listing(
        self, actor: Actor, key: int | str, query: Mapping[str, str]
    ) -> tuple[listing.Selection, listing.Render]:
        """A job's tasks in chunk order (filter `state`), rendered as PyFarm shows them."""
        job = self._job(key)
        store, queue = self.farm.store, self.farm.queue
        nodes = queue.nodes

        async def render(keys: list[int]) -> list[Any]:
            latest = {run[1]: run for run in await store.runs(job.id, keys)}  # last wins
            return pyfarm.task_views(job, keys, nodes, latest, queue.running_progress)

        return listing.chunk_selection(job, query), render

    async def task_view(self, actor: Actor, key: int | str, task: object) -> dict[str, Any]:
        """One task as PyFarm shows it, with every attempt it had (`runs`)."""
        job, index = self.task(actor, key, task)
        runs = [run for run in await self.farm.store.runs(job.id, [index]) if run[1] == index]
        view = pyfarm.task_views(
            job, [index], self.farm.queue.nodes, {index: runs[-1]} if runs else {},
            self.farm.queue.running_progress,
        )[0]  # fmt: skip
        view["runs"] = [run_view(run) for run in runs]
        return view

    async def set_task_state(
        self, actor: Actor, key: int | str, task: object, state: object
    ) -> dict[str, Any]:
        """PyFarm's task update: `running` from an agent confirms a running task (a task
        starts only when the dispatcher assigns it to a node); queued, skipped and done set
        it as `set_status` does."""
        job, index = self.task(actor, key, task)
        if state == Status.RUNNING.value:
            actor.may_manage(job)
            if job.chunk_status[index] != CHUNK_RUNNING:
                raise Conflict(
                    f"task {job.task_id(index)} is {CHUNK_STATUS[job.chunk_status[index]].value}; "
                    "a task runs when the dispatcher assigns it to a render node"
                )
        else:
            await self.set_status(actor, job.id, index, state)
        return await self.task_view(actor, job.id, job.task_id(index))

    # -- failed on agents --------------------------------------------------------------
    def _node(self, agent: object) -> Node:
        for node in self.farm.queue.nodes.values():
            if node.uuid == agent:
                return node
        raise NotFound(f"no render node with id {str(agent)[:64]!r}")

    def failed_on(self, actor: Actor, key: int | str, task: object) -> list[dict[str, Any]]:
        """The render nodes a task failed on."""
        job, index = self.task(actor, key, task)
        nodes = self.farm.queue.nodes
        failed = self.farm.queue.failed_on.get((job.id, index), set())
        return [pyfarm.agent_view(nodes[node_id]) for node_id in sorted(failed) if node_id in nodes]

    async def add_failed_on(
        self, actor: Actor, key: int | str, task: object, agent: object
    ) -> dict[str, Any]:
        """Record that a task failed on a node (its `uuid`): it avoids that node while
        another can run it."""
        job, index = self.task(actor, key, task)
        actor.may_manage(job)
        node = self._node(agent)
        self.farm.queue.add_failed_on(job, index, node.id)
        event = ChunkEvent(
            action="chunk_failed_on_add", actor=actor.name, job=job.id, chunk=index,
            state=CHUNK_STATUS[job.chunk_status[index]].value,
        )  # fmt: skip
        await self.finish(actor, event, job=job.id, chunk=index, node=node.id)
        return pyfarm.agent_view(node)

    async def remove_failed_on(
        self, actor: Actor, key: int | str, task: object, agent: object
    ) -> None:
        """Let a task run on a node it failed on again (lifting the node's exclusion from
        the job, if it had one)."""
        job, index = self.task(actor, key, task)
        actor.may_manage(job)
        node = self._node(agent)
        self.farm.queue.remove_failed_on(job, index, node.id)
        # Its exclusion from the job (after repeated failures) would still keep it away.
        self.farm.control.purge_job_exclusions(node.id, job.id)
        event = ChunkEvent(
            action="chunk_failed_on_remove", actor=actor.name, job=job.id, chunk=index,
            state=CHUNK_STATUS[job.chunk_status[index]].value,
        )  # fmt: skip
        await self.finish(actor, event, job=job.id, chunk=index, node=node.id)
