"""Connect N simulated clients to a fresh dispatcher; print the handshake time and the
dispatcher's own CPU (share of one core) while they sit idle and heartbeat.

`python -m benchmarks.scaleprobes.connect --clients 10000 [--profile FILE] [--idle-s 10]`
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.cpu import TICKS_PER_S, process_ticks
from benchmarks.farm import HOST, Dispatcher, raise_open_files
from benchmarks.scaleprobes.trees import probe_parser, tree_env


def main() -> None:
    parser = probe_parser()
    parser.add_argument("--clients", type=int, default=10000)
    parser.add_argument("--idle-s", type=float, default=5.0)
    parser.add_argument("--heartbeat-s", type=float, default=5.0)
    parser.add_argument("--profile", default="")
    parser.add_argument("--loop", default="uvloop")
    args = parser.parse_args()
    raise_open_files(args.clients + 256)
    with tempfile.TemporaryDirectory(prefix="probe-connect-") as scratch:
        data = Path(scratch) / "data"
        env = tree_env(args.base, args.profile)
        d = Dispatcher(data, loop=args.loop, extra_env=env, log_path=Path(scratch) / "d.log")
        with d.start():
            sim = subprocess.Popen(
                [sys.executable, "-m", "benchmarks.simclients", "--host", HOST,
                 "--port", str(d.render_port), "--secret-file", str(d.secret_file),
                 "--clients", str(args.clients), "--warmup-s", "1", "--window-s",
                 str(args.idle_s), "--heartbeat-s", str(args.heartbeat_s)],
                stdout=subprocess.PIPE, text=True)  # fmt: skip
            assert sim.stdout is not None
            ticks = began = 0.0
            start_ticks = process_ticks(d.pid), process_ticks(sim.pid), time.perf_counter()
            connect_cpu = {}
            cpu_pct = 0.0
            result = {}
            for line in sim.stdout:
                if line.startswith("phase connected"):
                    connect_cpu = {
                        "dispatcher_cpu_s": (process_ticks(d.pid) - start_ticks[0]) / TICKS_PER_S,
                        "sim_cpu_s": (process_ticks(sim.pid) - start_ticks[1]) / TICKS_PER_S,
                        "wall_s": round(time.perf_counter() - start_ticks[2], 3),
                    }
                if line.startswith("phase window-start"):
                    ticks, began = process_ticks(d.pid), time.perf_counter()
                elif line.startswith("phase window-end"):
                    used = (process_ticks(d.pid) - ticks) / TICKS_PER_S
                    cpu_pct = 100 * used / (time.perf_counter() - began)
                elif line.startswith("result "):
                    result = json.loads(line[7:])
            sim.wait()
        print(
            json.dumps(
                {
                    "clients": result.get("clients"),
                    "handshake_s": result.get("handshake_s"),
                    "closed": result.get("closed_early"),
                    "dispatcher_idle_cpu_pct_of_core": round(cpu_pct, 2),
                    "connect": connect_cpu,
                }
            )
        )


if __name__ == "__main__":
    main()
