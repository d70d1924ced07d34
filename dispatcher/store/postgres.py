"""The PostgreSQL store: the same records, group commit and refusals as SQLite's,
on a database server (`--store postgresql://...`).

Recording (`put_*`), batching and acknowledging are SQLite's (dispatcher/store/
sqlite.py): everything recorded since the last batch is written in one
transaction on the store's own connection, and every `commit()` that waited for
it is resolved once that transaction has committed. Only the I/O differs: asyncpg
on the event loop instead of a thread, and a pool of a few connections for reads.

Alone (`leader_epoch=None`), the writing connection holds a session advisory lock
for as long as the store is open: a second dispatcher on the same database is
refused at start, and a dispatcher whose connection was lost gets its lock back on
reconnecting or stops. Under hot standby (dispatcher/leadership.py) the lock is
held by the leader's own session instead, and the store is *fenced*: every
batch's transaction first counts itself under `leader_epoch` in the statement
that share-locks the leader row (the `fence` query), so a batch of a leader that
lost the lead is refused whole (NotLeader, `on_fenced` is called) and none can
commit once a newer epoch exists.

A batch the server refuses for its data is refused alone. A lost connection, a
full disk, a server shutting down or read-only make the store *unavailable*, as
a full disk does for SQLite: changes are refused at once, and a probe reconnects
and writes with a growing pause until the server takes writes again. A refused
batch's records are read back (the changes recorded meanwhile with them) before
memory is put back; while the server cannot be read either, the read is tried
again for `readback_patience_s`, then the dispatcher stops.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import asyncpg
import asyncpg.exceptions as pg_errors

from dispatcher.errors import NotLeader, StartupError, StoreError, StoreUnavailable
from dispatcher.store import chunk_changes, pg_reads
from dispatcher.store.batch import Batch, Refusal
from dispatcher.store.pg_chunk_logs import ChunkLogTable
from dispatcher.store.pg_schema import (
    ALONE_APPLICATION,
    DatabaseInUse,
    Q,
    close_quietly,
    explain,
    migrate,
)
from dispatcher.store.sqlite import PROBE_BYTES, SqliteStore, _Outage
from dispatcher.store.sqlite_reads import Snapshot
from dispatcher.store.urls import redact
from dispatcher.tasks import cancel_all

log = logging.getLogger(__name__)

_MACHINE_ERRORS = (
    pg_errors.PostgresConnectionError,
    pg_errors.InsufficientResourcesError,
    pg_errors.OperatorInterventionError,
    pg_errors.ReadOnlySQLTransactionError,
    pg_errors.PostgresSystemError,
    pg_errors.InternalClientError,
    pg_errors.ObjectNotInPrerequisiteStateError,  # (a database not accepting connections)
    OSError,
    TimeoutError,
    MemoryError,
)


def _tuples(found: list[asyncpg.Record]) -> list[tuple[Any, ...]]:
    return [tuple(row) for row in found]


class PostgresStore(SqliteStore):
    """The store of one dispatcher on a PostgreSQL database (see the module's text).

    `url`: a postgresql:// URL (a password may also come from PGPASSWORD or
    ~/.pgpass, as for every PostgreSQL client). `durability="normal"` turns the
    server's synchronous commit off for this store's writes: a crash of the
    dispatcher loses nothing, one of the database server may lose the last batches.
    `leader_epoch`: fence every batch with this leader epoch (see the module's text).
    """

    def __init__(
        self,
        url: str,
        *,
        durability: str = "full",
        retry_max_s: float = 1.0,
        command_timeout_s: float = 30.0,
        readback_patience_s: float = 30.0,
        read_connections: int = 4,
        leader_epoch: int | None = None,
    ) -> None:
        super().__init__(Path(redact(url)), durability=durability, retry_max_s=retry_max_s)
        self._thread.shutdown(wait=False)  # (SQLite's thread: this store has no use for it)
        self.url = url
        self.where = redact(url)
        self.command_timeout_s = command_timeout_s
        self.readback_patience_s = readback_patience_s
        self.read_connections = read_connections
        self._conn: asyncpg.Connection | None = None
        self._pool: asyncpg.Pool | None = None
        self._version = 0
        self._server_version = ""
        self._refusing: asyncio.Task[None] | None = None
        # Hot standby: the epoch every batch is fenced with (0: a standby's store,
        # which commits nothing); None: alone, the writer holds the database's lock.
        self.leader_epoch = leader_epoch
        self.on_fenced: Callable[[NotLeader], None] = lambda exc: None

    # -- lifecycle -----------------------------------------------------------
    async def open(self) -> None:
        """Connect, take the database's lock, migrate, open the read pool."""
        try:
            conn = await self._connect_writer()
        except Exception as exc:
            raise explain(exc, self.url) from exc
        try:
            self._version = await migrate(conn)
            self._server_version = str(conn.get_settings().server_version)
            self._pool = await asyncpg.create_pool(
                self.url,
                min_size=1,
                max_size=self.read_connections,
                command_timeout=self.command_timeout_s,
            )
        except BaseException as exc:
            await close_quietly(conn)
            if isinstance(exc, Exception):
                raise explain(exc, self.url) from exc
            raise
        self._conn = conn
        self._start_writer()

    async def _connect_writer(self) -> asyncpg.Connection:
        """The writing connection, holding the database's lock (the driver's errors as
        they are; DatabaseInUse when another dispatcher holds the lock)."""
        named = {"application_name": ALONE_APPLICATION} if self.leader_epoch is None else None
        conn = await asyncpg.connect(
            self.url, timeout=self.command_timeout_s, server_settings=named
        )
        try:
            if self.leader_epoch is not None:
                # (a leader frozen inside a batch holds the leader row: not for long)
                await conn.execute("SET idle_in_transaction_session_timeout = '5s'")
            elif not await conn.fetchval(Q["try_lock"]):
                raise DatabaseInUse(
                    f"another dispatcher uses the database {self.where}; one dispatcher "
                    "per database (stop the other, or give this one its own database)",
                    path=self.where,
                )
            if self.durability != "full":
                await conn.execute("SET synchronous_commit = off")
        except BaseException:
            await close_quietly(conn)
            raise
        return conn

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
        delay = 0.0 if self.writer_restarts == 1 else 0.1  # a bug repeating must not spin

        async def refuse_then_restart() -> None:
            try:
                await self._refuse_batch(batch, waiters, error)
            finally:
                await asyncio.sleep(delay)
                self._restart_writer()

        self._refusing = asyncio.create_task(refuse_then_restart(), name="store-refuse")

    async def close(self) -> None:
        """Flush what is pending, stop the writer, close the connections. Safe twice."""
        if self._closed:
            return
        if self._flusher is not None and not self._flusher.done():
            try:
                await self.commit()
            except StoreError as exc:
                log.error("action=store_close_unflushed error=%s", exc)
        self._closed = True
        await cancel_all(task for task in (self._flusher, self._refusing) if task is not None)
        inflight, self._inflight = self._inflight, None
        for waiter in self._waiters + (inflight[1] if inflight is not None else []):
            if not waiter.done():
                waiter.set_exception(StoreError("the store closed before the change was written"))
        self._waiters.clear()
        pool, self._pool = self._pool, None
        if pool is not None:
            try:
                await asyncio.wait_for(pool.close(), self.command_timeout_s)
            except (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
                pool.terminate()
        conn, self._conn = self._conn, None
        if conn is not None:
            await close_quietly(conn)

    def pragmas(self) -> dict[str, Any]:
        """What the store is: the dialect, the server's version, the schema version."""
        return {
            "dialect": "postgresql",
            "server_version": self._server_version,
            "schema_version": self._version,
            "synchronous_commit": "on" if self.durability == "full" else "off",
            "database": self.where,
        }

    # -- reading -------------------------------------------------------------
    def _reads(self) -> asyncpg.Pool:
        if self._pool is None:
            raise StoreError("the store is closed")
        return self._pool

    async def _read(self, how: str, query: str, *args: Any) -> Any:
        """`how` (fetch, fetchrow) on a pooled connection; a connection the server cut
        is replaced once, then StoreUnavailable says the store cannot be read."""
        for attempt in (1, 2):
            try:
                return await getattr(self._reads(), how)(query, *args)
            except (*_MACHINE_ERRORS, asyncpg.InterfaceError) as exc:
                if attempt == 2:
                    cause = str(exc) or type(exc).__name__
                    raise StoreUnavailable(
                        f"the store cannot be read: {cause}; try again later",
                        cause=cause,
                        retry_after_s=self.retry_max_s,
                    ) from exc
        raise AssertionError("unreachable")

    async def load(self) -> Snapshot:
        try:
            async with self._reads().acquire() as db, db.transaction(isolation="repeatable_read"):
                snapshot = await pg_reads.load(db, self._changes)
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError) as exc:
            raise explain(exc, self.url) from exc
        except chunk_changes.DamagedChange as exc:
            raise StartupError(
                f"{redact(self.url)}: {exc}: restore it from a backup; 'corral store check' "
                "lists the damage",
                path="chunk_changes",
            ) from exc
        return snapshot

    async def runs(self, job_id: int, chunks: Any = None) -> list[tuple[Any, ...]]:
        """The attempts recorded for a job, or for its `chunks` only (as SqliteStore.runs)."""
        if chunks is None:
            query, args = Q["load_runs"], (job_id,)
        elif not chunks:
            return []
        elif chunks[-1] - chunks[0] + 1 == len(chunks):
            query, args = Q["load_runs_between"], (job_id, chunks[0], chunks[-1])
        else:
            query, args = Q["load_runs_of_chunks"], (job_id, list(chunks))
        return self.with_unwritten_runs(
            job_id, chunks, _tuples(await self._read("fetch", query, *args))
        )

    async def records(self) -> list[tuple[str, str, bytes]]:
        """Every named record: (kind, name, info)."""
        found = await self._read("fetch", Q["load_records"])
        return [(kind, name, bytes(info)) for kind, name, info in found]

    async def bounds(self, table: str) -> tuple[float | None, float | None, int]:
        """(first time, last time, rows) of the statistics or history table."""
        if table not in ("statistics", "history"):
            raise ValueError(f"no time-ranged table {table!r}")
        row = await self._read("fetchrow", Q[f"{table}_bounds"])
        assert row is not None
        return row[0], row[1], int(row[2])

    async def timed_rows(
        self, table: str, start: float, end: float, after: int, limit: int
    ) -> list[tuple[Any, ...]]:
        """Up to `limit` rows of the statistics or history table timed start..end, in the
        order written, after row `after` (as SqliteStore.timed_rows)."""
        if table not in ("statistics", "history"):
            raise ValueError(f"no time-ranged table {table!r}")
        found = await self._read("fetch", Q[f"{table}_range"], start, end, after, limit)
        return [(*row[:-1], bytes(row[-1])) for row in found]

    async def history(self, start: float, end: float) -> list[tuple[float, int, str, bytes]]:
        found = await self._read("fetch", Q["load_history"], start, end)
        return [(when, job_id, event, bytes(info)) for when, job_id, event, info in found]

    def chunk_log_table(self) -> ChunkLogTable:
        """The table of chunk logs every dispatcher on this database shares."""
        return ChunkLogTable(self)

    # -- committing ----------------------------------------------------------
    def _error_for(self, exc: BaseException, batch: Batch) -> StoreError:
        """The error a refused batch's waiters get; a cause in the server starts an outage."""
        cause = str(exc) or type(exc).__name__
        if isinstance(exc, NotLeader):  # the waiters get this cause; the leader steps down
            log.critical("action=fenced %s error=%s", batch.describe(), exc)
            self.on_fenced(exc)
            return exc
        if isinstance(exc, DatabaseInUse):  # reconnected, but another dispatcher holds the lock
            log.critical("action=store_fatal error=%s; the dispatcher stops", exc)
            self.on_fatal(exc)
            return StoreError(f"the store failed: {cause}; nothing was changed")
        if self._in_server(exc):
            conn, self._conn = self._conn, None
            if conn is not None:  # (its state is unknown: the probe opens a new one)
                conn.terminate()
            delay = min(0.05, self.retry_max_s)
            self._outage = _Outage(
                cause=cause, since=time.time(), delay_s=delay, next_probe=time.monotonic() + delay
            )
            log.error(
                "action=store_unavailable cause=%r database=%s; changes are refused until a "
                "write succeeds again (probing with backoff up to %.1f s)",
                cause, self.where, self.retry_max_s,
            )  # fmt: skip
            return self._unavailable_error()
        log.error("action=store_refused cause=%r %s", cause, batch.describe())
        return StoreError(f"the change could not be stored: {cause}; nothing was changed")

    def _in_server(self, exc: BaseException) -> bool:
        # (asyncpg's InterfaceError: a connection in a state it cannot use, as after
        # the server cut it in the middle of a statement.)
        return isinstance(exc, (*_MACHINE_ERRORS, asyncpg.InterfaceError))

    async def _refuse_batch(
        self, batch: Batch, waiters: list[asyncio.Future[None]], error: StoreError
    ) -> None:
        """Take back every change not yet durable and fail its waiters with `error`.

        The stored copies are read with awaits, so changes may be recorded meanwhile:
        they are taken with the batch and read too, until a read finds none new; then
        memory is put back with no await between that check and the putting back.
        While the database cannot be read either, the waiters are answered at once
        (nothing of theirs is durable) and the read is tried again for
        `readback_patience_s`, the store unavailable meanwhile; then the dispatcher
        stops, since its memory can no longer be trusted."""
        waiters = list(waiters)
        self.refused_batches += 1
        refusal = Refusal(error=error)
        read_jobs: set[int] = set()
        read_nodes: set[int] = set()
        read_failure_nodes: set[int] = set()
        read_users: set[str] = set()
        read_records: set[tuple[str, str]] = set()
        deadline = time.monotonic() + self.readback_patience_s
        pause = 0.05
        answer_early = False
        try:
            while True:
                batch.absorb(self._take())
                waiters += self._waiters
                self._waiters = []
                if answer_early:  # (no request waits on a database that does not answer)
                    _fail(waiters, error)
                    waiters = []
                jobs = batch.touched_jobs() - read_jobs
                nodes = batch.touched_nodes() - read_nodes
                failure_nodes = batch.failure_nodes - read_failure_nodes
                users = set(batch.users) - read_users
                records = batch.records - read_records
                if not (jobs or nodes or failure_nodes or users or records) and not self._pending:
                    break
                try:  # (all read in one consistent snapshot)
                    async with (
                        self._reads().acquire() as db,
                        db.transaction(isolation="repeatable_read"),
                    ):
                        await pg_reads.read_back_into(
                            db, refusal, jobs, nodes, failure_nodes, users, records
                        )
                except Exception as exc:  # (the read pool could not even connect, say)
                    if time.monotonic() >= deadline:
                        raise
                    log.warning(
                        "action=store_readback_retry error=%r; the refused changes are read "
                        "back once the database answers",
                        exc,
                    )
                    if not answer_early:
                        answer_early = True
                        if self._outage is None:  # (changes are refused at once meanwhile)
                            now = time.monotonic()
                            self._outage = _Outage(
                                cause=str(exc) or type(exc).__name__, since=time.time(),
                                delay_s=self.retry_max_s, next_probe=now + self.retry_max_s,
                            )  # fmt: skip
                        error = self._unavailable_error()
                        refusal.error = error
                    await asyncio.sleep(pause)
                    pause = min(pause * 2, 1.0)
                    continue
                read_jobs |= jobs
                read_nodes |= nodes
                read_failure_nodes |= failure_nodes
                read_users |= users
                read_records |= records
        except Exception as exc:  # cannot read the database: memory can't be trusted
            log.critical(
                "action=store_fatal error=%r; the refused changes cannot be taken back, "
                "the dispatcher stops",
                exc,
            )
            error = StoreError(f"the store failed: {exc}; nothing was changed")
            self.on_fatal(exc)
        else:
            refusal.failure_nodes = set(batch.failure_nodes)
            try:
                self.on_refused(refusal)
            except Exception:
                log.exception("action=store_take_back_failed; the dispatcher stops")
                self.on_fatal(RuntimeError("taking back a refused batch failed"))
        _fail(waiters, error)

    async def _probe(self) -> None:
        """Reconnect when the connection is gone, then try a real write; on success the
        store is available again."""
        outage = self._outage
        assert outage is not None
        outage.probes += 1
        try:
            conn = self._conn
            if conn is None or conn.is_closed():
                conn = await self._reconnect()
            await self._probe_write(conn)
        except NotLeader as exc:  # (a leader that lost the lead while the server was away)
            log.critical("action=fenced probe error=%s", exc)
            self.on_fenced(exc)
            self._probe_failed(outage, str(exc), f"database={self.where}")
            return
        except DatabaseInUse as exc:  # another dispatcher holds the lock now
            log.critical("action=store_fatal error=%s; the dispatcher stops", exc)
            self.on_fatal(exc)
            outage.next_probe = time.monotonic() + self.retry_max_s
            return
        except Exception as exc:
            conn, self._conn = self._conn, None
            if conn is not None:
                conn.terminate()
            self._probe_failed(outage, str(exc) or type(exc).__name__, f"database={self.where}")
            return
        self._available_again(outage)

    async def _reconnect(self) -> asyncpg.Connection:
        """A new writing connection (with the database's lock) in place of a lost one."""
        old, self._conn = self._conn, None
        if old is not None:
            old.terminate()
        try:
            conn = await self._connect_writer()
        except DatabaseInUse:
            raise
        except Exception as exc:  # whatever the server says, it is the server's state
            raise ConnectionError(f"cannot reconnect to the database: {exc}") from exc
        log.warning("action=store_reconnected database=%s", self.where)
        self._conn = conn
        return conn

    async def _probe_write(self, conn: asyncpg.Connection) -> None:
        async with conn.transaction():
            await self._fence(conn)
            await conn.execute(Q["probe"], "x" * PROBE_BYTES, timeout=self.command_timeout_s)
            await conn.execute(Q["unprobe"], timeout=self.command_timeout_s)

    async def _write_batch(self, batch: Batch) -> None:
        """The whole batch in one transaction on the writing connection."""
        conn = self._conn
        if conn is None or conn.is_closed():
            # Lost while idle (the server restarted, a firewall's timeout): nothing of this
            # batch was sent, so a new connection may write it.
            conn = await self._reconnect()
        timeout = self.command_timeout_s
        async with conn.transaction():
            await self._fence(conn)
            if batch.deleted_jobs:
                ids = [(job_id,) for job_id in batch.deleted_jobs]
                for name in ("delete_job", "delete_job_runs", "delete_job_chunk_failures",
                             "delete_job_node_failures"):  # fmt: skip
                    await conn.executemany(Q[name], ids, timeout=timeout)
            await _many(conn, "put_job", list(batch.jobs.values()), timeout)
            await _many(conn, "put_job_chunks", list(batch.chunks.values()), timeout)
            await _many(conn, "put_chunk_changes", batch.changes, timeout)
            if batch.prune_upto:
                await conn.execute(Q["prune_chunk_changes"], batch.prune_upto, timeout=timeout)
            runs = [run for key, run in batch.runs.items() if key[0] not in batch.deleted_jobs]
            await _many(conn, "put_run", runs, timeout)
            await _many(conn, "put_node", list(batch.nodes.values()), timeout)
            await _many(conn, "delete_node", [(node,) for node in batch.deleted_nodes], timeout)
            for name, info in batch.users.items():
                if info is None:
                    await conn.execute(Q["delete_user"], name, timeout=timeout)
                else:
                    await conn.execute(Q["put_user"], name, bytes(info), timeout=timeout)
            await _many(conn, "put_meta", list(batch.meta.items()), timeout)
            # Consecutive statements of one name go in one executemany (one round trip).
            group: list[tuple[Any, ...]] = []
            group_name = ""
            for name, params in batch.ops:
                if params and name.endswith("_failures") and params[0] in batch.deleted_jobs:
                    continue  # (a job deleted in this batch keeps no failure memory)
                if name != group_name and group:
                    await _many(conn, group_name, group, timeout)
                    group = []
                group_name = name
                group.append(params)
            if group:
                await _many(conn, group_name, group, timeout)

    async def _fence(self, conn: asyncpg.Connection) -> None:
        """Under hot standby, the first statement of a write's transaction: counts it
        under this store's epoch while the leader row holds that epoch, and keeps the
        row share-locked to the commit; NotLeader when the row holds another epoch."""
        epoch = self.leader_epoch
        if epoch is None:
            return
        if await conn.fetchval(Q["fence"], epoch, timeout=self.command_timeout_s) == epoch:
            return
        row = await conn.fetchrow(Q["leader"], timeout=self.command_timeout_s)
        current = int(row["epoch"]) if row is not None else 0
        who = "a standby" if epoch == 0 else f"no longer the leader (its epoch {epoch})"
        raise NotLeader(
            f"this dispatcher is {who}: the database's leader epoch is {current}; "
            "nothing was changed",
            epoch=epoch,
            current_epoch=current,
        )


def _fail(waiters: list[asyncio.Future[None]], error: StoreError) -> None:
    for future in waiters:
        if not future.done():
            future.set_exception(error)


async def _many(
    conn: asyncpg.Connection, name: str, params: list[tuple[Any, ...]], timeout: float
) -> None:
    if params:
        await conn.executemany(Q[name], params, timeout=timeout)
