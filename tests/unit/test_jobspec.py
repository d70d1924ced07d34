from decimal import Decimal

import pytest

from dispatcher.errors import ValidationError
from dispatcher.jobspec import build_job, parse_edit, parse_spec
from dispatcher.model import DependMode


def test_spec_defaults_and_frames_shorthand() -> None:
    spec = parse_spec({"title": "a", "frames": "1-100", "batch": 10, "command": ["true"]})
    job = build_job(spec, job_id=7, seq=1, user="ann")
    assert (job.start, job.end, job.chunk_count, job.user, job.priority) == (1, 100, 10, "ann", 50)


def test_dependencies_accept_ids_and_objects() -> None:
    spec = parse_spec({"title": "a", "depends_on": [3, {"job": 4, "mode": "always"}]})
    assert [(d.job_id, d.mode) for d in spec.dependencies()] == [
        (3, DependMode.SUCCESS),
        (4, DependMode.ALWAYS),
    ]


def test_parent_zero_means_top() -> None:
    assert parse_spec({"title": "a", "parent": 0}).parent == -1


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"title": "a", "frames": "1-5", "start": 1}, "frames"),
        ({"title": "a", "by": 0}, "by"),
        ({"title": "a", "start": 5, "end": 1}, "end"),
        ({"title": "a", "batch": 0}, "batch"),
        ({"title": "a", "depends_on": [{"job": 0}]}, "depends_on.0.DependencySpec.job"),
        ({"title": "a", "requeue": -1}, "requeue"),
        ({"title": "x" * 256}, "title"),
        ({"title": "a", "whatever": 1}, "whatever"),
    ],
)
def test_bad_specs_name_their_field(payload: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        parse_spec(payload)
    assert caught.value.field is not None and caught.value.field.startswith(field.split(".")[0])


def test_not_an_object() -> None:
    with pytest.raises(ValidationError):
        parse_spec(["title"])


def test_edit_accepts_only_editable_fields() -> None:
    assert parse_edit({"priority": 80, "notes": "n"}) == {"priority": 80, "notes": "n"}
    for bad in ({}, {"start": 3}, {"priority": -1}, "x"):
        with pytest.raises(ValidationError):
            parse_edit(bad)


def test_fractional_frames_round_to_four_places() -> None:
    spec = parse_spec({"title": "a", "start": "0.00005", "end": 1})
    assert spec.start == Decimal("0.0000")  # half-even: ties go to the even digit
    assert parse_spec({"title": "a", "start": "0.00015", "end": 1}).start == Decimal("0.0002")
