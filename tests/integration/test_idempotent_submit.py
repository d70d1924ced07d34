"""Idempotent submits: a retried POST /api/v1/jobs/ with the same Idempotency-Key answers
the first request's jobs instead of queuing new ones, also when the two arrive at once,
after a restart, and after the dispatcher was killed between its commit and its answer."""

from __future__ import annotations

import asyncio
import json
import signal
import sqlite3
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.integration.farm import CORRAL, Farm, wait_for
from tests.integration.hookfarm import TEMPLATE_HEAD, write_template
from tests.integration.inprocess import Live, live_dispatcher

pytestmark = pytest.mark.integration

JOB = {"title": "shot010 comp", "command": ["true"], "start": 1, "end": 10, "batch": 5}
KEY = "submit-7f3a9c2e-shot010"


async def post(
    live: Live, body: Any, key: str | list[str] | None = KEY, token: str | None = None
) -> tuple[int, Any, aiohttp.typedefs.LooseHeaders]:
    """POST /api/v1/jobs/ with the key header(s); the status, JSON body and headers."""
    headers: list[tuple[str, str]] = [("Authorization", f"Bearer {token or live.token}")]
    keys = [key] if isinstance(key, str) else key or []
    headers += [("Idempotency-Key", value) for value in keys]
    url = live.dispatcher.http_url + "/api/v1/jobs/"
    async with live.session.post(url, json=body, headers=headers) as answer:
        return answer.status, await answer.json(content_type=None), answer.headers


async def job_ids(live: Live) -> list[int]:
    return [job["id"] for job in await live.rest("GET", "/api/v1/jobs/")]


@asynccontextmanager
async def farm(tmp_path: Path, **settings: Any) -> AsyncIterator[Live]:
    async with live_dispatcher(tmp_path / "data", **settings) as live:
        yield live


async def test_a_retry_answers_the_first_job(tmp_path: Path) -> None:
    async with farm(tmp_path) as live:
        status, first, headers = await post(live, JOB)
        assert status == 201 and "Idempotent-Replayed" not in headers
        status, again, headers = await post(live, JOB)
        assert status == 201 and headers["Idempotent-Replayed"] == "true"
        assert again["id"] == first["id"] and again["title"] == first["title"]
        assert await job_ids(live) == [first["id"]]
        # Without a key (or with another) a job is a new one (under another title: the
        # route refuses a second live job of one title, 409).
        status, other, _ = await post(live, {**JOB, "title": "shot010 comp b"}, key=None)
        assert status == 201 and other["id"] != first["id"]
        status, third, _ = await post(live, {**JOB, "title": "shot010 comp c"}, key=KEY + "-b")
        assert status == 201 and third["id"] not in (first["id"], other["id"])
        assert len(await job_ids(live)) == 3


async def test_a_list_submit_is_answered_whole(tmp_path: Path) -> None:
    async with farm(tmp_path) as live:
        batch = [JOB, {**JOB, "title": "shot020 comp"}]
        status, first, _ = await post(live, batch)
        assert status == 201 and len(first) == 2
        status, again, headers = await post(live, batch)
        assert status == 201 and headers["Idempotent-Replayed"] == "true"
        assert [job["id"] for job in again] == [job["id"] for job in first]
        assert sorted(await job_ids(live)) == sorted(job["id"] for job in first)


async def test_the_key_with_another_body_is_a_conflict(tmp_path: Path) -> None:
    async with farm(tmp_path) as live:
        _, first, _ = await post(live, JOB)
        status, problem, _ = await post(live, {**JOB, "priority": 90})
        assert status == 409
        assert KEY in problem["detail"] and "different request" in problem["detail"]
        assert await job_ids(live) == [first["id"]]
        assert (await live.rest("GET", f"/api/v1/jobs/{first['id']}"))["priority"] == 50


