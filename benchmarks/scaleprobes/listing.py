"""Time job-listing pages against a dispatcher with N queued jobs.

`python -m benchmarks.scaleprobes.listing --jobs 10000 [--base DIR] [--profile FILE]`
prints p50/p99 of `?limit=100` pages at random cursors, of the first page, and of
a `?where=` page.
"""

from __future__ import annotations

import json
import random
import tempfile
import urllib.parse
from pathlib import Path

from benchmarks.farm import Dispatcher
from benchmarks.listing_figures import Client, _cursors
from benchmarks.scaleprobes.trees import probe_parser, tree_env
from benchmarks.seed import seed_queue
from benchmarks.simclients import percentile


def timed(client: Client, paths: list[str], samples: int) -> dict[str, float]:
    rng = random.Random(1)
    times = sorted(client.get(rng.choice(paths))[0] for _ in range(samples))
    return {
        "p50_ms": round(percentile(times, 0.5) * 1000, 2),
        "p99_ms": round(percentile(times, 0.99) * 1000, 2),
    }


def main() -> None:
    parser = probe_parser()
    parser.add_argument("--jobs", type=int, default=10000)
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--profile", default="")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="probe-listing-") as scratch:
        data = seed_queue(Path(scratch) / "data", jobs=args.jobs, chunks_per_job=10)
        env = tree_env(args.base, args.profile)
        with Dispatcher(data, extra_env=env, log_path=Path(scratch) / "d.log").start() as d:
            client = Client(d)
            pages = _cursors(client, "/api/v1/jobs/?limit=100")
            where = urllib.parse.quote('["Priority", "<", 50]')
            found = {
                "pages": len(pages),
                "random_page": timed(client, pages, args.samples),
                "first_page": timed(client, pages[:1], args.samples),
                "where_page": timed(client, [f"/api/v1/jobs/?limit=100&where={where}"], 50),
                "state_page": timed(client, ["/api/v1/jobs/?limit=100&state=queued"], 50),
            }
            client.close()
        print(json.dumps(found))


if __name__ == "__main__":
    main()
