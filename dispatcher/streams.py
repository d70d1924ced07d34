"""Open event streams: what each one wants, the events waiting for its client, and the bound.

A stream subscribes to the bus with a filter. Publishing only appends a matching
event to the stream's own bounded buffer (never awaits, never writes to a
socket), so no client can slow the dispatcher or an operation. A client that
lets `limit` events pile up is too slow: the stream is dropped with a logged
reason, and its connection is aborted by whoever serves it (`on_drop`).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from dispatcher.events import (
    ChunkEvent,
    Event,
    EventBus,
    JobEvent,
    NodeEvent,
    NodeStateEvent,
    ProgressEvent,
    kind,
)

log = logging.getLogger(__name__)

Item = tuple[int, Event]


@dataclass(frozen=True)
class EventFilter:
    """Jobs, nodes and kinds (type tags or actions) a stream wants; empty: any.

    The three are and-ed; the values of one are or-ed. An event that names no job
    (or no node) never matches a job (node) filter.
    """

    jobs: frozenset[int] = frozenset()
    nodes: frozenset[int] = frozenset()
    kinds: frozenset[str] = frozenset()

    def matches(self, event: Event) -> bool:
        if self.kinds and kind(event) not in self.kinds and event.action not in self.kinds:
            return False
        if self.jobs and self.jobs.isdisjoint(_jobs_of(event)):
            return False
        return not self.nodes or not self.nodes.isdisjoint(_nodes_of(event))


def _jobs_of(event: Event) -> Iterable[int]:
    if isinstance(event, JobEvent):
        return event.jobs
    if isinstance(event, ChunkEvent | ProgressEvent):
        return (event.job,)
    if isinstance(event, NodeEvent) and event.job is not None:
        return (event.job,)
    return ()


def _nodes_of(event: Event) -> Iterable[int]:
    if isinstance(event, NodeEvent):
        return event.nodes
    if isinstance(event, NodeStateEvent):
        return (event.node,)
    return ()


class Stream:
    """One client's stream: `await next(timeout_s)` gives its events in order."""

    def __init__(self, streams: Streams, wanted: EventFilter, limit: int, who: str) -> None:
        self.streams = streams
        self.wanted = wanted
        self.limit = limit
        self.who = who
        self.waiting: deque[Item] = deque()
        self.ended = ""  # why the stream ended ("": it goes on)
        self.delivered = 0
        self._wake = asyncio.Event()
        self.on_drop: Callable[[str], None] = lambda reason: None
        self._unsubscribe: Callable[[], None] = lambda: None

    def deliver(self, seq: int, event: Event) -> None:
        """Called on publish: keep the event if it matches; drop a client that lags."""
        if self.ended or not self.wanted.matches(event):
            return
        if len(self.waiting) >= self.limit:
            self.streams.dropped += 1
            self.end(f"the client fell {self.limit} events behind")
            log.warning(
                "action=event_stream_dropped user=%s waiting=%d delivered=%d reason=%r",
                self.who, len(self.waiting), self.delivered, self.ended,
            )  # fmt: skip
            self.on_drop(self.ended)
            return
        self.waiting.append((seq, event))
        self._wake.set()

    async def next(self, timeout_s: float) -> list[Item] | None:
        """The events waiting (all of them), [] after `timeout_s` without one, None once
        the stream has ended."""
        if not self.waiting and not self.ended:
            self._wake.clear()
            try:
                async with asyncio.timeout(timeout_s):
                    await self._wake.wait()
            except TimeoutError:
                return []
        if self.ended:
            return None
        items = list(self.waiting)
        self.waiting.clear()
        self.delivered += len(items)
        return items

    def end(self, reason: str) -> None:
        """Stop the stream (safe twice); a waiting `next` returns None."""
        if self.ended:
            return
        self.ended = reason
        self.waiting.clear()
        self._unsubscribe()
        self.streams.open.discard(self)
        self._wake.set()


class Streams:
    """The open streams of one dispatcher, at most `limit()` at once."""

    def __init__(self, bus: EventBus) -> None:
        self.bus = bus
        self.open: set[Stream] = set()
        self.dropped = 0
        self.closing = False

    def start(
        self, wanted: EventFilter, after: int | None, *, limit: int, who: str
    ) -> tuple[Stream, list[Item], bool]:
        """Open a stream. With `after` (the number of the client's last event) the kept
        events since that match, and whether some of those are no longer kept (missed).
        The stream then sees every event published after the replay: nothing is lost
        or repeated between the two."""
        stream = Stream(self, wanted, limit, who)
        kept = [] if after is None else self.bus.since(after)
        replay = [(seq, event) for seq, event in kept or () if wanted.matches(event)]
        missed = kept is None
        bus = self.bus
        stream._unsubscribe = bus.subscribe(lambda event: stream.deliver(bus.last_seq, event))
        self.open.add(stream)
        return stream, replay, missed

    def end_all(self, reason: str) -> None:
        """End every stream (the dispatcher is shutting down): their clients see the end."""
        self.closing = True
        for stream in list(self.open):
            stream.end(reason)
