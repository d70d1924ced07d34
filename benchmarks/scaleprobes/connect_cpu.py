"""The dispatcher loop thread's CPU per handshake, A/B against another tree.

`python -m benchmarks.scaleprobes.connect_cpu [--clients 3000] [--pairs 3] [--base DIR]`

A real dispatcher (its SQLite store and writer thread, every listener wired) runs in
this process on uvloop, on an empty data directory; one process of simulated clients
(`benchmarks.simclients`, always this tree's, so both trees meet the same clients)
connects `--clients` of them with the real handshake. The figure is the loop thread's
own CPU time (`time.thread_time`) from the clients' start to their last Welcome, per
handshake: the other processes of a busy machine show far less in it than in the
connect time. It holds the socket reads and writes; the store's thread is not in it.
Also given: the collector's time per handshake and the objects it tracks per connected
client. `--base DIR` measures another source tree too, alternating with this one.
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
from pathlib import Path
from typing import Any

THIS_TREE = str(Path(__file__).resolve().parents[2])


async def _measure(data: Path, clients: int, sim_tree: str) -> dict[str, float]:
    from dispatcher.app import Dispatcher
    from dispatcher.config import Settings

    settings = Settings(data_dir=data, host="127.0.0.1", port=0, http_port=0, compat_port=None)
    dispatcher = Dispatcher(settings)
    await dispatcher.start()
    try:
        gc.collect()
        gc.freeze()
        gc.set_threshold(10_000, 20, 20)  # as the `corral dispatcher` process does
        collecting = [0.0, 0.0]  # (began, seconds in all)

        def timed(phase: str, _info: dict[str, Any]) -> None:
            if phase == "start":
                collecting[0] = time.perf_counter()
            else:
                collecting[1] += time.perf_counter() - collecting[0]

        tracked = len(gc.get_objects())
        sim = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "benchmarks.simclients", "--port",
            str(dispatcher.node_server.address[1]), "--secret-file",
            str(data / "farm.secret"), "--clients", str(clients), "--warmup-s", "0",
            "--window-s", "0.1", "--connect-timeout-s", "120",
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            env={**os.environ, "PYTHONPATH": sim_tree},
        )  # fmt: skip
        assert sim.stdout is not None
        gc.callbacks.append(timed)
        began = time.thread_time()
        while True:
            line = await sim.stdout.readline()
            if not line:
                raise RuntimeError("the simulated clients ended before every Welcome")
            if line.startswith(b"phase connected"):
                break
        used_s = time.thread_time() - began
        gc.callbacks.remove(timed)
        per_client = (len(gc.get_objects()) - tracked) / clients
        await sim.communicate()
        return {
            "loop_cpu_us_per_handshake": round(1e6 * used_s / clients, 1),
            "gc_us_per_handshake": round(1e6 * collecting[1] / clients, 2),
            "tracked_objects_per_client": round(per_client, 1),
        }
    finally:
        await dispatcher.close()


def _child(clients: int, sim_tree: str) -> dict[str, float]:
    import uvloop

    with tempfile.TemporaryDirectory(prefix="probe-connect-cpu-") as scratch:
        return uvloop.run(_measure(Path(scratch) / "data", clients, sim_tree))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=3000)
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--base", default="")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--sim-tree", default=THIS_TREE, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(_child(args.clients, args.sim_tree)))
        return
    trees = {"this": THIS_TREE} if not args.base else {"base": args.base, "this": THIS_TREE}
    found: dict[str, list[dict[str, float]]] = {name: [] for name in trees}
    for _ in range(args.pairs):
        for name, tree in trees.items():
            # This file runs in each tree (the base may predate it) on that tree's code:
            # -P keeps this file's folder off sys.path.
            command = [sys.executable, "-P", __file__, "--child", "--sim-tree", THIS_TREE]
            child = subprocess.run(
                [*command, "--clients", str(args.clients)],
                env={**os.environ, "PYTHONPATH": tree},
                capture_output=True,
                text=True,
            )
            if child.returncode != 0:
                raise SystemExit(f"the {name} tree's run failed:\n{child.stderr[-2000:]}")
            found[name].append(json.loads(child.stdout.splitlines()[-1]))
    print(json.dumps({"load_1m": os.getloadavg()[0], "clients": args.clients, "runs": found}))


if __name__ == "__main__":
    main()
