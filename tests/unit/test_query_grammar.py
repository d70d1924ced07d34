"""The Smedge query grammar: terms, all/any lists, ids, names, dotted parts, operators,
times, hostile patterns and malformed queries."""

from __future__ import annotations

import json
import time
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dispatcher.jobspec import build_job, parse_spec
from dispatcher.model import CHUNK_FAILED, Job
from dispatcher.query import Catalog, QueryError, parse_query, read_query
from dispatcher.query import fields as query_fields
from dispatcher.query.grammar import MAX_DEPTH, MAX_PATTERNS, MAX_QUERY_CHARS, MAX_TERMS
from dispatcher.query.times import parse_time, rtime

CATALOG = Catalog(
    templates={"maya": "maya", "nuke": "nuke", "6": "maya", "7": "nuke", "houdini": "houdini"},
    pools={"3": "gpu", "0b5f0000-0000-4000-8000-000000000003": "gpu"},
    data_names={"mayafile": "job_file", "job_file": "job_file", "camera": "camera"},
)
U1 = "a29f0cb2-11e1-42a9-9b72-6c5f5be5f671"
U2 = "178b043e-4a28-4235-acbc-642c7480c360"


def job(job_id: int = 1, **fields: Any) -> Job:
    spec = {"title": f"job {job_id}", **fields}
    return build_job(parse_spec(spec), job_id, job_id, spec.pop("user", "ann"))


def hits(query: Any, *jobs: Job) -> list[int]:
    checked = parse_query(query, CATALOG)
    return [item.id for item in jobs if checked.matches(item)]


def error(query: Any) -> str:
    with pytest.raises(QueryError) as caught:
        parse_query(query, CATALOG)
    assert caught.value.field == "where"
    return str(caught.value)


# -- the seed's examples -------------------------------------------------------------
def seed_jobs() -> list[Job]:
    """Jobs that each answer one branch of the seed's complicated query, or none."""
    return [
        job(1, template="houdini", data={"job_file": "/s/a.hip"}),  # neither Maya nor Nuke
        job(2, template="maya", title="Cleanup 12345", priority=90,  # the name pattern
            data={"job_file": "/shots/Final/a.mb"}),
        job(3, template="maya", priority=40, data={"job_file": "/shots/wip/a.mb"}),  # note ""
        job(4, template="maya", priority=40, data={"job_file": "/shots/Final/a.mb"}),  # Final
        job(5, template="maya", priority=60, data={"job_file": "/shots/wip/a.mb"}),  # priority
        job(6, template="nuke", priority=40, notes="hi", data={"job_file": "/c/wip/a.nk"}),
        job(7, template="nuke", title="Cleanup 1234", priority=40, notes="hi",
            data={"job_file": "/c/wip/a.nk"}),
    ]  # fmt: skip


SEED_QUERY = [
    "any",
    [["Type", "!=", "Maya"], ["Type", "!=", "Nuke"]],
    ["Name", "*", r"^Cleanup \d{5}"],
    [
        ["Scene.Path.File", "!:", "Final"],
        ["Priority", "<", 50],
        ["?", ["Note", "=", ""], ["LastError", "!=", ""]],
    ],
]


def test_the_seeds_complicated_query() -> None:
    jobs = seed_jobs()
    assert hits(SEED_QUERY, *jobs) == [1, 2, 3]
    failed = jobs[5]
    failed.set_chunk(0, CHUNK_FAILED)
    failed.failed_reason = "chunk 0 failed 3 times"
    assert hits(SEED_QUERY, *jobs) == [1, 2, 3, 6]


def test_the_seeds_simple_queries() -> None:
    joe, ann = job(1, user="Joe Smith", uuid=U1), job(2, user="ann", uuid=U2)
    assert hits(["Creator", "contains", "Joe"], joe, ann) == [1]
    assert hits(["Creator", "contains", "joe"], joe, ann) == [1]  # case-insensitive
    assert hits(U1, joe, ann) == [1]
    assert hits(U1.upper(), joe, ann) == [1]
    assert hits(["any", U1, U2], joe, ann) == [1, 2]
    assert hits(["any", ["ID", "=", U1], ["ID", "=", U2]], joe, ann) == [1, 2]
    ann.time_submitted = time.time() - 4 * 86400
    three_days_ago = str(rtime(time.time() - 3 * 86400))
    assert hits(["Created", "before", three_days_ago], joe, ann) == [2]
    assert hits(["Created", "after", int(three_days_ago)], joe, ann) == [1]
    assert hits([], joe, ann) == [1, 2]


