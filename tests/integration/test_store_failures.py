"""The store never dies silently: a value it cannot store, a full disk, a full log disk.

The store is fed directly where the value would be refused at the edge, and a
real dispatcher runs on a real tmpfs that the test fills up and frees again.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import signal
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from dispatcher.errors import StoreError
from dispatcher.jobspec import build_job, parse_spec
from dispatcher.model import Node
from dispatcher.protocol import Result
from dispatcher.queue import Queue
from dispatcher.store.sqlite import SqliteStore
from tests.integration.farm import Farm, wait_for
from tests.integration.mounts import fill, tmpfs

if TYPE_CHECKING:
    from dispatcher.store.batch import Refusal


def post(farm: Farm, path: str, body: Any) -> tuple[int, dict[str, str], Any]:
    """(status, headers, JSON body) of a POST, whatever the status."""
    request = urllib.request.Request(farm.url + path, data=json.dumps(body).encode(), method="POST")
    request.add_header("Content-Type", "application/json")
    request.add_header("Authorization", f"Bearer {farm.token}")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, dict(response.headers), json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        text = exc.read()
        return exc.code, dict(exc.headers), json.loads(text) if text.startswith(b"{") else text


def titles(farm: Farm) -> set[str]:
    return {job["title"] for job in farm.request("GET", "/api/v1/jobs/")}


async def test_a_value_that_cannot_be_stored_is_refused_and_the_writer_lives_on(
    tmp_path: Path,
) -> None:
    store = SqliteStore(tmp_path / "corral.db")
    await store.open()
    refused: list[Refusal] = []
    store.on_refused = refused.append
    store.put_job(build_job(parse_spec({"title": "before"}), 1, 1, "ann"))
    await asyncio.wait_for(store.commit(), 5)

    poisoned = build_job(parse_spec({"title": "poison"}), 2, 2, "ann")
    poisoned.data = {"x": "\ud800"}  # a lone surrogate: no UTF-8 encoding exists
    store.put_job(poisoned)
    with pytest.raises(StoreError, match="surrogates not allowed"):
        await asyncio.wait_for(store.commit(), 5)
    assert [(r.jobs, r.error.__class__) for r in refused] == [({2: None}, StoreError)]
    assert store.health()["state"] == "ok" and store.health()["refused_batches"] == 1

    store.put_job(build_job(parse_spec({"title": "after", "command": ["true"]}), 3, 3, "ann"))
    await asyncio.wait_for(store.commit(), 5)  # the writer is alive: no hang
    await store.close()

    again = SqliteStore(tmp_path / "corral.db")
    await again.open()
    assert [job.title for job in (await again.load()).jobs] == ["before", "after"]
    await again.close()


def test_a_job_the_store_refuses_never_lingers(make_farm: Any) -> None:
    farm = make_farm()
    status, _, body = post(
        farm, "/api/v1/jobs/", {"title": "poison", "command": ["true"], "data": {"x": "\ud800"}}
    )
    # Refused at the edge (400/422) or by the store (503): never a 500, never kept.
    assert status in (400, 422, 503), (status, body)
    assert "poison" not in titles(farm)
    assert farm.submit(title="next")["id"] >= 1  # writes go on
    farm.stop()
    farm.start()
    assert titles(farm) == {"next"}


def test_full_disk_refuses_writes_with_503_then_recovers_by_itself(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "disk", 24 << 20) as disk:
        farm = Farm(disk, ["--store-retry-max-s", "0.2"]).start()
        try:
            acked = {farm.submit(title=f"before {n}")["title"] for n in range(3)}
            filler = fill(disk)
            refused: list[tuple[str, dict[str, str], Any]] = []
            for n in range(200):
                status, headers, body = post(
                    farm, "/api/v1/jobs/", {"title": f"full {n}", "command": ["true"]}
                )
                assert status in (201, 503), (status, body)  # never a 500
                if status == 201:  # the WAL still had room for this one
                    acked.add(f"full {n}")
                else:
                    refused.append((f"full {n}", headers, body))
                    if len(refused) == 3:
                        break
            assert refused, "the full disk never refused a write"
            _, headers, body = refused[0]
            assert body["status"] == 503 and "full" in body["detail"] and "full" in body["cause"]
            assert int(headers["Retry-After"]) >= 1
            health = farm.request("GET", "/api/v1/status")["store_health"]
            assert health["state"] == "unavailable" and "full" in health["cause"]
            assert titles(farm) == acked  # nothing refused is in memory
            late = farm.client("late")  # connects while the store cannot register it

            filler.unlink()
            freed = time.monotonic()
            recovered = wait_for(
                lambda: (
                    post(farm, "/api/v1/jobs/", {"title": "after", "command": ["true"]})[0] == 201
                ),
                15,
                "writes to be accepted again",
            )
            took_s = time.monotonic() - freed
            print(f"writes accepted again {took_s:.3f} s after the disk had room")
            assert recovered and took_s < 5
            acked.add("after")
            health = farm.request("GET", "/api/v1/status")["store_health"]
            assert health["state"] == "ok" and health["last_recovery_s"] > 0
            farm.wait_nodes(1, timeout_s=20)  # the late node is welcomed after all
            assert late.poll() is None

            assert farm.stop() == 0
            farm.start()
            assert titles(farm) == acked  # every acknowledged job, nothing refused
        finally:
            farm.close()


def test_a_full_log_disk_does_not_fail_committed_changes(tmp_path: Path) -> None:
    data = tmp_path / "farm"
    with tmpfs(data / "logs", 1 << 20) as logs:
        farm = Farm(data).start()
        try:
            fill(logs)
            job = farm.submit(title="logs full", command=["sh", "-c", "echo output; echo more"])
            assert job["id"] >= 1
            farm.request("PATCH", f"/api/v1/jobs/{job['id']}", {"priority": 7})
            farm.client("alpha")
            assert farm.wait_state(job["id"], "done", timeout_s=30)["state"] == "done"
            assert farm.stop(signal.SIGTERM) == 0
            farm.start()
            assert farm.job(job["id"])["priority"] == 7
        finally:
            farm.close()


async def test_a_refused_batch_is_taken_back_from_memory_whole(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "corral.db")
    await store.open()
    queue = Queue(store)
    store.on_refused = queue.take_back
    kept, doomed = queue.submit([parse_spec({"title": "kept", "frames": "1-4", "batch": 1}),
                                 parse_spec({"title": "doomed"})], "ann")  # fmt: skip
    queue.nodes[7] = Node(id=7, name="box", instance=1)
    await store.commit()

    # One batch: an edit, a deletion, an assignment, a failure, and a value that
    # cannot be stored. All of it is refused, and memory returns to the stored state.
    queue.edit(kept, {"priority": 99, "data": {"x": "\ud800"}})
    queue.delete(doomed)
    queue.start_attempt(kept, 0, 7)
    ref = queue.start_attempt(kept, 1, 7)
    queue.finish_attempt(Result(ref=ref, ok=False, exit_code=1, error="boom"), 7)
    assert queue.failed_on and queue.node_failures
    with pytest.raises(StoreError):
        await store.commit()
    assert (kept.priority, kept.data) == (50, {})
    assert doomed.id in queue.jobs and queue.jobs[doomed.id].title == "doomed"
    assert bytes(kept.chunk_status) == bytes(4) and list(kept.chunk_attempts) == [0] * 4
    assert queue.running == {} and kept.cursor == 0
    assert not queue.failed_on and not queue.node_failures

    # What is committed afterwards is what memory holds.
    ref = queue.start_attempt(kept, 1, 7)
    queue.finish_attempt(Result(ref=ref, ok=False, exit_code=1, error="boom"), 7)
    await store.commit()
    await store.close()
    again = SqliteStore(tmp_path / "corral.db")
    await again.open()
    snapshot = await again.load()
    assert sorted(job.title for job in snapshot.jobs) == ["doomed", "kept"]
    assert snapshot.failed_on == {(kept.id, 1): {7}}
    assert snapshot.node_failures == {(kept.id, 7): 1}
    await again.close()


async def test_while_the_store_cannot_write_an_action_is_refused_before_it_acts(
    tmp_path: Path,
) -> None:
    """A node kill, a pause of the engine, a template reload: refused with 503 before they
    touch anything, as the answer says ("nothing was changed"); the render runs on."""
    from dispatcher.errors import StoreUnavailable
    from dispatcher.operations import Actor
    from tests.integration.inprocess import HttpError, live_dispatcher

    out = tmp_path / "pid.txt"  # beside the full disk, not on it
    with tmpfs(tmp_path / "disk", 24 << 20) as disk:
        async with live_dispatcher(disk / "farm", store_retry_max_s=0.2) as live:
            live.client("alpha")
            script = f'echo $$ > "{out}"; exec sleep 60'
            job = await live.rest(
                "POST", "/api/v1/jobs/", {"title": "long", "command": ["sh", "-c", script]}
            )
            text = await live.wait(lambda: out.exists() and out.read_text().strip(), 20, "render")
            pid = int(text)
            filler = fill(disk)

            tries = itertools.count()

            async def refused() -> bool:
                # Other notes each time: the same notes again change nothing and write
                # nothing, so they would never meet the full disk.
                notes = f"{next(tries)} " + "x" * 4096
                try:
                    await live.rest("PATCH", f"/api/v1/jobs/{job['id']}", {"notes": notes})
                except HttpError as exc:
                    return exc.status == 503
                return False

            await live.wait(refused, 20, "the full disk to refuse a write")
            with pytest.raises(HttpError) as caught:
                await live.rest("POST", "/api/v1/nodes/alpha/actions/kill")
            assert caught.value.status == 503, caught.value.body
            await asyncio.sleep(1.0)
            assert Path(f"/proc/{pid}").exists(), "the refused kill killed the render"
            system = live.ops.system
            with pytest.raises(StoreUnavailable):
                await system.set_engine(Actor.system(), False)
            assert system.engine_running(Actor.system())  # the engine was not paused

            filler.unlink()
            await live.wait(
                lambda: live.dispatcher.store.health()["state"] == "ok", 15, "the store to recover"
            )
            answer = await live.rest("POST", "/api/v1/nodes/alpha/actions/kill")
            assert answer["ok"] and f"job {job['id']} chunk 0" in answer["output"]


async def test_a_refused_deletion_keeps_the_jobs_chunk_logs(tmp_path: Path) -> None:
    """A deleted job whose deletion the store refuses comes back, and so do its logs:
    they go only once the deletion is durable."""
    from dispatcher.operations import Actor
    from tests.integration.inprocess import live_dispatcher

    async with live_dispatcher(tmp_path / "farm") as live:
        live.client("alpha")
        job = await live.rest(
            "POST", "/api/v1/jobs/", {"title": "logged", "command": ["echo", "the output"]}
        )
        other = await live.rest("POST", "/api/v1/jobs/", {"title": "other", "kind": "folder"})
        ops, queue = live.ops, live.dispatcher.queue
        await live.wait(lambda: queue.jobs[job["id"]].state.value == "done", 30, "the job")
        assert b"the output" in await ops.chunks.log(Actor.system(), job["id"], 0, None)

        # The deletion shares its batch with a value the store cannot take: both refused.
        queue.edit(queue.jobs[other["id"]], {"data": {"x": "\ud800"}})
        with pytest.raises(StoreError):
            await ops.jobs.delete(Actor.system(), job["id"])
        assert queue.jobs[job["id"]].title == "logged"  # taken back
        assert b"the output" in await ops.chunks.log(Actor.system(), job["id"], 0, None)

        await ops.jobs.delete(Actor.system(), job["id"])  # durable now: the logs go
        assert not (live.dispatcher.chunk_logs.root / str(job["id"])).exists()
