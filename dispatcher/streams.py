"""Open event streams: what each one wants, the events waiting for its client, and the bound.

The streams subscribe to the bus once, together. Publishing makes one `Item` of
the event and hands it to every stream whose filter matches; the item encodes
its wire form (a server-sent event) the first time a client is written to, and
every other stream sends those same bytes: one encode per event, however many
streams. Publishing only puts the item in each stream's own bounded buffer
(never awaits, never writes to a socket), so no client can slow the dispatcher
or an operation.

A stream hands out what waits at most every `GATHER_S` (the first event after a
quiet spell at once), so a burst costs its client a few writes, not one per
event. A stream keeps at most one `job_progress` event per job waiting: a newer
progress event of that job takes the older one's place at the end of the
buffer, so a busy or slow client reads each job's newest state, not a backlog of
stale ones. Every other event (and every `job_state` progress event, which says
a job's state changed) is kept, in order. A client that still lets `limit`
events pile up is too slow: the stream is dropped with a logged reason, and its
connection is aborted by whoever serves it (`on_drop`); it resumes with its last
event's number and learns from a `missed` event when it fell out of the memory.
"""

from __future__ import annotations

import asyncio
import logging
import math
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
    encode,
    kind,
)

log = logging.getLogger(__name__)

# A stream hands its client what waits at most this often (seconds): a burst of events
# goes out in a few writes, not one per event.
GATHER_S = 0.05


def frame(seq: int, event: Event) -> bytes:
    """One server-sent event: id (the event's number), event (its kind) and the event
    as one line of JSON."""
    return b"id: %d\nevent: %s\ndata: %s\n\n" % (seq, kind(event).encode(), encode(event))


class Item:
    """A published event as the streams hand it out: its number, the event, and its
    server-sent-event frame, encoded once, when first asked for, for every stream."""

    __slots__ = ("_frame", "_streams", "event", "job_progress", "progress_of", "seq")

    def __init__(self, seq: int, event: Event, streams: Streams) -> None:
        self.seq = seq
        self.event = event
        self._streams = streams
        self._frame: bytes | None = None
        # A progress event's job (it replaces that job's waiting `job_progress` event),
        # and whether it is one a newer one may replace in turn.
        self.progress_of = event.job if isinstance(event, ProgressEvent) else None
        self.job_progress = self.progress_of is not None and event.action == "job_progress"

    @property
    def frame(self) -> bytes:
        if self._frame is None:
            self._frame = frame(self.seq, self.event)
            self._streams.frames_encoded += 1
        return self._frame

    def __repr__(self) -> str:
        return f"Item({self.seq}, {kind(self.event)}:{self.event.action})"


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
        self.filtered = bool(wanted.jobs or wanted.nodes or wanted.kinds)
        self.limit = limit
        self.who = who
        # The items waiting for the client by number (a dict keeps their order and lets
        # a newer progress event take an older one's place in O(1)).
        self.waiting: dict[int, Item] = {}
        # job -> the number of its `job_progress` event waiting, if one is.
        self._progress: dict[int, int] = {}
        self.ended = ""  # why the stream ended ("": it goes on)
        self.delivered = 0
        self.coalesced = 0  # progress events replaced by a newer one before being sent
        self._wake = asyncio.Event()
        self.gather_s = GATHER_S
        self._handed_at = -math.inf
        self.on_drop: Callable[[str], None] = lambda reason: None

    def deliver(self, item: Item) -> None:
        """Called on publish: keep the item if it matches (a progress event in place of
        its job's waiting `job_progress` one); drop a client that lags."""
        if self.ended or (self.filtered and not self.wanted.matches(item.event)):
            return
        waiting = self.waiting
        job = item.progress_of
        if job is not None:
            older = self._progress.pop(job, None)
            if older is not None:
                del waiting[older]
                self.coalesced += 1
                self.streams.coalesced += 1
            if item.job_progress:
                self._progress[job] = item.seq
        if len(waiting) >= self.limit:
            self.streams.dropped += 1
            self.end(f"the client fell {self.limit} events behind")
            log.warning(
                "action=event_stream_dropped user=%s waiting=%d delivered=%d reason=%r",
                self.who, self.limit, self.delivered, self.ended,
            )  # fmt: skip
            self.on_drop(self.ended)
            return
        waiting[item.seq] = item
        self._wake.set()

    async def next(self, timeout_s: float) -> list[Item] | None:
        """The items waiting (all of them, oldest first), [] after `timeout_s` without
        one, None once the stream has ended. Items come at most every `gather_s`: the
        first after a quiet spell at once, those of a burst together."""
        loop = asyncio.get_running_loop()
        if not self.waiting and not self.ended:
            self._wake.clear()
            # A plain timer that wakes the wait (cheaper than a timeout scope: every
            # stream waits here between the hand-outs of a busy farm).
            timer = loop.call_later(timeout_s, self._wake.set)
            try:
                await self._wake.wait()
            finally:
                timer.cancel()
            if not self.waiting and not self.ended:
                return []
        if self.ended:
            return None
        gather_s = self._handed_at + self.gather_s - loop.time()
        if gather_s > 0:  # a burst: let it gather (and a job's newer progress replace its older)
            await asyncio.sleep(gather_s)
            if self.ended:
                return None
        self._handed_at = loop.time()
        items = list(self.waiting.values())
        self.waiting = {}
        self._progress.clear()
        self.delivered += len(items)
        return items

    def end(self, reason: str) -> None:
        """Stop the stream (safe twice); a waiting `next` returns None."""
        if self.ended:
            return
        self.ended = reason
        self.waiting = {}
        self._progress.clear()
        self.streams.open.discard(self)
        self._wake.set()


class Streams:
    """The open streams of one dispatcher, at most `limit()` at once; subscribed to the
    bus once for all of them."""

    def __init__(self, bus: EventBus) -> None:
        self.bus = bus
        self.open: set[Stream] = set()
        self.dropped = 0
        self.closing = False
        self.frames_encoded = 0  # events encoded for the streams (once each, at most)
        self.coalesced = 0  # progress events replaced by a newer one, over every stream
        bus.subscribe(self._publish)  # for as long as the dispatcher runs

    def _publish(self, event: Event) -> None:
        if not self.open:
            return
        item = Item(self.bus.last_seq, event, self)
        for stream in list(self.open):
            stream.deliver(item)

    def start(
        self, wanted: EventFilter, after: int | None, *, limit: int, who: str
    ) -> tuple[Stream, list[Item], bool]:
        """Open a stream. With `after` (the number of the client's last event) the kept
        events since that match, and whether some of those are no longer kept (missed).
        The stream then sees every event published after the replay: nothing is lost
        or repeated between the two."""
        stream = Stream(self, wanted, limit, who)
        kept = [] if after is None else self.bus.since(after)
        replay = [Item(seq, event, self) for seq, event in kept or () if wanted.matches(event)]
        missed = kept is None
        self.open.add(stream)
        return stream, replay, missed

    def end_all(self, reason: str) -> None:
        """End every stream (the dispatcher is shutting down): their clients see the end."""
        self.closing = True
        for stream in list(self.open):
            stream.end(reason)
