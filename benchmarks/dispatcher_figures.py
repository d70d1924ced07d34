"""The dispatcher's figures: the real `corral dispatcher` process, real TCP, the real
handshake, synchronous=FULL; load from simulated clients (benchmarks.simclients),
real `corral renderclient`s and REST."""

from __future__ import annotations

import asyncio
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks import hooks_figures, probes
from benchmarks.cpu import CpuWindow
from benchmarks.farm import (
    BenchError,
    Dispatcher,
    RenderClients,
    free_port,
    port_accepts,
    run_simclients,
    wait_for,
)
from benchmarks.runner import Scale, measure, summary
from benchmarks.seed import copy_data_dir, seed_queue
from benchmarks.simclients import percentile


@dataclass
class Context:
    """What the figures share: the scale, a scratch folder, seeded queues made once."""

    scale: Scale
    scratch: Path
    seeds: dict[tuple[int, int, str], Path] = field(default_factory=dict)
    status: dict[str, Any] = field(default_factory=dict)
    counter: int = 0

    def data_dir(self, jobs: int, template: str = "cmdline", chunks_per_job: int = 0) -> Path:
        """A fresh data directory holding `jobs` queued jobs of `chunks_per_job` chunks."""
        key = (jobs, chunks_per_job or self.scale.chunks_per_job, template)
        if key not in self.seeds:
            seeded = self.scratch / f"seed-{jobs}x{key[1]}-{template}"
            self.seeds[key] = seed_queue(
                seeded, jobs=jobs, chunks_per_job=key[1], template=template
            )
        self.counter += 1
        return copy_data_dir(self.seeds[key], self.scratch / f"run-{self.counter:03d}")

    def log_path(self) -> Path:
        return self.scratch / f"dispatcher-{self.counter:03d}.log"

    def remember(self, status: dict[str, Any]) -> None:
        if not self.status:
            self.status = status


def _latency_metrics(result: dict[str, Any]) -> dict[str, float]:
    latency = result["latency"]
    return {
        "chunks_per_s": float(result["chunks_per_s"]),
        "p50_ms": float(latency.get("p50_ms", math.nan)),
        "p99_ms": float(latency.get("p99_ms", math.nan)),
    }


def _raw(result: dict[str, Any], status: dict[str, Any], seeded: int) -> dict[str, Any]:
    raw = {key: value for key, value in result.items() if key != "latency_samples_ms"}
    raw["latency_samples_ms"] = result["latency_samples_ms"]
    raw["dispatcher"] = {
        key: status.get(key) for key in ("results", "chunks_assigned", "store_batches", "rss_bytes")
    }
    raw["seeded_chunks"] = seeded
    results = int(status.get("results") or 0)
    raw["chunks_per_commit"] = round(results / max(1, int(status.get("store_batches") or 1)), 1)
    if results >= seeded:
        raise BenchError(f"the queue of {seeded} chunks ran dry; seed more for this window")
    return raw


def noop(
    ctx: Context,
    *,
    ahead: int,
    loop: str,
    name: str = "",
    template: str = "cmdline",
    extra_args: tuple[str, ...] = (),
    warmup_s: float | None = None,
    jobs: int = 0,
    chunks_per_job: int = 0,
) -> dict[str, Any]:
    """No-op chunks/s with `clients` simulated render clients, and their latency."""
    scale = ctx.scale
    jobs = jobs or scale.throughput_jobs
    chunks_per_job = chunks_per_job or scale.chunks_per_job
    seeded = jobs * chunks_per_job

    def run(index: int) -> tuple[dict[str, float], dict[str, Any], dict[str, float]]:
        data = ctx.data_dir(jobs, template, chunks_per_job)
        d = Dispatcher(
            data, assign_ahead=ahead, loop=loop, log_path=ctx.log_path(), extra_args=extra_args
        )
        with d.start():
            result, cpu = run_simclients(
                d, clients=scale.clients, warmup_s=warmup_s or scale.warmup_s,
                window_s=scale.window_s, ahead=ahead,
            )  # fmt: skip
            status = d.status()
            ctx.remember(status)
        return _latency_metrics(result), _raw(result, status, seeded), cpu

    return measure(
        name or f"noop_ahead{ahead}" + ("_stdlib" if loop == "asyncio" else ""),
        run,
        runs=scale.runs,
        max_tries=scale.max_tries,
        unit="chunks/s",
        what=f"no-op chunks/s end to end, {scale.clients} simulated clients, "
        f"assign_ahead {ahead}, {loop} loop; latency = result sent to next assign received",
        params={
            "clients": scale.clients,
            "assign_ahead": ahead,
            "loop": loop,
            "queued_chunks": seeded,
            "window_s": scale.window_s,
            "template": template,
        },  # fmt: skip
    )


