"""`python -m benchmarks [--full]`: the probes, then the dispatcher's figures; prints the
headline table and writes benchmarks/results/bench-MODE.json and .png."""

from __future__ import annotations

import argparse
import functools
import logging
import shutil
import sys
import tempfile
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from benchmarks import dispatcher_figures as df
from benchmarks import (
    listing_figures,
    postgres_figures,
    probes,
    report,
    scale_figures,
    web_console_figures,
    web_nodes_figures,
)
from benchmarks.cpu import CpuWindow
from benchmarks.farm import BenchError, raise_open_files
from benchmarks.runner import SCALES, Scale, measure, median

log = logging.getLogger("benchmarks")
RESULTS = Path(__file__).resolve().parent / "results"


def run_probes(scale: Scale, scratch: Path) -> dict[str, dict[str, Any]]:
    duration = scale.probe_s

    def tcp(connections: int) -> Any:
        def run(index: int) -> Any:
            window = CpuWindow.start()
            rate = probes.tcp_round_trips(connections, duration, on_start=window.track)
            window.stop()
            return {"round_trips_per_s": rate}, {}, window.report()

        return run

    def sqlite(rows: int) -> Any:
        def run(index: int) -> Any:
            window = CpuWindow.start()
            found = probes.sqlite_commits(scratch, rows, duration)
            window.stop()
            metrics = {"commits_per_s": found["commits_per_s"], "rows_per_s": found["rows_per_s"]}
            return metrics, found, window.report()

        return run

    def spawn(parallel: int) -> Any:
        def run(index: int) -> Any:
            window = CpuWindow.start()
            rate = probes.spawns(parallel, duration)
            window.stop()
            return {"spawns_per_s": rate}, {}, window.report()

        return run

    loop = probes.loop_name()
    probe = functools.partial(measure, runs=scale.runs, max_tries=scale.max_tries)
    frames = "length-prefixed msgpack frames"
    return {
        "tcp_1conn": probe("tcp_1conn", tcp(1), unit="round trips/s",
                           what=f"{frames}, 1 connection, {loop}"),
        "tcp_100conn": probe("tcp_100conn", tcp(100), unit="round trips/s",
                             what=f"{frames}, 100 connections, {loop}"),
        "sqlite_1row": probe("sqlite_1row", sqlite(1), unit="commits/s",
                             what="WAL, synchronous=FULL, one row per transaction"),
        "sqlite_1000rows": probe("sqlite_1000rows", sqlite(1000), unit="commits/s",
                                 what="WAL, synchronous=FULL, 1,000 rows per transaction"),
        "spawn_1": probe("spawn_1", spawn(1), unit="spawns/s",
                         what="/bin/true under the render reaper via asyncio subprocesses, 1 at a time"),
        "spawn_2": probe("spawn_2", spawn(2), unit="spawns/s",
                         what="/bin/true under the render reaper via asyncio subprocesses, 2 at a time"),
    }  # fmt: skip


def skipped(reason: str) -> dict[str, Any]:
    return {"status": f"skipped: {reason}", "metrics": {}}


def run_figures(scale: Scale, ctx: df.Context) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    # The scale cases first (the longest, and the ones the machine's other work disturbs
    # most), then the raw spawn rate the real render clients are compared with.
    figures.update(scale_figures.run_cases(ctx))
    figures["spawn_raw"] = scale_figures.spawn_raw(ctx)
    spawn_rate = median(figures["spawn_raw"], "fastest_per_s")
    figures["noop_ahead0"] = df.noop(ctx, ahead=0, loop="uvloop")
    figures["noop_ahead4"] = df.noop(ctx, ahead=4, loop="uvloop")
    for name in ("noop_ahead0", "noop_ahead4"):
        key = f"{name}_stdlib"
        if name in scale.stdlib:
            figures[key] = df.noop(ctx, ahead=int(name[-1]), loop="asyncio")
        else:
            figures[key] = skipped("runs with --full")
    figures["real_clients"] = df.real_clients(ctx, spawn_rate)
    depths = dict(scale.depth_queued)
    for key in ("q1k", "q100k", "q1m"):
        name = f"latency_{key}"
        figures[name] = (
            df.latency_at_depth(ctx, depths[key]) if key in depths else skipped("runs with --full")
        )
    if "latency_q1m" in scale.stdlib:
        figures["latency_q1m_stdlib"] = df.latency_at_depth(ctx, depths["q1m"], loop="asyncio")
    else:
        figures["latency_q1m_stdlib"] = skipped("runs with --full")
    figures["queue_1m"] = df.queue_scale(ctx)
    figures["rest_submit"] = df.rest_submit(ctx)
    figures["rest_list"] = df.rest_list(ctx)
    figures.update(df.hook_figures(ctx, figures["noop_ahead0"]))
    for name, figure in listing_figures.FIGURES.items():
        figures[name] = figure(ctx)
    for name, figure in web_console_figures.FIGURES.items():  # a browser: not in the smoke run
        smoke = scale.name == "smoke"
        figures[name] = skipped("runs with make bench (a browser)") if smoke else figure(ctx)
    for name, figure in web_nodes_figures.FIGURES.items():  # a browser: not in the smoke run
        smoke = scale.name == "smoke"
        figures[name] = skipped("runs with make bench (a browser)") if smoke else figure(ctx)
    if scale.name != "smoke":  # (a cluster to start: the harness's smoke test runs without)
        for name, figure in postgres_figures.FIGURES.items():
            figures[name] = figure(ctx)
    return figures


