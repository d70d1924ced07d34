"""Connect N simulated clients (a Fleet: the headline's processes and gates) to a fresh
dispatcher, empty or with a seeded queue, alternately from this tree and from another
source tree; print each run's connect time and the dispatcher's CPU per handshake.

`python -m benchmarks.scaleprobes.connect_compare --clients 10000 --base DIR
[--jobs 10000 --chunks-per-job 100] [--rounds 2]`

Same-run ratios are the figure to quote on a shared machine: the two trees alternate
and meet the same load.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from benchmarks.cpu import TICKS_PER_S, process_ticks
from benchmarks.farm import HOST, Dispatcher, raise_open_files
from benchmarks.fleet import Fleet, processes_for
from benchmarks.scaleprobes.trees import probe_parser, tree_env
from benchmarks.seed import copy_data_dir, seed_queue


def _user_system_ticks(pid: int) -> tuple[int, int]:
    """(user, system) CPU ticks of one process so far."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return int(fields[11]), int(fields[12])


def _loop_schedstat(pid: int) -> tuple[float, float]:
    """(seconds on a CPU, seconds runnable but waiting for one) of the main thread."""
    try:
        with open(f"/proc/{pid}/task/{pid}/schedstat") as stat:
            ran, waited, _ = stat.read().split()
    except OSError:
        return math.nan, math.nan
    return int(ran) / 1e9, int(waited) / 1e9


def _main_thread_ticks(pid: int) -> int:
    """user + system ticks of a process's main thread (the event loop) alone."""
    with open(f"/proc/{pid}/task/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


class AtOnce:
    """Simulated clients that answer every Assign at once, as real ones do (no gate):
    with a queue, results and dispatch run while the others still connect."""

    def __init__(self, d: Dispatcher, clients: int) -> None:
        self.clients = clients
        count = processes_for(clients)
        share = [clients // count + (1 if i < clients % count else 0) for i in range(count)]
        self.connected: list[float] = []
        self.results: list[dict[str, Any]] = []
        self.began = time.perf_counter()
        self.processes = [
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "benchmarks.simclients",
                    "--host",
                    HOST,
                    "--port",
                    str(d.render_port),
                    "--secret-file",
                    str(d.secret_file),
                    "--clients",
                    str(size),
                    "--warmup-s",
                    "0",
                    "--window-s",
                    "0.5",
                    "--name-prefix",
                    f"now{index}-",
                    "--connect-timeout-s",
                    "120",
                ],
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                text=True,
            )  # fmt: skip
            for index, size in enumerate(share)
        ]
        self.readers = [
            threading.Thread(target=self._read, args=(process,), daemon=True)
            for process in self.processes
        ]
        for reader in self.readers:
            reader.start()

    def _read(self, process: subprocess.Popen[str]) -> None:
        assert process.stdout is not None
        for line in process.stdout:
            if line.startswith("phase connected"):
                self.connected.append(time.perf_counter())
            elif line.startswith("result "):
                self.results.append(json.loads(line[7:]))

    def connect(self) -> float:
        """Seconds from the start to the last process's last Welcome; NaN if one failed."""
        for reader in self.readers:
            reader.join(timeout=300)
        for process in self.processes:
            if process.poll() is None:
                process.kill()
            process.wait()
        if len(self.connected) < len(self.processes):
            return math.nan
        return max(self.connected) - self.began


def one_run(
    data: Path,
    clients: int,
    base: str,
    log: Path,
    profile: str,
    at_once: bool = False,
    processes: int = 0,
) -> dict[str, Any]:
    env = tree_env(base, profile and f"{profile}.{'base' if base else 'this'}")
    d = Dispatcher(data, extra_env=env, log_path=log)
    with d.start(), contextlib.ExitStack() as stack:
        if not at_once:
            fleet: Fleet | AtOnce = stack.enter_context(
                Fleet(d, clients, label="probe", processes=processes).start()
            )
        ticks = process_ticks(d.pid)
        user, system = _user_system_ticks(d.pid)
        loop_ticks = _main_thread_ticks(d.pid)
        ran, waited = _loop_schedstat(d.pid)
        sim_ticks = 0 if at_once else sum(process_ticks(pid) for pid in fleet.pids)
        if at_once:
            fleet = AtOnce(d, clients)
        connect_s = fleet.connect()
        used_s = (process_ticks(d.pid) - ticks) / TICKS_PER_S
        sim_s = (
            math.nan
            if isinstance(fleet, AtOnce)
            else (sum(process_ticks(pid) for pid in fleet.pids) - sim_ticks) / TICKS_PER_S
        )
        user_after, system_after = _user_system_ticks(d.pid)
        loop_s = (_main_thread_ticks(d.pid) - loop_ticks) / TICKS_PER_S
        ran_after, waited_after = _loop_schedstat(d.pid)
        online = d.status()["nodes_online"]
    return {
        "tree": "base" if base else "this",
        "connect_s": round(connect_s, 3),
        "dispatcher_cpu_s": round(used_s, 2),
        "cpu_us_per_handshake": round(1e6 * used_s / clients, 1),
        "loop_us_per_handshake": round(1e6 * loop_s / clients, 1),
        "sim_us_per_handshake": round(1e6 * sim_s / clients, 1),
        # Where the loop thread's wall time went: running, waiting for a CPU, or idle.
        "loop_ran_s": round(ran_after - ran, 3),
        "loop_queued_s": round(waited_after - waited, 3),
        "system_share": round(
            (system_after - system) / max(1, user_after - user + system_after - system), 2
        ),
        "online": online,
        "closed_early": sum(result.get("closed_early", 0) for result in fleet.results)
        if isinstance(fleet, AtOnce)
        else None,
        "load_1m": round(os.getloadavg()[0], 2),
    }


def main() -> None:
    parser = probe_parser()
    parser.add_argument("--clients", type=int, default=10000)
    parser.add_argument("--jobs", type=int, default=0, help="seeded jobs (0: an empty queue)")
    parser.add_argument("--chunks-per-job", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument(
        "--at-once", action="store_true", help="clients answer Assigns while others connect"
    )
    parser.add_argument("--profile", default="", help="cProfile stats to FILE.this / FILE.base")
    parser.add_argument(
        "--processes", type=int, default=0, help="client processes (0: one per 2,500 clients)"
    )
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
                result = one_run(
                    data,
                    args.clients,
                    base,
                    root / f"d-{runs}.log",
                    args.profile,
                    args.at_once,
                    args.processes,
                )
                result["run_s"] = round(time.perf_counter() - began, 1)
                print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
