"""Connect N simulated clients (a Fleet: the headline's processes and gates) to a fresh
dispatcher, empty or with a seeded queue, alternately from this tree and from another
source tree; print each run's connect time and the dispatcher's CPU per handshake.

`python -m benchmarks.scaleprobes.connect_compare --clients 10000 --base DIR
[--jobs 10000 --chunks-per-job 100] [--rounds 2]`

Same-run ratios are the figure to quote on a shared machine: the two trees alternate
and meet the same load.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.cpu import TICKS_PER_S, process_ticks
from benchmarks.farm import Dispatcher, raise_open_files
from benchmarks.fleet import Fleet
from benchmarks.seed import copy_data_dir, seed_queue


def _user_system_ticks(pid: int) -> tuple[int, int]:
    """(user, system) CPU ticks of one process so far."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return int(fields[11]), int(fields[12])


def one_run(data: Path, clients: int, base: str, log: Path, profile: str) -> dict[str, Any]:
    env = {"PYTHONPATH": base} if base else {}
    if profile:
        env["CORRAL_PROFILE"] = f"{profile}.{'base' if base else 'this'}"
    d = Dispatcher(data, extra_env=env, log_path=log)
    with d.start(), Fleet(d, clients, label="probe").start() as fleet:
        ticks = process_ticks(d.pid)
        user, system = _user_system_ticks(d.pid)
        connect_s = fleet.connect()
        used_s = (process_ticks(d.pid) - ticks) / TICKS_PER_S
        user_after, system_after = _user_system_ticks(d.pid)
        online = d.status()["nodes_online"]
    return {
        "tree": "base" if base else "this",
        "connect_s": round(connect_s, 3),
        "dispatcher_cpu_s": round(used_s, 2),
        "cpu_us_per_handshake": round(1e6 * used_s / clients, 1),
        "system_share": round(
            (system_after - system) / max(1, user_after - user + system_after - system), 2
        ),
        "online": online,
        "load_1m": round(os.getloadavg()[0], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=10000)
    parser.add_argument("--base", default="", help="the other source tree (empty: this only)")
    parser.add_argument("--jobs", type=int, default=0, help="seeded jobs (0: an empty queue)")
    parser.add_argument("--chunks-per-job", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--profile", default="", help="cProfile stats to FILE.this / FILE.base")
    args = parser.parse_args()
    raise_open_files(args.clients + 256)
    with tempfile.TemporaryDirectory(prefix="probe-connect-") as scratch:
        root = Path(scratch)
        seeded = None
        if args.jobs:
            seeded = seed_queue(root / "seed", jobs=args.jobs, chunks_per_job=args.chunks_per_job)
        trees = [""] + ([args.base] if args.base else [])
        runs = 0
        for _ in range(args.rounds):
            for base in trees:
                runs += 1
                data = root / f"run-{runs}"
                if seeded is not None:
                    copy_data_dir(seeded, data)
                began = time.perf_counter()
                result = one_run(data, args.clients, base, root / f"d-{runs}.log", args.profile)
                result["run_s"] = round(time.perf_counter() - began, 1)
                print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
