"""Persistence. `sqlite.SqliteStore` is the embedded default; `memory.MemoryStore`
serves the unit tier. Both record changes with `put_*` and make them durable
with `commit()`."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from dispatcher.model import Job, Node


class Store(Protocol):
    """What the queue needs of a store."""

    def put_job(self, job: Job) -> None: ...
    def put_chunks(self, job: Job) -> None: ...
    def delete_job(self, job_id: int) -> None: ...
    def put_run(
        self,
        ref: tuple[int, int, int],
        node_id: int,
        state: str,
        started: float | None,
        finished: float | None = None,
        exit_code: int | None = None,
        error: str = "",
    ) -> None: ...
    def put_node(self, node: Node) -> None: ...
    def put_meta(self, key: str, value: str) -> None: ...
    def commit_future(self) -> asyncio.Future[None]: ...
    async def runs(
        self, job_id: int, chunks: Sequence[int] | None = None
    ) -> list[tuple[Any, ...]]: ...
