"""Smedge's query grammar, read into a test of a job.

A query is JSON made of lists and strings:

- a term `[NAME, OP, VALUE]`: NAME a field (fields.py, case-insensitive, with dotted
  parts), OP one of `=`, `!=`, `<`, `>`, `contains` or `:`, `!:` (does not contain),
  `*` (regular expression search), `before`, `after`;
- a list of queries: all of them hold (`[]` holds for every job; a leading `"all"` may
  say so);
- a list whose first element is `"any"` or `"?"`: at least one of the rest holds;
- a string that is a UUID or a number (or a JSON integer): the job with that UUID or id.

Lists nest freely, up to MAX_DEPTH; a query holds at most MAX_TERMS terms and ids, of
them at most MAX_PATTERNS regular expressions.
Every problem is a QueryError (400) that says where: `where[2][0]` is the first item
of the third one.
"""

from __future__ import annotations

import difflib
import json
import math
import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from dispatcher.errors import ValidationError
from dispatcher.model import Job, parse_id, parse_uuid
from dispatcher.query import fields, regex, times
from dispatcher.query.fields import Catalog, Field, Kind

MAX_QUERY_CHARS = 16_384
MAX_DEPTH = 16
MAX_TERMS = 256
MAX_PATTERNS = 16
"""Regular expression terms in one query: each job is tested whole, so this bounds how
long the loop spends on one job."""
MAX_VALUE_CHARS = 4_096
MAX_NAME_CHARS = 255

Test = Callable[[Job], bool]

OPERATORS = ("=", "!=", "<", ">", "contains", ":", "!:", "*", "before", "after")
_ALLOWED = {
    Kind.TEXT: ("=", "!=", "<", ">", "contains", ":", "!:", "*"),
    Kind.LIST: ("=", "!=", "contains", ":", "!:", "*"),
    Kind.NUMBER: ("=", "!=", "<", ">"),
    Kind.TIME: ("=", "!=", "<", ">", "before", "after"),
    Kind.FLAG: ("=", "!="),
    Kind.DATA: OPERATORS,
}
_FLAGS = {"true": True, "yes": True, "1": True, "on": True,
          "false": False, "no": False, "0": False, "off": False}  # fmt: skip


class QueryError(ValidationError):
    """A query that breaks the grammar; the message names where and why (field `where`)."""

    def __init__(self, message: str) -> None:
        super().__init__(f"where: {message}", field="where")


@dataclass(frozen=True, slots=True)
class Query:
    """A checked query: `matches(job)` never raises for any job."""

    test: Test
    terms: int

    def matches(self, job: Job) -> bool:
        return self.test(job)


def parse_query(value: Any, catalog: Catalog | None = None) -> Query:
    """Check a decoded query and build its test; QueryError says what is wrong and where."""
    reader = _Reader(catalog or Catalog())
    test = reader.node(value, "", 0)
    return Query(test, reader.terms)


def read_query(text: str, catalog: Catalog | None = None) -> Query:
    """A query given as JSON text (at most MAX_QUERY_CHARS), checked and built."""
    if len(text) > MAX_QUERY_CHARS:
        raise QueryError(f"the query is {len(text):,} characters; at most {MAX_QUERY_CHARS:,}")
    try:
        value = json.loads(text)
    except RecursionError:
        raise QueryError(f"lists nest deeper than {MAX_DEPTH}") from None
    except json.JSONDecodeError as exc:
        raise QueryError(
            f"not JSON ({exc.msg} at character {exc.pos}); a query is JSON such as "
            '["Priority", "<", 50]'
        ) from None
    except ValueError:  # an integer of more digits than Python reads
        raise QueryError("a number of too many digits") from None
    return parse_query(value, catalog)


def _always(job: Job) -> bool:
    return True