# -- structure ----------------------------------------------------------------------------
def test_lists_mean_all_and_any_or_question_mark_means_any() -> None:
    low, high = job(1, priority=10, notes="x"), job(2, priority=90)
    assert hits([["Priority", "<", 50], ["Note", "=", "x"]], low, high) == [1]
    assert hits(["all", ["Priority", ">", 5], ["Note", "=", ""]], low, high) == [2]
    assert hits(["?", ["Priority", "<", 50], ["Note", "=", ""]], low, high) == [1, 2]
    assert hits(["ANY", ["Priority", ">", 95]], low, high) == []
    assert hits([["any", ["ID", "=", 1], ["ID", "=", 2]], ["Priority", ">", 50]], low, high) == [2]
    assert hits([1], low, high) == [1] and hits("2", low, high) == [2] and hits(2, low, high) == [2]


def test_names_ignore_case_and_corral_names_work_too() -> None:
    item = job(1, title="Shot 10", priority=70, notes="n", pools=["gpu", "cpu"], tags=["hero"])
    for query in (["name", "=", "shot 10"], ["TITLE", "=", "Shot 10"], ["priority", "=", 70],
                  ["PRIORITY", "=", "70"], ["owner", "=", "ANN"], ["user", ":", "n"],
                  ["state", "=", "queued"], ["Status", "=", "waiting"], ["pools", "=", "GPU"],
                  ["Pool", "=", 3], ["Pool", "=", "0B5F0000-0000-4000-8000-000000000003"],
                  ["tags", "contains", "her"], ["notes", "=", "N"], ["Paused", "=", False],
                  ["hidden", "=", "no"], ["Range", "=", "1"], ["uuid", "=", item.uuid.upper()],
                  ["ID", "=", item.uuid], ["ID", "=", "1"], ["Type", "=", "cmdline"]):  # fmt: skip
        assert hits(query, item) == [1], query


def test_type_takes_a_templates_name_or_id_and_status_smedges_words() -> None:
    maya, nuke = job(1, template="maya"), job(2, template="nuke")
    assert hits(["Type", "=", "Maya"], maya, nuke) == [1]
    assert hits(["Type", "=", 7], maya, nuke) == [2]
    assert hits(["template", "!=", "MAYA"], maya, nuke) == [2]
    paused = job(3, paused=True)
    assert hits(["Status", "=", -1], maya, paused) == [3]
    assert hits(["Status", "!=", "paused"], maya, paused) == [1]
    # The numbers the smedge package shows as Status: -1 paused, 0 queued ... 3 failed.
    assert hits(["Status", "=", 0], maya, paused) == [1]
    assert hits(["Status", "=", "2"], maya, paused) == []
    assert "no job state" in error(["Status", "=", "sleeping"])
    assert "no job state" in error(["Status", "=", 4])


def test_data_fields_by_item_attribute_or_data_key() -> None:
    scene = job(1, data={"job_file": "/p/a.mb", "camera": "cam1", "frames_per": 5,
                         "layers": ["l1", "l2"]})  # fmt: skip
    other = job(2, data={"job_file": "/p/b.mb"})
    assert hits(["MAYAFILE", "=", "/p/a.mb"], scene, other) == [1]
    assert hits(["job_file", "*", r"b\.mb$"], scene, other) == [2]
    assert hits(["Scene", ":", "A.MB"], scene, other) == [1]
    assert hits(["camera", "=", "CAM1"], scene, other) == [1]
    assert hits(["Data.frames_per", ">", 4], scene, other) == [1]
    assert hits(["data.frames_per", "=", "5"], scene, other) == [1]
    assert hits(["Data.layers", "=", "l2"], scene, other) == [1]
    assert hits(["Data.layers", "!=", "l2"], scene, other) == [2]
    assert hits(["Data.missing", "=", ""], scene, other) == [1, 2]


def test_dotted_parts_follow_smedges_substitutions() -> None:
    item = job(1, data={"job_file": "/shots/sq01/Final/light.v2.mb"})
    expected = {
        "Scene": "/shots/sq01/Final/light.v2.mb",
        "Scene.Path": "/shots/sq01/Final",
        "Scene.Path.File": "Final",
        "Scene.path.path.file": "sq01",
        "Scene.File": "light.v2.mb",
        "Scene.Name": "light.v2",
        "Scene.Extension": "mb",
        "Scene.Ext.Upper": "MB",
        "Scene.Enquote": '"/shots/sq01/Final/light.v2.mb"',
        "Scene.Windows": "\\shots\\sq01\\Final\\light.v2.mb",
        "Priority.Enquote": '"50"',
    }
    for name, value in expected.items():
        assert hits([name, "=", value], item) == [1], name
    windows = job(2, data={"job_file": "C:\\shots\\Final\\a.mb"})
    assert hits(["Scene.Path.File", "=", "final"], windows) == [2]
    assert hits(["Scene.Unix", "=", "c:/shots/final/a.mb"], windows) == [2]
    assert hits(["Pool.Upper", "=", "GPU"], job(3, pools=["gpu"])) == [3]


