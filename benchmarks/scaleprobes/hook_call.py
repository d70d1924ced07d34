"""Median round trip of one hook call from the dispatcher's side (HookHost.invoke), as the
bench's hook_call figure times it. `python -m benchmarks.scaleprobes.hook_call [--calls 3000]`"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from benchmarks import probes
from benchmarks.hooks_figures import HOOK_TEMPLATE, _round_trips


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=3000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="probe-hook-") as scratch:
        templates = Path(scratch)
        (templates / "benchhook.py").write_text(HOOK_TEMPLATE)
        cpu_began = time.process_time()
        times = sorted(probes.run_loop(_round_trips(templates, args.calls)))
        cpu_s = time.process_time() - cpu_began
    print(json.dumps({
        "median_us": round(statistics.median(times) * 1e6, 1),
        "p90_us": round(times[int(0.9 * (len(times) - 1))] * 1e6, 1),
        "dispatcher_side_cpu_s": round(cpu_s, 3),  # (the host's start included)
    }))  # fmt: skip


if __name__ == "__main__":
    main()
