"""Times in queries: Smedge's rtime numbers and ISO 8601 text.

An rtime is a whole number of microseconds since 1970-01-01 00:00:00 UTC, written
as decimal digits (a JSON integer is read the same way): the form `datetime_to_rtime`
gives and `corral_client.query.rtime_from_datetime` makes. ISO 8601 text (`2026-12-07`,
`2026-12-07T10:30:00Z`, `2026-12-07 10:30:00.250+01:00`, Smedge's own
`YYYY-mm-dd HH:MM:SS.ms`) is read as well; without an offset it is UTC.
"""

from __future__ import annotations

import datetime
import math

MAX_RTIME_DIGITS = 18
"""Past year 33,000 in microseconds; more digits name no time."""

_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)
_MICROSECOND = datetime.timedelta(microseconds=1)


def parse_rtime(value: object) -> int | None:
    """The rtime (microseconds since the epoch, UTC) `value` names, or None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if abs(value) < 10**MAX_RTIME_DIGITS else None
    if not isinstance(value, str):
        return None
    text = value.strip()
    digits = text[1:] if text.startswith("-") else text
    if digits.isascii() and digits.isdecimal():
        return int(text) if len(digits) <= MAX_RTIME_DIGITS else None
    if not 8 <= len(text) <= 64 or not text.isascii():
        return None
    try:
        moment = datetime.datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.UTC)
    return (moment - _EPOCH) // _MICROSECOND


def parse_time(value: object) -> float | None:
    """Seconds since the epoch (UTC) that `value` names, or None when it names no time."""
    found = parse_rtime(value)
    return None if found is None else found / 1_000_000


def rtime(seconds: float) -> int:
    """The rtime of a time in seconds since the epoch, rounded to the microsecond as the
    job views show it (so a time copied from a view compares equal)."""
    fraction, whole = math.modf(seconds)
    return int(whole) * 1_000_000 + round(fraction * 1_000_000)
