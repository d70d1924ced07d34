from decimal import Decimal

import pytest

from dispatcher import limits
from dispatcher.errors import LimitExceeded, ValidationError
from dispatcher.jobspec import build_job, check_command, parse_edit, parse_spec
from dispatcher.model import MAX_CHUNKS_PER_JOB, DependMode


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
    for bad in ({}, {"state": "done"}, {"kind": "folder"}, {"priority": -1}, "x"):
        with pytest.raises(ValidationError):
            parse_edit(bad)


def test_fractional_frames_round_to_four_places() -> None:
    spec = parse_spec({"title": "a", "start": "0.00005", "end": 1})
    assert spec.start == Decimal("0.0000")  # half-even: ties go to the even digit
    assert parse_spec({"title": "a", "start": "0.00015", "end": 1}).start == Decimal("0.0002")


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"title": "a", "command": ["a\x00b"]}, "command.0"),
        ({"title": "a", "environ": {"A=B": "1"}}, "environ"),
        ({"title": "a", "environ": {"9X": "1"}}, "environ"),
        ({"title": "a", "environ": {"A": "\x00"}}, "environ.A"),
        ({"title": "a", "data": {"x": {"y": ["\ud800"]}}}, "data.x.y.0"),
        ({"title": "a", "data": {"\udc00": 1}}, "data"),
        ({"title": "a\x1b[31m"}, "title"),
        ({"title": "a\x9b"}, "title"),
        ({"title": "a", "department": "d\n"}, "department"),
        ({"title": "a", "excluded_pools": ["p\x00"]}, "excluded_pools.0"),
        ({"title": "a", "user": "u\x7f"}, "user"),
    ],
)
def test_unstorable_or_controlling_text_is_refused(payload: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        parse_spec(payload)
    assert caught.value.field == field, caught.value
    with pytest.raises(ValidationError):
        parse_edit({key: value for key, value in payload.items() if key != "title"} or payload)


def test_text_rules_leave_ordinary_text_alone() -> None:
    spec = parse_spec(
        {"title": "shot 010 — été", "notes": "line 1\nline 2\ttab", "command": ["echo", "{start}"],
         "environ": {"_X1": "a=b c", "PATH": "/bin"}, "data": {"k": [1, {"é": "\u2028"}]}}
    )  # fmt: skip
    assert spec.environ == {"_X1": "a=b c", "PATH": "/bin"} and spec.notes.count("\n") == 1


def test_data_nested_deeper_than_the_limit_is_refused() -> None:
    ok: object = "leaf"
    for _ in range(limits.MAX_JSON_DEPTH - 1):
        ok = [ok]
    parse_spec({"title": "a", "data": {"d": ok}})
    with pytest.raises(ValidationError) as caught:
        parse_spec({"title": "a", "data": {"d": [ok]}})
    assert caught.value.field is not None and caught.value.field.startswith("data.d")


def test_a_cmdline_job_needs_a_command() -> None:
    for spec in (parse_spec({"title": "a"}), parse_spec({"title": "a", "command": []})):
        with pytest.raises(ValidationError) as caught:
            check_command(spec)
        assert caught.value.field == "command"
    check_command(parse_spec({"title": "a", "command": ["true"]}))
    check_command(parse_spec({"title": "f", "kind": "folder"}))
    check_command(parse_spec({"title": "a", "template": "blender"}))


def test_more_chunks_than_the_model_holds_is_a_limit() -> None:
    with pytest.raises(LimitExceeded) as caught:
        parse_spec({"title": "a", "frames": f"1-{MAX_CHUNKS_PER_JOB + 1}"})
    assert caught.value.limit == "max_chunks_per_job"
    assert parse_spec({"title": "a", "frames": "1-20", "batch": 3}).chunk_count() == 7
