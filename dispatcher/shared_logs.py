"""Chunk logs in the database, for a farm whose dispatchers share a PostgreSQL store.

With PostgreSQL and no `shared_log_dir`, every dispatcher of the farm must read
the output any of them received: a standby answering `GET .../log`, a new leader
after a failover. `DatabaseChunkLogs` keeps the interface of the log files
(dispatcher/logs.py ChunkLogs): `append` takes output as it arrives without
waiting; a supervised writer task sends what was appended to the database's
`corral_chunk_logs` table every `flush_interval_s`, in one statement, on the
store's read pool (never inside the farm's batches). Reads and live tails wait
for the writer first, so they see everything this dispatcher has received.

While the database cannot be written, output waits in memory up to
`max_buffered_bytes`; past that it is dropped with a warning (log output is the
record of what ran, not the farm's state, and must never stop the farm).

`earlier` is the log folder of the data directory (a farm moved from SQLite by
`corral store migrate` has its old chunk logs there): an attempt the database
holds no output of is read from it, and a deleted job's files go too.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable

from dispatcher import tail
from dispatcher.errors import NotFound, StoreError
from dispatcher.logs import ChunkLogs
from dispatcher.store.pg_chunk_logs import ChunkLogTable, Piece
from dispatcher.tasks import cancel_all

log = logging.getLogger(__name__)

FLUSH_INTERVAL_S = 0.25
MAX_BUFFERED_BYTES = 64 * 1024 * 1024
_WARN_EVERY_S = 60.0


class DatabaseChunkLogs:
    """Chunk output in the shared database table; see the module docstring."""

    def __init__(
        self,
        table: ChunkLogTable,
        *,
        flush_interval_s: float = FLUSH_INTERVAL_S,
        max_buffered_bytes: int = MAX_BUFFERED_BYTES,
        earlier: ChunkLogs | None = None,
    ) -> None:
        self.table = table
        self.earlier = earlier
        self.flush_interval_s = flush_interval_s
        self.max_buffered_bytes = max_buffered_bytes
        self._pending: list[Piece] = []
        self._pending_bytes = 0
        self._removals: list[int] = []
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._warned_at = -_WARN_EVERY_S
        self.dropped_bytes = 0

    # -- lifecycle -------------------------------------------------------------
    async def start(self) -> None:
        """Create the table when missing and start the writer (safe twice)."""
        if self._task is not None:
            return
        await self.table.ensure()
        self._task = asyncio.create_task(self._run(), name="chunk-logs-writer")
        self._task.add_done_callback(self._ended)

    def _ended(self, task: asyncio.Task[None]) -> None:
        if task.cancelled() or self._closing:
            return
        log.error("action=chunk_logs_writer_failed error=%r; restarting it", task.exception())
        self._task = asyncio.create_task(self._run(), name="chunk-logs-writer")
        self._task.add_done_callback(self._ended)

    async def aclose(self, timeout_s: float = 5.0) -> None:
        """Let the writer finish the write under way, write what is left, all within
        `timeout_s`; what the database did not take by then is logged as unwritten."""
        if self._closing:
            return
        self._closing = True
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        task, self._task = self._task, None
        if task is not None:
            self._wake.set()  # (the writer ends after its present write)
            await asyncio.wait({task}, timeout=timeout_s)
            await cancel_all([task])
        failure = "the deadline passed"
        try:
            await asyncio.wait_for(self.settle(), max(0.0, deadline - loop.time()))
        except TimeoutError:
            pass
        except StoreError as exc:
            failure = str(exc)
        if self._pending:
            log.warning(
                "action=chunk_logs_unwritten bytes=%d: the database could not take them (%s)",
                self._pending_bytes,
                failure,
            )

    # -- writing -----------------------------------------------------------------
    def append(self, job: int, chunk: int, attempt: int, data: bytes) -> None:
        if self._pending_bytes + len(data) > self.max_buffered_bytes:
            self.dropped_bytes += len(data)
            self._warn(f"{len(data)} bytes of job {job} chunk {chunk} dropped")
            return
        if self._pending and self._pending[-1][:3] == (job, chunk, attempt):
            self._pending[-1] = (job, chunk, attempt, self._pending[-1][3] + data)
        else:
            self._pending.append((job, chunk, attempt, bytes(data)))
        self._pending_bytes += len(data)

    def flush(self, job: int, chunk: int, attempt: int) -> None:
        """Ask the writer to write now."""
        self._wake.set()

    def end(self, job: int, chunk: int, attempt: int) -> None:
        self._wake.set()

    def remove_job(self, job: int) -> None:
        """Forget the job's output: what waits here at once, the table's by the writer."""
        kept = [piece for piece in self._pending if piece[0] != job]
        self._pending_bytes = sum(len(piece[3]) for piece in kept)
        self._pending = kept
        self._removals.append(job)
        self._wake.set()
        if self.earlier is not None:
            self.earlier.remove_job(job)

    async def _run(self) -> None:
        while not self._closing:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.flush_interval_s)
            self._wake.clear()
            try:
                await self.settle()
            except StoreError as exc:
                if self._closing:
                    return  # (aclose tries once more and tells what is left)
                self._warn(f"the database cannot take chunk logs now ({exc}); kept in memory")
                await asyncio.sleep(1.0)

    async def settle(self) -> None:
        """Write everything appended so far (and the removals); StoreError if it cannot,
        with the output kept for the next try."""
        async with self._lock:
            pieces, self._pending = self._pending, []
            written = sum(len(piece[3]) for piece in pieces)
            self._pending_bytes -= written
            removals, self._removals = self._removals, []
            try:
                await self.table.append(pieces)
            except BaseException:  # (cancelled too: kept, for the next try or the warning)
                self._pending = pieces + self._pending
                self._pending_bytes += written
                self._removals = removals + self._removals
                raise
            try:
                for job in removals:
                    await self.table.remove_job(job)
            except StoreError:
                self._removals = removals + self._removals
                raise

    def _warn(self, text: str) -> None:
        now = time.monotonic()
        if now - self._warned_at >= _WARN_EVERY_S:
            self._warned_at = now
            log.warning("action=chunk_logs_held %s", text)

    # -- reading -----------------------------------------------------------------
    async def attempts(self, job: int, chunk: int) -> list[int]:
        """The attempts of a chunk that wrote output, here or in the earlier files."""
        await self._settle_quietly()
        found = set(await self.table.attempts(job, chunk))
        if self.earlier is not None:
            found.update(self.earlier.attempts(job, chunk))
        return sorted(found)

    async def read_async(
        self, job: int, chunk: int, attempt: int | None = None, limit: int = 4 << 20
    ) -> bytes:
        """The output of one attempt (the latest by default), at most `limit` bytes from
        its end; NotFound when it wrote none."""
        await self._settle_quietly()
        if attempt is None:
            attempts = await self.attempts(job, chunk)
            if not attempts:
                raise NotFound(f"no log for job {job} chunk {chunk}")
            attempt = attempts[-1]
        pieces = await self.table.tail(job, chunk, attempt, limit)
        if not pieces and self.earlier is not None:
            return self.earlier.read(job, chunk, attempt, limit)  # NotFound when none
        if not pieces:
            raise NotFound(f"no log for job {job} chunk {chunk} attempt {attempt}")
        data = b"".join(data for _, data in pieces)
        return data[-limit:]

    async def follow(
        self,
        job: int,
        chunk: int,
        attempt: int,
        *,
        duration_s: float,
        max_bytes: int,
        stop: Callable[[], bool],
        finished: Callable[[], bool],
    ) -> AsyncIterator[bytes]:
        """What the attempt writes to its log from now on (dispatcher/tail.py's bounds)."""
        await self._settle_quietly()
        after = await self.table.last_seq(job, chunk, attempt)

        async def fetch(seq: int) -> list[tuple[int, bytes]]:
            return await self.table.after(job, chunk, attempt, seq)

        async for data in tail.follow_pieces(
            fetch, after=after, duration_s=duration_s, max_bytes=max_bytes, stop=stop,
            finished=finished, settle=self._settle_quietly, poll_s=self.flush_interval_s,
            label=f"job {job} chunk {chunk} attempt {attempt}",
        ):  # fmt: skip
            yield data

    async def _settle_quietly(self) -> None:
        """Write what waits before a read; a read goes on without it if it cannot."""
        try:
            await self.settle()
        except StoreError as exc:
            self._warn(f"a read found the database not taking chunk logs ({exc})")