class _Reader:
    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self.terms = 0
        self.patterns = 0

    def count(self, where: str) -> None:
        self.terms += 1
        if self.terms > MAX_TERMS:
            raise QueryError(f"more than {MAX_TERMS} terms and ids (at {_at(where)})")

    def node(self, value: Any, where: str, depth: int) -> Test:
        if isinstance(value, str | int) and not isinstance(value, bool):
            self.count(where)
            return _id_test(value, where)
        if not isinstance(value, list):
            raise QueryError(
                f"{_at(where)}: {_kind(value)} is no query; a query is a term "
                "[NAME, OP, VALUE], a list of queries, or a job id"
            )
        if depth >= MAX_DEPTH:
            raise QueryError(f"{_at(where)}: lists nest deeper than {MAX_DEPTH}")
        head = value[0] if value else None
        word = head.strip().casefold() if isinstance(head, str) else None
        if word in ("any", "?"):
            if len(value) < 2:
                raise QueryError(f"{_at(where)}: {head!r} needs at least one query after it")
            tests = self.items(value, where, depth, 1)
            return lambda job: any(test(job) for test in tests)
        if word == "all":
            tests = self.items(value, where, depth, 1)
        elif isinstance(head, str) and not _is_id(head):
            self.count(where)
            return self.term(value, where)
        else:
            tests = self.items(value, where, depth, 0)
        if not tests:
            return _always
        if len(tests) == 1:
            return tests[0]
        return lambda job: all(test(job) for test in tests)

    def items(self, value: list[Any], where: str, depth: int, first: int) -> list[Test]:
        return [
            self.node(item, f"{where}[{index}]", depth + 1)
            for index, item in enumerate(value)
            if index >= first
        ]

    def term(self, value: list[Any], where: str) -> Test:
        if len(value) != 3:
            raise QueryError(
                f"{_at(where)}: a term is [NAME, OP, VALUE]; this list starts with the name "
                f"{_short(value[0])} and has {len(value)} items"
            )
        name, op, given = value
        if not isinstance(op, str) or op.strip().casefold() not in OPERATORS:
            raise QueryError(
                f"{_at(where)}: unknown operator {_short(op)} in the term on {_short(name)}; "
                f"one of {' '.join(OPERATORS)}"
            )
        op = op.strip().casefold()
        entry, parts = self.field(name, where)
        kind = entry.kind
        if parts and kind is not Kind.LIST:
            kind = Kind.TEXT
        if op not in _ALLOWED[kind]:
            raise QueryError(
                f"{_at(where)}: {entry.name} is {_article(kind)}: it takes "
                f"{' '.join(_ALLOWED[kind])}, not {op}"
            )
        if not isinstance(given, str | int | float) or (
            isinstance(given, float) and not math.isfinite(given)
        ):
            raise QueryError(
                f"{_at(where)}: the value of the term on {entry.name} is {_kind(given)}; "
                "give text, a number, true or false"
            )
        if isinstance(given, str) and len(given) > MAX_VALUE_CHARS:
            raise QueryError(
                f"{_at(where)}: the value is {len(given)} characters; at most {MAX_VALUE_CHARS}"
            )
        if op == "*":
            self.patterns += 1
            if self.patterns > MAX_PATTERNS:
                raise QueryError(
                    f"{_at(where)}: more than {MAX_PATTERNS} regular expressions in one query"
                )
        read = _reader(entry, parts)
        try:
            return _TESTS[kind](read, op, given, entry, self.catalog)
        except (ValueError, regex.PatternError) as exc:
            raise QueryError(f"{_at(where)}: {entry.name} {op}: {exc}") from None

    def field(self, name: Any, where: str) -> tuple[Field, list[Callable[[str], str]]]:
        if not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME_CHARS:
            raise QueryError(f"{_at(where)}: {_short(name)} is no field name")
        segments = name.strip().split(".")
        head = segments[0].strip().casefold()
        rest = segments[1:]
        if head == "data":
            if not rest or not rest[0]:
                raise QueryError(f"{_at(where)}: Data needs a key: Data.KEY")
            entry = fields.data_field(rest[0])
            rest = rest[1:]
        elif head in fields.FIELDS:
            entry = fields.FIELDS[head]
        elif head in self.catalog.data_names:
            entry = fields.data_field(self.catalog.data_names[head])
        else:
            raise QueryError(f"{_at(where)}: unknown name {_short(segments[0])}{_hint(head)}")
        parts = []
        for segment in rest:
            part = fields.PARTS.get(segment.strip().casefold())
            if part is None:
                raise QueryError(
                    f"{_at(where)}: {name[:80]!r}: unknown part .{segment[:40]}; parts are "
                    f"{', '.join('.' + part for part in fields.PART_NAMES)}"
                )
            parts.append(part)
        return entry, parts