def latency_at_depth(ctx: Context, queued: int, *, loop: str = "uvloop") -> dict[str, Any]:
    """Result-to-next-assign latency while `queued` chunks wait, under the full client load.

    The simulated clients hand every chunk back as killed (not counted as a failure), so
    the dispatcher requeues it: the queue keeps its depth for the whole window.
    """
    scale = ctx.scale
    holding = scale.clients  # assign_ahead 0: one chunk per client is running, not queued
    jobs = math.ceil((queued + holding) / scale.chunks_per_job)

    def run(index: int) -> tuple[dict[str, float], dict[str, Any], dict[str, float]]:
        data = ctx.data_dir(jobs)
        with Dispatcher(data, loop=loop, log_path=ctx.log_path()).start() as d:
            result, cpu = run_simclients(
                d, clients=scale.clients, warmup_s=scale.warmup_s, window_s=scale.window_s,
                answer="killed",
            )  # fmt: skip
            status = d.status()
        raw = {key: value for key, value in result.items()}
        raw["dispatcher"] = {key: status.get(key) for key in ("results", "store_batches")}
        raw["jobs"] = status.get("jobs")
        return _latency_metrics(result), raw, cpu

    return measure(
        f"latency_{queued}" + ("_stdlib" if loop == "asyncio" else ""),
        run,
        runs=scale.runs,
        max_tries=scale.max_tries,
        unit="ms",
        what=f"result-to-next-assign latency with {queued:,} chunks queued over {jobs:,} jobs, "
        f"{scale.clients} simulated clients at full speed, {loop} loop",
        params={
            "queued_chunks": queued,
            "jobs": jobs,
            "clients": scale.clients,
            "loop": loop,
            "answer": "killed (requeued: constant depth)",
        },  # fmt: skip
    )


def real_clients(ctx: Context, spawn_rate: float | None) -> dict[str, Any]:
    """/bin/true chunks/s with real `corral renderclient` processes."""
    scale = ctx.scale
    jobs = scale.real_jobs

    def run(index: int) -> tuple[dict[str, float], dict[str, Any], dict[str, float]]:
        data = ctx.data_dir(jobs)
        with Dispatcher(data, log_path=ctx.log_path()).start() as d:
            clients = RenderClients(d, scale.real_clients, ctx.scratch).start()
            try:
                wait_for(
                    lambda: d.status()["nodes_online"] >= scale.real_clients,
                    60,
                    f"{scale.real_clients} render clients online",
                )
                time.sleep(scale.warmup_s)
                before = d.status()["results"]
                window = CpuWindow.start([d.pid, *clients.pids])
                time.sleep(scale.window_s)
                after = d.status()["results"]
                window.stop()
            finally:
                clients.stop()
        rate = (after - before) / window.elapsed_s
        if after >= jobs * scale.chunks_per_job:
            raise BenchError("the /bin/true queue ran dry; seed more for this window")
        metrics = {"chunks_per_s": rate}
        if spawn_rate:
            metrics["ratio_to_spawn"] = rate / spawn_rate
        return metrics, {"results": after - before}, window.report()

    return measure(
        "real_clients",
        run,
        runs=scale.runs,
        max_tries=scale.max_tries,
        unit="chunks/s",
        what=f"/bin/true chunks/s with {scale.real_clients} real render clients "
        "(corral renderclient, one instance each)",
        params={"render_clients": scale.real_clients, "command": ["/bin/true"]},
    )


def queue_scale(ctx: Context) -> dict[str, Any]:
    """Resident memory and restart time with the big queue (1,000,000 chunks, 10,000 jobs)."""
    scale = ctx.scale
    data = ctx.data_dir(scale.big_jobs)
    port = free_port()
    first = Dispatcher(data, port=port, log_path=ctx.log_path()).start()  # makes tokens, secret
    first.stop()

    def run(index: int) -> tuple[dict[str, float], dict[str, Any], dict[str, float]]:
        d = Dispatcher(data, port=port, log_path=ctx.log_path())
        window = CpuWindow.start()
        began = time.perf_counter()
        process = d.spawn()
        window.track([process.pid])
        try:
            accept_s = wait_for(
                lambda: port_accepts(port) and time.perf_counter() - began, 60, "the render port"
            )
            assert process.stdout is not None
            line = process.stdout.readline()
            listening_s = time.perf_counter() - began
            window.stop()
            if not line.startswith("listening "):
                raise BenchError(f"the dispatcher did not start: {line!r}")
            d.url = dict(part.split("=", 1) for part in line.split()[1:])["http"]
            d.token = (data / "admin.token").read_text().strip()
            status = d.status(collect_garbage=True)
        finally:
            d.stop()
        loaded = status["jobs"]
        if loaded != scale.big_jobs:
            raise BenchError(f"the restarted dispatcher loaded {loaded} jobs, not {scale.big_jobs}")
        metrics = {
            "restart_s": listening_s,
            "accept_s": float(accept_s),
            "rss_mb": status["rss_bytes"] / 1e6,
        }
        return metrics, {"jobs": loaded, "rss_bytes": status["rss_bytes"]}, window.report()

    return measure(
        "queue_1m",
        run,
        runs=scale.restart_runs,
        max_tries=scale.max_tries,
        unit="s / MB",
        what=f"restart (exec to render port accepting and `listening` printed, queue loaded) "
        f"and resident memory after a full collection, {scale.big_chunks:,} queued chunks over "
        f"{scale.big_jobs:,} jobs",
        params={"queued_chunks": scale.big_chunks, "jobs": scale.big_jobs},
    )


