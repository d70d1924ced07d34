"""Event-stream subscribers: `count` consoles following `GET /api/v1/events`, in one
process apart from the harness, reading every event's bytes as a browser would (and
counting the events without parsing them line by line in Python, which would take a
large share of the CPU the dispatcher is measured on).

Run as `python -m benchmarks.consoles --url URL --token-file F --count N`; it prints
`phase subscribed` once every stream answered, reads until a line arrives on stdin,
then prints `result {json}` (events and bytes received, streams that failed).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any


async def follow(args: argparse.Namespace) -> dict[str, Any]:
    import aiohttp

    token = Path(args.token_file).read_text().strip()
    headers = {"Authorization": f"Bearer {token}", "Accept": "text/event-stream"}
    counts = {"events": 0, "bytes": 0, "failed": 0}
    opened = asyncio.Event()
    answered = 0
    timeout = aiohttp.ClientTimeout(total=None, sock_read=None)
    connector = aiohttp.TCPConnector(limit=0)

    async def one(session: aiohttp.ClientSession) -> None:
        nonlocal answered
        try:
            async with session.get(args.url + "/api/v1/events", headers=headers) as reply:
                if reply.status != 200:
                    raise RuntimeError(f"status {reply.status}")
                answered += 1
                if answered == args.count:
                    opened.set()
                # Counted a chunk at a time, as a browser's own parser would take them: a
                # line-by-line reader here would take the CPU the dispatcher is measured on.
                tail = b""
                async for chunk in reply.content.iter_any():
                    counts["bytes"] += len(chunk)
                    seen = tail + chunk
                    counts["events"] += seen.count(b"\nevent:")
                    tail = seen[-(len(b"\nevent:") - 1) :]
        except (TimeoutError, aiohttp.ClientError, RuntimeError):
            counts["failed"] += 1
            answered += 1
            if answered == args.count:
                opened.set()

    began = time.perf_counter()
    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
        streams = [asyncio.create_task(one(session), name=f"stream-{n}") for n in range(args.count)]
        await asyncio.wait_for(opened.wait(), 60)
        print("phase subscribed", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
        for stream in streams:
            stream.cancel()
        await asyncio.gather(*streams, return_exceptions=True)
    return {**counts, "streams": args.count, "elapsed_s": round(time.perf_counter() - began, 3)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.consoles")
    parser.add_argument("--url", required=True)
    parser.add_argument("--token-file", required=True)
    parser.add_argument("--count", type=int, required=True)
    args = parser.parse_args(argv)
    print("result " + json.dumps(asyncio.run(follow(args))), flush=True)


if __name__ == "__main__":
    main()
