"""REST v1 logs (read, list, remove, follow live), statistics and history on a real
farm: effects seen through other routes and the hook API, live tails that see what
is written after they start and end by their bounds, and refusals that change nothing."""

from __future__ import annotations

import concurrent.futures
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.farm import Farm, wait_for
from tests.integration.hookfarm import script_json, start_farm
from tests.integration.restkit import (
    MAX_REQUEST_BYTES,
    Write,
    actions,
    call,
    check_refusals,
    make_user,
    ok,
)

pytestmark = pytest.mark.integration

MAX_FOLLOW_S = 30


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Farm, str]]:
    root: Path = tmp_path_factory.mktemp("rest-records")
    farm = start_farm(
        root / "farm",
        "--max-request-bytes",
        str(MAX_REQUEST_BYTES),
        "--max-log-followers",
        "2",
        "--max-log-follow-s",
        str(MAX_FOLLOW_S),
    )
    yield farm, make_user(farm, "sub", "submit")
    farm.close()


class Follower:
    """A live tail read in a thread: `opened` once the answer began, `result()` its
    whole text and how long it ran."""

    def __init__(self, farm: Farm, path: str) -> None:
        self.opened = threading.Event()
        self.status = 0
        request = urllib.request.Request(farm.url + path)
        request.add_header("Authorization", f"Bearer {farm.token}")
        self._pool = concurrent.futures.ThreadPoolExecutor(1)
        self._future = self._pool.submit(self._read, request)
        assert self.opened.wait(10), "the tail did not start"

    def _read(self, request: urllib.request.Request) -> tuple[str, float]:
        started = time.monotonic()
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                self.status = response.status
                self.opened.set()
                data = response.read()
        finally:
            self.opened.set()
        return data.decode(), time.monotonic() - started

    def result(self, timeout_s: float = 60) -> tuple[str, float]:
        try:
            return self._future.result(timeout_s)
        finally:
            self._pool.shutdown()


def message(farm: Farm, text: str, token: str | None = None) -> None:
    ok(farm, "POST", "/api/v1/logs/dispatcher", {"message": text}, 204, token=token)


# -- logs --------------------------------------------------------------------------
def test_dispatcher_log(setup: tuple[Farm, str]) -> None:
    farm, submitter = setup
    message(farm, "render wall is full")
    message(farm, "from a submitter", token=submitter)
    ok(farm, "POST", "/api/v1/logs/dispatcher", {"message": "cache hit", "internal": True}, 204)
    text = ok(farm, "GET", "/api/v1/logs/dispatcher")
    assert "message hook: render wall is full" in text and "internal hook: cache hit" in text
    assert "from a submitter" in text
    assert ok(farm, "GET", "/api/v1/logs/dispatcher", token=submitter) == text
    check_refusals(
        farm, Write("POST", "/api/v1/logs/dispatcher", {"message": "x"}, submitter=0), submitter
    )
    check_refusals(farm, Write("DELETE", "/api/v1/logs/dispatcher", None), submitter)
    ok(farm, "DELETE", "/api/v1/logs/dispatcher", status=204)
    assert ok(farm, "GET", "/api/v1/logs/dispatcher") == ""
    assert (farm.data_dir / "logs" / "dispatcher.log").read_text() == ""


def test_activity_and_action_logs(setup: tuple[Farm, str]) -> None:
    farm, submitter = setup
    job = farm.submit(title="logged", paused=True)
    ok(farm, "POST", "/api/v1/pools/", {"name": "logpool"}, 201)
    names = ok(farm, "GET", "/api/v1/logs/")
    assert names["action"] == ok(farm, "GET", "/api/v1/logs/action/") == ["actions.log"]
    (activity,) = ok(farm, "GET", "/api/v1/logs/activity/")
    assert names["activity"] == [activity]
    assert f"submitted job={job['id']}" in ok(farm, "GET", f"/api/v1/logs/activity/{activity}")
    assert '"action": "pool_add"' in ok(
        farm, "GET", "/api/v1/logs/action/actions.log", token=submitter
    )
    seen = script_json(
        farm,
        "import json, MDispatcherAPI\n"
        "print(json.dumps(MDispatcherAPI.systemGetActivityLogsList()[1]))",
    )
    assert seen == [activity]

    # an older action log, removed through the route
    old = farm.data_dir / "logs" / "actions-2020-01-01.log"
    old.write_text('{"action": "old"}\n')
    assert "actions-2020-01-01.log" in ok(farm, "GET", "/api/v1/logs/action/")
    check_refusals(
        farm,
        Write(
            "DELETE",
            "/api/v1/logs/action/actions-2020-01-01.log",
            None,
            "/api/v1/logs/action/actions-2020-01-02.log",
        ),
        submitter,
    )
    ok(farm, "DELETE", "/api/v1/logs/action/actions-2020-01-01.log", status=204)
    assert not old.exists() and ok(farm, "GET", "/api/v1/logs/action/") == ["actions.log"]

    for path, status, field in [
        ("/api/v1/logs/secrets/", 400, "kind"),
        ("/api/v1/logs/secrets/x.log", 400, "kind"),
        ("/api/v1/logs/action/farm.secret", 400, "name"),
        ("/api/v1/logs/action/..%2F..%2Ffarm.secret", 400, "name"),
        ("/api/v1/logs/action/actions-1999.log", 404, None),
        ("/api/v1/logs/action/actions.log?lines=5", 400, "lines"),
        ("/api/v1/logs/action/actions.log?follow=maybe", 400, "follow"),
    ]:
        answer = call(farm, "GET", path)
        assert answer.status == status and answer.field == field, (path, answer.body)
    assert call(farm, "GET", "/api/v1/logs/", token="").status == 401


