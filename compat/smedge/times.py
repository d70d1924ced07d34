"""Smedge's times: the RLib time number and the formatted text, both ways.

An RLib time number here is the count of microseconds since 1970-01-01 UTC,
written as a decimal integer string. A datetime without a time zone is local
time, as ``datetime.now()`` gives it.
"""

import re
from datetime import datetime, timedelta, timezone
from typing import Optional, Union

from corral_client.query import rtime_from_datetime

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
TEXT_FORMATS = ("%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S.%f",
                "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d")  # fmt: skip
_NUMBER = re.compile(r"^\s*-?\d{1,20}\s*$")


def datetime_to_rtime(from_datetime: Optional[datetime]) -> str:
    """The RLib time number of ``from_datetime`` (microseconds since the epoch, as text).

    None gives ``"0"``; a naive datetime is local time.
    """
    if from_datetime is None:
        return "0"
    if not isinstance(from_datetime, datetime):
        raise TypeError("datetime_to_rtime takes a datetime, not %s" % type(from_datetime).__name__)
    return rtime_from_datetime(from_datetime)  # the one definition the queries share


def extract_datetime(from_string: Union[str, int, None]) -> Optional[datetime]:
    """A local naive datetime from an RLib time number or ``YYYY-mm-dd HH:MM:SS.ms`` text.

    None when the input is neither (or the number is 0).
    """
    if from_string is None or isinstance(from_string, bool):
        return None
    if isinstance(from_string, datetime):
        return from_string
    text = str(from_string).strip()
    if _NUMBER.match(text):
        micros = int(text)
        if micros == 0:
            return None
        try:
            moment = EPOCH + timedelta(microseconds=micros)
        except OverflowError:
            return None
        return moment.astimezone().replace(tzinfo=None)
    return _parse_text(text)


def _parse_text(text: str) -> Optional[datetime]:
    try:  # the dispatcher's ISO times (UTC when they carry an offset)
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        parsed = None
    if parsed is None:
        for pattern in TEXT_FORMATS:
            try:
                parsed = datetime.strptime(text, pattern)
                break
            except ValueError:
                continue
    if parsed is None:
        return None
    if parsed.tzinfo is not None:
        return parsed.astimezone().replace(tzinfo=None)
    return parsed


def utc_text_to_local(text: Optional[str]) -> Optional[datetime]:
    """A dispatcher time (ISO text in UTC, no offset) as a local naive datetime."""
    if not text:
        return None
    try:
        parsed = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.astimezone().replace(tzinfo=None)


def utc_text_to_rtime(text: Optional[str]) -> str:
    """A dispatcher time (ISO text in UTC) as an RLib time number ("0" when none)."""
    local = utc_text_to_local(text)
    return datetime_to_rtime(local) if local is not None else "0"
