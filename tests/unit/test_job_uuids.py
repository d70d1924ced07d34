"""Job UUIDs: the spec's rule, the index, lookups, duplicates, rows and snapshots."""

from __future__ import annotations

import uuid

import msgspec
import pytest

from dispatcher import snapshot
from dispatcher.errors import Conflict, NotFound, ValidationError
from dispatcher.jobspec import build_job, parse_spec
from dispatcher.model import NIL_UUID, legacy_uuid, parse_uuid
from dispatcher.queue import Queue
from dispatcher.store import rows
from dispatcher.store.memory import MemoryStore

GIVEN = "8ad51e37-127e-4894-aefb-8e8273c111cf"


def test_parse_uuid_takes_the_hyphenated_form_in_either_case() -> None:
    assert parse_uuid(GIVEN.upper()) == GIVEN
    assert parse_uuid(GIVEN) == GIVEN
    for bad in (GIVEN.replace("-", ""), "{" + GIVEN + "}", GIVEN + " ", "x" * 36, NIL_UUID,
                "urn:uuid:" + GIVEN, 5, None, ["a"], GIVEN[:-1] + "g"):  # fmt: skip
        assert parse_uuid(bad) is None, bad


def test_a_spec_keeps_a_given_uuid_in_canonical_form() -> None:
    job = build_job(parse_spec({"title": "a", "uuid": GIVEN.upper()}), 1, 1, "ann")
    assert job.uuid == GIVEN
    fresh = build_job(parse_spec({"title": "b"}), 2, 2, "ann")
    assert uuid.UUID(fresh.uuid).version == 4 and fresh.uuid != job.uuid


@pytest.mark.parametrize("bad", ["nope", NIL_UUID, 12, GIVEN.replace("-", ""), [GIVEN], ""])
def test_a_malformed_uuid_names_the_field(bad: object) -> None:
    with pytest.raises(ValidationError) as caught:
        parse_spec({"title": "a", "uuid": bad})
    assert caught.value.field == "uuid" and "UUID" in str(caught.value)


def _queue(*specs: dict[str, object]) -> Queue:
    queue = Queue(MemoryStore())
    for spec in specs:
        queue.submit([parse_spec(spec)], "ann")
    return queue


def test_the_queue_finds_a_job_by_uuid_id_or_title() -> None:
    queue = _queue({"title": "first", "uuid": GIVEN}, {"title": "second"})
    first = queue.get(GIVEN.upper())
    assert first.id == 1 and queue.get("1") is first and queue.get("first") is first
    second = queue.jobs[2]
    assert queue.get(second.uuid) is second and queue.by_uuid(second.uuid) is second
    other = str(uuid.uuid4())
    with pytest.raises(NotFound):
        queue.get(other)
    # A UUID no job has may still be a job's title.
    titled = _queue({"title": other})
    assert titled.get(other).title == other


def test_a_duplicate_uuid_is_a_conflict_and_queues_nothing() -> None:
    queue = _queue({"title": "first", "uuid": GIVEN})
    with pytest.raises(Conflict, match="job 1 has UUID"):
        queue.submit([parse_spec({"title": "again", "uuid": GIVEN.upper()})], "ann")
    pair = [parse_spec({"title": "x", "uuid": str(uuid.UUID(int=7))}),
            parse_spec({"title": "y", "uuid": str(uuid.UUID(int=7))})]  # fmt: skip
    with pytest.raises(Conflict, match="two jobs of this request"):
        queue.submit(pair, "ann")
    assert list(queue.jobs) == [1]


def test_deleting_a_job_frees_its_uuid() -> None:
    queue = _queue({"title": "first", "uuid": GIVEN})
    queue.delete(queue.jobs[1])
    assert queue.by_uuid(GIVEN) is None and GIVEN not in queue.index.uuid
    queue.submit([parse_spec({"title": "again", "uuid": GIVEN})], "ann")
    assert queue.get(GIVEN).title == "again"


def test_rows_keep_the_uuid_and_derive_one_for_old_rows() -> None:
    job = build_job(parse_spec({"title": "a", "uuid": GIVEN}), 4, 1, "ann")
    row = (4, rows.job_spec(job), *rows.job_chunks(job))
    assert rows.job_from_row(row).uuid == GIVEN
    assert rows.with_job_uuid(4, row[1]) is None
    spec = msgspec.json.decode(row[1])
    del spec["uuid"]
    old = msgspec.json.encode(spec)
    derived = legacy_uuid("job", 4, job.time_submitted)
    assert rows.job_from_row((4, old, *row[2:])).uuid == derived
    added = rows.with_job_uuid(4, old)
    assert isinstance(added, bytes) and msgspec.json.decode(added)["uuid"] == derived
    text = rows.with_job_uuid(4, old.decode())
    assert isinstance(text, str) and msgspec.json.decode(text)["uuid"] == derived


def test_a_snapshot_keeps_uuids_and_refuses_a_shared_one() -> None:
    jobs = [build_job(parse_spec({"title": f"j{n}"}), n, n, "ann") for n in (1, 2)]
    text = snapshot.export(jobs)
    assert [job.uuid for job in snapshot.parse(text)] == [job.uuid for job in jobs]
    shared = text.replace(jobs[1].uuid, jobs[0].uuid)
    with pytest.raises(ValidationError, match="job 2: UUID .* is job 1's too"):
        snapshot.parse(shared)
    with pytest.raises(ValidationError, match="uuid"):
        snapshot.parse(text.replace(jobs[1].uuid, "not-a-uuid"))
