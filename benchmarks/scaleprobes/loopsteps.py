"""How long a console's job-list poll holds the dispatcher's loop at once: the thread CPU
of every step of the loop while 100-job pages are fetched, this tree and `--base`
alternating.

`python -m benchmarks.scaleprobes.loopsteps [--jobs 10000] [--pages 300] [--base DIR]
[--rounds 2]`

The dispatcher runs on the stdlib loop (uvloop's steps cannot be timed from Python),
with a `sitecustomize` made for the run that times each `Handle._run` by
`time.thread_time()` and writes the steps over 50 µs at exit. It prints, per run, the
steps over 0.5 and 1 ms, the p99 of those steps and the loop CPU per page. A step that
holds the loop delays every dispatch waiting behind it: the consoles case's p99.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from benchmarks.farm import Dispatcher
from benchmarks.listing_figures import Client, _cursors
from benchmarks.scaleprobes.trees import probe_parser, trees
from benchmarks.seed import copy_data_dir, seed_queue
from benchmarks.simclients import percentile

TIMER = """
import asyncio.events, atexit, json, os, time
_run, _steps = asyncio.events.Handle._run, []
def _timed(self):
    began = time.thread_time()
    try:
        return _run(self)
    finally:
        spent = time.thread_time() - began
        if spent > 5e-5:
            _steps.append(spent)
asyncio.events.Handle._run = _timed
atexit.register(lambda: open(os.environ["STEPS_FILE"], "w").write(json.dumps(_steps)))
"""


def _one_run(seed: Path, scratch: Path, tree: str, pages: int) -> dict[str, float]:
    site = scratch / "site"
    site.mkdir(exist_ok=True)
    (site / "sitecustomize.py").write_text(TIMER)
    steps_file = scratch / "steps.json"
    env = {"CORRAL_EVENT_LOOP": "asyncio", "STEPS_FILE": str(steps_file),
           "PYTHONPATH": f"{tree}:{site}" if tree else str(site)}  # fmt: skip
    data = copy_data_dir(seed, scratch / "data")
    with Dispatcher(data, extra_env=env, log_path=scratch / "d.log").start() as d:
        client = Client(d)
        paths = _cursors(client, "/api/v1/jobs/?limit=100")
        for index in range(pages):
            client.get(paths[index % len(paths)])
        client.close()
    steps = sorted(json.loads(steps_file.read_text()))
    # The loading of the queue at start is a few steps of hundreds of milliseconds.
    steps = [step for step in steps if step < 0.05]
    fetched = pages + len(paths)
    return {
        "steps_over_1ms": sum(1 for step in steps if step > 1e-3),
        "steps_over_0_5ms": sum(1 for step in steps if step > 5e-4),
        "p99_step_ms": round(percentile(steps, 0.99) * 1000, 3),
        "loop_ms_per_page": round(sum(steps) / fetched * 1000, 3),
        "pages": fetched,
    }


def main() -> None:
    parser = probe_parser()
    parser.add_argument("--jobs", type=int, default=10000)
    parser.add_argument("--pages", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="probe-loopsteps-") as folder:
        root = Path(folder)
        seed = seed_queue(root / "seed", jobs=args.jobs, chunks_per_job=20)
        runs = 0
        for _ in range(args.rounds):
            for name, tree in trees(args.base):
                runs += 1
                scratch = root / f"run-{runs}"
                scratch.mkdir()
                print(json.dumps({"tree": name, **_one_run(seed, scratch, tree, args.pages)}))


if __name__ == "__main__":
    main()
