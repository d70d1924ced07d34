"""Who leads a farm of several dispatchers on one PostgreSQL database (hot standby).

Exactly one dispatcher is the leader: the one whose *lock session*, a connection
of its own used for nothing else, holds the database's session advisory lock.
Taking the lock, it raises the leader epoch in the `corral_leader` row (and adds a
row to `corral_epochs`); its store fences every batch with that epoch
(dispatcher/store/postgres.py). The lock goes with the session: when the leader's
process dies, or the server or the network cuts the session, the lock is free for
a standby, and the leader, which watches its session (the driver's notice of a
closed connection, and a ping every `poll_s`), steps down at once.
"""

from __future__ import annotations

import asyncio
import logging
import time

import asyncpg

from dispatcher.errors import StoreError
from dispatcher.roles import LeaderInfo
from dispatcher.store.pg_schema import (
    ALONE_APPLICATION,
    Q,
    close_quietly,
    connect,
    explain,
    migrate,
)
from dispatcher.store.urls import redact
from dispatcher.tasks import cancel_all

log = logging.getLogger(__name__)

# The driver's errors for a server or a network that fails the lock session.
DRIVER_ERRORS = (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError)


class Leadership:
    """The lock session of one dispatcher: `try_take()` until it returns an epoch,
    then `lost` is set the moment the session is gone. `close()` lets the lock go."""

    def __init__(self, url: str, *, poll_s: float = 1.0, timeout_s: float = 10.0) -> None:
        self.url = url
        self.where = redact(url)
        self.poll_s = poll_s
        self.timeout_s = timeout_s
        self.epoch = 0
        self.lost = asyncio.Event()
        self.lost_reason = ""
        self._conn: asyncpg.Connection | None = None
        self._use = asyncio.Lock()  # one statement at a time on the session
        self._watch: asyncio.Task[None] | None = None

    @property
    def leading(self) -> bool:
        return self.epoch > 0 and not self.lost.is_set()

    async def open(self) -> None:
        """Connect the lock session and bring the schema up to date, leader tables
        included (schema version 6); StartupError says why it cannot."""
        try:
            conn = await self._session()
            async with self._use:
                await migrate(conn)
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError) as exc:
            raise explain(exc, self.url) from exc

    async def _session(self) -> asyncpg.Connection:
        if self._conn is None or self._conn.is_closed():
            conn = await connect(self.url, timeout_s=self.timeout_s)
            try:
                # A leader whose process is frozen (stopped, swapping) still has a
                # kernel that keeps its connection open: the server ends a lock
                # session that stays silent (no ping) this long, and its lock with it.
                ms = int(max(5.0, 5 * self.poll_s) * 1000)
                await conn.execute(f"SET idle_session_timeout = {ms}")
            except asyncpg.UndefinedObjectError:  # (PostgreSQL before 14 has no such limit)
                log.warning("action=lead_no_idle_limit: a frozen leader keeps its lock")
            except BaseException:
                await close_quietly(conn)
                raise
            self._conn = conn
        return self._conn

    async def try_take(self, http_url: str, render_address: str) -> int:
        """Try to take the lead once: the new epoch, or 0 while another holds the lock.
        A session lost meanwhile is reconnected at the next try."""
        if self.leading:
            return self.epoch
        try:
            return await self._try_take(http_url, render_address)
        except DRIVER_ERRORS as exc:
            raise self._failed("take the lead", exc) from exc

    async def _try_take(self, http_url: str, render_address: str) -> int:
        conn = await self._session()
        async with self._use:
            if not await conn.fetchval(Q["try_lock"], timeout=self.timeout_s):
                return 0
            try:
                async with conn.transaction():
                    epoch = int(
                        await conn.fetchval(
                            Q["take_lead"], http_url, render_address, timeout=self.timeout_s
                        )
                    )
                    await conn.execute(Q["record_epoch"], epoch, http_url, timeout=self.timeout_s)
            except BaseException:
                # Without an epoch the lock is no use: let it go with the session.
                self._conn = None
                conn.terminate()
                raise
        self.epoch = epoch
        self.lost.clear()
        self.lost_reason = ""
        conn.add_termination_listener(self._terminated)
        self._watch = asyncio.create_task(self._watch_session(conn), name="leader-watch")
        self._watch.add_done_callback(self._watch_done)
        log.warning(
            "action=lead_taken epoch=%d http=%s render=%s database=%s",
            epoch, http_url, render_address, self.where,
        )  # fmt: skip
        return epoch

    async def advertise(self, http_url: str, render_address: str) -> None:
        """Record the leader's addresses (once its listeners are up), under its epoch."""
        try:
            conn = await self._session()
            async with self._use:
                await conn.execute(
                    Q["advertise"], self.epoch, http_url, render_address, timeout=self.timeout_s
                )
        except DRIVER_ERRORS as exc:
            raise self._failed("advertise the leader", exc) from exc

    async def leader(self) -> LeaderInfo:
        """The leader row as the database holds it now."""
        try:
            conn = await self._session()
            async with self._use:
                row = await conn.fetchrow(Q["leader"], timeout=self.timeout_s)
        except DRIVER_ERRORS as exc:
            raise self._failed("read the leader", exc) from exc
        if row is None:
            return LeaderInfo(0, "", "", 0.0)
        return LeaderInfo(
            int(row["epoch"]), row["http_url"], row["render_address"], float(row["taken_at"])
        )

    async def held_alone(self) -> bool:
        """Whether the database's lock is held by a dispatcher alone (not a leader)."""
        try:
            conn = await self._session()
            async with self._use:
                holder = await conn.fetchval(Q["lock_holder"], timeout=self.timeout_s)
        except DRIVER_ERRORS as exc:
            raise self._failed("find who holds the lock", exc) from exc
        return holder == ALONE_APPLICATION

    def _failed(self, what: str, exc: BaseException) -> StoreError:
        """The driver's error met on the lock session, as the store's error."""
        return StoreError(f"cannot {what} on {self.where}: {exc!r}")

    def _terminated(self, conn: asyncpg.Connection) -> None:
        self._lose("the lock session was closed")

    def _lose(self, reason: str) -> None:
        if self.epoch == 0 or self.lost.is_set():
            return
        self.lost_reason = reason
        log.critical("action=lead_lost epoch=%d reason=%s", self.epoch, reason)
        self.lost.set()

    async def _watch_session(self, conn: asyncpg.Connection) -> None:
        """Ping the lock session every `poll_s`; one that does not answer within
        `timeout_s` (or fails) is lost: a leader must not go on without its lock."""
        while not self.lost.is_set():
            await asyncio.sleep(self.poll_s)
            started = time.monotonic()
            try:
                async with self._use:
                    await conn.fetchval("SELECT 1", timeout=self.timeout_s)
            except DRIVER_ERRORS as exc:
                self._lose(f"the lock session failed: {exc!r}")
                return
            if conn.is_closed():
                self._lose("the lock session was closed")
                return
            log.debug("action=lead_ping s=%.3f", time.monotonic() - started)

    def _watch_done(self, task: asyncio.Task[None]) -> None:
        """Supervision: a watcher that died of a bug counts as a lost lead (safe side)."""
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            self._lose(f"the lock session's watcher failed: {exc!r}")

    async def release(self) -> None:
        """Let the lead (and its lock) go: the session is closed; a new one is opened
        by the next `try_take()`. Safe when not leading."""
        watch, self._watch = self._watch, None
        if watch is not None:
            await cancel_all([watch])
        conn, self._conn = self._conn, None
        if self.epoch:
            self._lose("the lead was released")
        self.epoch = 0
        if conn is not None:
            await close_quietly(conn)

    async def close(self) -> None:
        """Release the lead and close the session. Safe twice."""
        await self.release()


async def epochs(url: str) -> list[tuple[int, str, float, int, float | None]]:
    """Every epoch the farm had: (epoch, http URL, taken at, batches committed, last
    commit at), times in epoch seconds (for operators and the fencing tests)."""
    conn = await connect(url)
    try:
        found = await conn.fetch(Q["epochs"])
    finally:
        await close_quietly(conn)
    return [
        (
            int(row["epoch"]),
            row["http_url"],
            row["taken_at"].timestamp(),
            int(row["batches"]),
            row["last_commit_at"].timestamp() if row["last_commit_at"] is not None else None,
        )
        for row in found
    ]
