"""What a `why` request waits behind in the constrained case: the loop steps between the
request's read and its answer, timed in the dispatcher, this tree and `--base` alternating.

`python -m benchmarks.scaleprobes.whywait [--clients 1000] [--jobs 2000] [--licenses 100]
[--base DIR] [--rounds 2]`

The dispatcher runs on uvloop as in the case, with a `sitecustomize` made for the run
that wraps the steps that hold its loop (a session's read, an inbox slice, a dispatch
slice, the session writes, the commit callbacks, the store's batch encoding, the `why`
itself) and records each one's start and its thread CPU (`time.thread_time`), plus the
garbage collector's pauses. For every `why` it sums the CPU of the steps that ran
between the request's read and its answer: a figure that what other processes of a busy
machine take shows far less in than the wall-clock p99. It prints, per run, that sum's
p50, p90 and p99 and each step's p50, p99 and largest CPU.
"""

from __future__ import annotations

import argparse
import bisect
import dataclasses
import json
import tempfile
from pathlib import Path
from typing import Any

from benchmarks.dispatcher_figures import Context
from benchmarks.runner import HEADLINE
from benchmarks.scale_figures import constrained_run
from benchmarks.scaleprobes.trees import constrained_parser, tree_env_with_site
from benchmarks.simclients import percentile

TIMER = """
import array, atexit, gc, json, os, time
_clock, _cpu, _gc = time.perf_counter, time.thread_time, [0.0]
# Steps kept in arrays and a list of names, no tuple each: objects the collector tracks,
# kept by the thousand, made the young collections the log then saw in the window.
_names, _starts, _spents = [], array.array("d"), array.array("d")
def _step(name, began, spent):
    _names.append(name)
    _starts.append(began)
    _spents.append(spent)
def _collected(phase, info):
    if phase == "start":
        _gc[0] = _clock()
    else:
        _step("gc", _gc[0], _clock() - _gc[0])
def _wrap(owner, attribute, name):
    inner = getattr(owner, attribute, None)
    if inner is None:
        return
    def timed(*args, **kwargs):
        began, spent = _clock(), _cpu()
        try:
            return inner(*args, **kwargs)
        finally:
            _step(name, began, _cpu() - spent)
    setattr(owner, attribute, timed)
def _install():
    import aiohttp.web_protocol as web
    import dispatcher.nodes as nodes, dispatcher.scheduler as scheduler
    import dispatcher.store.chunk_changes as changes, dispatcher.store.sqlite as sqlite
    import dispatcher.operations.jobs as jobs
    try:
        import dispatcher.inbox as inbox
        _wrap(inbox.Inbox, "_slice", "inbox_slice")
    except ImportError:
        pass
    _wrap(nodes.NodeSession, "data_received", "read")
    _wrap(nodes.NodeServer, "_flush_sessions", "flush")
    _wrap(scheduler.Scheduler, "_dispatch", "dispatch")
    _wrap(changes.ChunkChanges, "encode", "encode")
    _wrap(jobs.JobOperations, "why", "why")
    _wrap(web.RequestHandler, "data_received", "http_read")
    made = sqlite.SqliteStore.commit_future
    class Timed:
        def __init__(self, future):
            self._future = future
        def add_done_callback(self, callback, **kwargs):
            name = "commit_" + getattr(callback, "__name__", "callback")
            def timed(done):
                began, spent = _clock(), _cpu()
                try:
                    return callback(done)
                finally:
                    _step(name, began, _cpu() - spent)
            self._future.add_done_callback(timed, **kwargs)
        def __await__(self):
            return self._future.__await__()
        def __getattr__(self, attribute):
            return getattr(self._future, attribute)
    sqlite.SqliteStore.commit_future = lambda self: Timed(made(self))
gc.callbacks.append(_collected)
_install()
atexit.register(lambda: open(os.environ["STEPS_FILE"], "w").write(
    json.dumps(list(zip(_names, _starts, _spents)))))
"""


def _summary(steps: list[tuple[str, float, float]]) -> dict[str, Any]:
    """The CPU a `why` waited behind (ms) and each step's CPU in the window (ms)."""
    steps.sort(key=lambda step: step[1])
    whys = [step for step in steps if step[0] == "why"]
    reads = [step[1] for step in steps if step[0] == "http_read"]
    starts = [step[1] for step in steps]
    waits = []
    for _, began, spent in whys:
        arrival = bisect.bisect_right(reads, began) - 1
        if arrival < 0:
            continue
        first = bisect.bisect_left(starts, reads[arrival])
        last = bisect.bisect_left(starts, began)
        between = steps[first:last]
        waits.append(spent + sum(s[2] for s in between if s[0] not in ("gc", "http_read")))
    waits.sort()
    window = whys[0][1] if whys else 0.0
    per_step: dict[str, list[float]] = {}
    for name, began, spent in steps:
        if began >= window and name != "http_read":
            per_step.setdefault(name, []).append(spent)
    table = {}
    for name, values in sorted(per_step.items()):
        values.sort()
        table[name] = [round(percentile(values, q) * 1000, 2) for q in (0.5, 0.99, 1.0)]
    return {
        "whys": len(waits),
        "wait_cpu_ms_p50_p90_p99": [
            round(percentile(waits, q) * 1000, 1) for q in (0.5, 0.9, 0.99)
        ],
        "step_cpu_ms_p50_p99_max": table,
    }


def _one_run(ctx: Context, args: argparse.Namespace, tree: str, index: int) -> dict[str, Any]:
    steps_file = ctx.scratch / "steps.json"
    env = {"STEPS_FILE": str(steps_file), **tree_env_with_site(tree, ctx.scratch, TIMER)}
    metrics, _, _ = constrained_run(ctx, args.clients, args.jobs, args.licenses, index, env)
    steps = [tuple(step) for step in json.loads(steps_file.read_text())]
    shown = ("chunks_per_s", "rate_ratio", "p99_ms", "why_p99_ms")
    return {**{key: round(metrics[key], 3) for key in shown}, **_summary(steps)}  # type: ignore[arg-type]


def main() -> None:
    parser = constrained_parser()
    args = parser.parse_args()
    trees = [("this", str(Path(__file__).resolve().parents[2]))]
    if args.base:
        trees.append(("base", args.base))
    with tempfile.TemporaryDirectory(prefix="probe-whywait-") as scratch:
        ctx = Context(dataclasses.replace(HEADLINE), Path(scratch))
        for index in range(args.rounds):
            for name, tree in trees:
                print(json.dumps({"tree": name, **_one_run(ctx, args, tree, index)}), flush=True)


if __name__ == "__main__":
    main()
