"""Input limits checked at the edges: how deep a JSON value may nest, which text a
job may hold, and how many chunks a job, a request and the whole queue may carry.

Every front goes through these functions, so a limit is stated once. The chunk
limits are settings (docs/security.md lists them with their defaults).
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from dispatcher.errors import LimitExceeded, ValidationError

# Deeper than any real job's data needs; far below what json and msgspec can recurse.
MAX_JSON_DEPTH = 64

# The longest HTTP request line (method, path and query) the REST port reads. aiohttp's
# own default (8190 bytes) is shorter than queries the routes declare (Muster's comma
# list of job ids, a `select` of non-ASCII text percent-encoded): past the limit the
# parser answers plain text before any route can answer in the API's error format.
MAX_REQUEST_LINE_BYTES = 64 * 1024

# Text that can never be stored: NUL ends a C string (an argument "a\0b" would run
# as "a"), and a lone UTF-16 surrogate cannot be encoded as UTF-8.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
# Control characters (C0, DEL, C1): refused in one-line names such as titles.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True, slots=True)
class ChunkLimits:
    """How many chunks one job, one request and the whole queue may hold (0: no limit)."""

    per_job: int = 1_000_000
    per_request: int = 2_000_000
    queued: int = 20_000_000


def json_depth_error(value: Any, limit: int = MAX_JSON_DEPTH) -> str | None:
    """Where `value` nests deeper than `limit` (a dotted path), or None when it does not."""
    pending: list[tuple[Any, int, str]] = [(value, 1, "")]
    while pending:
        item, depth, path = pending.pop()
        if isinstance(item, dict):
            children: Iterable[tuple[Any, Any]] = item.items()
        elif isinstance(item, list | tuple):
            children = enumerate(item)
        else:
            continue
        if depth > limit:
            return _short(path) or "(body)"
        for key, child in children:
            if isinstance(child, dict | list | tuple):
                pending.append((child, depth + 1, f"{path}.{key}" if path else str(key)))
    return None


def _short(path: str) -> str:
    parts = path.split(".")
    return path if len(parts) <= 4 else ".".join(parts[:3]) + "..."


def json_loads(text: str) -> Any:
    """`json.loads` that refuses nesting deeper than MAX_JSON_DEPTH with a ValidationError
    (json's own recursion would otherwise end in RecursionError), and a number too long
    to read (json raises a plain ValueError past Python's 4,300-digit int limit)."""
    try:
        value = json.loads(text)
    except RecursionError:
        value = None
        where: str | None = "(body)"
    except json.JSONDecodeError:
        raise
    except ValueError:
        digits = sys.get_int_max_str_digits()
        raise ValidationError(f"the body holds a number of more than {digits:,} digits") from None
    else:
        where = json_depth_error(value)
    if where is not None:
        raise ValidationError(
            f"{where}: JSON nested deeper than {MAX_JSON_DEPTH} levels",
            field=where.split(".")[0] if where != "(body)" else None,
        )
    return value


def text_error(value: str) -> str | None:
    """Why `value` cannot be stored, or None."""
    found = _UNSTORABLE.search(value)
    if found is None:
        return None
    return "contains a NUL character" if found.group() == "\x00" else "contains a lone surrogate"


def name_error(value: str) -> str | None:
    """Why `value` is no good as a one-line name (a title, a pool), or None."""
    found = _CONTROL.search(value)
    if found is not None:
        return f"contains the control character {found.group()!r}"
    return text_error(value)


def unstorable_text(value: Any, path: str, limit: int = MAX_JSON_DEPTH) -> tuple[str, str] | None:
    """The first string (key or value) anywhere in `value` that cannot be stored,
    as (dotted path, reason); also refuses nesting deeper than `limit`."""
    pending: list[tuple[Any, int, str]] = [(value, 1, path)]
    while pending:
        item, depth, where = pending.pop()
        if isinstance(item, str):
            reason = text_error(item)
            if reason is not None:
                return where, reason
            continue
        if isinstance(item, dict):
            pairs: Iterable[tuple[Any, Any]] = item.items()
        elif isinstance(item, list | tuple):
            pairs = enumerate(item)
        else:
            continue
        if depth > limit:
            return _short(where), f"nested deeper than {limit} levels"
        for key, child in pairs:
            if isinstance(key, str) and (reason := text_error(key)) is not None:
                return where, f"the key {key!a} {reason}"
            pending.append((child, depth + 1, f"{where}.{key}"))
    return None


def check_chunks(counts: list[int], limits: ChunkLimits, queued_now: int) -> None:
    """Admit jobs of `counts` chunks each, or raise LimitExceeded naming the limit."""
    where = len(counts) > 1
    for position, count in enumerate(counts):
        if limits.per_job and count > limits.per_job:
            prefix = f"job #{position}: " if where else ""
            raise LimitExceeded(
                f"{prefix}{count} chunks is over the limit of {limits.per_job} chunks per job",
                limit="max_chunks_per_job",
                value=limits.per_job,
            )
    total = sum(counts)
    if limits.per_request and total > limits.per_request:
        raise LimitExceeded(
            f"{total} chunks in one request is over the limit of {limits.per_request}",
            limit="max_chunks_per_request",
            value=limits.per_request,
        )
    if limits.queued and queued_now + total > limits.queued:
        raise LimitExceeded(
            f"{total} more chunks would put {queued_now + total} chunks in the queue, "
            f"over the limit of {limits.queued}; wait for queued work to finish",
            limit="max_chunks_queued",
            value=limits.queued,
        )
