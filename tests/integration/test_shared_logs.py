"""Chunk logs every dispatcher of a farm reaches: in the PostgreSQL database when no
shared log folder is set, or in the folder `--shared-log-dir` names.

Real PostgreSQL (the throwaway cluster), real dispatchers and render clients."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import asyncpg
import pytest

from dispatcher.errors import NotFound
from dispatcher.logs import ChunkLogs
from dispatcher.shared_logs import DatabaseChunkLogs
from dispatcher.store.postgres import PostgresStore
from tests.integration.farm import Farm, wait_for
from tests.integration.test_node_control import chunk_log

pytestmark = pytest.mark.postgres


async def test_database_chunk_logs_write_read_follow_and_remove(postgres_url: str) -> None:
    store = PostgresStore(postgres_url)
    await store.open()
    logs = DatabaseChunkLogs(store.chunk_log_table(), flush_interval_s=0.05)
    try:
        await logs.start()
        await logs.start()  # safe twice
        with pytest.raises(NotFound):
            await logs.read_async(7, 0)
        logs.append(7, 0, 1, b"first attempt\n")
        logs.append(7, 0, 2, b"second ")
        logs.append(7, 0, 2, b"attempt\n")
        logs.append(7, 1, 1, b"another chunk\n")
        logs.append(8, 0, 1, b"another job\n")
        # A read waits for what was appended: the latest attempt by default.
        assert await logs.read_async(7, 0) == b"second attempt\n"
        assert await logs.read_async(7, 0, 1) == b"first attempt\n"
        assert await logs.attempts(7, 0) == [1, 2]
        with pytest.raises(NotFound):
            await logs.read_async(7, 0, 3)
        # A read limited to its last bytes.
        logs.append(7, 0, 2, b"x" * 1000)
        assert await logs.read_async(7, 0, 2, limit=10) == b"x" * 10

        # A live tail: what is written from now on, until the attempt is over.
        over = False
        got: list[bytes] = []

        async def follow() -> None:
            async for data in logs.follow(
                7, 1, 1, duration_s=10, max_bytes=1 << 20, stop=lambda: False,
                finished=lambda: over,
            ):  # fmt: skip
                got.append(data)

        follower = asyncio.create_task(follow())
        await asyncio.sleep(0.2)
        logs.append(7, 1, 1, b"live line\n")
        await asyncio.sleep(0.3)
        logs.append(7, 1, 1, b"last line\n")
        over = True
        await asyncio.wait_for(follower, 5)
        assert b"".join(got) == b"live line\nlast line\n"  # not what was there before

        logs.remove_job(7)
        await logs.settle()
        with pytest.raises(NotFound):
            await logs.read_async(7, 0)
        assert await logs.read_async(8, 0) == b"another job\n"
        pieces, size = await store.chunk_log_table().size()
        assert pieces >= 1 and size == len(b"another job\n")
    finally:
        await logs.aclose()
        await logs.aclose()  # safe twice
        await store.close()


async def test_logs_written_before_a_move_from_sqlite_are_still_read(
    postgres_url: str, tmp_path: Path
) -> None:
    """A farm moved by `corral store migrate` keeps its old chunk logs as files in the
    data directory: an attempt the database holds nothing of is read from them."""
    earlier = ChunkLogs(tmp_path / "logs")
    earlier.append(3, 0, 1, b"rendered before the move\n")
    earlier.end(3, 0, 1)
    store = PostgresStore(postgres_url)
    await store.open()
    logs = DatabaseChunkLogs(store.chunk_log_table(), earlier=earlier)
    try:
        await logs.start()
        logs.append(3, 0, 2, b"rendered after\n")
        assert await logs.attempts(3, 0) == [1, 2]
        assert await logs.read_async(3, 0, 1) == b"rendered before the move\n"
        assert await logs.read_async(3, 0) == b"rendered after\n"
        logs.remove_job(3)
        await logs.settle()
        assert not (tmp_path / "logs" / "jobs" / "3").exists()
        with pytest.raises(NotFound):
            await logs.read_async(3, 0)
    finally:
        await logs.aclose()
        await store.close()


async def test_output_waits_in_memory_while_the_database_refuses_it(postgres_url: str) -> None:
    store = PostgresStore(postgres_url)
    await store.open()
    logs = DatabaseChunkLogs(store.chunk_log_table(), flush_interval_s=0.05, max_buffered_bytes=64)
    await logs.start()
    try:
        async with store._reads().acquire() as db:
            await db.execute("ALTER TABLE corral_chunk_logs RENAME TO corral_chunk_logs_away")
        logs.append(1, 0, 1, b"kept while the table is away\n")
        await asyncio.sleep(0.3)  # the writer fails and keeps it
        logs.append(1, 0, 1, b"y" * 100)  # past max_buffered_bytes: dropped
        assert logs.dropped_bytes == 100
        async with store._reads().acquire() as db:
            await db.execute("ALTER TABLE corral_chunk_logs_away RENAME TO corral_chunk_logs")
        assert await logs.read_async(1, 0) == b"kept while the table is away\n"
    finally:
        await logs.aclose()
        await store.close()


def test_a_new_dispatcher_on_the_database_serves_the_old_ones_chunk_logs(
    make_farm: Callable[..., Farm], postgres_url: str, tmp_path: Path
) -> None:
    first = make_farm("--store", postgres_url)
    first.client("alpha")
    script = "sleep 2; echo rendered frame on alpha; sleep 0.5; echo and saved it"
    job = first.submit(title="logged", command=["sh", "-c", script])
    wait_for(lambda: first.job(job["id"])["chunks"]["running"], 30, "the chunk to run")
    # The live tail reads the database: it ends once the attempt is over, with all of it.
    followed = first.request("GET", f"/api/v1/logs/chunks/{job['id']}/0?follow=1&follow_s=20")
    assert "rendered frame on alpha" in followed and "and saved it" in followed
    first.wait_state(job["id"], "done", timeout_s=30)
    assert "rendered frame on alpha" in chunk_log(first, job["id"])
    assert not (first.data_dir / "logs" / "jobs" / str(job["id"])).exists()
    first.close()
    # Another machine: a new data directory (the admin token copied along, as
    # docs/scaling.md says), the same database.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "admin.token").write_text(first.token + "\n")
    second = make_farm("--store", postgres_url, data_dir=elsewhere)
    assert "rendered frame on alpha" in chunk_log(second, job["id"])
    assert second.job(job["id"])["state"] == "done"


def test_a_shared_log_dir_holds_the_chunk_logs(
    make_farm: Callable[..., Farm], postgres_url: str, tmp_path: Path
) -> None:
    shared = tmp_path / "shared-logs"
    first = make_farm("--store", postgres_url, "--shared-log-dir", str(shared))
    first.client("alpha")
    job = first.submit(title="logged", command=["sh", "-c", "echo into the share"])
    first.wait_state(job["id"], "done", timeout_s=30)
    written = list((shared / "jobs" / str(job["id"])).glob("*.log"))
    assert written and "into the share" in written[0].read_text()
    first.close()
    other = tmp_path / "other"
    other.mkdir()
    (other / "admin.token").write_text(first.token + "\n")
    second = make_farm("--store", postgres_url, "--shared-log-dir", str(shared), data_dir=other)
    assert "into the share" in chunk_log(second, job["id"])


async def test_closing_lets_the_write_under_way_finish_and_warns_of_what_stays_unwritten(
    postgres_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    store = PostgresStore(postgres_url)
    await store.open()
    blocker = await asyncpg.connect(postgres_url)
    try:
        # A write held up by another session's lock on the table, under way as the
        # dispatcher closes: it ends once the lock goes, within the deadline.
        logs = DatabaseChunkLogs(store.chunk_log_table(), flush_interval_s=0.05)
        await logs.start()
        held = blocker.transaction()
        await held.start()
        await blocker.execute("LOCK TABLE corral_chunk_logs IN EXCLUSIVE MODE")
        logs.append(21, 0, 1, b"written while closing\n")
        await asyncio.sleep(0.3)  # (the writer waits on the lock)
        closing = asyncio.create_task(logs.aclose(timeout_s=10))
        await asyncio.sleep(0.3)
        await held.rollback()
        await closing
        rows = await store.chunk_log_table().tail(21, 0, 1, 1 << 20)
        assert b"".join(data for _, data in rows) == b"written while closing\n"

        # Held past the deadline: the dispatcher does not wait for ever, and says so.
        logs = DatabaseChunkLogs(store.chunk_log_table(), flush_interval_s=0.05)
        await logs.start()
        held = blocker.transaction()
        await held.start()
        await blocker.execute("LOCK TABLE corral_chunk_logs IN EXCLUSIVE MODE")
        logs.append(22, 0, 1, b"z" * 40)
        await asyncio.sleep(0.3)
        with caplog.at_level("WARNING", logger="dispatcher.shared_logs"):
            started = asyncio.get_running_loop().time()
            await logs.aclose(timeout_s=1.0)
            took = asyncio.get_running_loop().time() - started
        await held.rollback()
        assert took < 3.0
        assert "action=chunk_logs_unwritten bytes=40" in caplog.text
    finally:
        await blocker.close()
        await store.close()
