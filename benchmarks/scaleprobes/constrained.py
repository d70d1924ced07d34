"""Case 3 (constrained scheduling at depth) at one size, A/B against another tree.

`python -m benchmarks.scaleprobes.constrained [--clients 100] [--jobs 200] [--licenses 10]
[--runs 1] [--base DIR] [--profile FILE] [--py-spy FILE]`

Each run measures the unconstrained load and the constrained mix on fresh dispatchers
(`scale_figures.constrained_run`); with `--base DIR` every run is followed by the same
run with the dispatcher started from DIR, so both trees share the machine's state.
`--profile FILE` runs this tree's dispatchers under cProfile (the last one started
writes FILE); `--py-spy FILE` records the constrained window of this tree's dispatcher.
"""

from __future__ import annotations

import dataclasses
import json
import math
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from benchmarks.dispatcher_figures import Context
from benchmarks.runner import HEADLINE
from benchmarks.scale_figures import constrained_run
from benchmarks.scaleprobes.trees import probe_parser, tree_env

SHOWN = ("chunks_per_s_unconstrained", "chunks_per_s", "rate_ratio", "p99_ms_unconstrained",
         "p99_ms", "why_p99_ms")  # fmt: skip


def _spy(path: str, window_s: float) -> Any:
    """A `watch` for constrained_run that records the window with py-spy (beside the
    interpreter or on PATH) into `path`, every thread, as collapsed stacks."""
    tool = Path(sys.executable).parent / "py-spy"
    command = str(tool) if tool.exists() else shutil.which("py-spy") or "py-spy"
    held: list[subprocess.Popen[bytes]] = []

    def watch(pid: int, edge: str) -> None:
        if edge == "start":
            args = [command, "record", "--pid", str(pid), "--duration", str(int(window_s)),
                    "--rate", "250", "--format", "raw", "--output", path, "--nonblocking"]  # fmt: skip
            held.append(
                subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            )
        elif held:
            held.pop().wait(timeout=60)

    return watch


def main() -> None:
    parser = probe_parser()
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--licenses", type=int, default=10)
    parser.add_argument("--chunks", type=int, default=HEADLINE.constrained_chunks)
    parser.add_argument("--window-s", type=float, default=HEADLINE.window_s)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--profile", default="")
    parser.add_argument("--py-spy", default="")
    args = parser.parse_args()
    scale = dataclasses.replace(HEADLINE, window_s=args.window_s, constrained_chunks=args.chunks)
    trees = [("new", tree_env("", args.profile))]
    if args.base:
        trees.append(("base", tree_env(args.base)))
    watch = _spy(args.py_spy, args.window_s) if args.py_spy else None
    found: dict[str, list[dict[str, float]]] = {name: [] for name, _ in trees}
    with tempfile.TemporaryDirectory(prefix="probe-constrained-") as scratch:
        ctx = Context(scale, Path(scratch))
        for index in range(args.runs):
            for name, env in trees:
                metrics, raw, _ = constrained_run(
                    ctx, args.clients, args.jobs, args.licenses, index, env,
                    watch=watch if name == "new" else None,
                )  # fmt: skip
                shown = {key: round(metrics[key], 3) for key in SHOWN}
                status = raw["dispatcher"]
                shown["chunks_per_commit"] = round(
                    int(status["results"] or 0) / max(1, int(status["store_batches"] or 1)), 1
                )
                print(json.dumps({"tree": name, "run": index, **shown}), flush=True)
                found[name].append(metrics)
    if args.base:
        ratios = {key: _ratios(found, key) for key in SHOWN}
        print(json.dumps({"new_over_base": ratios}))


def _ratios(found: dict[str, list[dict[str, float]]], key: str) -> list[float]:
    """new / base of `key`, run by run."""
    pairs = zip(found["new"], found["base"], strict=True)
    return [round(new[key] / base[key], 3) if base[key] else math.nan for new, base in pairs]


if __name__ == "__main__":
    main()
