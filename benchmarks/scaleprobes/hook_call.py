"""Median round trip of one hook call from the dispatcher's side (HookHost.invoke), as the
bench's hook_call figure times it. `python -m benchmarks.scaleprobes.hook_call [--calls 3000]`"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
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
        times = sorted(probes.run_loop(_round_trips(templates, args.calls)))
    print(json.dumps({
        "median_us": round(statistics.median(times) * 1e6, 1),
        "p90_us": round(times[int(0.9 * (len(times) - 1))] * 1e6, 1),
    }))  # fmt: skip


if __name__ == "__main__":
    main()