def test_live_tail_sees_new_lines_and_ends_by_its_time(setup: tuple[Farm, str]) -> None:
    farm, _ = setup
    message(farm, "written before the tail")
    follower = Follower(farm, "/api/v1/logs/dispatcher?follow=1&follow_s=3")
    assert follower.status == 200
    time.sleep(0.5)
    message(farm, "written while it follows")
    assert ok(farm, "GET", "/api/v1/system/engine") == {"running": True}  # the dispatcher serves on
    text, elapsed = follower.result()
    assert "written while it follows" in text and "before the tail" not in text
    assert 2.5 <= elapsed < 8, elapsed


def test_live_tail_of_the_action_log_ends_by_its_size(setup: tuple[Farm, str]) -> None:
    farm, _ = setup
    follower = Follower(farm, "/api/v1/logs/action/actions.log?follow=1&follow_s=25&max_bytes=40")
    time.sleep(0.5)
    ok(farm, "POST", "/api/v1/repositories/", {"name": "tailed"}, 201)
    text, elapsed = follower.result()
    assert len(text.encode()) == 40 and text.startswith('{"time": '), text
    assert elapsed < 15, elapsed


def test_live_tails_are_limited(setup: tuple[Farm, str]) -> None:
    farm, _ = setup
    before = actions(farm)
    tails = [Follower(farm, "/api/v1/logs/dispatcher?follow=1&follow_s=2") for _ in range(2)]
    time.sleep(0.3)
    answer = call(farm, "GET", "/api/v1/logs/dispatcher?follow=1&follow_s=2")
    assert answer.status == 422 and answer.body["limit"] == "max_log_followers"
    assert answer.body["value"] == 2
    for tail in tails:
        tail.result()
    for query, field in [
        ("follow_s=0", "follow_s"),
        (f"follow_s={MAX_FOLLOW_S + 1}", "follow_s"),
        ("max_bytes=0", "max_bytes"),
        ("follow_s=abc", "follow_s"),
    ]:
        answer = call(farm, "GET", f"/api/v1/logs/dispatcher?follow=1&{query}")
        assert answer.status == 400 and answer.field == field, (query, answer.body)
    assert call(farm, "GET", "/api/v1/logs/dispatcher?follow=1", token="").status == 401
    # the places were given back
    tail = Follower(farm, "/api/v1/logs/dispatcher?follow=1&follow_s=1")
    assert tail.status == 200
    tail.result()
    assert actions(farm) == before


def test_live_tail_of_a_running_chunk_ends_with_its_attempt(setup: tuple[Farm, str]) -> None:
    farm, _ = setup
    farm.client("tailer")
    script = "echo first; sleep 1; echo second; sleep 1; echo third; sleep 0.5"
    job = farm.submit(title="talks", command=["sh", "-c", script])
    wait_for(
        lambda: (
            ok(farm, "GET", f"/api/v1/jobs/{job['id']}/tasks/{farm.task(job['id'], 0)}")["state"]
            == "running"
        ),
        30,
        "the chunk to run",
    )
    follower = Follower(farm, f"/api/v1/logs/chunks/{job['id']}/0?follow=1&follow_s=25")
    text, elapsed = follower.result()
    assert "second" in text and "third" in text, text
    assert elapsed < 15, elapsed  # it ended with the attempt, not after follow_s
    farm.wait_state(job["id"], "done")
    whole = ok(farm, "GET", f"/api/v1/logs/chunks/{job['id']}/0")
    assert all(word in whole for word in ("first", "second", "third"))
    assert ok(farm, "GET", f"/api/v1/logs/chunks/{job['id']}/0?attempt=1") == whole

    waiting = farm.submit(title="waits", paused=True)
    for path, status, field in [
        (f"/api/v1/logs/chunks/{waiting['id']}/0?follow=1", 404, None),
        (f"/api/v1/logs/chunks/{job['id']}/0?follow=1&attempt=2", 404, None),
        (f"/api/v1/logs/chunks/{job['id']}/1?follow=1", 404, None),
        (f"/api/v1/logs/chunks/{job['id']}/x?follow=1", 400, "chunk"),
        (f"/api/v1/logs/chunks/{job['id']}/x", 400, "chunk"),
        (f"/api/v1/logs/chunks/{job['id']}/0?attempt=0", 400, "attempt"),
        ("/api/v1/logs/chunks/99999/0?follow=1", 404, None),
    ]:
        answer = call(farm, "GET", path)
        assert answer.status == status and answer.field == field, (path, answer.body)


