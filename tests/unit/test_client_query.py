"""corral_client.query: the shorthand FIELD OP VALUE, JSON queries, combining them, and
rtimes; what it makes, the dispatcher's grammar takes."""

from __future__ import annotations

import datetime

import pytest

from corral_client import query
from dispatcher.query import parse_query, parse_time, read_query


@pytest.mark.parametrize(
    ("text", "term"),
    [
        ("Priority<50", ["Priority", "<", "50"]),
        ("Priority < 50", ["Priority", "<", "50"]),
        ("Creator contains joe", ["Creator", "contains", "joe"]),
        ("Creator CONTAINS Joe Smith", ["Creator", "contains", "Joe Smith"]),
        ("Scene.Path.File !: Final", ["Scene.Path.File", "!:", "Final"]),
        ("Name * ^Cleanup \\d{5}", ["Name", "*", "^Cleanup \\d{5}"]),
        ("Note = ''", ["Note", "=", ""]),
        ('Note="two  spaces "', ["Note", "=", "two  spaces "]),
        ("Note=", ["Note", "=", ""]),
        ("LastError!=", ["LastError", "!=", ""]),
        ("Pool:gpu", ["Pool", ":", "gpu"]),
        ("Created before 2026-12-01T00:00:00Z", ["Created", "before", "2026-12-01T00:00:00Z"]),
        ("Created after 1796639400000000", ["Created", "after", "1796639400000000"]),
        ("Status = -1", ["Status", "=", "-1"]),
        ("  Name = a = b ", ["Name", "=", "a = b"]),
        ("Data.job_file.Path * shots", ["Data.job_file.Path", "*", "shots"]),
    ],
)
def test_a_shorthand_term(text: str, term: list[str]) -> None:
    assert query.parse_term(text) == term
    assert query.parse_where(text) == term
    parse_query(term)  # the dispatcher takes it


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("", "empty query"),
        ("   ", "empty query"),
        ("Priority", "no operator after 'Priority'"),
        ("Priority 50", "no operator"),
        ("Creatorcontains joe", "no operator"),
        ("<50", "does not start with a field name"),
        ("1abc = 2", "does not start with a field name"),
        ("Name ~ x", "no operator"),
        ("[1, 2", "not JSON"),
        ('{"a": 1}', "does not start with a field name"),
        ("Name=" + "x" * 5_000, "at most 4096"),
    ],
)
def test_bad_shorthand_is_a_query_error(text: str, words: str) -> None:
    with pytest.raises(query.QueryError, match=words.replace("(", r"\(")):
        query.parse_where(text)


def test_json_is_taken_as_it_is_and_combined_terms_all_hold() -> None:
    seed = '["any", [["Type", "!=", "Maya"]], ["Name", "*", "^C"]]'
    assert query.parse_where(seed) == ["any", [["Type", "!=", "Maya"]], ["Name", "*", "^C"]]
    assert query.parse_where('"a29f0cb2-11e1-42a9-9b72-6c5f5be5f671"') == (
        "a29f0cb2-11e1-42a9-9b72-6c5f5be5f671"
    )
    with pytest.raises(query.QueryError, match="no query to combine"):
        query.combine([])
    one = query.parse_term("Priority<50")
    assert query.combine([one]) == one
    both = query.combine([one, query.parse_where('["Name", ":", "x"]')])
    assert both == [["Priority", "<", "50"], ["Name", ":", "x"]]
    text = query.to_json(both)
    assert text == '[["Priority","<","50"],["Name",":","x"]]'
    read_query(text)
    uuid_and_term = query.combine(["a29f0cb2-11e1-42a9-9b72-6c5f5be5f671", one])
    read_query(query.to_json(uuid_and_term))


def test_rtimes_round_trip_and_agree_with_the_dispatcher() -> None:
    moment = datetime.datetime(2026, 12, 7, 10, 30, 0, 250, tzinfo=datetime.timezone.utc)  # noqa: UP017
    text = query.rtime_from_datetime(moment)
    assert text == "1796639400000250"
    assert query.datetime_from_rtime(text) == moment
    assert parse_time(text) == moment.timestamp()
    local = datetime.datetime(2026, 12, 7, 10, 30)
    assert int(query.rtime_from_datetime(local)) == round(local.timestamp() * 1_000_000)
    for bad in ("soon", "1.5", "--1", "1" * 19, "²"):
        with pytest.raises(query.QueryError):
            query.datetime_from_rtime(bad)