# -- ids ---------------------------------------------------------------------------------
def _is_id(text: str) -> bool:
    return parse_uuid(text) is not None or parse_id(text.strip()) is not None


def _id_test(value: str | int, where: str) -> Test:
    if isinstance(value, int):
        return lambda job: job.id == value
    canonical = parse_uuid(value)
    if canonical is not None:
        return lambda job: job.uuid == canonical
    number = parse_id(value.strip())
    if number is not None:
        return lambda job: job.id == number
    if value.strip().casefold() in ("any", "?", "all"):
        raise QueryError(f"{_at(where)}: {value!r} starts a list: [{value!r}, QUERY, ...]")
    raise QueryError(
        f"{_at(where)}: {_short(value)} is no job id (a UUID or a number); a term is "
        "[NAME, OP, VALUE]"
    )


# -- reading values -----------------------------------------------------------------------
Read = Callable[[Job], Any]


def _reader(entry: Field, parts: list[Callable[[str], str]]) -> Read:
    """Read the field, then apply the dotted parts to its text (each element of a list)."""
    get = entry.get
    if not parts:
        return get
    if entry.kind is Kind.TIME:

        def text(job: Job) -> Any:
            return fields.time_text(get(job))
    else:

        def text(job: Job) -> Any:
            return get(job)

    def parted(value: str) -> str:
        for part in parts:
            value = part(value)
        return value

    if entry.kind is Kind.LIST:
        return lambda job: [parted(fields.text_of(item)) for item in text(job)]
    return lambda job: parted(fields.text_of(text(job)))


def _resolved(entry: Field, op: str, given: Any, catalog: Catalog) -> str:
    value = fields.text_of(given)
    if entry.resolve is not None and op in ("=", "!="):
        value = entry.resolve(value, catalog)
    return value


def _number(given: Any) -> float:
    if isinstance(given, bool):
        raise ValueError("give a number, not true or false")
    if isinstance(given, int | float):
        return float(given)
    try:
        number = float(given.strip())
    except ValueError:
        raise ValueError(f"{given[:64]!r} is no number") from None
    if not math.isfinite(number):
        raise ValueError(f"{given[:64]!r} is no finite number")
    return number


_ORDER = {"<": operator.lt, ">": operator.gt, "before": operator.lt, "after": operator.gt}


def _text_test(read: Read, op: str, given: Any, entry: Field, catalog: Catalog) -> Test:
    if op == "*":
        search = regex.compile_search(fields.text_of(given))
        return lambda job: search(read(job))
    target = _resolved(entry, op, given, catalog).casefold()
    if op == "=":
        return lambda job: read(job).casefold() == target
    if op == "!=":
        return lambda job: read(job).casefold() != target
    if op in ("contains", ":"):
        return lambda job: target in read(job).casefold()
    if op == "!:":
        return lambda job: target not in read(job).casefold()
    compare = _ORDER[op]
    return lambda job: compare(read(job).casefold(), target)


def _list_test(read: Read, op: str, given: Any, entry: Field, catalog: Catalog) -> Test:
    if op == "*":
        search = regex.compile_search(fields.text_of(given))
        return lambda job: any(search(item) for item in read(job))
    target = _resolved(entry, op, given, catalog).casefold()
    if op == "=":
        return lambda job: any(item.casefold() == target for item in read(job))
    if op == "!=":
        return lambda job: all(item.casefold() != target for item in read(job))
    if op in ("contains", ":"):
        return lambda job: any(target in item.casefold() for item in read(job))
    return lambda job: all(target not in item.casefold() for item in read(job))  # !:


