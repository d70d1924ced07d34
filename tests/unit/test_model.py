import uuid
from decimal import Decimal

import pytest

from dispatcher.model import (
    CHUNK_DONE,
    CHUNK_FAILED,
    CHUNK_QUEUED,
    CHUNK_RUNNING,
    Job,
    Node,
    Status,
    frame,
    frame_text,
    new_uuid,
    parse_frame_range,
    parse_uuid,
)


def make(start: str, end: str, by: str = "1", batch: int = 1) -> Job:
    job = Job(id=1, title="t", start=Decimal(start), end=Decimal(end), by=Decimal(by), batch=batch)
    job.init_chunks()
    return job


def test_hundred_frames_by_one_packet_ten_make_ten_chunks() -> None:
    job = make("1", "100", batch=10)
    assert job.chunk_count == 10
    assert job.chunk_frames(0) == (1, 10)
    assert job.chunk_frames(9) == (91, 100)


def test_negative_fractional_and_uneven_chunks() -> None:
    job = make("-2", "1.5", by="0.5", batch=3)
    assert job.frames == 8 and job.chunk_count == 3
    assert job.chunk_frames(2) == (Decimal("1"), Decimal("1.5"))
    assert job.chunk_of_frame(Decimal("-1.5")) == 0
    assert job.chunk_of_frame(Decimal("-1.25")) is None
    assert job.chunk_of_frame(Decimal("7")) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1-100", ("1", "100")),
        ("-10--1", ("-10", "-1")),
        ("1.5-3", ("1.5", "3")),
        ("7", ("7", "7")),
        ("-5-5", ("-5", "5")),
    ],
)
def test_parse_frame_range(text: str, expected: tuple[str, str]) -> None:
    assert parse_frame_range(text) == (Decimal(expected[0]), Decimal(expected[1]))


@pytest.mark.parametrize("bad", ["", "a-b", "1-", "nan", "inf", "1e12"])
def test_bad_frames_are_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        parse_frame_range(bad)


def test_frames_have_four_places_and_print_plainly() -> None:
    assert frame("1.23456") == Decimal("1.2346")
    assert frame_text(frame("10")) == "10" and frame_text(frame("-0.5")) == "-0.5"
    with pytest.raises(ValueError):
        frame(True)


def test_counts_cursor_and_state_follow_chunk_changes() -> None:
    job = make("1", "4")
    assert job.state is Status.QUEUED and job.cursor == 0
    job.set_chunk(0, CHUNK_RUNNING)
    assert job.cursor == 1 and job.state is Status.RUNNING
    job.set_chunk(0, CHUNK_DONE)
    job.set_chunk(1, CHUNK_DONE)
    job.set_chunk(2, CHUNK_DONE)
    job.set_chunk(3, CHUNK_FAILED)
    assert job.finished and job.state is Status.FAILED and job.cursor == 4
    job.set_chunk(1, CHUNK_QUEUED)
    assert job.cursor == 1 and job.state is Status.QUEUED
    assert job.counts == [1, 0, 2, 1, 0]


def test_a_million_chunks_are_compact() -> None:
    job = make("1", "1000000")
    size = len(job.chunk_status) + job.chunk_attempts.itemsize * len(job.chunk_attempts)
    size += job.chunk_nodes.itemsize * len(job.chunk_nodes) + len(job.chunk_failures)
    assert job.chunk_count == 1_000_000 and size == 10_000_000


def test_new_uuid_is_a_canonical_random_version_4_uuid() -> None:
    made = [new_uuid() for _ in range(2000)]
    assert len(set(made)) == len(made)
    for text in made:
        value = uuid.UUID(text)
        assert value.version == 4 and value.variant == uuid.RFC_4122
        assert str(value) == text and parse_uuid(text) == text
    # Every bit outside the version and variant varies.
    ones = 0
    for text in made:
        ones |= int(text.replace("-", ""), 16)
    assert ones == int("ffffffff-ffff-4fff-bfff-ffffffffffff".replace("-", ""), 16)
    assert uuid.UUID(Node(id=1, name="n").uuid).version == 4
    assert Node(id=1, name="n").uuid != Node(id=1, name="n").uuid
