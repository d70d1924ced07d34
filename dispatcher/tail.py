"""Following a growing log file (`tail -f`) without ever holding the loop.

`follow` yields what is appended to a file after it started, in pieces of at
most `READ_BYTES`, until one of its bounds ends it: `duration_s` passed,
`max_bytes` were yielded, `stop()` says so (the HTTP server is closing, the
reader went away), the writer finished and everything was read, or the file
was removed. A file cut shorter (a cleared log)
is followed from its new start; one not written yet is waited for. The
file is polled every `poll_s`: a size check, and a read off the loop only when
it grew, so a follower costs nothing while its log is quiet.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

log = logging.getLogger(__name__)

READ_BYTES = 64 * 1024
POLL_S = 0.2


def _size(path: Path) -> int | None:
    try:
        return os.stat(path).st_size
    except OSError:
        return None


def _read(path: Path, offset: int, count: int) -> bytes:
    with path.open("rb") as source:
        source.seek(offset)
        return source.read(count)


async def follow(
    path: Path,
    *,
    duration_s: float,
    max_bytes: int,
    stop: Callable[[], bool] = lambda: False,
    refresh: Callable[[], None] = lambda: None,
    finished: Callable[[], bool] = lambda: False,
    poll_s: float = POLL_S,
) -> AsyncIterator[bytes]:
    """What is written to `path` from now on, until a bound ends it (see the module).
    `refresh()` runs before each look at the file (a writer that buffers flushes);
    once `finished()` (the writer is done) the tail ends when it has read everything."""
    refresh()
    start = _size(path)
    offset, seen = start or 0, start is not None  # a log not written yet is waited for
    deadline = time.monotonic() + duration_s
    sent = 0
    why = "duration"
    while time.monotonic() < deadline:
        if stop():
            why = "stopped"
            break
        done = finished()  # asked first: what it wrote before is then in `size`
        refresh()
        size = _size(path)
        if size is None and seen:
            why = "removed"
            break
        size, seen = size or 0, seen or size is not None
        if size < offset:  # cleared: what is written next is new
            offset = 0
        if size == offset:
            if done:
                why = "finished"
                break
            await asyncio.sleep(min(poll_s, max(0.0, deadline - time.monotonic())))
            continue
        count = min(size - offset, READ_BYTES, max_bytes - sent)
        try:
            data = await asyncio.to_thread(_read, path, offset, count)
        except OSError as exc:
            log.warning("action=follow_read_failed path=%s error=%r; the follow ends", path, exc)
            why = "read_error"
            break
        if not data:
            await asyncio.sleep(poll_s)
            continue
        offset += len(data)
        sent += len(data)
        yield data
        if sent >= max_bytes:
            why = "max_bytes"
            break
    log.info("action=follow_end path=%s bytes=%d reason=%s", path.name, sent, why)


async def follow_pieces(
    fetch: Callable[[int], Awaitable[list[tuple[int, bytes]]]],
    *,
    after: int,
    duration_s: float,
    max_bytes: int,
    stop: Callable[[], bool] = lambda: False,
    finished: Callable[[], bool] = lambda: False,
    settle: Callable[[], Awaitable[None]] | None = None,
    poll_s: float = POLL_S,
    label: str = "",
) -> AsyncIterator[bytes]:
    """What is written to a log kept as numbered pieces (a database table) after piece
    `after`, bounded as `follow`: `fetch(seq)` answers the pieces after `seq` in order;
    `settle()` (when given) writes what the writer still buffers before each look once
    `finished()` says the writer is done, so the tail ends having read everything."""
    deadline = time.monotonic() + duration_s
    seq, sent, why = after, 0, "duration"
    while time.monotonic() < deadline:
        if stop():
            why = "stopped"
            break
        done = finished()
        if done and settle is not None:
            await settle()
        pieces = await fetch(seq)
        if not pieces:
            if done:
                why = "finished"
                break
            await asyncio.sleep(min(poll_s, max(0.0, deadline - time.monotonic())))
            continue
        for number, data in pieces:
            seq = number
            data = data[: max_bytes - sent]
            sent += len(data)
            yield data
            if sent >= max_bytes:
                break
        if sent >= max_bytes:
            why = "max_bytes"
            break
    log.info("action=follow_end log=%s bytes=%d reason=%s", label, sent, why)
