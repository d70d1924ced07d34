"""The bus's numbering and memory, the stream filters, a stream's bound, the one encode per
event and the merging of progress events (no network)."""

from __future__ import annotations

import asyncio
import time

import msgspec

from dispatcher.events import EventBus, JobEvent, NodeEvent, NodeStateEvent, ProgressEvent
from dispatcher.histogram import LoopHistogram
from dispatcher.streams import EventFilter, Streams, frame


def job_event(job: int, action: str = "edit") -> JobEvent:
    return JobEvent(action=action, actor="admin", jobs=[job])


def progress(
    job: int, done: int, action: str = "job_progress", state: str = "active"
) -> ProgressEvent:
    return ProgressEvent(
        action=action, actor="system", job=job, state=state, chunks={"total": 10, "done": done}
    )


def data_of(frame_bytes: bytes) -> dict[str, object]:
    """The JSON of one server-sent event's data line."""
    line = next(part for part in frame_bytes.split(b"\n") if part.startswith(b"data: "))
    decoded: dict[str, object] = msgspec.json.decode(line[len(b"data: ") :])
    return decoded


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
    assert items is not None and [item.seq for item in items] == [bus.last_seq]
    assert await stream.next(0.05) == []
    asyncio.get_running_loop().call_later(0.05, streams.end_all, "closing")
    assert await stream.next(5.0) is None and streams.closing


def test_histogram_buckets_are_upper_bounds() -> None:
    histogram = LoopHistogram((0.1, 1.0))
    for value in (0.05, 0.1, 0.5, 2.0):
        histogram.observe(value)
    assert histogram.cumulative() == [("0.1", 2), ("1.0", 3), ("+Inf", 4)]
    assert histogram.count == 4 and abs(histogram.sum - 2.65) < 1e-9


async def test_each_event_is_encoded_once_for_every_stream_that_sends_it() -> None:
    bus = EventBus()
    streams = Streams(bus)
    opened = [streams.start(EventFilter(), None, limit=100, who=f"u{n}")[0] for n in range(50)]
    only_job_2 = streams.start(EventFilter(jobs=frozenset({2})), None, limit=100, who="j")[0]
    for job in range(1, 6):
        bus.publish(job_event(job))
    sent: list[list[bytes]] = []
    for stream in [*opened, only_job_2]:
        items = await stream.next(1.0)
        assert items is not None
        sent.append([item.frame for item in items])
    assert streams.frames_encoded == 5  # not 5 x 50 + 1
    assert all(frames == sent[0] for frames in sent[:50]) and len(sent[0]) == 5
    assert sent[-1] == [sent[0][1]]  # the job-2 stream: the same bytes, the same object
    assert sent[-1][0] is sent[0][1]
    first = sent[0][0]
    assert first.startswith(b"id: %d\nevent: job\ndata: " % (bus.last_seq - 4))
    assert data_of(first)["jobs"] == [1] and first.endswith(b"\n\n")


async def test_a_stream_keeps_the_newest_progress_per_job_and_every_other_event() -> None:
    bus = EventBus()
    streams = Streams(bus)
    stream, _, _ = streams.start(EventFilter(), None, limit=100, who="busy")
    bus.publish(progress(1, 1))
    bus.publish(progress(2, 1))
    bus.publish(job_event(1, "pause"))
    bus.publish(progress(1, 2))
    bus.publish(progress(1, 3))
    bus.publish(job_event(3, "submit"))
    bus.publish(progress(2, 2))
    items = await stream.next(1.0)
    assert items is not None
    seen = [
        (data["action"], data.get("job") or data["jobs"][0], data.get("chunks", {}))  # type: ignore[index]
        for data in (data_of(item.frame) for item in items)
    ]
    assert seen == [
        ("pause", 1, {}),
        ("job_progress", 1, {"total": 10, "done": 3}),
        ("submit", 3, {}),
        ("job_progress", 2, {"total": 10, "done": 2}),
    ]
    numbers = [item.seq for item in items]
    assert numbers == sorted(numbers) and numbers[-1] == bus.last_seq  # resumable in order
    assert stream.coalesced == 3 and streams.coalesced == 3
    # Once read, a job's next progress event waits again (nothing left to replace).
    bus.publish(progress(1, 4))
    again = await stream.next(1.0)
    assert again is not None and [item.event.chunks["done"] for item in again] == [4]  # type: ignore[attr-defined]