async def _submit_load(d: Dispatcher, window_s: float, concurrency: int) -> dict[str, Any]:
    import aiohttp

    headers = {"Authorization": f"Bearer {d.token}"}
    count = 0
    errors = 0
    latencies: list[float] = []
    deadline = time.perf_counter() + window_s

    async def worker(session: aiohttp.ClientSession, number: int) -> None:
        nonlocal count, errors
        sent = 0
        while time.perf_counter() < deadline:
            job = {"title": f"rest {number}.{sent}", "frames": "1-100", "command": ["/bin/true"]}
            began = time.perf_counter()
            async with session.post(d.url + "/api/v1/jobs/", json=job, headers=headers) as reply:
                await reply.read()
                if reply.status == 201:
                    count += 1
                    latencies.append(time.perf_counter() - began)
                else:
                    errors += 1
            sent += 1

    started = time.perf_counter()
    async with aiohttp.ClientSession() as session:
        await asyncio.gather(*(worker(session, n) for n in range(concurrency)))
    elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "jobs": count,
        "errors": errors,
        "elapsed_s": elapsed,
        "jobs_per_s": count / elapsed,
        "p50_ms": percentile(latencies, 0.5) * 1000,
        "p99_ms": percentile(latencies, 0.99) * 1000,
    }


def rest_submit(ctx: Context) -> dict[str, Any]:
    scale = ctx.scale

    def run(index: int) -> tuple[dict[str, float], dict[str, Any], dict[str, float]]:
        ctx.counter += 1
        data = ctx.scratch / f"run-{ctx.counter:03d}"
        with Dispatcher(data, log_path=ctx.log_path()).start() as d:
            window = CpuWindow.start([d.pid])
            result = probes.run_loop(_submit_load(d, scale.rest_window_s, scale.rest_concurrency))
            window.stop()
            if result["errors"]:
                raise BenchError(f"{result['errors']} submits failed")
        metrics = {"jobs_per_s": result["jobs_per_s"], "p50_ms": result["p50_ms"],
                   "p99_ms": result["p99_ms"]}  # fmt: skip
        return metrics, result, window.report()

    return measure(
        "rest_submit",
        run,
        runs=scale.runs,
        max_tries=scale.max_tries,
        unit="jobs/s",
        what=f"POST /api/v1/jobs/ of one 100-chunk job per request, {scale.rest_concurrency} "
        "concurrent keep-alive connections, each answer after its commit",
        params={"concurrency": scale.rest_concurrency, "chunks_per_job": 100},
    )


def rest_list(ctx: Context) -> dict[str, Any]:
    scale = ctx.scale

    def run(index: int) -> tuple[dict[str, float], dict[str, Any], dict[str, float]]:
        data = ctx.data_dir(scale.rest_jobs)
        with Dispatcher(data, log_path=ctx.log_path()).start() as d:
            d.request("GET", "/api/v1/jobs/")  # warm
            window = CpuWindow.start([d.pid])
            times = []
            size = 0
            for _ in range(scale.list_samples):
                began = time.perf_counter()
                jobs = d.request("GET", "/api/v1/jobs/")
                times.append(time.perf_counter() - began)
                size = len(jobs)
            window.stop()
        if size != scale.rest_jobs:
            raise BenchError(f"the listing held {size} jobs, not {scale.rest_jobs}")
        ordered = sorted(times)
        metrics = {"p50_ms": percentile(ordered, 0.5) * 1000,
                   "p99_ms": percentile(ordered, 0.99) * 1000}  # fmt: skip
        return metrics, {"samples_ms": [round(t * 1000, 2) for t in times]}, window.report()

    return measure(
        "rest_list",
        run,
        runs=scale.runs,
        max_tries=scale.max_tries,
        unit="ms",
        what=f"GET /api/v1/jobs/ with {scale.rest_jobs:,} jobs, one request at a time "
        f"({scale.list_samples} per run)",
        params={"jobs": scale.rest_jobs, "requests_per_run": scale.list_samples},
    )


def hook_figures(ctx: Context, without: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return hooks_figures.measure_hooks(ctx, without)


__all__ = ["Context", "noop", "latency_at_depth", "real_clients", "queue_scale", "rest_submit",
           "rest_list", "hook_figures", "summary"]  # fmt: skip