def _number_test(read: Read, op: str, given: Any, entry: Field, catalog: Catalog) -> Test:
    target = _number(given)
    if op == "=":
        return lambda job: read(job) == target
    if op == "!=":
        return lambda job: read(job) != target
    compare = _ORDER[op]
    return lambda job: compare(read(job), target)


def _time_test(read: Read, op: str, given: Any, entry: Field, catalog: Catalog) -> Test:
    seconds = times.parse_time(given)
    if seconds is None:
        raise ValueError(
            f"{fields.text_of(given)[:64]!r} is no time; give an rtime (microseconds since "
            "1970-01-01 UTC, as digits) or ISO 8601 (2026-12-07T10:30:00Z; no offset: UTC)"
        )
    target = times.rtime(seconds)
    if op == "=":
        return lambda job: (value := read(job)) is not None and times.rtime(value) == target
    if op == "!=":
        return lambda job: (value := read(job)) is None or times.rtime(value) != target
    compare = _ORDER[op]
    return lambda job: (value := read(job)) is not None and compare(times.rtime(value), target)


def _flag_test(read: Read, op: str, given: Any, entry: Field, catalog: Catalog) -> Test:
    flag = _FLAGS.get(fields.text_of(given).strip().casefold())
    if flag is None:
        raise ValueError(f"{fields.text_of(given)[:64]!r} is not true or false")
    if op == "=":
        return lambda job: bool(read(job)) is flag
    return lambda job: bool(read(job)) is not flag


def _data_test(read: Read, op: str, given: Any, entry: Field, catalog: Catalog) -> Test:
    """A template field holds what the job gave: numbers compare as numbers when both are
    numbers, lists element by element, times when both read as times, the rest as text."""
    as_text = _text_test(lambda job: fields.text_of(read(job)), op, given, entry, catalog)
    as_list = (
        _list_test(
            lambda job: [fields.text_of(item) for item in read(job)], op, given, entry, catalog
        )
        if op not in ("<", ">", "before", "after")
        else None
    )
    number: float | None
    try:
        number = _number(given) if op in ("=", "!=", "<", ">") else None
    except ValueError:
        number = None
    seconds = times.parse_time(given) if op in ("before", "after") else None
    if op in ("before", "after") and seconds is None:
        raise ValueError(f"{fields.text_of(given)[:64]!r} is no time (an rtime or ISO 8601)")
    compare = _ORDER.get(op)

    def test(job: Job) -> bool:
        value = read(job)
        if seconds is not None and compare is not None:
            moment = times.parse_time(value) if isinstance(value, str | int) else None
            return moment is not None and compare(moment, seconds)
        if isinstance(value, list):
            return as_list(job) if as_list is not None else False
        if number is not None and isinstance(value, int | float) and not isinstance(value, bool):
            if op == "=":
                return value == number
            if op == "!=":
                return value != number
            assert compare is not None
            return bool(compare(value, number))
        return as_text(job)

    return test


_TESTS: dict[Kind, Callable[[Read, str, Any, Field, Catalog], Test]] = {
    Kind.TEXT: _text_test,
    Kind.LIST: _list_test,
    Kind.NUMBER: _number_test,
    Kind.TIME: _time_test,
    Kind.FLAG: _flag_test,
    Kind.DATA: _data_test,
}


# -- messages ----------------------------------------------------------------------------
def _at(where: str) -> str:
    return f"where{where}" if where else "the query"


def _short(value: Any) -> str:
    text = repr(value) if isinstance(value, str) else fields.text_of(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, float):
        return f"the number {value!r}"
    return _short(value)


def _article(kind: Kind) -> str:
    text = kind.value
    return ("an " if text[0] in "aeiou" else "a ") + text


def _hint(name: str) -> str:
    close = difflib.get_close_matches(name, list(fields.FIELDS), n=1, cutoff=0.75)
    if close:
        return f" (did you mean {fields.FIELDS[close[0]].name}?)"
    return f"; names are {', '.join(fields.NAMES)}, Data.KEY and template fields"