# Figures `--only` can run by themselves (each needs nothing but the context).
SINGLE: dict[str, Any] = {
    "scale_cases": scale_figures.run_cases,
    "reference": scale_figures.reference,
    "spawn_raw": scale_figures.spawn_raw,
    "hook_jobget": scale_figures.hook_jobget,
    "real_clients": None,  # after spawn_raw when both are named (its rate is the ratio's base)
    "noop_ahead0": functools.partial(df.noop, ahead=0, loop="uvloop"),
    "queue_1m": df.queue_scale,
    "rest_submit": df.rest_submit,
    "rest_list": df.rest_list,
    **listing_figures.FIGURES,
    **postgres_figures.FIGURES,
    **web_console_figures.FIGURES,
    **web_nodes_figures.FIGURES,
}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--full", action="store_true", help="every figure (make bench-full)")
    parser.add_argument("--smoke", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--runs", type=int, help="runs per figure (default 3)")
    parser.add_argument(
        "--max-tries",
        type=int,
        help="tries per run while other processes are busy (default 3; 1 on a shared machine)",
    )
    parser.add_argument("--out", type=Path, default=RESULTS, help="where the JSON and PNG go")
    parser.add_argument("--scratch", type=Path, help="scratch folder (default: a temporary one)")
    parser.add_argument("--keep-scratch", action="store_true")
    parser.add_argument("--no-chart", action="store_true")
    parser.add_argument(
        "--only",
        type=lambda text: [name.strip() for name in text.split(",") if name.strip()],
        metavar="NAME[,NAME]",
        help=f"only these figures, no probes (one of: {', '.join(SINGLE)})",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    unknown = [name for name in args.only or [] if name not in SINGLE]
    if unknown:
        print(f"benchmarks: --only: no figure {unknown[0]!r}", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    for quiet in ("dispatcher", "hooks", "matplotlib"):  # seeding opens the store in-process
        logging.getLogger(quiet).setLevel(logging.WARNING)
    mode = "smoke" if args.smoke else "full" if args.full else "headline"
    scale = SCALES[mode]
    if args.runs:
        scale = replace(scale, runs=args.runs, restart_runs=args.runs)
    if args.max_tries:
        scale = replace(scale, max_tries=args.max_tries)
    if sys.platform != "linux":
        log.warning("the CPU accounting reads /proc: figures elsewhere lack it")
    try:
        raise_open_files(max(scale.clients, scale_figures.largest_fleet(scale)) + 256)
    except BenchError as exc:
        print(f"benchmarks: {exc}", file=sys.stderr)
        return 2
    started = time.time()
    scratch = args.scratch or Path(tempfile.mkdtemp(prefix="corral-bench-"))
    scratch.mkdir(parents=True, exist_ok=True)
    log.info("corral bench (%s): scratch in %s", mode, scratch)
    try:
        ctx = df.Context(scale=scale, scratch=scratch)
        if args.only:
            probe_figures: dict[str, dict[str, Any]] = {}
            figures = {}
            for name in args.only:
                if name == "real_clients":
                    spawn = median(figures.get("spawn_raw", {}), "fastest_per_s")
                    figures[name] = df.real_clients(ctx, spawn)
                    continue
                found = SINGLE[name](ctx)
                figures.update(found if name == "scale_cases" else {name: found})
        else:
            probe_figures = run_probes(scale, scratch)
            figures = run_figures(scale, ctx)
        result = report.build(
            mode=mode + ("-only" if args.only else ""),  # never overwrites a whole run's file
            scale=asdict(scale),
            probes=probe_figures,
            figures=figures,
            status=ctx.status,
            started=started,
        )
        json_path, png = report.write(result, args.out, chart=not args.no_chart)
    finally:
        if not args.keep_scratch and args.scratch is None:
            shutil.rmtree(scratch, ignore_errors=True)
    print()
    print(report.table(result))
    if result["cases"]:
        print()
        print("The scale cases:")
        print(report.cases.table(result["cases"]))
    print()
    print("The farm's state in SQLite and in PostgreSQL:")
    print(report.stores_table(result))
    print()
    print(f"every figure: {json_path.with_suffix('.md')}")
    print(f"results: {json_path}" + (f"  chart: {png}" if png else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
