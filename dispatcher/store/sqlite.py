"""The embedded SQLite store: WAL, synchronous=FULL, group commit, a supervised writer.

Every change the queue makes is recorded here with a `put_*` call (cheap, in
memory). The writer task writes everything recorded since the last batch in one
transaction on the store's own thread, then resolves the futures of every
`commit()` that waited for it: one fsync per batch, not per change.

A batch that cannot be written is refused whole. Every change not yet durable
(that batch, and what was recorded while it was written) is taken back: the
store reads its own copy of each record they touched and hands it to
`on_refused`, which puts the dispatcher's memory back to what is on disk; then
their waiters fail with the cause. When the cause lies in the machine (disk
full, read-only file system, I/O error) the store turns *unavailable*: it
refuses changes at once, probes the disk with a growing pause, and turns
available again by itself. When the cause lies in the data (a value that cannot
be encoded) only that batch is refused.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import sqlite3
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import chain
from pathlib import Path
from typing import Any

import msgspec

from dispatcher.errors import StartupError, StoreError, StoreUnavailable
from dispatcher.histogram import LoopHistogram
from dispatcher.model import Job, Node
from dispatcher.store import chunk_changes, rows, sqlite_changes, sqlite_reads, startup
from dispatcher.store.batch import Batch, Refusal
from dispatcher.store.chunk_changes import ChunkChanges
from dispatcher.store.sqlite_queries import SQL_DIR, Q, put_runs_within
from dispatcher.store.sqlite_reads import Snapshot
from dispatcher.tasks import cancel_all

log = logging.getLogger(__name__)

# The probe that tells a store which could not write that it can again: a write
# of about a batch's size, taken back in the same transaction.
PROBE_BYTES = 64 * 1024


_rows_json = msgspec.json.Encoder()


@dataclass
class _Outage:
    """The store cannot write: why, since when, and when it tries again."""

    cause: str
    since: float
    delay_s: float
    next_probe: float
    probes: int = 0


def _noop(*_: object) -> None:
    return None


def _in_machine(exc: BaseException) -> bool:
    """True when a write failed because of the disk or file system, not the data."""
    return isinstance(exc, sqlite3.OperationalError | OSError | MemoryError)


def _cause(exc: BaseException) -> str:
    name = getattr(exc, "sqlite_errorname", "")
    text = str(exc) or type(exc).__name__
    return f"{text} ({name})" if name else text


class SqliteStore:
    """The store of one dispatcher: `open()`, `load()`, `put_*()`, `commit()`, `close()`."""

    def __init__(
        self,
        path: Path,
        *,
        durability: str = "full",
        checkpoint_interval_s: float = 2.0,
        retry_max_s: float = 1.0,
    ) -> None:
        self.path = path
        self.durability = durability
        self.checkpoint_interval_s = checkpoint_interval_s
        self.retry_max_s = retry_max_s
        self._db: sqlite3.Connection | None = None
        self._reader: sqlite3.Connection | None = None
        self._thread = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="corral-store")
        self._pending = Batch()
        self._waiters: list[asyncio.Future[None]] = []
        self._wake = asyncio.Event()
        self._flusher: asyncio.Task[None] | None = None
        self._closed = False
        self._pragmas: dict[str, Any] = {}
        self._outage: _Outage | None = None
        # The batch being written and its waiters (failed by supervision if the writer dies).
        self._inflight: tuple[Batch, list[asyncio.Future[None]]] | None = None
        self._last_checkpoint = time.monotonic()
        self._changes = ChunkChanges()
        self.batches = 0
        self.refused_batches = 0
        # Seconds from a batch handed to the writer thread to its commit (the metrics).
        self.commit_latency = LoopHistogram()
        self.checkpoints = 0
        self.writer_restarts = 0
        self.last_recovery_s: float | None = None
        # Wired by the dispatcher: memory goes back to the store's copy of a refused
        # batch's records; the store turned available again; the store cannot even be
        # read, so memory can no longer be trusted (the dispatcher stops).
        self.on_refused: Callable[[Refusal], None] = _noop
        self.on_available: Callable[[], None] = _noop
        self.on_fatal: Callable[[BaseException], None] = _noop

    # -- lifecycle -----------------------------------------------------------
    async def open(self) -> None:
        """Open the file (refusing one that would lose a farm: see store/startup.py)."""
        try:
            await self._run(self._open_sync)
        except (sqlite3.Error, OSError) as exc:
            raise startup.explain(exc, self.path) from exc
        self._start_writer()

    def _open_sync(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        startup.check_files(self.path)
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute(f"PRAGMA synchronous={'FULL' if self.durability == 'full' else 'NORMAL'}")
            db.execute("PRAGMA foreign_keys=ON")
            db.execute("PRAGMA busy_timeout=5000")
            self._migrate(db)
            self._pragmas = {
                name: db.execute(f"PRAGMA {name}").fetchone()[0]
                for name in ("journal_mode", "synchronous", "user_version")
            }
            # A second connection, used on the loop only to read back a refused
            # batch's records: it never waits for the writer (WAL readers don't).
            self._reader = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            self._reader.execute("PRAGMA query_only=ON")
        except BaseException:
            db.close()
            raise
        self._db = db

    def _migrate(self, db: sqlite3.Connection) -> None:
        version = db.execute("PRAGMA user_version").fetchone()[0]
        latest = max(
            int(path.name.split("_", 1)[0]) for path in (SQL_DIR / "migrations").glob("*.sql")
        )
        if version > latest:
            raise StartupError(
                f"{self.path} has schema version {version}, newer than this Corral knows "
                f"({latest}): run the Corral that wrote it",
                path=str(self.path),
            )
        db.create_function("with_job_uuid", 2, rows.with_job_uuid, deterministic=True)
        for path in sorted((SQL_DIR / "migrations").glob("*.sql")):
            number = int(path.name.split("_", 1)[0])
            if number <= version:
                continue
            log.info("action=migrate version=%d file=%s", number, path.name)
            db.execute("BEGIN IMMEDIATE")
            try:
                for statement in path.read_text().split(";"):
                    if statement.strip():
                        db.execute(statement)
                db.execute(f"PRAGMA user_version={number}")
                db.execute("COMMIT")
            except BaseException:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise

    def _start_writer(self) -> None:
        self._flusher = asyncio.create_task(self._flush_loop(), name="store-writer")
        self._flusher.add_done_callback(self._writer_done)

    def _writer_done(self, task: asyncio.Task[None]) -> None:
        """Supervision: a writer that died of a bug fails its waiters and is restarted."""
        if task.cancelled() or self._closed:
            return
        exc = task.exception()
        log.critical(
            "action=store_writer_died error=%r; its changes are refused, the writer restarts",
            exc,
        )
        self.writer_restarts += 1
        error = StoreError(f"the store's writer failed: {exc!r}; nothing was changed")
        inflight, self._inflight = self._inflight, None
        batch, waiters = inflight if inflight is not None else (Batch(), [])
        try:
            self._refuse(batch, waiters, error)
        finally:
            delay = 0.0 if self.writer_restarts == 1 else 0.1  # a bug repeating must not spin
            asyncio.get_running_loop().call_later(delay, self._restart_writer)

    def _restart_writer(self) -> None:
        if not self._closed:
            self._start_writer()
            self._wake.set()

    async def close(self) -> None:
        """Flush what is pending, stop the writer, checkpoint, close the file. Safe twice."""
        if self._closed:
            return
        if self._flusher is not None and not self._flusher.done():
            try:
                await self.commit()
            except StoreError as exc:
                log.error("action=store_close_unflushed error=%s", exc)
        self._closed = True
        if self._flusher is not None:
            await cancel_all([self._flusher])
        inflight, self._inflight = self._inflight, None
        for waiter in self._waiters + (inflight[1] if inflight is not None else []):
            if not waiter.done():
                waiter.set_exception(StoreError("the store closed before the change was written"))
        self._waiters.clear()
        if self._reader is not None:
            self._reader.close()
            self._reader = None
        if self._db is not None:
            await self._run(self._close_sync)
        self._thread.shutdown(wait=True)

    def _close_sync(self) -> None:
        db, self._db = self._db, None
        assert db is not None
        try:
            written = sqlite_changes.fold(db)  # (the arrays an older Corral reads)
            log.info("action=close chunk_changes_folded_jobs=%d", written)
        except (sqlite3.Error, chunk_changes.DamagedChange) as exc:
            log.warning("action=chunk_changes_fold_failed error=%s", exc)
        try:
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except sqlite3.Error as exc:
            log.warning("action=checkpoint_failed on_close=1 error=%s", exc)
        db.close()

    def pragmas(self) -> dict[str, Any]:
        """The pragmas as the database reported them when opened."""
        return dict(self._pragmas)

    # -- health --------------------------------------------------------------
    @property
    def writable(self) -> bool:
        """False while the store cannot write (then every change is refused at once)."""
        return self._outage is None

    def ensure_writable(self) -> None:
        """Raise StoreUnavailable while the store cannot write: call before changing memory."""
        if self._outage is not None:
            raise self._unavailable_error()

    def _unavailable_error(self) -> StoreUnavailable:
        outage = self._outage
        assert outage is not None
        retry = max(0.0, outage.next_probe - time.monotonic())
        return StoreUnavailable(
            f"the store cannot write: {outage.cause}; nothing was changed, try again later",
            cause=outage.cause,
            retry_after_s=retry,
        )

    def health(self) -> dict[str, Any]:
        """The store's state for /api/v1/status."""
        outage = self._outage
        state: dict[str, Any] = {
            "state": "ok" if outage is None else "unavailable",
            "batches": self.batches,
            "refused_batches": self.refused_batches,
            "checkpoints": self.checkpoints,
            "writer_restarts": self.writer_restarts,
            "last_recovery_s": self.last_recovery_s,
        }
        if outage is not None:
            state.update(
                cause=outage.cause,
                since=outage.since,
                probes=outage.probes,
                retry_in_s=round(max(0.0, outage.next_probe - time.monotonic()), 3),
            )
        return state

    async def _run(self, fn: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._thread, fn, *args)

    # -- reading -------------------------------------------------------------
    async def load(self) -> Snapshot:
        try:
            snapshot: Snapshot = await self._run(self._load_sync)
        except sqlite3.DatabaseError as exc:
            raise startup.explain(exc, self.path) from exc
        return snapshot

    def _load_sync(self) -> Snapshot:
        assert self._db is not None
        return sqlite_reads.load(self._db, self._changes, self.path)

    async def runs(self, job_id: int, chunks: Sequence[int] | None = None) -> list[tuple[Any, ...]]:
        """The attempts recorded for a job, or for its `chunks` only (ascending: a listing's
        page, so a million-chunk job is never read whole): (job, chunk, attempt, node,
        state, ...) ordered by chunk and attempt."""
        db = self._db
        assert db is not None
        if chunks is None:
            query, args = Q["load_runs"], (job_id,)
        elif not chunks:
            return []
        elif chunks[-1] - chunks[0] + 1 == len(chunks):  # a run of chunks: a range read
            query, args = Q["load_runs_between"], (job_id, chunks[0], chunks[-1])
        else:
            query, args = Q["load_runs_of_chunks"], (job_id, _rows_json.encode(list(chunks)))
        found: list[tuple[Any, ...]] = await self._run(lambda: db.execute(query, args).fetchall())
        return self.with_unwritten_runs(job_id, chunks, found)

    def with_unwritten_runs(
        self, job_id: int, chunks: Sequence[int] | None, found: list[tuple[Any, ...]]
    ) -> list[tuple[Any, ...]]:
        """`found` (stored attempts) with the attempts recorded since and not durable yet
        laid over them: a read right after a result sees what the job already shows (its
        state changes in memory at once; its attempt's row lands with the next commit)."""
        wanted = None if chunks is None else set(chunks)
        unwritten: dict[tuple[int, int, int], tuple[Any, ...]] = {}
        for batch in (self._inflight[0] if self._inflight else None, self._pending):
            if batch is None:
                continue
            for key, row in batch.runs.items():
                if key[0] == job_id and (wanted is None or key[1] in wanted):
                    unwritten[key] = row
        if not unwritten:
            return found
        merged = {(row[0], row[1], row[2]): row for row in found}
        merged.update(unwritten)
        return [merged[key] for key in sorted(merged)]

    # -- recording changes ---------------------------------------------------
    def put_job(self, job: Job) -> None:
        """Record the whole job (fields and chunks)."""
        self._pending.dirty_jobs[job.id] = job
        self._pending.dirty_chunks.pop(job.id, None)
        self._pending.dirty_cells.pop(job.id, None)
        self._wake.set()

    def put_chunks(self, job: Job, index: int | None = None) -> None:
        """Record the job's chunk arrays only; with `index`, only that chunk changed
        (written as a chunk change while the job has few: store/chunk_changes.py)."""
        pending = self._pending
        job_id = job.id
        # Changed chunks a job may gather before its arrays are written whole instead
        # (ChunkChanges.wants_whole, inline: twice per chunk).
        since_whole = self._changes.since_whole
        # (a job with changed cells in the batch is in neither dirty_jobs nor dirty_chunks)
        cells = pending.dirty_cells.get(job_id)
        if cells is not None and index is not None:  # (the usual change: a chunk more)
            indexes = cells[1]
            if index in indexes:
                pass  # (its count was checked when it joined, and holds until the take)
            elif since_whole.get(job_id, 0) + len(indexes) + 1 < chunk_changes.change_limit(job):
                indexes.add(index)
            else:
                pending.dirty_chunks[job_id] = job
                del pending.dirty_cells[job_id]
        elif job_id in pending.dirty_jobs or job_id in pending.dirty_chunks:
            pass
        elif index is not None and since_whole.get(job_id, 0) + 1 < chunk_changes.change_limit(job):
            pending.dirty_cells[job_id] = (job, {index})
        else:
            pending.dirty_chunks[job_id] = job
            pending.dirty_cells.pop(job_id, None)
        self._wake.set()

    def delete_job(self, job_id: int) -> None:
        self._pending.dirty_jobs.pop(job_id, None)
        self._pending.dirty_chunks.pop(job_id, None)
        self._pending.dirty_cells.pop(job_id, None)
        self._pending.deleted_jobs.add(job_id)
        self._wake.set()

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
        self._pending.runs[ref] = (
            *ref,
            node_id,
            state,
            started,
            finished,
            exit_code,
            error,
            *outcome,
        )
        self._wake.set()

    def put_node(self, node: Node) -> None:
        self._pending.nodes[node.id] = rows.node_row(node)
        self._pending.deleted_nodes.discard(node.id)
        self._wake.set()

    def delete_node(self, node_id: int) -> None:
        self._pending.nodes.pop(node_id, None)
        self._pending.deleted_nodes.add(node_id)
        self._wake.set()

    def put_user(self, name: str, info: bytes | None) -> None:
        """Record a user's JSON info; None deletes the user."""
        self._pending.users[name] = info
        self._wake.set()

    def put_meta(self, key: str, value: str) -> None:
        self._pending.meta[key] = value
        self._wake.set()

    def put_record(self, kind: str, name: str, info: bytes | None) -> None:
        """Record a named record's JSON (a pool, a repository, ...); None deletes it."""
        if info is None:
            self._pending.ops.append(("delete_record", (kind, name)))
        else:
            self._pending.ops.append(("put_record", (kind, name, info)))
        self._pending.records.add((kind, name))
        self._wake.set()

    def put_chunk_failures(
        self, job_id: int, index: int, failed_on: set[int], memory_needed: int
    ) -> None:
        """Record what a chunk's failed attempts taught (see Queue.failed_on)."""
        self._pending.ops.append(
            (
                "put_chunk_failures",
                (job_id, index, _rows_json.encode(sorted(failed_on)), memory_needed),
            )
        )
        self._pending.failure_jobs.add(job_id)
        self._wake.set()

    def forget_chunk_failures(self, job_id: int, index: int) -> None:
        self._pending.ops.append(("forget_chunk_failures", (job_id, index)))
        self._pending.failure_jobs.add(job_id)
        self._wake.set()

    def put_node_failures(self, job_id: int, node_id: int, failures: int) -> None:
        """Record how often a node failed a job (toward its exclusion)."""
        self._pending.ops.append(("put_node_failures", (job_id, node_id, failures)))
        self._pending.failure_jobs.add(job_id)
        self._wake.set()

    def forget_node_failures(self, node_id: int, job_id: int | None = None) -> None:
        if job_id is None:
            self._pending.ops.append(("forget_all_node_failures", (node_id,)))
            self._pending.failure_nodes.add(node_id)
        else:
            self._pending.ops.append(("forget_node_failures", (node_id, job_id)))
            self._pending.failure_jobs.add(job_id)
        self._wake.set()

    def put_statistic(self, time: float, info: bytes) -> None:
        self._pending.ops.append(("put_statistic", (time, info)))
        self._wake.set()

    def put_history(self, time: float, job_id: int, event: str, info: bytes) -> None:
        self._pending.ops.append(("put_history", (time, job_id, event, info)))
        self._wake.set()

    def clear_range(self, table: str, start: float, end: float) -> None:
        """Delete the statistics or history rows timed start..end (inclusive)."""
        if table not in ("statistics", "history"):
            raise ValueError(f"no time-ranged table {table!r}")
        self._pending.ops.append((f"clear_{table}", (start, end)))
        self._wake.set()

    async def records(self) -> list[tuple[str, str, bytes]]:
        """Every named record: (kind, name, info)."""
        assert self._db is not None
        found: list[tuple[str, str, bytes]] = await self._run(
            lambda: self._db.execute(Q["load_records"]).fetchall()
        )
        return found

    async def bounds(self, table: str) -> tuple[float | None, float | None, int]:
        """(first time, last time, rows) of the statistics or history table."""
        if table not in ("statistics", "history"):
            raise ValueError(f"no time-ranged table {table!r}")
        assert self._db is not None
        row = await self._run(lambda: self._db.execute(Q[f"{table}_bounds"]).fetchone())
        return row[0], row[1], int(row[2])

    async def timed_rows(
        self, table: str, start: float, end: float, after: int, limit: int
    ) -> list[tuple[Any, ...]]:
        """Up to `limit` rows of the statistics or history table timed start..end, in the
        order they were written, after row `after`: (row, time, info) or (row, time, job
        id, event, info)."""
        if table not in ("statistics", "history"):
            raise ValueError(f"no time-ranged table {table!r}")
        assert self._db is not None
        found: list[tuple[Any, ...]] = await self._run(
            lambda: self._db.execute(Q[f"{table}_range"], (start, end, after, limit)).fetchall()
        )
        return found

    async def history(self, start: float, end: float) -> list[tuple[float, int, str, bytes]]:
        assert self._db is not None
        found: list[tuple[float, int, str, bytes]] = await self._run(
            lambda: self._db.execute(Q["load_history"], (start, end)).fetchall()
        )
        return found

    # -- committing ----------------------------------------------------------
    def commit_future(self) -> asyncio.Future[None]:
        """A future resolved once everything recorded so far is durable, or failed with
        the reason it was refused (StoreError; StoreUnavailable while the disk cannot
        take it). It never waits for ever: the writer is supervised."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self._closed:
            future.set_exception(StoreError("the store is closed; nothing was changed"))
            return future
        self._waiters.append(future)
        self._wake.set()
        return future

    async def commit(self) -> None:
        await self.commit_future()

    def _take(self) -> Batch:
        batch, self._pending = self._pending, Batch()
        return batch

    async def _flush_loop(self) -> None:
        while True:
            outage = self._outage
            if outage is None:
                await self._wake.wait()
            else:
                try:
                    pause = max(0.0, outage.next_probe - time.monotonic())
                    await asyncio.wait_for(self._wake.wait(), pause)
                except TimeoutError:
                    pass
            self._wake.clear()
            if self._outage is not None:
                if self._pending or self._waiters:  # refused at once, taken back
                    await self._refuse_batch(self._take(), [], self._unavailable_error())
                if self._outage is not None and time.monotonic() >= self._outage.next_probe:
                    await self._probe()
                continue
            await self._flush_once()

    async def _flush_once(self) -> None:
        # One more turn of the loop first: a change's commit may be asked for by a
        # callback of the same tick (the nodes acknowledge results that way), and it
        # must join the batch that holds the change.
        await asyncio.sleep(0)
        batch = self._take()
        waiters, self._waiters = self._waiters, []
        self._inflight = (batch, waiters)
        try:
            self._changes.encode(batch)  # a value that cannot be stored raises here
            if batch:
                started = time.perf_counter()
                await self._write_batch(batch)
                self.commit_latency.observe(time.perf_counter() - started)
                self.batches += 1
        except Exception as exc:
            error = self._error_for(exc, batch)
            # Callbacks already queued this turn may still ask for the commit of a
            # change that is about to be taken back: let them, then refuse it all.
            await asyncio.sleep(0)
            self._inflight = None
            await self._refuse_batch(batch, waiters, error)
            return
        self._inflight = None
        for future in waiters:
            if not future.done():
                future.set_result(None)

    async def _write_batch(self, batch: Batch) -> None:
        """Write one batch in one transaction (in the store's thread)."""
        await self._run(self._write, batch)

    async def _refuse_batch(
        self, batch: Batch, waiters: list[asyncio.Future[None]], error: StoreError
    ) -> None:
        """Take back a refused batch (a backend that reads it back with awaits overrides)."""
        self._refuse(batch, waiters, error)

    def _error_for(self, exc: BaseException, batch: Batch) -> StoreError:
        """The error a refused batch's waiters get; a cause in the machine starts an outage."""
        cause = _cause(exc)
        if _in_machine(exc):
            now = time.monotonic()
            delay = min(0.05, self.retry_max_s)
            self._outage = _Outage(
                cause=cause, since=time.time(), delay_s=delay, next_probe=now + delay
            )
            log.error(
                "action=store_unavailable cause=%r path=%s; changes are refused until a "
                "write succeeds again (probing with backoff up to %.1f s)",
                cause, self.path, self.retry_max_s,
            )  # fmt: skip
            return self._unavailable_error()
        log.error("action=store_refused cause=%r %s", cause, batch.describe())
        return StoreError(f"the change could not be stored: {cause}; nothing was changed")

    def _refuse(self, batch: Batch, waiters: list[asyncio.Future[None]], error: StoreError) -> None:
        """Take back every change not yet durable and fail its waiters with `error`."""
        batch.absorb(self._take())
        waiters = waiters + self._waiters
        self._waiters = []
        self.refused_batches += 1
        try:
            refusal = self._read_back(batch, error)
        except Exception as exc:  # cannot even read the file: memory can't be trusted
            log.critical(
                "action=store_fatal error=%r; the refused changes cannot be taken back, "
                "the dispatcher stops",
                exc,
            )
            error = StoreError(f"the store failed: {_cause(exc)}; nothing was changed")
            self.on_fatal(exc)
        else:
            try:
                self.on_refused(refusal)
            except Exception:
                log.exception("action=store_take_back_failed; the dispatcher stops")
                self.on_fatal(RuntimeError("taking back a refused batch failed"))
        for future in waiters:
            if not future.done():
                future.set_exception(error)

    def _read_back(self, batch: Batch, error: StoreError) -> Refusal:
        """The stored copy of every record `batch` touched (read on the loop: no await,
        so nothing is recorded between reading and putting memory back)."""
        assert self._reader is not None
        return sqlite_reads.read_back(self._reader, batch, error)

    async def _probe(self) -> None:
        """Try a real write; on success the store is available again."""
        outage = self._outage
        assert outage is not None
        outage.probes += 1
        try:
            await self._run(self._probe_sync)
        except Exception as exc:
            self._probe_failed(outage, _cause(exc), f"path={self.path}")
            return
        self._available_again(outage)

    def _probe_failed(self, outage: _Outage, cause: str, where: str) -> None:
        """Log a new cause, and wait longer (up to `retry_max_s`) before the next probe."""
        if cause != outage.cause:
            log.error("action=store_unavailable cause=%r %s", cause, where)
        outage.cause = cause
        outage.delay_s = min(outage.delay_s * 2, self.retry_max_s)
        outage.next_probe = time.monotonic() + outage.delay_s

    def _available_again(self, outage: _Outage) -> None:
        """End `outage`: changes are accepted again and the writer wakes."""
        self._outage = None
        self.last_recovery_s = round(time.time() - outage.since, 3)
        log.warning(
            "action=store_available after_s=%.3f probes=%d; changes are accepted again",
            self.last_recovery_s, outage.probes,
        )  # fmt: skip
        try:
            self.on_available()
        except Exception:
            log.exception("action=store_available_callback_failed")
        self._wake.set()

    def _probe_sync(self) -> None:
        db = self._db
        assert db is not None
        db.execute("BEGIN IMMEDIATE")
        try:
            db.execute(Q["probe"], ("x" * PROBE_BYTES,))
            db.execute(Q["unprobe"])
            db.execute("COMMIT")
        except BaseException:
            _rollback(db)
            raise

    def _write(self, batch: Batch) -> None:
        db = self._db
        assert db is not None
        db.execute("BEGIN")
        try:
            if batch.deleted_jobs:
                ids = [(job_id,) for job_id in batch.deleted_jobs]
                db.executemany(Q["delete_job"], ids)
                db.executemany(Q["delete_job_runs"], ids)
                db.executemany(Q["delete_job_chunk_failures"], ids)
                db.executemany(Q["delete_job_node_failures"], ids)
            db.executemany(Q["put_job"], batch.jobs.values())
            db.executemany(Q["put_job_chunks"], batch.chunks.values())
            runs = [run for key, run in batch.runs.items() if key[0] not in batch.deleted_jobs]
            _put_runs(db, runs)
            db.executemany(Q["put_chunk_changes"], batch.changes)
            if batch.prune_upto:
                db.execute(Q["prune_chunk_changes"], (batch.prune_upto,))
            db.executemany(Q["put_node"], batch.nodes.values())
            db.executemany(Q["delete_node"], [(node_id,) for node_id in batch.deleted_nodes])
            for name, info in batch.users.items():
                if info is None:
                    db.execute(Q["delete_user"], (name,))
                else:
                    db.execute(Q["put_user"], (name, info))
            db.executemany(Q["put_meta"], batch.meta.items())
            for name, params in batch.ops:
                if params and name.endswith("_failures") and params[0] in batch.deleted_jobs:
                    continue  # (a job deleted in this batch keeps no failure memory)
                db.execute(Q[name], params)
            db.execute("COMMIT")
        except BaseException:
            _rollback(db)  # the original error is what the waiters must hear
            raise
        self._checkpoint(db)

    def _checkpoint(self, db: sqlite3.Connection) -> None:
        """Copy the WAL into the database every `checkpoint_interval_s`, so that losing
        the WAL file loses at most that much. The batch is committed already: a failed
        checkpoint is logged, never reported as a failed batch."""
        now = time.monotonic()
        if now - self._last_checkpoint < self.checkpoint_interval_s:
            return
        self._last_checkpoint = now
        try:
            db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            self.checkpoints += 1
        except sqlite3.Error as exc:
            log.warning("action=checkpoint_failed error=%s", exc)


def _put_runs(db: sqlite3.Connection, runs: list[tuple[Any, ...]]) -> None:
    """put_run for every row, in the fewest multi-row statements (sqlite_queries.RUN_ROWS):
    a plain VALUES list costs SQLite less than half of what reading the rows out of one
    JSON parameter did, and the store thread takes the GIL once per statement. Sizes
    past the connection's parameter limit are left out (an older SQLite allows 999)."""
    start, left = 0, len(runs)
    for size, statement in put_runs_within(db.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)):
        while left >= size:
            db.execute(statement, list(chain.from_iterable(runs[start : start + size])))
            start, left = start + size, left - size


def _rollback(db: sqlite3.Connection) -> None:
    """Roll back if SQLite has not already (it does by itself on a full disk)."""
    if not db.in_transaction:
        return
    try:
        db.execute("ROLLBACK")
    except sqlite3.Error as exc:
        log.warning("action=rollback_failed error=%s", exc)
