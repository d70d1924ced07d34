"""Chunk operations: their views with the attempts that ran, their logs, and setting a
chunk's state (requeue, skip, complete)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dispatcher import listing
from dispatcher.errors import NotFound, ValidationError
from dispatcher.events import ChunkEvent
from dispatcher.model import Job, Status, parse_id
from dispatcher.operations.actor import Actor
from dispatcher.operations.farm import Area
from dispatcher.views import chunk_view, chunk_views


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
            view["runs"] = [
                {"attempt": attempt, "node_id": node, "state": state, "started": started,
                 "finished": finished, "exit_code": exit_code, "error": error}
                for _, number, attempt, node, state, started, finished, exit_code, error
                in await self.farm.store.runs(job.id, [index])
                if number == index
            ]  # fmt: skip
        return view

    def log(self, actor: Actor, key: int | str, chunk: object, attempt: int | None) -> bytes:
        """The output of one attempt of a chunk (the latest by default)."""
        job = self._job(key)
        index = self.index(job, chunk)
        return self.farm.chunk_logs.read(job.id, index, attempt)

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
