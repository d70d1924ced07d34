"""Schema version 6 on a real PostgreSQL: the leader tables and the chunk-log table
are a numbered migration. A database made at version 5 (with or without the tables
the dispatchers of that time made for themselves) upgrades when a dispatcher starts,
keeping its rows; SQLite counts the same version with nothing to change. A database
at version 6 holding jobs upgrades to 7 (chunk changes) and keeps them."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from dispatcher.jobspec import build_job, parse_spec
from dispatcher.leadership import epochs
from dispatcher.model import CHUNK_DONE, CHUNK_RUNNING
from dispatcher.store import pg_schema, rows
from dispatcher.store.postgres import PostgresStore
from dispatcher.store.sqlite import SqliteStore
from tests.integration.farm import Farm

pytestmark = pytest.mark.postgres

# What a dispatcher before schema version 6 made for itself, as it made it.
OLD_TABLES = """
CREATE TABLE IF NOT EXISTS corral_leader (
    id INTEGER PRIMARY KEY CHECK (id = 1), epoch BIGINT NOT NULL, http_url TEXT NOT NULL,
    render_address TEXT NOT NULL, taken_at DOUBLE PRECISION NOT NULL);
CREATE TABLE IF NOT EXISTS corral_epochs (
    epoch BIGINT PRIMARY KEY, http_url TEXT NOT NULL, taken_at TIMESTAMPTZ NOT NULL,
    batches BIGINT NOT NULL DEFAULT 0, last_commit_at TIMESTAMPTZ);
INSERT INTO corral_leader VALUES (1, 3, 'http://old:1', 'old:2', 0);
INSERT INTO corral_epochs (epoch, http_url, taken_at, batches) VALUES (3, 'http://old:1', now(), 9);
CREATE TABLE IF NOT EXISTS corral_chunk_logs (
    seq BIGSERIAL PRIMARY KEY, job BIGINT NOT NULL, chunk INTEGER NOT NULL,
    attempt INTEGER NOT NULL, data BYTEA NOT NULL);
CREATE INDEX IF NOT EXISTS corral_chunk_logs_attempt
    ON corral_chunk_logs (job, chunk, attempt, seq);
INSERT INTO corral_chunk_logs (job, chunk, attempt, data) VALUES (1, 0, 1, 'old output');
"""


async def at_version_5(url: str, *, old_tables: bool) -> None:
    db = await pg_schema.connect(url)
    try:
        assert await pg_schema.migrate(db, until=5) == 5
        if old_tables:
            await db.execute(OLD_TABLES)
        else:
            assert await db.fetchval("SELECT to_regclass('corral_leader')") is None
    finally:
        await pg_schema.close_quietly(db)


async def test_version_6_is_the_leader_and_chunk_log_tables_in_both_dialects(
    postgres_url: str, tmp_path: Path
) -> None:
    numbers = [number for number, _ in pg_schema.migrations()]
    assert 6 in numbers
    await at_version_5(postgres_url, old_tables=False)
    store = PostgresStore(postgres_url)
    await store.open()
    try:
        assert store.pragmas()["schema_version"] == numbers[-1]
        table = store.chunk_log_table()
        await table.ensure()  # (already there: nothing to do)
        await table.append([(4, 0, 1, b"logged")])
        assert await table.tail(4, 0, 1, 100) == [(1, b"logged")]
        async with store._reads().acquire() as db:
            row = await db.fetchrow("SELECT epoch, http_url FROM corral_leader WHERE id = 1")
        assert (row["epoch"], row["http_url"]) == (0, "")
    finally:
        await store.close()
    # SQLite: the same version number, no table of either kind.
    lite = SqliteStore(tmp_path / "corral.db")
    await lite.open()
    await lite.close()
    db = sqlite3.connect(tmp_path / "corral.db")
    try:
        assert db.execute("PRAGMA user_version").fetchone()[0] == numbers[-1]
        names = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
        assert not {"corral_leader", "corral_epochs", "corral_chunk_logs"} & names
    finally:
        db.close()


async def old_log_rows(url: str) -> list[bytes]:
    db = await pg_schema.connect(url)
    try:
        return [bytes(row[0]) for row in await db.fetch("SELECT data FROM corral_chunk_logs")]
    finally:
        await pg_schema.close_quietly(db)


def test_a_database_made_at_version_5_upgrades_when_a_dispatcher_starts(
    make_farm: Callable[..., Farm], postgres_url: str
) -> None:
    """The tables an older hot-standby dispatcher made are kept with their rows: the
    new leader's epoch follows the old one."""
    import asyncio

    asyncio.run(at_version_5(postgres_url, old_tables=True))
    farm = make_farm("--store", postgres_url, "--hot-standby")
    status = farm.request("GET", "/api/v1/status")
    assert (status["role"], status["epoch"]) == ("leader", 4)
    assert status["store"]["schema_version"] == pg_schema.migrations()[-1][0]
    found = asyncio.run(epochs(postgres_url))
    assert [(epoch, batches) for epoch, _, _, batches, _ in found][0] == (3, 9)
    assert [epoch for epoch, *_ in found] == [3, 4]
    assert asyncio.run(old_log_rows(postgres_url)) == [b"old output"]
    job = farm.submit(title="after the upgrade", paused=True)
    assert farm.job(job["id"])["title"] == "after the upgrade"


