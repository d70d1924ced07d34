"""The dispatcher loop thread's CPU per no-op chunk, without sockets, A/B against another tree.

`python -m benchmarks.scaleprobes.loopcpu [--sessions 200] [--rounds 80] [--pairs 3]
[--mix] [--group 0] [--base DIR]`

A real dispatcher (its SQLite store and writer thread, every listener wired) runs in
this process on uvloop, on a seeded queue of 10 jobs of 100,000 chunks. Sessions past
the handshake, each with a transport that drops what it is given, hand it a result for
every chunk they hold; a round ends once each has its next assignment and every result
is acknowledged. The figure is the loop thread's own CPU time (`time.thread_time`) per
chunk, the least of `--rounds` rounds of 5 results per session: what the other
processes of a busy machine take shows far less in it than in chunks/s. The socket
reads and writes, frame decoding and the store's thread are not in it. `--base DIR`
measures another source tree too, alternating with this one. `--mix` seeds the
constrained mix of case 3 instead (2,000 jobs of 200 chunks, without the licensed
template; the sessions spread over its pools), and `--group N` hands the results of N
sessions at a time, each lot answered before the next: dispatch passes of about N
chunks, as short loop turns make them.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

RESULTS_PER_ROUND = 5  # per session


class _Sink:
    """A transport that takes every frame and sends none."""

    def write(self, data: bytes) -> None:
        return None

    def close(self) -> None:
        return None

    def is_closing(self) -> bool:
        return False


async def _measure(data: Path, sessions: int, rounds: int, mix: bool, group: int) -> float:
    from dispatcher import protocol as p
    from dispatcher.app import Dispatcher
    from dispatcher.config import Settings
    from dispatcher.model import Node
    from dispatcher.nodes import NodeSession

    settings = Settings(data_dir=data, host="127.0.0.1", port=0, http_port=0, compat_port=None)
    dispatcher = Dispatcher(settings)
    await dispatcher.start()
    try:
        if mix:
            from benchmarks.scale_figures import POOLS, constrained_jobs
            from dispatcher.jobspec import parse_spec

            specs = constrained_jobs(2000, 200)
            for spec in specs:
                spec.pop("template", None)  # (its license group's template is not loaded)
            dispatcher.queue.submit([parse_spec(spec) for spec in specs], "bench")
            await dispatcher.store.commit_future()
        server = dispatcher.node_server
        open_sessions: list[Any] = []
        for index in range(sessions):
            node = Node(id=1_000_000 + index, name=f"loop{index}", uuid=str(uuid.uuid4()))
            if mix:
                node.pools = [f"pool{index % POOLS:02d}"]
            node.online = True
            dispatcher.queue.nodes[node.id] = node
            session = NodeSession(server)
            session.handshake_over()
            session.transport = _Sink()  # type: ignore[assignment]
            session.state, session.node = "ready", node
            server.live[node.id] = session
            open_sessions.append(session)
            server.scheduler.node_free(session)

        async def answered() -> None:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                await asyncio.sleep(0.0005)
                if not server._unacked and all(s.assigned for s in open_sessions):
                    return
            raise RuntimeError("the dispatcher did not answer within 30 s")

        await answered()
        gc.collect()
        gc.freeze()
        gc.set_threshold(10_000, 20, 20)  # as the `corral dispatcher` process does
        best = float("inf")
        for _ in range(rounds):
            began, chunks = time.thread_time(), 0
            lot = group or len(open_sessions)
            for _ in range(RESULTS_PER_ROUND):
                for first in range(0, len(open_sessions), lot):
                    for session in open_sessions[first : first + lot]:
                        for ref in list(session.assigned.values()):
                            server.on_result(session, p.Result(ref, True, 0, "", 1.0, 1.0))
                            chunks += 1
                    await answered()
            best = min(best, (time.thread_time() - began) / chunks)
        return best
    finally:
        await dispatcher.close()


def _child(sessions: int, rounds: int, mix: bool, group: int) -> dict[str, float]:
    import uvloop

    from benchmarks.seed import seed_queue

    with tempfile.TemporaryDirectory(prefix="probe-loopcpu-") as scratch:
        data = Path(scratch) / "data"
        if not mix:
            seed_queue(data, jobs=10, chunks_per_job=100_000)
        best = uvloop.run(_measure(data, sessions, rounds, mix, group))
    return {"loop_cpu_us_per_chunk": round(best * 1e6, 2)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sessions", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=80)
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--mix", action="store_true", help="the constrained mix of case 3")
    parser.add_argument("--group", type=int, default=0, help="sessions per lot (0: all)")
    parser.add_argument("--base", default="")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(_child(args.sessions, args.rounds, args.mix, args.group)))
        return
    this = str(Path(__file__).resolve().parents[2])
    trees = {"this": this} if not args.base else {"base": args.base, "this": this}
    found: dict[str, list[float]] = {name: [] for name in trees}
    for _ in range(args.pairs):
        for name, tree in trees.items():
            # This file runs in each tree (the base may predate it) on that tree's code:
            # -P keeps this file's folder off sys.path.
            command = [sys.executable, "-P", __file__, "--child", "--group", str(args.group)]
            command += ["--mix"] if args.mix else []
            child = subprocess.run(
                [*command, "--sessions", str(args.sessions), "--rounds", str(args.rounds)],
                env={**os.environ, "PYTHONPATH": tree},
                capture_output=True,
                text=True,
            )
            if child.returncode != 0:
                raise SystemExit(f"the {name} tree's run failed:\n{child.stderr[-2000:]}")
            found[name].append(json.loads(child.stdout.splitlines()[-1])["loop_cpu_us_per_chunk"])
    print(json.dumps({"load_1m": os.getloadavg()[0], "loop_cpu_us_per_chunk": found}))


if __name__ == "__main__":
    main()
