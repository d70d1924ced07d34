"""An Assign's first and last frame: the integer fast path spells every chunk's frames
exactly as `str` of Job.chunk_frames does, and jobs it cannot serve keep Decimal's."""

from __future__ import annotations

import random
from decimal import Decimal

import pytest

from dispatcher.model import Job
from dispatcher.views import frame_texts


def make(start: str, end: str, by: str = "1", batch: int = 1, logic: str = "") -> Job:
    job = Job(id=1, title="t", start=Decimal(start), end=Decimal(end), by=Decimal(by), batch=batch)
    if logic:
        job.logic = logic
        job.slices = 4
    job.init_chunks()
    return job


@pytest.mark.parametrize(
    ("start", "end", "by", "batch"),
    [
        ("1", "100", "1", 1),
        ("1", "100", "1", 7),  # a short last chunk
        ("-20", "13", "3", 4),
        ("0", "0", "1", 1),
        ("-0", "5", "1", 2),  # Decimal spells a zero first frame "0" here too
        ("1", "10", "0.5", 3),
        ("1.0", "10", "1", 2),  # "1.0", not "1"
        ("1.0000", "100.0000", "1", 3),  # a submitted range keeps four places
        ("-3.0000", "3.0000", "0.25", 2),  # through zero: "0.0000"
        ("0.000000", "0.00002", "0.000001", 3),  # six places, small values
        ("0", "0.000002", "0.0000001", 5),  # seven places: Decimal's "1E-7"
        ("-0.0", "2", "0.5", 1),
        ("-2", "1.5", "0.5", 3),
        ("1E+1", "100", "1", 5),  # "1E+1"
        ("999999999999999", "1000000000000010", "1", 4),  # past the exact size
    ],
)
def test_texts_match_decimal_chunk_frames(start: str, end: str, by: str, batch: int) -> None:
    job = make(start, end, by, batch)
    texts = frame_texts(job)
    for index in range(job.chunk_count):
        first, last = job.chunk_frames(index)
        assert texts(index) == (str(first), str(last)), index


def test_frames_as_submitted() -> None:
    texts = frame_texts(make("1", "100", batch=10))
    assert texts(0) == ("1", "10") and texts(9) == ("91", "100")
    assert frame_texts(make("1001", "1001"))(0) == ("1001", "1001")
    texts = frame_texts(make("-1.5000", "1.0000", by="0.5"))
    assert texts(0) == ("-1.5000", "-1.5000") and texts(3) == ("0.0000", "0.0000")


@pytest.mark.parametrize("logic", ["broadcast", "image_slicing"])
def test_whole_range_jobs_render_every_frame_in_each_chunk(logic: str) -> None:
    job = make("5", "9", logic=logic)
    assert frame_texts(job)(0) == ("5", "9")


def test_random_ranges_match_decimal() -> None:
    rng = random.Random(16)
    for _ in range(300):
        places = rng.randrange(0, 8)
        start = Decimal(rng.randrange(-5000, 5000)).scaleb(-places)
        by = Decimal(rng.randrange(1, 400)).scaleb(-rng.randrange(0, places + 1))
        end = start + by * rng.randrange(0, 60)
        job = make(str(start), str(end), str(by), rng.randrange(1, 6))
        texts = frame_texts(job)
        for index in range(job.chunk_count):
            first, last = job.chunk_frames(index)
            assert texts(index) == (str(first), str(last)), (start, end, by, job.batch, index)


@pytest.mark.parametrize("value", ["NaN", "-NaN"])
def test_frames_that_are_not_numbers_take_the_decimal_path(value: str) -> None:
    job = make("1", "4")
    job.by = Decimal(value)  # (no parser lets one in; making the texts must not raise)
    assert frame_texts(job)(0) == tuple(str(frame) for frame in job.chunk_frames(0))