@pytest.mark.parametrize(
    ("path", "folder", "file", "stem", "extension"),
    [
        ("/a/b/c.mb", "/a/b", "c.mb", "c", "mb"),
        ("c.mb", "", "c.mb", "c", "mb"),
        ("/c", "/", "c", "c", ""),
        ("/a/b/", "/a", "b", "b", ""),
        ("/a/.hidden", "/a", ".hidden", ".hidden", ""),
        ("/", "/", "", "", ""),
        ("", "", "", "", ""),
    ],
)
def test_path_parts(path: str, folder: str, file: str, stem: str, extension: str) -> None:
    assert query_fields.folder_of(path) == folder
    assert query_fields.file_of(path) == file
    assert query_fields.stem_of(path) == stem
    assert query_fields.extension_of(path) == extension


def test_operators_on_text_numbers_lists_and_missing_times() -> None:
    a, b = job(1, title="alpha", priority=10), job(2, title="Beta", priority=20)
    assert hits(["Name", "<", "b"], a, b) == [1]
    assert hits(["Name", ">", "ALPHA"], a, b) == [2]
    assert hits(["Name", "!:", "ET"], a, b) == [1]
    assert hits(["Name", "*", "(?-i)^b"], a, b) == []
    assert hits(["Name", "*", "^b"], a, b) == [2]
    assert hits(["Priority", ">", 10.5], a, b) == [2]
    assert hits(["Priority", "!=", " 10 "], a, b) == [2]
    assert hits(["Started", "!=", "2026-01-01"], a, b) == [1, 2]
    assert hits(["Started", "before", "2999-01-01"], a, b) == []
    b.time_started = parse_time("2026-06-01T00:00:00Z")
    assert hits(["Started", "after", "2026-05-31 23:59:59.5"], a, b) == [2]
    assert hits(["Started", "=", "2026-06-01T02:00:00+02:00"], a, b) == [2]
    assert hits(["Started.Lower", ":", "2026-06-01t00"], a, b) == [2]


def test_times_read_rtimes_and_iso_8601() -> None:
    moment = parse_time("2026-12-07T10:30:00Z")
    assert moment == 1796639400.0
    assert parse_time("1796639400000000") == moment == parse_time(1796639400000000)
    assert parse_time("2026-12-07 10:30:00") == moment
    assert parse_time("2026-12-07 11:30:00.000+01:00") == moment
    assert parse_time("2026-12-07") == moment - 10.5 * 3600
    for bad in ("soon", "", "2026-13-01", True, None, 1.5, "1" * 19, "²"):
        assert parse_time(bad) is None, bad


# -- what is refused ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("query", "words"),
    [
        (["Prioirty", "<", 5], "did you mean Priority"),
        (["Bogus", "=", 1], "unknown name 'Bogus'"),
        (["Priority", "~", 5], "unknown operator '~'"),
        (["Priority", None, 5], "unknown operator"),
        (["Priority", "contains", 5], "Priority is a number"),
        (["Name", "before", "2026-01-01"], "Name is a text"),
        (["Pool", "<", "a"], "Pool is a list of text"),
        (["Paused", ">", True], "Paused is a true or false"),
        (["Created", "*", "x"], "Created is a time"),
        (["Priority", "<", "soon"], "'soon' is no number"),
        (["Priority", "<", True], "not true or false"),
        (["Priority", "<", 10**400], "too large"),
        (["Priority", "<", "1e999"], "no finite number"),
        (["Paused", "=", "maybe"], "not true or false"),
        (["Created", "before", "last week"], "is no time"),
        (["Name", "=", None], "null"),
        (["Name", "=", ["x"]], "a list"),
        (["Name", "=", {"x": 1}], "an object"),
        (["Name", "=", float("nan")], "nan"),
        (["Name", "="], "a term is [NAME, OP, VALUE]"),
        (["Name", "=", "a", "b"], "has 4 items"),
        (["Scene.Folderish", "=", "x"], "unknown part .Folderish"),
        (["Data", "=", "x"], "Data needs a key"),
        (["Name", "*", r"(\w+)\1"], "invalid escape sequence"),
        (["Name", "*", "(?=x)"], "invalid perl operator"),
        (["Name", "*", "x" * 2000], "at most 1024"),
        (["Name", "*", "((a{100}){100}){100}"], "repetition"),
        (["Name", "*", "\ud800"], "lone surrogate"),
        (["Name", "*", "(?s).{1000}c"], "instructions; at most 2000"),
        (["Name", "=", "x" * 2000], "at most 1024"),
        ("nonsense", "'nonsense' is no job id"),
        ("any", "starts a list"),
        (["any"], "needs at least one query"),
        ({"Name": "x"}, "an object is no query"),
        (None, "null is no query"),
        (True, "true or false is no query"),
        (1.5, "the number 1.5 is no query"),
        ([["Name", "=", "x"], ["Nmae", "=", "y"]], "where[1]"),
        (["any", ["Name", "=", "x"], [["Name", "=", "y"], ["Bad", "=", 1]]], "where[2][1]"),
    ],
)
def test_malformed_queries_name_the_problem(query: Any, words: str) -> None:
    assert words in error(query)


