"""An in-memory store with the SQLite store's recording interface, for the unit tier.

It keeps the last recorded state of each row so tests can check what the
queue asked to persist; `commit()` resolves at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from dispatcher.model import Job, Node
from dispatcher.store import rows


class MemoryStore:
    def __init__(self) -> None:
        self.jobs: dict[int, tuple[bytes, tuple[bytes, bytes, bytes, bytes]]] = {}
        self.runs_: dict[tuple[int, int, int], tuple[Any, ...]] = {}
        self.nodes: dict[int, Node] = {}
        self.users: dict[str, bytes] = {}
        self.meta: dict[str, str] = {}
        self.records_: dict[tuple[str, str], bytes] = {}
        self.timed: dict[str, list[tuple[Any, ...]]] = {"statistics": [], "history": []}
        self.batches = 0
        self.chunk_failures: dict[tuple[int, int], tuple[set[int], int]] = {}
        self.node_failures: dict[tuple[int, int], int] = {}
        self.writable = True

    def ensure_writable(self) -> None:
        return None

    def put_chunk_failures(
        self, job_id: int, index: int, failed_on: set[int], memory_needed: int
    ) -> None:
        self.chunk_failures[(job_id, index)] = (set(failed_on), memory_needed)

    def forget_chunk_failures(self, job_id: int, index: int) -> None:
        self.chunk_failures.pop((job_id, index), None)

    def put_node_failures(self, job_id: int, node_id: int, failures: int) -> None:
        self.node_failures[(job_id, node_id)] = failures

    def forget_node_failures(self, node_id: int, job_id: int | None = None) -> None:
        for key in [key for key in self.node_failures if key[1] == node_id]:
            if job_id is None or key[0] == job_id:
                del self.node_failures[key]

    def put_job(self, job: Job) -> None:
        self.jobs[job.id] = (rows.job_spec(job), rows.job_chunks(job))

    def put_chunks(self, job: Job, index: int | None = None) -> None:
        spec = self.jobs[job.id][0] if job.id in self.jobs else rows.job_spec(job)
        self.jobs[job.id] = (spec, rows.job_chunks(job))

    def delete_job(self, job_id: int) -> None:
        self.jobs.pop(job_id, None)
        for table in (self.chunk_failures, self.node_failures):
            for key in [key for key in table if key[0] == job_id]:
                del table[key]
        for key in [key for key in self.runs_ if key[0] == job_id]:
            del self.runs_[key]

    def put_run(
        self,
        ref: tuple[int, int, int],
        node_id: int,
        state: str,
        started: float | None,
        finished: float | None = None,
        exit_code: int | None = None,
        error: str = "",
        outcome: tuple[int, int, int] = (0, 0, 0),
    ) -> None:
        self.runs_[ref] = (*ref, node_id, state, started, finished, exit_code, error, *outcome)

    def put_node(self, node: Node) -> None:
        self.nodes[node.id] = node

    def delete_node(self, node_id: int) -> None:
        self.nodes.pop(node_id, None)

    def put_user(self, name: str, info: bytes | None) -> None:
        if info is None:
            self.users.pop(name, None)
        else:
            self.users[name] = info

    def put_meta(self, key: str, value: str) -> None:
        self.meta[key] = value

    def put_record(self, kind: str, name: str, info: bytes | None) -> None:
        if info is None:
            self.records_.pop((kind, name), None)
        else:
            self.records_[(kind, name)] = info

    def put_statistic(self, time: float, info: bytes) -> None:
        self.timed["statistics"].append((time, info))

    def put_history(self, time: float, job_id: int, event: str, info: bytes) -> None:
        self.timed["history"].append((time, job_id, event, info))

    def clear_range(self, table: str, start: float, end: float) -> None:
        self.timed[table] = [row for row in self.timed[table] if not start <= row[0] <= end]

    async def records(self) -> list[tuple[str, str, bytes]]:
        return [(kind, name, info) for (kind, name), info in sorted(self.records_.items())]

    async def bounds(self, table: str) -> tuple[float | None, float | None, int]:
        times = [row[0] for row in self.timed[table]]
        return (min(times), max(times), len(times)) if times else (None, None, 0)

    async def timed_rows(
        self, table: str, start: float, end: float, after: int, limit: int
    ) -> list[tuple[Any, ...]]:
        numbered = [(number, *row) for number, row in enumerate(self.timed[table], 1)]
        return [row for row in numbered if row[0] > after and start <= row[1] <= end][:limit]

    def commit_future(self) -> asyncio.Future[None]:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        future.set_result(None)
        self.batches += 1
        return future

    async def commit(self) -> None:
        await self.commit_future()

    async def runs(self, job_id: int, chunks: Sequence[int] | None = None) -> list[tuple[Any, ...]]:
        wanted = None if chunks is None else set(chunks)
        return [
            run
            for key, run in sorted(self.runs_.items())
            if key[0] == job_id and (wanted is None or key[1] in wanted)
        ]

    def restored(self) -> list[Job]:
        """The jobs as a restart would load them from what was recorded."""
        return [
            rows.job_from_row((job_id, spec, *chunks))
            for job_id, (spec, chunks) in sorted(self.jobs.items())
        ]
