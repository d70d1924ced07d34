"""Job UUIDs on a live farm: given or generated on submit, shown in every job view, and
naming the job on every route that takes a job id or title; kept across restarts and
given to rows stored before jobs had one (store migration 0005)."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest

from dispatcher.jobspec import build_job, parse_spec
from dispatcher.model import legacy_uuid
from dispatcher.store.sqlite import SqliteStore
from tests.integration.farm import ApiError, Farm

GIVEN = "178b043e-4a28-4235-acbc-642c7480c360"


@pytest.fixture(scope="module")
def farm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Farm]:
    farm = Farm(tmp_path_factory.mktemp("uuids") / "farm").start()
    yield farm
    farm.close()


def _status(farm: Farm, method: str, path: str, body: object = None, **kw: str) -> int:
    try:
        farm.request(method, path, body, **kw)
    except ApiError as exc:
        return exc.status
    return 200


def test_a_submitted_job_has_a_uuid_in_every_view(farm: Farm) -> None:
    job = farm.submit(title="generated")
    assert uuid.UUID(job["uuid"]).version == 4
    by_uuid = farm.request("GET", f"/api/v1/jobs/{job['uuid']}")
    assert by_uuid["id"] == job["id"] and by_uuid["uuid"] == job["uuid"]
    listed = {item["id"]: item["uuid"] for item in farm.request("GET", "/api/v1/jobs/")}
    assert listed[job["id"]] == job["uuid"]
    paged = farm.request("GET", "/api/v1/jobs/?limit=1000")
    assert {item["id"]: item["uuid"] for item in paged} == listed


def test_a_given_uuid_is_kept_canonical_and_names_the_job_everywhere(farm: Farm) -> None:
    job = farm.submit(title="given", uuid=GIVEN.upper(), paused=True)
    assert job["uuid"] == GIVEN
    for key in (GIVEN, GIVEN.upper()):
        assert farm.request("GET", f"/api/v1/jobs/{key}")["id"] == job["id"]
    assert farm.request("GET", f"/api/v1/jobs/{GIVEN}/why")["job"] == job["id"]
    assert farm.request("GET", f"/api/v1/jobs/{GIVEN}/tasks/")[0]["job"]["id"] == job["id"]
    assert farm.request("GET", f"/api/v1/jobs/{GIVEN}/notified_users/") == []
    folder = farm.request("POST", "/api/v1/folders/", {"title": "by uuid"})
    assert farm.request("GET", f"/api/v1/folders/{folder['uuid']}")["id"] == folder["id"]
    farm.request("POST", f"/api/v1/jobs/{GIVEN}/actions/resume")
    edited = farm.request("POST", f"/api/v1/jobs/{GIVEN}", {"priority": 77})
    assert (edited["id"], edited["priority"], edited["uuid"]) == (job["id"], 77, GIVEN)
    assert farm.request("PATCH", f"/api/v1/jobs/{GIVEN}", {"notes": "n"})["notes"] == "n"
    farm.request("DELETE", f"/api/v1/jobs/{GIVEN}")
    assert _status(farm, "GET", f"/api/v1/jobs/{GIVEN}") == 404
    # The UUID of a deleted job is free again.
    assert farm.submit(title="given again", uuid=GIVEN)["uuid"] == GIVEN


def test_a_duplicate_uuid_is_409_and_a_malformed_one_400(farm: Farm) -> None:
    taken = farm.submit(title="taken")["uuid"]
    before = len(farm.request("GET", "/api/v1/jobs/"))
    with pytest.raises(ApiError) as caught:
        farm.submit(title="dup", uuid=taken)
    assert caught.value.status == 409 and taken in caught.value.body["detail"]
    fresh = str(uuid.uuid4())
    pair = [{"title": "p1", "command": ["true"], "uuid": fresh},
            {"title": "p2", "command": ["true"], "uuid": fresh.upper()}]  # fmt: skip
    assert _status(farm, "POST", "/api/v1/jobs/", pair) == 409
    for bad in ("nope", "00000000-0000-0000-0000-000000000000", 7, taken.replace("-", "")):
        with pytest.raises(ApiError) as caught:
            farm.submit(title=f"bad {bad}", uuid=bad)
        assert caught.value.status == 400 and caught.value.body.get("field") == "uuid"
    assert len(farm.request("GET", "/api/v1/jobs/")) == before
    # A UUID is no editable field.
    assert _status(farm, "POST", f"/api/v1/jobs/{taken}", {"uuid": fresh}) == 400


def test_routes_by_uuid_need_a_token(farm: Farm) -> None:
    job = farm.submit(title="guarded")
    assert _status(farm, "GET", f"/api/v1/jobs/{job['uuid']}", token="") == 401
    assert _status(farm, "GET", f"/api/v1/jobs/{job['uuid']}", token="wrong") == 401


def test_uuids_survive_a_restart(tmp_path: Path) -> None:
    farm = Farm(tmp_path / "farm").start()
    try:
        job = farm.submit(title="kept", uuid=GIVEN)
        farm.stop()
        farm.start()
        assert farm.request("GET", f"/api/v1/jobs/{GIVEN}")["id"] == job["id"]
    finally:
        farm.close()


async def test_migration_gives_old_rows_the_uuid_they_were_shown_under(tmp_path: Path) -> None:
    path = tmp_path / "corral.db"
    store = SqliteStore(path)
    await store.open()
    job = build_job(parse_spec({"title": "old"}), 3, 1, "ann")
    store.put_job(job)
    await store.commit()
    await store.close()
    # Make the file what a dispatcher before migration 0005 left: a spec without uuid.
    db = sqlite3.connect(path)
    spec = msgspec.json.decode(db.execute("SELECT spec FROM jobs").fetchone()[0])
    del spec["uuid"]
    db.execute("UPDATE jobs SET spec = ?", (msgspec.json.encode(spec),))
    db.execute("DROP TABLE chunk_changes")  # (nor what migration 0007 made)
    db.execute("ALTER TABLE jobs DROP COLUMN changes_from")
    db.execute("PRAGMA user_version=4")
    db.commit()
    db.close()
    again = SqliteStore(path)
    await again.open()
    (loaded,) = (await again.load()).jobs
    await again.close()
    expected = legacy_uuid("job", 3, job.time_submitted)
    assert loaded.uuid == expected
    db = sqlite3.connect(path)
    stored, version = (
        db.execute("SELECT spec FROM jobs").fetchone()[0],
        db.execute("PRAGMA user_version").fetchone()[0],
    )
    db.close()
    assert msgspec.json.decode(stored)["uuid"] == expected and version >= 5