def test_a_version_5_database_without_the_tables_starts_a_hot_standby_leader(
    make_farm: Callable[..., Farm], postgres_url: str
) -> None:
    import asyncio

    asyncio.run(at_version_5(postgres_url, old_tables=False))
    farm = make_farm("--store", postgres_url, "--hot-standby")
    status = farm.request("GET", "/api/v1/status")
    assert (status["role"], status["epoch"]) == ("leader", 1)


async def test_a_version_6_database_holding_jobs_upgrades_then_takes_single_chunk_changes(
    postgres_url: str,
) -> None:
    db = await pg_schema.connect(postgres_url)
    try:
        assert await pg_schema.migrate(db, until=6) == 6
        kept = build_job(parse_spec({"title": "before 7", "frames": "1-100"}), 1, 1, "ann")
        kept.set_chunk(2, CHUNK_DONE)
        kept.chunk_attempts[2], kept.chunk_nodes[2] = 1, 4
        await db.execute(
            "INSERT INTO jobs (id, spec, chunk_status, chunk_attempts, chunk_nodes, "
            "chunk_failures) VALUES ($1, $2, $3, $4, $5, $6)",
            1, rows.job_spec(kept), *rows.job_chunks(kept),
        )  # fmt: skip
    finally:
        await pg_schema.close_quietly(db)

    async def stored() -> tuple[int, int]:
        async with store._reads().acquire() as db:
            changes_from = await db.fetchval("SELECT changes_from FROM jobs WHERE id = 1")
            return changes_from, await db.fetchval("SELECT COUNT(*) FROM chunk_changes")

    store = PostgresStore(postgres_url)
    await store.open()
    assert store.pragmas()["schema_version"] == pg_schema.migrations()[-1][0]
    (job,) = (await store.load()).jobs
    assert (job.title, job.chunk_status[2], job.chunk_nodes[2]) == ("before 7", CHUNK_DONE, 4)
    for status in (CHUNK_RUNNING, CHUNK_DONE):  # one chunk, twice
        job.set_chunk(5, status)
        store.put_chunks(job, 5)
        await store.commit()
    assert await stored() == (0, 2)  # two rows; the job's own row is untouched
    job.title = "rewritten"
    store.put_job(job)  # (its two rows are dead now)
    await store.commit()
    await store.close()

    store = PostgresStore(postgres_url)
    await store.open()
    (job,) = (await store.load()).jobs
    assert job.title == "rewritten" and job.counts[CHUNK_DONE] == 2
    job.set_chunk(6, CHUNK_DONE)
    store.put_chunks(job, 6)
    await store.commit()
    assert (await stored())[1] == 1  # the first batch after a start prunes the dead rows
    await store.close()
    store = PostgresStore(postgres_url)
    await store.open()
    (job,) = (await store.load()).jobs
    assert [index for index in range(100) if job.chunk_status[index] == CHUNK_DONE] == [2, 5, 6]
    await store.close()