@pytest.mark.parametrize(
    ("key", "why"),
    [("", "empty"), ("k" * 256, "too long"), ("caf\u00e9", "not ASCII"), ("a\tb", "a control"),
     (["one", "two"], "two headers")],
)  # fmt: skip
async def test_a_bad_key_is_refused_and_queues_nothing(
    tmp_path: Path, key: str | list[str], why: str
) -> None:
    async with farm(tmp_path) as live:
        status, problem, _ = await post(live, JOB, key=key)
        assert status == 400, why
        assert problem["field"] == "Idempotency-Key"
        assert await job_ids(live) == []
        status, _, _ = await post(live, JOB, key="k" * 255)  # the longest key is fine
        assert status == 201


async def test_keys_belong_to_their_user_and_need_the_submit_permission(tmp_path: Path) -> None:
    async with farm(tmp_path) as live:
        _, mine, _ = await post(live, JOB)
        artist = await live.user("artist", "submit")
        status, theirs, headers = await post(live, {**JOB, "title": "theirs"}, token=artist)
        assert status == 201 and "Idempotent-Replayed" not in headers
        assert theirs["id"] != mine["id"] and theirs["user"] == "artist"
        viewer = await live.user("viewer")
        status, problem, _ = await post(live, JOB, token=viewer)
        assert status == 403  # the key reveals nothing to who may not submit
        assert sorted(await job_ids(live)) == sorted([mine["id"], theirs["id"]])


async def test_a_deleted_job_frees_its_key(tmp_path: Path) -> None:
    async with farm(tmp_path) as live:
        _, first, _ = await post(live, JOB)
        await live.rest("DELETE", f"/api/v1/jobs/{first['id']}")
        status, second, headers = await post(live, {**JOB, "priority": 80})
        assert status == 201 and "Idempotent-Replayed" not in headers
        assert second["id"] != first["id"] and second["priority"] == 80
        assert await job_ids(live) == [second["id"]]


async def test_a_key_expires_after_the_retention_period(tmp_path: Path) -> None:
    async with farm(tmp_path, idempotency_retention_s=1.0) as live:
        _, first, _ = await post(live, JOB)
        _, again, _ = await post(live, JOB)
        assert again["id"] == first["id"]
        await asyncio.sleep(1.2)
        # Another body under the key: a conflict while the key is known, a new job after.
        status, later, headers = await post(live, {**JOB, "title": "shot010 comp b"})
        assert status == 201 and "Idempotent-Replayed" not in headers
        assert later["id"] != first["id"]


SLOW = """
class Slow(Base):
    def __init__(self):
        self.setup(91, "slow")

    def onSubmitJob(self, job):
        time.sleep(0.5)

MTemplateAPI.MManager.getUniqueClass().installPyTemplate(Slow())
"""


async def test_requests_with_one_key_at_once_queue_one_job(tmp_path: Path) -> None:
    templates = tmp_path / "templates"
    write_template(templates, "slow.py", TEMPLATE_HEAD + SLOW)
    async with live_dispatcher(tmp_path / "data", templates=templates) as live:
        body = {**JOB, "template": "slow"}
        # The first request spends half a second in onSubmitJob before its commit: the
        # others arrive meanwhile and must wait for it rather than queue their own.
        answers = await asyncio.gather(*(post(live, body) for _ in range(6)))
        assert [status for status, _, _ in answers] == [201] * 6
        ids = {job["id"] for _, job, _ in answers}
        assert len(ids) == 1
        assert sum("Idempotent-Replayed" in headers for _, _, headers in answers) == 5
        assert await job_ids(live) == list(ids)
        # A conflicting body arriving at once gets 409, never a job of its own.
        answers = await asyncio.gather(
            post(live, {**body, "title": "first"}, key="pair"),
            post(live, {**body, "title": "second"}, key="pair"),
        )
        assert sorted(status for status, _, _ in answers) == [201, 409]
        assert len(await job_ids(live)) == 2


