"""The garbage collector's pauses in the dispatcher during the constrained case, by
generation, this tree and `--base` alternating.

`python -m benchmarks.scaleprobes.gcpauses [--clients 1000] [--jobs 2000] [--licenses 100]
[--base DIR] [--rounds 2] [--types]`

A `sitecustomize` made for the run times every collection in the dispatcher through
`gc.callbacks` (its generation, its pause, what it freed and, for the older generations,
how many objects it had to scan). For the constrained window it prints, per
generation, the collections per 10 s and their pause p50, p99 and max (ms), the objects
scanned (median and max), the dispatcher's peak RSS in the window and the case's own
figures. `--types` also counts the types of what a middle-generation collection scans,
every 20th one: what survives the young generation.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.dispatcher_figures import Context
from benchmarks.fleet import RssSampler
from benchmarks.runner import HEADLINE
from benchmarks.scale_figures import constrained_run
from benchmarks.scaleprobes.trees import constrained_parser, tree_env_with_site, trees
from benchmarks.simclients import percentile

TIMER = """
import atexit, collections, gc, json, os, time
_clock, _log, _began, _types = time.monotonic, [], [0.0, 0], collections.Counter()
_sample = os.environ.get("GC_TYPES") == "1"
_middle = [0]
def _collected(phase, info):
    generation = info["generation"]
    if phase == "start":
        scanned = 0
        if generation >= 1:
            scanned = sum(len(gc.get_objects(g)) for g in range(generation + 1))
            if _sample and generation == 1 and gc.get_freeze_count():
                _middle[0] += 1
                if _middle[0] % 20 == 1:
                    _types.update(type(o).__name__ for o in gc.get_objects(1))
        _began[1] = scanned
        _began[0] = _clock()
    else:
        _log.append((generation, _began[0], _clock() - _began[0], info["collected"], _began[1]))
gc.callbacks.append(_collected)
def _write():
    with open(os.environ["GC_FILE"], "w") as out:
        json.dump({"log": _log, "types": _types.most_common(25)}, out)
atexit.register(_write)
"""


def _summary(log: list[list[float]], began: float, ended: float) -> dict[str, Any]:
    """Per generation: collections per 10 s, pause p50/p99/max (ms), objects scanned."""
    span = max(ended - began, 1e-9)
    found: dict[str, Any] = {}
    window = [entry for entry in log if began <= entry[1] <= ended]
    every = sorted(entry[2] for entry in window)
    found["all"] = {
        "per_10s": round(len(every) * 10 / span, 1),
        "pause_ms_p99_max": [round(percentile(every, q) * 1000, 2) for q in (0.99, 1.0)],
        "share_of_window": round(sum(every) / span, 4),
    }
    for generation in range(3):
        entries = [entry for entry in window if entry[0] == generation]
        if not entries:
            continue
        pauses = sorted(entry[2] for entry in entries)
        scanned = sorted(entry[4] for entry in entries)
        found[f"gen{generation}"] = {
            "per_10s": round(len(entries) * 10 / span, 1),
            "pause_ms_p50_p99_max": [
                round(percentile(pauses, q) * 1000, 2) for q in (0.5, 0.99, 1.0)
            ],
            "scanned_p50_max": [int(percentile(scanned, 0.5)), scanned[-1]],
            "freed_total": sum(int(entry[3]) for entry in entries),
        }
    return found


def _one_run(ctx: Context, args: argparse.Namespace, tree: str, index: int) -> dict[str, Any]:
    gc_file = ctx.scratch / "gc.json"
    env = {"GC_FILE": str(gc_file), **tree_env_with_site(tree, ctx.scratch, TIMER)}
    if args.types:
        env["GC_TYPES"] = "1"
    edges: dict[str, float] = {}
    sampler: list[RssSampler] = []

    def watch(pid: int, edge: str) -> None:
        edges[edge] = time.monotonic()
        if edge == "start":
            sampler.append(RssSampler(pid).__enter__())
        elif sampler:
            sampler[0].__exit__()

    metrics, _, _ = constrained_run(
        ctx, args.clients, args.jobs, args.licenses, index, env, watch=watch
    )
    written = json.loads(gc_file.read_text())
    shown = ("chunks_per_s", "p99_ms", "why_p99_ms", "why_max_ms")
    rss = sampler[0].samples if sampler else [0]
    found = {key: round(metrics[key], 2) for key in shown}
    found["rss_mb_first_peak_last"] = [round(v / 2**20) for v in (rss[0], max(rss), rss[-1])]
    found.update(_summary(written["log"], edges.get("start", 0.0), edges.get("end", 0.0)))
    if args.types:
        found["middle_generation_types"] = written["types"]
    return found


def main() -> None:
    parser = constrained_parser()
    parser.add_argument("--types", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="probe-gcpauses-") as scratch:
        ctx = Context(dataclasses.replace(HEADLINE), Path(scratch))
        for index in range(args.rounds):
            for name, tree in trees(args.base):
                print(json.dumps({"tree": name, **_one_run(ctx, args, tree, index)}), flush=True)


if __name__ == "__main__":
    main()
