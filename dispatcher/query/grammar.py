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
of the third one. A built Query reads the values its terms need from a job (`read`, on
the loop) and checks them (`check`, anywhere: see checks.py).
"""

from __future__ import annotations

import difflib
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from dispatcher.errors import ValidationError
from dispatcher.model import Job, parse_id, parse_uuid
from dispatcher.query import checks, fields, regex
from dispatcher.query.fields import Catalog, Field, Kind

MAX_QUERY_CHARS = 4_096
MAX_DEPTH = 16
MAX_TERMS = 256
MAX_PATTERNS = 16
MAX_VALUE_CHARS = 1_024
MAX_NAME_CHARS = 255

Row = Sequence[Any]
Node = Callable[[Row], bool]

OPERATORS = ("=", "!=", "<", ">", "contains", ":", "!:", "*", "before", "after")
_ALLOWED = {
    Kind.TEXT: ("=", "!=", "<", ">", "contains", ":", "!:", "*"),
    Kind.LIST: ("=", "!=", "contains", ":", "!:", "*"),
    Kind.NUMBER: ("=", "!=", "<", ">"),
    Kind.TIME: ("=", "!=", "<", ">", "before", "after"),
    Kind.FLAG: ("=", "!="),
    Kind.DATA: OPERATORS,
}


class QueryError(ValidationError):
    """A query that breaks the grammar; the message names where and why (field `where`)."""

    def __init__(self, message: str) -> None:
        super().__init__(f"where: {message}", field="where")


@dataclass(frozen=True, slots=True)
class Query:
    """A checked query. `read(job)` takes the values its terms test from a job (cheap;
    on the loop); `check(row)` tests them (regular expressions and all; touches no job);
    `matches(job)` does both. None of them raises for any job."""

    reads: tuple[checks.Read, ...]
    test: Node
    terms: int
    patterns: int = 0

    def read(self, job: Job) -> tuple[Any, ...]:
        return tuple(read(job) for read in self.reads)

    def check(self, row: Row) -> bool:
        return self.test(row)

    def matches(self, job: Job) -> bool:
        return self.test(self.read(job))


def parse_query(value: Any, catalog: Catalog | None = None) -> Query:
    """Check a decoded query and build it; QueryError says what is wrong and where."""
    reader = _Reader(catalog or Catalog())
    test = reader.node(value, "", 0)
    return Query(tuple(reader.reads), test, reader.terms, reader.patterns)


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
    return parse_query(value, catalog)


def _always(row: Row) -> bool:
    return True


def _job_id(job: Job) -> int:
    return job.id


def _job_uuid(job: Job) -> str:
    return job.uuid


class _Reader:
    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self.terms = 0
        self.patterns = 0
        self.reads: list[checks.Read] = []

    def count(self, where: str) -> None:
        self.terms += 1
        if self.terms > MAX_TERMS:
            raise QueryError(f"more than {MAX_TERMS} terms and ids (at {_at(where)})")

    def slot(self, read: checks.Read, test: checks.Check) -> Node:
        index = len(self.reads)
        self.reads.append(read)
        return lambda row: test(row[index])

    def node(self, value: Any, where: str, depth: int) -> Node:
        if isinstance(value, str | int) and not isinstance(value, bool):
            self.count(where)
            return self.job_id(value, where)
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
            nodes = self.items(value, where, depth, 1)
            return lambda row: any(node(row) for node in nodes)
        if word == "all":
            nodes = self.items(value, where, depth, 1)
        elif isinstance(head, str) and not _is_id(head):
            self.count(where)
            return self.term(value, where)
        else:
            nodes = self.items(value, where, depth, 0)
        if not nodes:
            return _always
        if len(nodes) == 1:
            return nodes[0]
        return lambda row: all(node(row) for node in nodes)

    def items(self, value: list[Any], where: str, depth: int, first: int) -> list[Node]:
        return [
            self.node(item, f"{where}[{index}]", depth + 1)
            for index, item in enumerate(value)
            if index >= first
        ]

    def job_id(self, value: str | int, where: str) -> Node:
        if isinstance(value, int):
            return self.slot(_job_id, lambda job_id: job_id == value)
        canonical = parse_uuid(value)
        if canonical is not None:
            return self.slot(_job_uuid, lambda text: text == canonical)
        number = parse_id(value.strip())
        if number is not None:
            return self.slot(_job_id, lambda job_id: job_id == number)
        if value.strip().casefold() in ("any", "?", "all"):
            raise QueryError(f"{_at(where)}: {value!r} starts a list: [{value!r}, QUERY, ...]")
        raise QueryError(
            f"{_at(where)}: {_short(value)} is no job id (a UUID or a number); a term is "
            "[NAME, OP, VALUE]"
        )

    def term(self, value: list[Any], where: str) -> Node:
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
        try:
            test = checks.check(kind, op, given, entry, self.catalog)
        except (ValueError, regex.PatternError) as exc:
            raise QueryError(f"{_at(where)}: {entry.name} {op}: {exc}") from None
        return self.slot(checks.reader(entry, parts), test)

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
