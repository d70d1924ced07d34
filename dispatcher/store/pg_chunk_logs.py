"""Chunk logs in a PostgreSQL database: the table every dispatcher of a farm shares.

`ChunkLogTable` is reached through `PostgresStore.chunk_log_table()`; it reads and
writes on the store's pool of connections, never on the batch connection, so log
output neither waits for nor delays the farm's group commits (log lines are a
record of what ran, not the farm's state). dispatcher/shared_logs.py buffers the
output and writes it here.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import asyncpg

from dispatcher.errors import StoreUnavailable
from dispatcher.store.pg_schema import migrate
from dispatcher.store.sqlite_queries import named_queries as _named_queries

if TYPE_CHECKING:
    from dispatcher.store.postgres import PostgresStore

Q = _named_queries((Path(__file__).parent / "sql" / "postgres" / "chunk_logs.sql").read_text())
Piece = tuple[int, int, int, bytes]  # job, chunk, attempt, output


class ChunkLogTable:
    """The `corral_chunk_logs` table: pieces of output per (job, chunk, attempt)."""

    def __init__(self, store: PostgresStore) -> None:
        self.store = store

    async def ensure(self) -> None:
        """Make sure the table is there: the schema brought up to date (the table is
        schema version 6; the store's `open()` has normally done it already)."""
        try:
            async with self.store._reads().acquire() as db:
                await migrate(db)
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError) as exc:
            cause = str(exc) or type(exc).__name__
            raise StoreUnavailable(
                f"the chunk log table cannot be made: {cause}", cause=cause, retry_after_s=1.0
            ) from exc

    async def append(self, pieces: Sequence[Piece]) -> None:
        """Write pieces of output in this order, in one statement."""
        if not pieces:
            return
        jobs, chunks, attempts, datas = (list(column) for column in zip(*pieces, strict=True))
        await self._write(Q["append_chunk_logs"], jobs, chunks, attempts, datas)

    async def attempts(self, job: int, chunk: int) -> list[int]:
        found = await self.store._read("fetch", Q["chunk_log_attempts"], job, chunk)
        return [int(row[0]) for row in found]

    async def tail(self, job: int, chunk: int, attempt: int, limit: int) -> list[tuple[int, bytes]]:
        """The last pieces of an attempt's log, at least `limit` bytes of them (or all),
        as (seq, data) in the order written."""
        found = await self.store._read("fetch", Q["chunk_log_tail"], job, chunk, attempt, limit)
        return [(int(seq), bytes(data)) for seq, data in found]

    async def after(
        self, job: int, chunk: int, attempt: int, seq: int, count: int = 256
    ) -> list[tuple[int, bytes]]:
        """Up to `count` pieces written after piece `seq`, as (seq, data)."""
        found = await self.store._read(
            "fetch", Q["chunk_log_after"], job, chunk, attempt, seq, count
        )
        return [(int(row[0]), bytes(row[1])) for row in found]

    async def last_seq(self, job: int, chunk: int, attempt: int) -> int:
        """The number of the attempt's last piece so far (0: none)."""
        row = await self.store._read("fetchrow", Q["chunk_log_last_seq"], job, chunk, attempt)
        return int(row[0]) if row is not None else 0

    async def remove_job(self, job: int) -> None:
        await self._write(Q["remove_chunk_logs"], job)

    async def size(self) -> tuple[int, int]:
        """(pieces, bytes) the table holds."""
        row = await self.store._read("fetchrow", Q["chunk_logs_bytes"])
        return (int(row[0]), int(row[1])) if row is not None else (0, 0)

    async def _write(self, query: str, *args: object) -> None:
        try:
            async with self.store._reads().acquire() as db:
                await db.execute(query, *args)
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError) as exc:
            cause = str(exc) or type(exc).__name__
            raise StoreUnavailable(
                f"chunk logs cannot be written: {cause}", cause=cause, retry_after_s=1.0
            ) from exc