def test_size_limits() -> None:
    deep: Any = ["Name", "=", "x"]
    for _ in range(MAX_DEPTH):
        deep = [deep]
    assert f"deeper than {MAX_DEPTH}" in error(deep)
    many = [["Priority", ">", n] for n in range(MAX_TERMS + 1)]
    assert f"more than {MAX_TERMS} terms" in error(many)
    assert parse_query(many[:MAX_TERMS]).terms == MAX_TERMS
    patterns = [["Name", "*", f"x{n}"] for n in range(MAX_PATTERNS + 1)]
    assert f"more than {MAX_PATTERNS} regular expressions" in error(patterns)
    parse_query(patterns[:MAX_PATTERNS])
    with pytest.raises(QueryError, match="at most 4,096"):
        read_query(json.dumps(["Name", "=", "x" * MAX_QUERY_CHARS]))
    with pytest.raises(QueryError, match="not JSON"):
        read_query('["Name", "=", ')
    with pytest.raises(QueryError, match="nest deeper"):
        read_query("[" * 2000 + "]" * 2000)  # deeper than json's own recursion
    assert read_query('["Name", "=", "x"]').matches(job(1, title="X"))


def test_a_catastrophic_pattern_is_quick_on_a_long_text() -> None:
    victim = job(1)
    victim.notes = "a" * 200_000 + "!"  # longer than a submit allows
    started = time.monotonic()
    assert hits(["Note", "*", "(a+)+$"], victim) == []
    assert hits(["Note", "*", "(a|aa)*b"], victim) == []
    assert hits(["Note", "*", "(a+)+!$"], victim) == [1]
    assert time.monotonic() - started < 1.0


# -- never anything but QueryError ---------------------------------------------------------
NAMES = st.sampled_from(["Name", "priority", "Created", "Pool", "Paused", "Scene.Path.File",
                         "Data.x", "ID", "Status", "Type", "Bogus", "Range", "camera", ""])  # fmt: skip
OPS = st.sampled_from(["=", "!=", "<", ">", "contains", ":", "!:", "*", "before", "after", "?"])
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=20)
    | st.sampled_from(
        [
            U1,
            "12",
            "any",
            "?",
            "all",
            "1796639400000000",
            "2026-01-01",
            "(a+)+$",
            10**400,
            -(10**30),
            "1e999",
            "-1",
            "\ud800",
        ]
    )
)
TERMS = st.tuples(NAMES, OPS, SCALARS).map(list)
QUERIES = st.recursive(
    SCALARS | TERMS,
    lambda inner: (
        st.lists(inner, max_size=5)
        | st.tuples(st.sampled_from(["any", "?", "all"]), inner, inner).map(list)
        | st.dictionaries(st.text(max_size=5), inner, max_size=2)
    ),
    max_leaves=30,
)
JOBS = [
    job(1, data={"x": [1, "a", None], "job_file": "C:\\a\\b.mb"}, pools=["gpu"]),
    job(2, data={"x": {"k": 1.5}}, notes="n", paused=True),
    job(3, data={"x": 7}, frames="1.5-3", by=Decimal("0.5")),
]
JOBS[1].time_started = 0.0


@settings(max_examples=400, deadline=None)
@given(QUERIES)
def test_any_json_is_a_query_or_a_query_error(value: Any) -> None:
    try:
        checked = parse_query(value, CATALOG)
    except QueryError:
        return
    for item in JOBS:
        assert checked.matches(item) in (True, False)
