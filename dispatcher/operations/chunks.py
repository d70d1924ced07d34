"""Chunk operations: their views with the attempts that ran, their logs, and setting a
chunk's state (requeue, skip, complete)."""

from __future__ import annotations

from typing import Any

from dispatcher.errors import ValidationError
from dispatcher.events import ChunkEvent
from dispatcher.model import Job, Status
from dispatcher.operations.actor import Actor
from dispatcher.operations.farm import Area
from dispatcher.views import chunk_view, iso


class ChunkOperations(Area):
    def _job(self, key: int | str) -> Job:
        return self.farm.queue.get(key)

    def _names(self) -> dict[int, str]:
        return {node.id: node.label for node in self.farm.queue.nodes.values()}

    def index(self, job: Job, chunk: object) -> int:
        """A chunk number of the job (0-based); NotFound past its last chunk."""
        if isinstance(chunk, str) and chunk.isdigit():
            chunk = int(chunk)
        if isinstance(chunk, bool) or not isinstance(chunk, int):
            raise ValidationError(f"chunk: {chunk!r} is not a chunk number", field="chunk")
        return self.farm.queue.chunk(job, chunk)

    # -- lookups -----------------------------------------------------------------
    async def list(
        self, actor: Actor, key: int | str, *, runs: bool = True
    ) -> list[dict[str, Any]]:
        """Every chunk's view; with `runs`, the times, exit code and error of its last attempt."""
        job = self._job(key)
        names = self._names()
        views = [chunk_view(job, index, names) for index in range(job.chunk_count)]
        if runs:
            latest = {run[1]: run for run in await self.farm.store.runs(job.id)}  # the last wins
            for index, view in enumerate(views):
                run = latest.get(index)
                view.update(
                    time_started=iso(run[5]) if run else None,
                    time_finished=iso(run[6]) if run else None,
                    exit_code=run[7] if run else None,
                    error=run[8] if run else "",
                )
        return views

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
                in await self.farm.store.runs(job.id)
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