async def test_a_key_outlives_a_restart(tmp_path: Path) -> None:
    async with farm(tmp_path) as live:
        _, first, _ = await post(live, [JOB, {**JOB, "title": "second"}])
    async with farm(tmp_path) as live:
        status, again, headers = await post(live, [JOB, {**JOB, "title": "second"}])
        assert status == 201 and headers["Idempotent-Replayed"] == "true"
        assert [job["id"] for job in again] == [job["id"] for job in first]
        status, _, _ = await post(live, JOB)
        assert status == 409  # the stored digest came back too
        assert sorted(await job_ids(live)) == [job["id"] for job in first]


# -- the dispatcher killed between the commit and the answer ------------------------------
def committed_with_key(db: Path, key: str) -> list[int]:
    """Ids of the jobs committed with `key`, read through a connection of our own."""
    connection = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    try:
        rows = connection.execute("SELECT id, spec FROM jobs").fetchall()
    finally:
        connection.close()
    return [
        job_id
        for job_id, spec in rows
        if (json.loads(spec).get("idempotency") or {}).get("key") == key
    ]


def keyed_post(farm: Farm, body: Any, key: str) -> tuple[int, Any, dict[str, str]]:
    request = urllib.request.Request(
        farm.url + "/api/v1/jobs/", data=json.dumps(body).encode(), method="POST"
    )
    request.add_header("Content-Type", "application/json")
    request.add_header("Authorization", f"Bearer {farm.token}")
    request.add_header("Idempotency-Key", key)
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read()), dict(response.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read()), dict(exc.headers)


def test_a_retry_after_a_kill_between_commit_and_answer_gets_the_committed_job(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    # The crash setting holds each submit's answer 30 s after its commit: the window
    # in which the test kills the dispatcher, found by watching the database itself.
    crash = tmp_path / "crash.toml"
    crash.write_text("debug_submit_answer_delay_s = 30\n")
    farm = Farm(data, ["--config", str(crash)]).start()
    try:
        outcome: dict[str, Any] = {}

        def first_try() -> None:
            try:
                outcome["answer"] = keyed_post(farm, JOB, KEY)
            except (OSError, urllib.error.URLError) as exc:  # the connection died
                outcome["error"] = exc

        sender = threading.Thread(target=first_try, name="first-try")
        sender.start()
        committed = wait_for(
            lambda: committed_with_key(data / "corral.db", KEY), 20, "the keyed job's commit"
        )
        assert sender.is_alive(), "the answer came before the kill"
        assert farm.stop(signal.SIGKILL) == -signal.SIGKILL
        sender.join(timeout=30)
        assert not sender.is_alive()
        assert "answer" not in outcome and "error" in outcome  # the answer was lost

        farm.extra_args = []  # restarted without the crash setting
        farm.start()
        started = time.monotonic()
        status, job, headers = keyed_post(farm, JOB, KEY)
        assert time.monotonic() - started < 10
        assert status == 201 and headers.get("Idempotent-Replayed") == "true"
        assert [job["id"]] == committed
        listing = farm.request("GET", "/api/v1/jobs/")
        assert [item["id"] for item in listing] == committed  # exactly one job queued
        assert committed_with_key(data / "corral.db", KEY) == committed
    finally:
        farm.close()


def test_corral_submit_sends_its_key(tmp_path: Path) -> None:
    farm = Farm(tmp_path / "data").start()
    try:
        command = [CORRAL, "--dispatcher", farm.url, "--token", farm.token, "submit", "--json",
                   "--name", "shot030", "--idempotency-key", "cli-run-1", "--", "true"]  # fmt: skip
        answers = [
            json.loads(subprocess.run(command, capture_output=True, text=True, timeout=60,
                                      check=True).stdout)
            for _ in range(2)
        ]  # fmt: skip
        assert answers[0]["id"] == answers[1]["id"]
        assert [job["id"] for job in farm.request("GET", "/api/v1/jobs/")] == [answers[0]["id"]]
        bad = subprocess.run(command[:-4] + ["--idempotency-key", "", "--", "true"],
                             capture_output=True, text=True, timeout=60)  # fmt: skip
        assert bad.returncode == 1 and "Idempotency-Key" in bad.stderr
    finally:
        farm.close()
