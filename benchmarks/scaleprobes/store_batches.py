"""Results a second through the SQLite store alone, in batches spread over many jobs.

`python -m benchmarks.scaleprobes.store_batches [--jobs 200] [--chunks 2000]
[--per-batch 100] [--spread 50] [--batches 300] [--runs 3] [--base DIR]`

Each batch records `per-batch` finished chunks (their attempt rows and chunk
changes) over `spread` jobs picked at random, as the constrained case's results
land, and awaits its commit (synchronous=FULL, a real file). With `--base DIR` each
run is followed by the same run of the store from DIR, in a process of its own.
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path


async def _measure(args: argparse.Namespace) -> dict[str, float]:
    from dispatcher.jobspec import build_job, parse_spec
    from dispatcher.model import CHUNK_DONE
    from dispatcher.store.sqlite import SqliteStore

    with tempfile.TemporaryDirectory(prefix="probe-store-") as scratch:
        store = SqliteStore(Path(scratch) / "corral.db")
        await store.open()
        jobs = [
            build_job(parse_spec({"title": f"j{i}", "frames": f"1-{args.chunks}"}), i, i, "a")
            for i in range(1, args.jobs + 1)
        ]
        for job in jobs:
            store.put_job(job)
        await store.commit()
        indexed = "index" in inspect.signature(store.put_chunks).parameters
        rng = random.Random(1)
        done = dict.fromkeys((job.id for job in jobs), 0)
        commits = []
        began = time.perf_counter()
        for _ in range(args.batches):
            chosen = rng.sample(jobs, args.spread)
            for step in range(args.per_batch):
                job = chosen[step % args.spread]
                index = done[job.id] % args.chunks
                done[job.id] += 1
                job.set_chunk(index, CHUNK_DONE)
                job.chunk_attempts[index] += 1
                store.put_run((job.id, index, 1), 1, "done", 1.0, 2.0, 0, "")
                if indexed:
                    store.put_chunks(job, index)
                else:  # (a tree from before chunk changes)
                    store.put_chunks(job)
            started = time.perf_counter()
            await store.commit()
            commits.append(time.perf_counter() - started)
        elapsed = time.perf_counter() - began
        await store.close()
    commits.sort()
    return {
        "results_per_s": round(args.batches * args.per_batch / elapsed),
        "commit_p50_ms": round(commits[len(commits) // 2] * 1000, 2),
        "commit_p90_ms": round(commits[int(len(commits) * 0.9)] * 1000, 2),
        "commit_max_ms": round(commits[-1] * 1000, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--chunks", type=int, default=2000)
    parser.add_argument("--per-batch", type=int, default=100)
    parser.add_argument("--spread", type=int, default=50)
    parser.add_argument("--batches", type=int, default=300)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--base", default="")
    parser.add_argument("--once", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.once:
        print(json.dumps(asyncio.run(_measure(args))))
        return
    # The script runs by its path, so that `dispatcher` comes from PYTHONPATH only.
    trees = [("new", str(Path(__file__).resolve().parents[2]))]
    if args.base:
        trees.append(("base", args.base))
    forwarded = [arg for arg in sys.argv[1:] if arg not in ("--base", args.base)]
    for run in range(args.runs):
        for name, path in trees:
            found = subprocess.run(
                [sys.executable, __file__, *forwarded, "--once"],
                capture_output=True, text=True, check=True, cwd=tempfile.gettempdir(),
                env=dict(os.environ, PYTHONPATH=path),
            )  # fmt: skip
            print(json.dumps({"tree": name, "run": run, **json.loads(found.stdout)}), flush=True)


if __name__ == "__main__":
    main()
