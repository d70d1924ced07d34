"""Smedge job queries written by hand: the shorthand `FIELD OP VALUE`, and times.

The dispatcher evaluates queries (GET /api/v1/jobs/?where=JSON; docs/rest.md,
"Queries"). This module turns what a person types into that JSON, for the `corral`
command, the web console and the smedge package alike::

    from corral_client import query

    query.parse_term("Priority<50")              # ["Priority", "<", "50"]
    query.parse_term("Creator contains joe")     # ["Creator", "contains", "joe"]
    query.parse_where('["Name", "*", "^shot"]')  # JSON is taken as it is
    query.combine([q1, q2])                      # [q1, q2]: both must hold
    query.to_json(q)                             # the text for ?where=
    query.rtime_from_datetime(datetime.now())    # "1796630400000000"

A shorthand term is a field name (letters, digits, `_` and dotted parts such as
`Scene.Path.File`), an operator (`=`, `!=`, `<`, `>`, `:`, `!:`, `*`, or the words
`contains`, `before`, `after` between spaces) and the rest of the text as the value
(one pair of surrounding quotes is taken off: `Note = ""` is an empty note). Values are
sent as text; the dispatcher reads numbers and times from them.

Standard library only, Python 3.7+.
"""

import datetime
import json
import re
from typing import Any, List, Sequence

__all__ = [
    "OPERATORS",
    "QueryError",
    "combine",
    "datetime_from_rtime",
    "parse_term",
    "parse_where",
    "rtime_from_datetime",
    "to_json",
]

OPERATORS = ("=", "!=", "<", ">", "contains", ":", "!:", "*", "before", "after")
MAX_QUERY_CHARS = 4096

_NAME = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)\s*")
_SYMBOLS = ("!=", "!:", "=", "<", ">", ":", "*")
_WORDS = re.compile(r"(contains|before|after)(?:\s+|$)", re.IGNORECASE)
_RTIME = re.compile(r"-?[0-9]{1,18}")
_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)  # noqa: UP017 (3.7)
_MICROSECOND = datetime.timedelta(microseconds=1)


class QueryError(ValueError):
    """Text that is no query; the message says why and shows the expected form."""


def parse_term(text: str) -> List[str]:
    """One shorthand term `FIELD OP VALUE` as the query list [FIELD, OP, VALUE]."""
    if not isinstance(text, str) or not text.strip():
        raise QueryError("an empty query; write FIELD OP VALUE, e.g. Priority<50")
    found = _NAME.match(text)
    if found is None:
        raise QueryError(
            "%r does not start with a field name; write FIELD OP VALUE, e.g. "
            "'Creator contains joe'" % _cut(text)
        )
    name, rest = found.group(1), text[found.end() :]
    op = None
    for symbol in _SYMBOLS:
        if rest.startswith(symbol):
            op, rest = symbol, rest[len(symbol) :]
            break
    if op is None:
        word = _WORDS.match(rest)
        if word is not None:
            op, rest = word.group(1).lower(), rest[word.end() :]
    if op is None:
        raise QueryError(
            "%r: no operator after %r; one of %s" % (_cut(text), name, " ".join(OPERATORS))
        )
    return [name, op, _unquoted(rest.strip())]


def parse_where(text: str) -> Any:
    """A query as typed: JSON (a list, or a quoted job id) taken as it is, else one
    shorthand term."""
    if not isinstance(text, str):
        raise QueryError("a query is text")
    if len(text) > MAX_QUERY_CHARS:
        raise QueryError("the query is %d characters; at most %d" % (len(text), MAX_QUERY_CHARS))
    stripped = text.strip()
    if stripped[:1] in ("[", '"'):
        try:
            value = json.loads(stripped)
        except ValueError as exc:
            raise QueryError("not JSON: %s" % exc) from None
        return value
    return parse_term(stripped)


def combine(queries: Sequence[Any]) -> Any:
    """Several queries that must all hold, as one query (one query stays itself)."""
    items = list(queries)
    if not items:
        raise QueryError("no query to combine")
    return items[0] if len(items) == 1 else items


def to_json(query: Any) -> str:
    """The query as the compact JSON text `?where=` takes."""
    return json.dumps(query, separators=(",", ":"), ensure_ascii=False)


def rtime_from_datetime(moment: datetime.datetime) -> str:
    """A time as an rtime: microseconds since 1970-01-01 UTC, as digits. A time without
    a zone is local time, as `datetime.timestamp()` reads it."""
    if moment.tzinfo is None:
        moment = moment.astimezone()
    return str((moment - _EPOCH) // _MICROSECOND)


def datetime_from_rtime(text: str) -> datetime.datetime:
    """An rtime (digits) as an aware datetime in UTC; QueryError when it is not one."""
    digits = str(text).strip()
    if _RTIME.fullmatch(digits) is None:
        raise QueryError("%r is no rtime (microseconds since 1970-01-01 UTC)" % _cut(str(text)))
    try:
        return _EPOCH + int(digits) * _MICROSECOND
    except OverflowError:
        raise QueryError("%r is out of range for a date" % digits) from None


def _unquoted(text: str) -> str:
    if len(text) >= 2 and text[0] == text[-1] and text[0] in ("'", '"'):
        return text[1:-1]
    return text


def _cut(text: str) -> str:
    return text if len(text) <= 60 else text[:57] + "..."