def test_a_tail_does_not_hold_a_shutdown(make_farm: Callable[..., Farm]) -> None:
    farm = make_farm()
    follower = Follower(farm, "/api/v1/logs/dispatcher?follow=1&follow_s=60")
    time.sleep(0.3)
    started = time.monotonic()
    assert farm.stop() == 0
    assert time.monotonic() - started < 10
    _, elapsed = follower.result(10)
    assert elapsed < 15


# -- statistics and history -------------------------------------------------------------
def pages(farm: Farm, path: str) -> list[list[Any]]:
    found = []
    while path:
        answer = call(farm, "GET", path)
        assert answer.status == 200, answer.body
        found.append(answer.body)
        link = answer.headers.get("Link", "")
        path = link.split(">")[0].lstrip("<") if link else ""
    return found


def test_statistics(setup: tuple[Farm, str]) -> None:
    farm, submitter = setup
    wait_for(lambda: ok(farm, "GET", "/api/v1/statistics/bounds")["count"] >= 6, 20, "samples")
    bounds = ok(farm, "GET", "/api/v1/statistics/bounds")
    assert bounds["start"] <= bounds["end"]
    end = bounds["end"]
    paged = pages(farm, f"/api/v1/statistics/?end={end}&limit=2")
    rows = [row for page in paged for row in page]
    assert len(paged) >= 3 and all(len(page) <= 2 for page in paged)
    times = [row["time"] for row in rows]
    assert times == sorted(times) and len(set(times)) == len(times) and times[-1] == end
    assert {"jobs", "nodes", "results", "time"} <= set(rows[0])
    middle = times[len(times) // 2]
    inside = ok(farm, "GET", f"/api/v1/statistics/?start={times[1]}&end={middle}&limit=10000")
    assert [row["time"] for row in inside] == times[1 : len(times) // 2 + 1]

    ok(farm, "DELETE", f"/api/v1/statistics/?start=0&end={middle}", status=204)
    after = ok(farm, "GET", "/api/v1/statistics/bounds")
    assert after["start"] > middle
    seen = script_json(
        farm,
        "import json, MDispatcherAPI\nprint(json.dumps(MDispatcherAPI.dbGetStatisticsBounds()[1]))",
    )
    assert seen > middle
    check_refusals(farm, Write("DELETE", "/api/v1/statistics/?start=0&end=1", None), submitter)


def test_history(setup: tuple[Farm, str]) -> None:
    farm, submitter = setup
    job = farm.submit(title="remembered", paused=True)
    rows = ok(farm, "GET", "/api/v1/history/")
    mine = [row for row in rows if row["job"] == job["id"]]
    assert mine and mine[0]["event"] == "submitted" and mine[0]["detail"]["title"] == "remembered"
    bounds = ok(farm, "GET", "/api/v1/history/bounds")
    assert bounds["count"] == len(rows) and bounds["end"] == rows[-1]["time"]
    assert ok(farm, "GET", f"/api/v1/history/?start={rows[-1]['time'] + 1}") == []

    check_refusals(
        farm, Write("DELETE", "/api/v1/history/?start=0&end=99999999999", None), submitter
    )
    for path, field in [
        ("/api/v1/history/?start=0", "end"),
        ("/api/v1/history/?end=1", "start"),
        ("/api/v1/history/?start=abc&end=1", "start"),
        ("/api/v1/history/?start=0&end=1&table=x", "table"),
        ("/api/v1/history/?start=nan&end=1", "start"),
    ]:
        answer = call(farm, "DELETE", path)
        assert answer.status == 400 and answer.field == field, (path, answer.body)
    for path, field in [
        ("/api/v1/history/?limit=0", "limit"),
        ("/api/v1/history/?after=zzz", "after"),
        ("/api/v1/history/?end=soon", "end"),
        ("/api/v1/history/?job=1", "job"),
    ]:
        answer = call(farm, "GET", path)
        assert answer.status == 400 and answer.field == field, (path, answer.body)
    assert call(farm, "GET", "/api/v1/history/", token="").status == 401
    assert ok(farm, "GET", "/api/v1/history/bounds")["count"] == bounds["count"]

    ok(farm, "DELETE", f"/api/v1/history/?start=0&end={rows[-1]['time']}", status=204)
    assert ok(farm, "GET", "/api/v1/history/bounds")["count"] == 0
