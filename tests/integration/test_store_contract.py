"""The store contract: what dispatcher/store promises, run against every real backend
(a SQLite file and a PostgreSQL database on a throwaway cluster).

Recording (`put_*`) then `commit()`: durable once acknowledged, one batch per tick,
back after a restart (single chunk changes too); records, statistics and history,
the failure memory; a batch the store refuses is taken back whole; while the store
cannot write every change is refused at once, and it recovers by itself.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from dispatcher.errors import StoreError, StoreUnavailable
from dispatcher.jobspec import build_job, parse_spec
from dispatcher.model import CHUNK_DONE, CHUNK_QUEUED, CHUNK_RUNNING, Job, Node
from dispatcher.store import chunk_changes, maintenance, startup
from dispatcher.store.batch import Refusal
from dispatcher.store.sqlite import SqliteStore
from tests.integration.mounts import fill, tmpfs
from tests.integration.postgres import Cluster, require_cluster


@dataclass
class Backend:
    """A place for a store: `make()` opens a store there (the same place every time)."""

    name: str
    make: Callable[..., SqliteStore]
    # Writes fail inside this context (a full disk; a database that turns its
    # dispatcher's connection away), and work again after it.
    outage: Callable[[], contextlib.AbstractContextManager[None]]


def _sqlite(folder: Path) -> Backend:
    @contextlib.contextmanager
    def full_disk() -> Iterator[None]:
        filler = fill(folder)
        try:
            yield
        finally:
            filler.unlink()

    path = folder / "corral.db"
    return Backend("sqlite", lambda **kw: SqliteStore(path, **kw), full_disk)


def _postgres(cluster: Cluster, url: str) -> Backend:
    from dispatcher.store.postgres import PostgresStore

    database = url.rsplit("/", 1)[1]

    @contextlib.contextmanager
    def server_refuses() -> Iterator[None]:
        # New connections are refused, and the writing one (it holds the lock) is cut.
        cluster.psql(f"ALTER DATABASE {database} ALLOW_CONNECTIONS false")
        cluster.psql(
            "SELECT pg_terminate_backend(pid) FROM pg_locks "
            f"WHERE locktype = 'advisory' AND database = "
            f"(SELECT oid FROM pg_database WHERE datname = '{database}')"
        )
        try:
            yield
        finally:
            cluster.psql(f"ALTER DATABASE {database} ALLOW_CONNECTIONS true")

    return Backend("postgres", lambda **kw: PostgresStore(url, **kw), server_refuses)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    if request.param == "sqlite":
        return _sqlite(tmp_path)
    cluster = require_cluster(request.getfixturevalue("postgres_cluster"))
    return _postgres(cluster, cluster.new_database())


def job(job_id: int, title: str = "", **spec: Any) -> Job:
    return build_job(parse_spec({"title": title or f"j{job_id}", **spec}), job_id, job_id, "ann")


async def refused_with_poison(store: SqliteStore, job_id: int) -> None:
    """Commit the batch so far with a job `job_id` no store can hold: it is refused."""
    poisoned = job(job_id, "poison")
    poisoned.data = {"x": "\ud800"}  # no UTF-8 encoding exists: refused before writing
    store.put_job(poisoned)
    with pytest.raises(StoreError, match="surrogates not allowed"):
        await asyncio.wait_for(store.commit(), 10)


async def opened(backend: Backend, **kw: Any) -> SqliteStore:
    store = backend.make(**kw)
    await store.open()
    return store


async def test_committed_state_comes_back_after_a_restart(backend: Backend) -> None:
    store = await opened(backend)
    kept = job(1, "kept", frames="-5-5", by="0.5", batch=3, data={"k": [1, 2]},
               depends_on=[{"job": 9, "mode": "failure"}])  # fmt: skip
    kept.set_chunk(2, CHUNK_DONE)
    kept.chunk_attempts[2] = 4
    store.put_job(kept)
    store.put_job(job(2, "gone"))
    for chunk in range(6):
        store.put_run((1, chunk, 1), 7, "done", 1.0 + chunk, 2.5 + chunk, 0, "", (2, 1, 0))
    store.put_run((2, 0, 1), 7, "failed", 1.0, None, 3, "exit 3")
    store.put_node(Node(id=7, name="box", instance=1, pools=["gpu"], excluded_jobs={1}))
    store.put_node(Node(id=8, name="old", instance=1))
    store.put_user("ann", b'{"permissions": ["submit"]}')
    store.put_user("bob", b'{"permissions": []}')
    store.put_meta("next_job_id", "3")
    await store.commit()
    kept.set_chunk(3, CHUNK_DONE)
    store.put_chunks(kept)
    store.delete_job(2)
    store.delete_node(8)
    store.put_user("bob", None)
    store.put_meta("next_job_id", "4")
    await store.commit()
    await store.close()
    await store.close()  # safe twice

    again = await opened(backend)
    snapshot = await again.load()
    (loaded,) = snapshot.jobs
    assert (loaded.id, loaded.title, loaded.start, loaded.end, loaded.by, loaded.batch) == (
        1, "kept", -5, 5, kept.by, 3,
    )  # fmt: skip
    assert bytes(loaded.chunk_status) == bytes(kept.chunk_status)
    assert loaded.chunk_attempts[2] == 4 and loaded.counts[CHUNK_DONE] == 2
    assert loaded.data == {"k": [1, 2]} and loaded.uuid == kept.uuid
    assert loaded.depends_on[0].job_id == 9 and loaded.depends_on[0].mode.value == "failure"
    (node,) = snapshot.nodes
    assert (node.id, node.name, node.pools, node.excluded_jobs) == (7, "box", ["gpu"], {1})
    assert set(snapshot.users) == {"ann"} and bytes(snapshot.users["ann"]).startswith(b"{")
    assert snapshot.meta["next_job_id"] == "4"
    runs = await again.runs(1)
    assert [run[:5] for run in runs[:2]] == [(1, 0, 1, 7, "done"), (1, 1, 1, 7, "done")]
    assert runs[0][5:] == (1.0, 2.5, 0, "", 2, 1, 0)
    assert [run[1] for run in await again.runs(1, [2, 3, 4])] == [2, 3, 4]  # a range
    assert [run[1] for run in await again.runs(1, [0, 5])] == [0, 5]  # scattered chunks
    assert await again.runs(1, []) == [] and await again.runs(2) == []  # deleted with its job
    await again.close()


async def test_many_changes_in_one_tick_make_one_batch_acknowledged_after_commit(
    backend: Backend,
) -> None:
    store = await opened(backend, durability="normal")
    before = store.batches
    waiters = []
    for job_id in range(1, 201):
        store.put_job(job(job_id))
        waiters.append(store.commit_future())
    assert not any(waiter.done() for waiter in waiters)  # nothing is acknowledged unwritten
    await asyncio.gather(*waiters)
    assert store.batches - before <= 2
    assert len((await store.load()).jobs) == 200  # (PostgreSQL: read on another connection)
    await store.close()


async def test_records_come_back_changed_and_deleted(backend: Backend) -> None:
    store = await opened(backend)
    store.put_record("pool", "gpu", b'{"nodes": [1]}')
    store.put_record("pool", "cpu", b'{"nodes": []}')
    store.put_record("config", "settings", b'{"heartbeat_interval_s": 2.0}')
    await store.commit()
    store.put_record("pool", "gpu", b'{"nodes": [1, 2]}')
    store.put_record("pool", "cpu", None)
    await store.commit()
    await store.close()
    again = await opened(backend)
    assert [(kind, name, bytes(info)) for kind, name, info in await again.records()] == [
        ("config", "settings", b'{"heartbeat_interval_s": 2.0}'),
        ("pool", "gpu", b'{"nodes": [1, 2]}'),
    ]
    await again.close()


async def test_statistics_and_history_are_read_by_time_in_pages_and_cleared(
    backend: Backend,
) -> None:
    store = await opened(backend)
    assert await store.bounds("statistics") == (None, None, 0)
    for second in range(10):
        store.put_statistic(100.0 + second, b'{"n": %d}' % second)
    store.put_history(50.0, 1, "submitted", b"{}")
    store.put_history(60.0, 1, "finished", b'{"ok": true}')
    store.put_history(70.0, 2, "deleted", b"{}")
    await store.commit()
    assert await store.bounds("statistics") == (100.0, 109.0, 10)
    assert await store.bounds("history") == (50.0, 70.0, 3)
    first = await store.timed_rows("statistics", 102.0, 107.0, 0, 4)
    assert [(row[1], bytes(row[2])) for row in first] == [
        (102.0 + n, b'{"n": %d}' % (2 + n)) for n in range(4)
    ]
    rest = await store.timed_rows("statistics", 102.0, 107.0, first[-1][0], 4)
    assert [row[1] for row in rest] == [106.0, 107.0]
    history = await store.timed_rows("history", 0.0, 65.0, 0, 10)
    assert [row[1:4] for row in history] == [(50.0, 1, "submitted"), (60.0, 1, "finished")]
    assert [(t, j, e, bytes(i)) for t, j, e, i in await store.history(55.0, 80.0)] == [
        (60.0, 1, "finished", b'{"ok": true}'),
        (70.0, 2, "deleted", b"{}"),
    ]
    store.clear_range("statistics", 100.0, 104.0)
    store.clear_range("history", 0.0, 55.0)
    await store.commit()
    assert await store.bounds("statistics") == (105.0, 109.0, 5)
    assert (await store.bounds("history"))[2] == 2
    with pytest.raises(ValueError):
        store.clear_range("jobs", 0.0, 1.0)
    with pytest.raises(ValueError):
        await store.bounds("jobs")
    await store.close()


async def test_failure_memory_comes_back_and_goes_with_its_job(backend: Backend) -> None:
    store = await opened(backend)
    store.put_job(job(1))
    store.put_job(job(2))
    store.put_chunk_failures(1, 0, {3, 4}, 1 << 33)
    store.put_chunk_failures(1, 1, {3}, 0)
    store.put_chunk_failures(2, 0, {5}, 0)
    store.put_node_failures(1, 3, 2)
    store.put_node_failures(1, 4, 1)
    store.put_node_failures(2, 4, 1)
    await store.commit()
    store.forget_chunk_failures(1, 1)
    store.forget_node_failures(4, 1)
    await store.commit()
    snapshot = await store.load()
    assert snapshot.failed_on == {(1, 0): {3, 4}, (2, 0): {5}}
    assert snapshot.memory_needed == {(1, 0): 1 << 33}
    assert dict(snapshot.node_failures) == {(1, 3): 2, (2, 4): 1}
    store.forget_node_failures(4)  # every job's
    store.delete_job(1)
    await store.commit()
    await store.close()
    again = await opened(backend)
    snapshot = await again.load()
    assert snapshot.failed_on == {(2, 0): {5}} and not snapshot.memory_needed
    assert not snapshot.node_failures
    await again.close()


async def test_a_refused_batch_is_read_back_and_the_writer_lives_on(backend: Backend) -> None:
    store = await opened(backend)
    refused: list[Refusal] = []
    store.on_refused = refused.append
    store.put_node(Node(id=1, name="box", instance=1, notes="stored"))
    store.put_user("ann", b'{"v": 1}')
    store.put_job(job(1, "before"))
    await store.commit()

    # A second node with the same name and instance: the database refuses the batch.
    store.put_node(Node(id=1, name="box", instance=1, notes="not stored"))
    store.put_node(Node(id=2, name="box", instance=1))
    store.put_user("ann", b'{"v": 2}')
    store.put_record("pool", "gpu", b"{}")
    with pytest.raises(StoreError) as caught:
        await asyncio.wait_for(store.commit(), 10)
    assert not isinstance(caught.value, StoreUnavailable)
    (refusal,) = refused
    assert refusal.nodes[1] is not None and refusal.nodes[1].notes == "stored"
    assert refusal.nodes[2] is None
    assert refusal.users == {"ann": b'{"v": 1}'} and refusal.records == {("pool", "gpu"): None}
    assert store.writable and store.health()["refused_batches"] == 1

    await refused_with_poison(store, 2)
    assert refused[-1].jobs == {2: None}

    store.put_job(job(3, "after"))
    await asyncio.wait_for(store.commit(), 10)
    await store.close()
    again = await opened(backend)
    snapshot = await again.load()
    assert [loaded.title for loaded in snapshot.jobs] == ["before", "after"]
    assert [(node.id, node.notes) for node in snapshot.nodes] == [(1, "stored")]
    assert await again.records() == []
    await again.close()


async def test_a_closed_store_refuses_commits(backend: Backend) -> None:
    store = await opened(backend)
    await store.close()
    with pytest.raises(StoreError, match="closed"):
        await store.commit()


async def test_while_the_store_cannot_write_changes_are_refused_then_it_recovers(
    backend: Backend, tmp_path: Path
) -> None:
    with contextlib.ExitStack() as stack:
        if backend.name == "sqlite":  # (a small disk to fill)
            backend = _sqlite(stack.enter_context(tmpfs(tmp_path / "disk", 8 << 20)))
        store = await opened(backend, retry_max_s=0.2)
        refused: list[Refusal] = []
        recovered: list[bool] = []
        store.on_refused = refused.append
        store.on_available = lambda: recovered.append(True)
        fatal: list[BaseException] = []
        store.on_fatal = fatal.append
        store.put_job(job(1, "durable"))
        await store.commit()
        with backend.outage():
            big = "x" * (1 << 20)
            for attempt in range(50):  # (a full disk may still take a small write)
                refused_job = job(2, "refused")
                refused_job.notes = f"{attempt} {big}"
                store.put_job(refused_job)
                try:
                    await asyncio.wait_for(store.commit(), 30)
                except StoreUnavailable:
                    break
            else:
                raise AssertionError("the store never refused a write")
            assert not store.writable and store.health()["state"] == "unavailable"
            with pytest.raises(StoreUnavailable):
                store.ensure_writable()
            assert refused and refused[-1].jobs[2] is None
            store.put_job(job(3, "refused at once"))
            with pytest.raises(StoreUnavailable):
                await asyncio.wait_for(store.commit(), 30)
        for _ in range(300):
            if store.writable:
                break
            await asyncio.sleep(0.1)
        assert store.writable and recovered and not fatal, (store.health(), fatal)
        assert store.health()["last_recovery_s"] is not None
        store.put_job(job(4, "after"))
        await asyncio.wait_for(store.commit(), 30)
        assert [loaded.title for loaded in (await store.load()).jobs] == ["durable", "after"]
        await store.close()


def _same_chunks(loaded: Job, kept: Job) -> None:
    assert bytes(loaded.chunk_status) == bytes(kept.chunk_status)
    assert loaded.chunk_attempts == kept.chunk_attempts
    assert loaded.chunk_nodes == kept.chunk_nodes
    assert loaded.chunk_failures == kept.chunk_failures
    assert loaded.counts == kept.counts and loaded.cursor == kept.cursor


async def after_a_crash(backend: Backend, store: SqliteStore) -> SqliteStore:
    """The store a restart opens after `store` stopped without a clean close: what it
    acknowledged is there and its chunk changes are still rows (a clean close of a
    SQLite store writes them into their jobs' arrays; PostgreSQL's keeps them)."""
    if backend.name == "sqlite":
        path = store.path
        copy = path.with_name("at-the-crash.db")
        maintenance.backup(path, copy)  # (every acknowledged change, as a crash leaves it)
        await store.close()
        for left in (startup.wal_path(path), startup.shm_path(path)):
            left.unlink(missing_ok=True)
        copy.replace(path)
    else:
        await store.close()
    return await opened(backend)


async def test_single_chunk_changes_come_back_in_order_across_whole_writes_and_prunes(
    backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(chunk_changes, "PRUNE_EVERY", 7)
    store = await opened(backend)
    busy, other, gone = job(1, frames="1-64"), job(2, frames="1-64"), job(3, frames="1-8")
    for each in (busy, other, gone):
        store.put_job(each)
    await store.commit()
    for step in range(60):  # past the job's limit of change rows more than once
        index = (step * 5) % 64
        busy.chunk_attempts[index] += 1
        busy.chunk_nodes[index] = step
        busy.chunk_failures[index] = step % 3
        busy.set_chunk(index, CHUNK_RUNNING if step % 2 else CHUNK_DONE)
        store.put_chunks(busy, index)
        if step % 4 == 0:
            await store.commit()
    other.set_chunk(7, CHUNK_DONE)
    store.put_chunks(other, 7)
    gone.set_chunk(1, CHUNK_DONE)
    store.put_chunks(gone, 1)
    await store.commit()
    other.title = "rewritten"
    store.put_job(other)  # written whole: its earlier change is in its row now
    other.set_chunk(9, CHUNK_RUNNING)
    store.put_chunks(other, 9)
    store.delete_job(3)
    await store.commit()

    again = await after_a_crash(backend, store)
    loaded = {each.id: each for each in (await again.load()).jobs}
    assert sorted(loaded) == [1, 2] and loaded[2].title == "rewritten"
    _same_chunks(loaded[1], busy)
    _same_chunks(loaded[2], other)
    # The store goes on numbering its changes after the ones it found.
    busy.set_chunk(0, CHUNK_QUEUED)
    again.put_chunks(busy, 0)
    await again.commit()
    _same_chunks(next(each for each in (await again.load()).jobs if each.id == 1), busy)
    await again.close()


async def test_one_chunk_changed_in_batch_after_batch_comes_back_as_last_written(
    backend: Backend,
) -> None:
    store = await opened(backend)
    kept, doomed = job(1, frames="1-64"), job(2, frames="1-8")
    store.put_job(kept)
    store.put_job(doomed)
    await store.commit()

    def change(job: Job, index: int, status: int, node: int) -> None:
        job.set_chunk(index, status)
        job.chunk_attempts[index] += 1
        job.chunk_nodes[index] = node
        store.put_chunks(job, index)

    change(kept, 3, CHUNK_RUNNING, 5)
    await store.commit()
    change(kept, 3, CHUNK_DONE, 6)
    change(doomed, 1, CHUNK_DONE, 6)  # (changed and deleted in one batch)
    store.delete_job(2)
    await store.commit()
    store = await after_a_crash(backend, store)
    (loaded,) = (await store.load()).jobs
    _same_chunks(loaded, kept)  # done, attempt 2, node 6: the later row won

    change(kept, 3, CHUNK_QUEUED, -1)  # then queued again, after the restart
    await store.commit()
    store = await after_a_crash(backend, store)
    (loaded,) = (await store.load()).jobs
    _same_chunks(loaded, kept)
    assert loaded.chunk_status[3] == CHUNK_QUEUED and loaded.chunk_attempts[3] == 3

    # A refused batch that held the job's whole arrays: its rows stay what counts.
    refused: list[Refusal] = []
    store.on_refused = refused.append
    change(kept, 3, CHUNK_RUNNING, 7)
    await store.commit()
    whole = job(1, frames="1-64")  # the arrays as they were at submission
    store.put_job(whole)
    await refused_with_poison(store, 3)
    stored = refused[-1].jobs[1]
    assert stored is not None
    _same_chunks(stored, kept)
    change(kept, 4, CHUNK_DONE, 8)
    await store.commit()
    store = await after_a_crash(backend, store)
    (loaded,) = (await store.load()).jobs
    _same_chunks(loaded, kept)
    assert (loaded.chunk_status[3], loaded.chunk_nodes[3]) == (CHUNK_RUNNING, 7)
    await store.close()


async def test_a_refused_batch_reads_back_the_stored_chunk_changes(backend: Backend) -> None:
    store = await opened(backend)
    refused: list[Refusal] = []
    store.on_refused = refused.append
    kept = job(1, frames="1-64")
    store.put_job(kept)
    await store.commit()
    kept.set_chunk(3, CHUNK_DONE)
    store.put_chunks(kept, 3)
    await store.commit()

    kept.set_chunk(4, CHUNK_DONE)
    store.put_chunks(kept, 4)
    await refused_with_poison(store, 2)
    stored = refused[-1].jobs[1]
    assert stored is not None
    assert stored.chunk_status[3] == CHUNK_DONE and stored.chunk_status[4] != CHUNK_DONE
    assert stored.counts[CHUNK_DONE] == 1
    await store.close()
