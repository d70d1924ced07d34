"""The bus's numbering and memory, the stream filters, and a stream's bound (no network)."""

from __future__ import annotations

import asyncio
import time

from dispatcher.events import EventBus, JobEvent, NodeEvent, NodeStateEvent, ProgressEvent
from dispatcher.histogram import LoopHistogram
from dispatcher.streams import EventFilter, Streams


def job_event(job: int, action: str = "edit") -> JobEvent:
    return JobEvent(action=action, actor="admin", jobs=[job])


def test_since_replays_what_is_kept_and_says_none_when_not() -> None:
    bus = EventBus(keep=4)
    base = bus.first_seq
    assert bus.since(base - 1) == []  # nothing published yet: nothing missed
    for job in range(1, 7):
        bus.publish(job_event(job))
    assert bus.last_seq == base + 5
    kept = bus.since(base + 1)  # events base+2 .. base+5 are kept
    assert kept is not None and [seq for seq, _ in kept] == [base + 2, base + 3, base + 4, base + 5]
    assert [event.jobs for _, event in kept] == [[3], [4], [5], [6]]  # type: ignore[attr-defined]
    assert bus.since(base) is None  # base+1 is gone
    assert bus.since(base + 5) == []
    assert bus.since(base + 6) is None  # not one of this bus's numbers
    assert bus.since(1) is None


def test_a_restarted_bus_numbers_above_the_earlier_one() -> None:
    """Numbers start at the clock's microseconds: a bus made after a restart (which takes
    far longer than a microsecond per event published before it) numbers above."""
    first = EventBus()
    for job in range(100):
        first.publish(job_event(job))
    while time.time_ns() // 1000 <= first.last_seq:
        time.sleep(0.0001)
    assert EventBus().first_seq > first.last_seq


def test_filters_and_job_or_node_or_kind() -> None:
    progress = ProgressEvent(action="job_state", actor="system", job=4, state="done", chunks={})
    node = NodeStateEvent(action="node_offline", actor="system", node=9, name="n")
    kill = NodeEvent(action="kill", actor="admin", nodes=[9], job=4)
    assert EventFilter(jobs=frozenset({4})).matches(progress)
    assert EventFilter(jobs=frozenset({4})).matches(kill)
    assert not EventFilter(jobs=frozenset({4})).matches(node)
    assert EventFilter(nodes=frozenset({9})).matches(node)
    assert EventFilter(kinds=frozenset({"progress"})).matches(progress)
    assert EventFilter(kinds=frozenset({"node_offline"})).matches(node)
    assert not EventFilter(kinds=frozenset({"node_offline"}), nodes=frozenset({8})).matches(node)


async def test_a_stream_that_falls_behind_is_dropped_and_publishing_goes_on() -> None:
    bus = EventBus()
    streams = Streams(bus)
    dropped: list[str] = []
    stream, replay, missed = streams.start(EventFilter(), None, limit=3, who="slow")
    stream.on_drop = dropped.append
    assert replay == [] and not missed
    for job in range(10):
        bus.publish(job_event(job))
    assert dropped and streams.dropped == 1 and streams.open == set()
    assert await stream.next(0.1) is None
    assert bus.published == 10


async def test_next_gives_what_waits_an_idle_tick_and_none_at_the_end() -> None:
    bus = EventBus()
    streams = Streams(bus)
    stream, _, _ = streams.start(EventFilter(jobs=frozenset({2})), None, limit=10, who="u")
    bus.publish(job_event(1))
    bus.publish(job_event(2))
    items = await stream.next(1.0)
    assert items is not None and [seq for seq, _ in items] == [bus.last_seq]
    assert await stream.next(0.05) == []
    asyncio.get_running_loop().call_later(0.05, streams.end_all, "closing")
    assert await stream.next(5.0) is None and streams.closing


def test_histogram_buckets_are_upper_bounds() -> None:
    histogram = LoopHistogram((0.1, 1.0))
    for value in (0.05, 0.1, 0.5, 2.0):
        histogram.observe(value)
    assert histogram.cumulative() == [("0.1", 2), ("1.0", 3), ("+Inf", 4)]
    assert histogram.count == 4 and abs(histogram.sum - 2.65) < 1e-9
