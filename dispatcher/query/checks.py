"""What a term does with a job: read the field's value (on the dispatcher's loop), then
check it against the term's value (anywhere: the check touches nothing of the job).

A read returns a value no later change to the job can alter (text, a number, a tuple
of texts), so the checks, regular expression searches included, may run in a worker
thread while the loop goes on changing jobs (evaluate.py).
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from typing import Any

from dispatcher.model import Job
from dispatcher.query import fields, regex, times
from dispatcher.query.fields import Catalog, Field, Kind

Read = Callable[[Job], Any]
Check = Callable[[Any], bool]

_FLAGS = {"true": True, "yes": True, "1": True, "on": True,
          "false": False, "no": False, "0": False, "off": False}  # fmt: skip
_ORDER = {"<": operator.lt, ">": operator.gt, "before": operator.lt, "after": operator.gt}


# -- reading --------------------------------------------------------------------------------
def reader(entry: Field, parts: list[Callable[[str], str]]) -> Read:
    """Read the field as a value the job's later changes cannot alter, after its dotted
    parts (which turn it into text, a list's items each)."""
    get, kind = entry.get, entry.kind
    if kind is Kind.LIST:
        if not parts:
            return lambda job: tuple(fields.text_of(item) for item in get(job))
        return lambda job: tuple(_parted(fields.text_of(item), parts) for item in get(job))
    if kind is Kind.DATA:
        if not parts:
            return lambda job: _data_value(get(job))
        return lambda job: _parted(fields.text_of(get(job)), parts)
    if not parts:
        return get
    if kind is Kind.TIME:
        return lambda job: _parted(fields.time_text(get(job)), parts)
    return lambda job: _parted(fields.text_of(get(job)), parts)


def _parted(text: str, parts: list[Callable[[str], str]]) -> str:
    for part in parts:
        text = part(text)
    return text


def _data_value(value: Any) -> Any:
    if value is None or isinstance(value, str | int | float):
        return value
    if isinstance(value, list):
        return tuple(fields.text_of(item) for item in value)
    return fields.text_of(value)


# -- checking ---------------------------------------------------------------------------------
def check(kind: Kind, op: str, given: Any, entry: Field, catalog: Catalog) -> Check:
    """The test of a read value; ValueError (or regex.PatternError) for a value the field
    cannot be compared with."""
    return _CHECKS[kind](op, given, entry, catalog)


def _resolved(entry: Field, op: str, given: Any, catalog: Catalog) -> str:
    value = fields.text_of(given)
    if entry.resolve is not None and op in ("=", "!="):
        value = entry.resolve(value, catalog)
    return value


def number_of(given: Any) -> float:
    """A term's value as a number; ValueError when it is none."""
    if isinstance(given, bool):
        raise ValueError("give a number, not true or false")
    if isinstance(given, int | float):
        try:
            return float(given)
        except OverflowError:  # an integer of hundreds of digits
            raise ValueError("the number is too large") from None
    try:
        number = float(given.strip())
    except ValueError:
        raise ValueError(f"{given[:64]!r} is no number") from None
    if not math.isfinite(number):
        raise ValueError(f"{given[:64]!r} is no finite number")
    return number


def _text(op: str, given: Any, entry: Field, catalog: Catalog) -> Check:
    if op == "*":
        return regex.compile_search(fields.text_of(given))
    target = _resolved(entry, op, given, catalog).casefold()
    if op == "=":
        return lambda value: value.casefold() == target
    if op == "!=":
        return lambda value: value.casefold() != target
    if op in ("contains", ":"):
        return lambda value: target in value.casefold()
    if op == "!:":
        return lambda value: target not in value.casefold()
    compare = _ORDER[op]
    return lambda value: bool(compare(value.casefold(), target))


def _list(op: str, given: Any, entry: Field, catalog: Catalog) -> Check:
    if op == "*":
        search = regex.compile_search(fields.text_of(given))
        return lambda value: any(search(item) for item in value)
    target = _resolved(entry, op, given, catalog).casefold()
    if op == "=":
        return lambda value: any(item.casefold() == target for item in value)
    if op == "!=":
        return lambda value: all(item.casefold() != target for item in value)
    if op in ("contains", ":"):
        return lambda value: any(target in item.casefold() for item in value)
    return lambda value: all(target not in item.casefold() for item in value)  # !:


def _number(op: str, given: Any, entry: Field, catalog: Catalog) -> Check:
    target = number_of(given)
    if op == "=":
        return lambda value: value == target
    if op == "!=":
        return lambda value: value != target
    compare = _ORDER[op]
    return lambda value: bool(compare(value, target))


def _time(op: str, given: Any, entry: Field, catalog: Catalog) -> Check:
    target = times.parse_rtime(given)
    if target is None:
        raise ValueError(
            f"{fields.text_of(given)[:64]!r} is no time; give an rtime (microseconds since "
            "1970-01-01 UTC, as digits) or ISO 8601 (2026-12-07T10:30:00Z; no offset: UTC)"
        )
    if op == "=":
        return lambda value: value is not None and times.rtime(value) == target
    if op == "!=":
        return lambda value: value is None or times.rtime(value) != target
    compare = _ORDER[op]
    return lambda value: value is not None and bool(compare(times.rtime(value), target))


def _flag(op: str, given: Any, entry: Field, catalog: Catalog) -> Check:
    flag = _FLAGS.get(fields.text_of(given).strip().casefold())
    if flag is None:
        raise ValueError(f"{fields.text_of(given)[:64]!r} is not true or false")
    if op == "=":
        return lambda value: bool(value) is flag
    return lambda value: bool(value) is not flag


def _data(op: str, given: Any, entry: Field, catalog: Catalog) -> Check:
    """A template field holds what the job gave: numbers compare as numbers when both are
    numbers, lists item by item, times when both read as times, the rest as text."""
    if op in ("before", "after"):
        seconds = times.parse_time(given)
        if seconds is None:
            raise ValueError(f"{fields.text_of(given)[:64]!r} is no time (an rtime or ISO 8601)")
        compare = _ORDER[op]

        def when(value: Any) -> bool:
            moment = times.parse_time(value) if isinstance(value, str | int) else None
            return moment is not None and bool(compare(moment, seconds))

        return when
    as_text = _text(op, given, entry, catalog)
    as_list = _list(op, given, entry, catalog) if op not in ("<", ">") else None
    try:
        number: float | None = number_of(given) if op in ("=", "!=", "<", ">") else None
    except ValueError:
        number = None
    as_number = _number(op, number, entry, catalog) if number is not None else None

    def test(value: Any) -> bool:
        if isinstance(value, tuple):
            return as_list(value) if as_list is not None else False
        if as_number is not None and isinstance(value, int | float) and not isinstance(value, bool):
            return as_number(value)
        return as_text(fields.text_of(value))

    return test


_CHECKS: dict[Kind, Callable[[str, Any, Field, Catalog], Check]] = {
    Kind.TEXT: _text,
    Kind.LIST: _list,
    Kind.NUMBER: _number,
    Kind.TIME: _time,
    Kind.FLAG: _flag,
    Kind.DATA: _data,
}