async def test_a_state_change_is_never_merged_away() -> None:
    bus = EventBus()
    streams = Streams(bus)
    stream, _, _ = streams.start(EventFilter(), None, limit=100, who="busy")
    bus.publish(progress(1, 1))
    bus.publish(progress(1, 9, action="job_state", state="paused"))  # replaces the first
    bus.publish(progress(1, 9))  # a later job_progress does not replace the state change
    bus.publish(progress(1, 10, action="job_state", state="done"))
    items = await stream.next(1.0)
    assert items is not None
    assert [(item.event.action, item.event.state) for item in items] == [  # type: ignore[attr-defined]
        ("job_state", "paused"),
        ("job_state", "done"),
    ]


async def test_merged_progress_keeps_a_busy_client_under_its_bound() -> None:
    bus = EventBus()
    streams = Streams(bus)
    stream, _, _ = streams.start(EventFilter(), None, limit=20, who="busy")
    for done in range(1000):  # a client that reads nothing while 10 jobs move on
        for job in range(10):
            bus.publish(progress(job, done))
    assert stream in streams.open and len(stream.waiting) == 10
    items = await stream.next(1.0)
    assert items is not None
    assert {item.event.job: item.event.chunks["done"] for item in items} == {  # type: ignore[attr-defined]
        job: 999 for job in range(10)
    }
    for job in range(25):  # other events are never merged: past the bound, dropped
        bus.publish(job_event(job))
    assert stream.ended and streams.dropped == 1


async def test_a_replay_is_framed_like_the_live_events() -> None:
    bus = EventBus()
    streams = Streams(bus)
    for job in range(3):
        bus.publish(job_event(job))
    stream, replay, missed = streams.start(EventFilter(), bus.last_seq - 2, limit=10, who="back")
    assert not missed
    kept = list(bus.recent)[-2:]
    assert [item.frame for item in replay] == [
        frame(bus.last_seq - 1, kept[0]),
        frame(bus.last_seq, kept[1]),
    ]
    assert [data_of(item.frame)["jobs"] for item in replay] == [[1], [2]]
    assert stream in streams.open


async def test_a_burst_goes_out_in_few_hand_outs_with_each_jobs_newest_progress() -> None:
    bus = EventBus()
    streams = Streams(bus)
    stream, _, _ = streams.start(EventFilter(), None, limit=10_000, who="u")
    stream.gather_s = 0.1
    bus.publish(job_event(1, "submit"))
    first = await stream.next(1.0)  # the first after a quiet spell: at once
    assert first is not None and len(first) == 1
    handed: list[list[int]] = []

    async def read() -> None:
        while (items := await stream.next(0.3)) is not None:
            if not items:
                return
            handed.append([item.seq for item in items])

    reader = asyncio.create_task(read())
    loop = asyncio.get_running_loop()
    began = loop.time()
    for done in range(300):  # a burst over about 0.3 s: node events and one job's progress
        bus.publish(NodeStateEvent(action="node_online", actor="system", node=done, name="n"))
        bus.publish(progress(1, done))
        await asyncio.sleep(0.001)
    spent_s = loop.time() - began
    await reader
    assert len(handed) <= spent_s / stream.gather_s + 2  # not one hand-out per event
    numbers = [seq for batch in handed for seq in batch]
    assert numbers == sorted(numbers)
    # Every node event came; of the progress events, one per hand-out at most, the last one too.
    assert len(numbers) - 300 <= len(handed) and numbers[-1] == bus.last_seq
    assert streams.coalesced >= 300 - len(handed)
