"""No-op chunks/s through a dispatcher with simulated clients, A/B against another tree.

`python -m benchmarks.scaleprobes.hotpath [--clients 200] [--ahead 0] [--base DIR] [--profile F]`
"""

from __future__ import annotations

import argparse
import json
import secrets
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from benchmarks import cpu
from benchmarks.farm import Dispatcher, run_simclients
from benchmarks.scaleprobes.trees import probe_parser, tree_env
from benchmarks.seed import seed_queue


def main() -> None:
    parser = probe_parser()
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--ahead", type=int, default=0)
    parser.add_argument("--window-s", type=float, default=4.0)
    parser.add_argument("--profile", default="")
    parser.add_argument(
        "--reference", default="", help="run this reference loop script instead of Corral"
    )
    args = parser.parse_args()
    if args.reference:
        reference(args)
        return
    with tempfile.TemporaryDirectory(prefix="probe-hot-") as scratch:
        data = seed_queue(Path(scratch) / "data", jobs=10, chunks_per_job=100_000)
        d = Dispatcher(data, assign_ahead=args.ahead, extra_env=tree_env(args.base, args.profile))
        with d.start():
            window: dict[str, int] = {}
            real_start = cpu.CpuWindow.start

            def start(pids: object = ()) -> cpu.CpuWindow:  # the window opens: note our ticks
                window["began"] = cpu.process_ticks(d.pid)
                return real_start(pids)  # type: ignore[arg-type]

            cpu.CpuWindow.start = start  # type: ignore[method-assign]
            result, shares = run_simclients(
                d, clients=args.clients, warmup_s=1.0, window_s=args.window_s, ahead=args.ahead
            )
            ticks = cpu.process_ticks(d.pid) - window["began"]  # (window end + a moment)
    acked = result["acked"]
    print(json.dumps({
        "chunks_per_s": round(result["chunks_per_s"]),
        "p99_ms": result["latency"].get("p99_ms"),
        "dispatcher_cpu_us_per_chunk": round(ticks / cpu.TICKS_PER_S / max(1, acked) * 1e6, 1),
        "cpu": shares,
    }))  # fmt: skip


@dataclass
class _Reference:
    """A reference loop process, with what run_simclients reads of a dispatcher."""

    secret_file: Path
    process: subprocess.Popen[str]
    render_port: int

    @property
    def pid(self) -> int:
        return self.process.pid


def reference(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="probe-ref-") as scratch:
        secret = Path(scratch) / "farm.secret"
        secret.write_text(secrets.token_hex(32))
        process = subprocess.Popen(
            [sys.executable, args.reference, "--secret-file", str(secret),
             "--db", str(Path(scratch) / "ref.db"), "--chunks", "1000000",
             "--ahead", str(args.ahead)],
            stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert process.stdout is not None
        line = process.stdout.readline()
        port = int(line.split("=", 1)[1].rsplit(":", 1)[1])
        try:
            result, shares = run_simclients(
                _Reference(secret, process, port),  # type: ignore[arg-type]
                clients=args.clients, warmup_s=1.0, window_s=args.window_s, ahead=args.ahead,
            )  # fmt: skip
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=30)
    print(json.dumps({
        "reference_chunks_per_s": round(result["chunks_per_s"]),
        "p99_ms": result["latency"].get("p99_ms"),
        "cpu": shares,
    }))  # fmt: skip


if __name__ == "__main__":
    main()
