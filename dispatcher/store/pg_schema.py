"""Connecting to a PostgreSQL database, explaining why a connection fails, and
bringing the store's schema up to date (dispatcher/store/sql/postgres/)."""

from __future__ import annotations

import asyncio
import logging
import re
from pathlib import Path

import asyncpg
import asyncpg.exceptions as pg_errors

from dispatcher.errors import StartupError
from dispatcher.store.sqlite_queries import named_queries as _named_queries
from dispatcher.store.urls import redact

log = logging.getLogger(__name__)

PG_SQL_DIR = Path(__file__).parent / "sql" / "postgres"
Q = _named_queries((PG_SQL_DIR / "queries.sql").read_text())
# Errors that lie with the server or the network, not with a batch's data.

# The application name of a dispatcher alone's writing connection, which holds the
# database's lock (hot standby tells it from a leader by it: dispatcher/standby.py).
ALONE_APPLICATION = "corral-alone"


def migrations() -> list[tuple[int, Path]]:
    """The PostgreSQL migrations, by number."""
    found = [
        (int(path.name.split("_", 1)[0]), path)
        for path in (PG_SQL_DIR / "migrations").glob("*.sql")
    ]
    return sorted(found)


def _statements(text: str) -> list[str]:
    """The statements of a migration file, comments left out."""
    text = re.sub(r"--[^\n]*", "", text)
    return [part.strip() for part in text.split(";") if part.strip()]


async def connect(url: str, *, timeout_s: float = 10.0) -> asyncpg.Connection:
    """One connection to `url`; StartupError says in one line why there is none."""
    try:
        return await asyncpg.connect(url, timeout=timeout_s)
    except (
        OSError,
        TimeoutError,
        ValueError,
        pg_errors.PostgresError,
        asyncpg.InterfaceError,
    ) as exc:
        raise explain(exc, url) from exc


class DatabaseInUse(StartupError):
    """Another dispatcher holds the database's lock."""


def explain(exc: BaseException, url: str) -> StartupError:
    """One line for an error met while connecting to the database or opening the store."""
    where = redact(url)
    if isinstance(exc, StartupError):
        return exc
    if isinstance(exc, ValueError):  # a malformed URL
        return StartupError(f"{where} is not a usable PostgreSQL URL: {exc}", path=where)
    if isinstance(exc, pg_errors.InvalidAuthorizationSpecificationError):
        return StartupError(f"{where}: the server refused the login: {exc}", path=where)
    if isinstance(exc, pg_errors.InvalidCatalogNameError):
        return StartupError(
            f"{where}: no such database ({exc}); create it first (createdb)", path=where
        )
    if isinstance(exc, OSError | TimeoutError):
        text = str(exc) or type(exc).__name__
        return StartupError(f"cannot reach the PostgreSQL server of {where}: {text}", path=where)
    return StartupError(f"cannot open {where}: {exc}", path=where)


async def schema_version(db: asyncpg.Connection) -> int:
    await db.execute(Q["schema_table"])
    return int(await db.fetchval(Q["schema_version"]))


async def migrate(db: asyncpg.Connection, *, until: int | None = None) -> int:
    """Bring the database to the latest schema, or to version `until` (each migration
    in its own transaction, under a lock so that two at once do not race); returns
    the version."""
    async with db.transaction():
        await db.execute(Q["migrate_lock"])
        await db.execute(Q["schema_table"])
    version = await schema_version(db)
    latest = migrations()[-1][0]
    if version > latest:
        raise StartupError(
            f"the database's schema version {version} is newer than this Corral knows "
            f"({latest}): run the Corral that wrote it",
            path="corral_schema",
        )
    for number, path in migrations():
        if number <= version:
            continue
        if until is not None and number > until:
            break
        log.info("action=migrate dialect=postgresql version=%d file=%s", number, path.name)
        async with db.transaction():
            await db.execute(Q["migrate_lock"])
            if int(await db.fetchval(Q["schema_version"])) < number:  # (else another did it)
                for statement in _statements(path.read_text()):
                    await db.execute(statement)
                await db.execute(Q["set_schema_version"], number)
        version = number
    return version


async def read_record(url: str, kind: str, name: str) -> bytes | None:
    """One named record of the database (`corral config show` reads the stored
    settings); None when the record or its table is missing."""
    db = await connect(url)
    try:
        if await db.fetchval("SELECT to_regclass('records')") is None:
            return None
        info = await db.fetchval(Q["get_record"], kind, name)
    finally:
        await close_quietly(db)
    return None if info is None else bytes(info)


async def close_quietly(conn: asyncpg.Connection) -> None:
    try:
        await asyncio.wait_for(conn.close(), 5.0)
    except (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
        conn.terminate()
