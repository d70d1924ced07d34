"""The round trip of one MDispatcherAPI.jobGet from a template hook.

    python -m benchmarks.hook_roundtrip [--calls 10000] [--json]

Starts a real dispatcher (`corral dispatcher`, port 0, a temporary data
directory) with a benchmark template whose onJobPropertiesChanged hook calls
jobGet `--calls` times, timing each call with perf_counter_ns inside the hook
host; a job edit triggers it. A round trip is: the host encodes the call and
writes it to its pipe, the dispatcher loop decodes it, runs jobGet on the
live queue and writes the reply, the host decodes it into an MJob.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.farm import Dispatcher

TEMPLATE = """
import json, statistics, time
import MDispatcherAPI, MTemplateAPI

class RoundTrip(MTemplateAPI.MTemplate):
    def __init__(self):
        MTemplateAPI.MTemplate.__init__(self)
        self.setID(9801)
        self.setKey("roundtrip")

    def onJobPropertiesChanged(self, job):
        calls = int(job.attributeGetInt("calls"))
        job_id = job.getJobId()
        samples = []
        clock = time.perf_counter_ns
        for _ in range(calls):
            started = clock()
            err, got = MDispatcherAPI.jobGet(job_id)
            samples.append(clock() - started)
            if err.getErrorCode() != 0:
                raise RuntimeError(err.getDescription())
        samples.sort()
        pick = lambda q: samples[min(len(samples) - 1, int(q * len(samples)))] / 1000
        result = {"calls": calls, "median_us": statistics.median(samples) / 1000, "p90_us": pick(0.90),
                  "p99_us": pick(0.99), "min_us": samples[0] / 1000, "max_us": samples[-1] / 1000,
                  "mean_us": statistics.fmean(samples) / 1000}
        with open(job.attributeGetString("result_file"), "w") as out:
            json.dump(result, out)

MTemplateAPI.MManager.getUniqueClass().installPyTemplate(RoundTrip())
"""


def measure(calls: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="corral-hook-bench-") as folder:
        root = Path(folder)
        (root / "templates").mkdir()
        (root / "templates" / "roundtrip.py").write_text(TEMPLATE)
        result_file = root / "result.json"
        extra = ("--templates-dir", str(root / "templates"), "--hook-timeout-s", "600")
        with Dispatcher(root / "data", extra_args=extra).start() as d:
            job = d.request("POST", "/api/v1/jobs/", {
                "title": "roundtrip", "template": "roundtrip", "paused": True, "command": ["true"],
                "data": {"calls": calls, "result_file": str(result_file)},
            })  # fmt: skip
            started = time.monotonic()
            d.request("PATCH", f"/api/v1/jobs/{job['id']}", {"notes": "go"})
            while not result_file.exists():
                if time.monotonic() - started > 600:
                    raise RuntimeError("the hook did not finish in 600 s")
                time.sleep(0.05)
            time.sleep(0.05)
            result: dict[str, Any] = json.loads(result_file.read_text())
    result["python"] = sys.version.split()[0]
    result["cpus"] = os.cpu_count()
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.hook_roundtrip", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--calls", type=int, default=10_000)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    options = parser.parse_args(argv)
    if options.calls < 1:
        parser.error("--calls must be at least 1")
    result = measure(options.calls)
    if options.json:
        print(json.dumps(result, indent=2))
    else:
        print(
            f"jobGet from a hook, {result['calls']} calls: median {result['median_us']:.1f} us, "
            f"p90 {result['p90_us']:.1f} us, p99 {result['p99_us']:.1f} us, max {result['max_us']:.1f} us"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
