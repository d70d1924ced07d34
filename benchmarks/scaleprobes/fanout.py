"""The event streams' fan-out: dispatcher CPU per event published to many streams.

`python -m benchmarks.scaleprobes.fanout [--streams 100] [--events 5000] [--jobs 50]`
publishes node_state and progress events (half each, `--jobs` jobs moving on) on a
real bus with `--streams` unfiltered streams open, each stream taking its events and
joining their frames as the server does before a write (no sockets: the bytes a
write costs are left out). It prints the process CPU per event and per delivery,
the frames encoded and the progress events merged. The readers run after every
`--batch` events, as busy clients would.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time

from dispatcher.events import EventBus, NodeStateEvent, ProgressEvent
from dispatcher.streams import EventFilter, Streams


async def probe(streams_n: int, events_n: int, jobs: int, batch: int) -> dict[str, float]:
    bus = EventBus()
    streams = Streams(bus)
    opened = [
        streams.start(EventFilter(), None, limit=1_000_000, who=f"s{n}")[0]
        for n in range(streams_n)
    ]
    for stream in opened:
        stream.gather_s = 0.0  # the probe reads when it wants to
    chunks = {"total": 100, "queued": 50, "running": 2, "done": 48, "failed": 0, "skipped": 0}
    sent_bytes = 0
    began = time.process_time()
    for number in range(events_n):
        if number % 2:
            bus.publish(
                ProgressEvent(
                    action="job_progress", actor="system", job=number % jobs,
                    state="running", chunks=chunks, running={"12": 50.0},
                )
            )  # fmt: skip
        else:
            bus.publish(NodeStateEvent(action="node_online", actor="system", node=number, name="n"))
        if (number + 1) % batch == 0 or number + 1 == events_n:
            for stream in opened:
                items = await stream.next(1.0)
                sent_bytes += len(b"".join(item.frame for item in items or ()))
    spent_s = time.process_time() - began
    return {
        "streams": streams_n,
        "events": events_n,
        "cpu_us_per_event": round(spent_s * 1e6 / events_n, 2),
        "cpu_ns_per_delivery": round(spent_s * 1e9 / events_n / streams_n),
        "frames_encoded": streams.frames_encoded,
        "progress_merged": streams.coalesced,
        "mb_sent": round(sent_bytes / 1e6, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--streams", type=int, default=100)
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--jobs", type=int, default=50)
    parser.add_argument("--batch", type=int, default=200, help="events between reads")
    args = parser.parse_args()
    found = asyncio.run(probe(args.streams, args.events, args.jobs, args.batch))
    print(json.dumps(found))


if __name__ == "__main__":
    main()
