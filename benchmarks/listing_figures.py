"""The listing benchmark (the one definition the other work refers to):

- `listing_jobs_page`: p99 of one 100-job page (`?limit=100`) with 10,000 jobs queued,
  the pages taken at random cursors across the list;
- `listing_chunks_page`: p99 of one 1,000-chunk page of a 1,000,000-chunk job, half of
  whose chunks have run (so each page reads its attempts from the store);
- `listing_dispatch`: result-to-next-assign latency p99 under the full simulated-client
  load, without and then with a client polling a 100-job page every 100 ms; the figure
  is their ratio.

Each request is timed on one keep-alive connection, from the request sent to the last
byte read.
"""

from __future__ import annotations

import http.client
import json
import random
import threading
import time
import urllib.parse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchmarks.cpu import CpuWindow
from benchmarks.farm import HOST, BenchError, Dispatcher, run_simclients
from benchmarks.runner import measure
from benchmarks.seed import copy_data_dir
from benchmarks.simclients import percentile

if TYPE_CHECKING:
    from benchmarks.dispatcher_figures import Context

PAGE_JOBS = 100
PAGE_CHUNKS = 1_000
POLL_S = 0.1


class Client:
    """One keep-alive HTTP connection to a dispatcher, timing each GET."""

    def __init__(self, d: Dispatcher) -> None:
        parts = urllib.parse.urlsplit(d.url)
        self.connection = http.client.HTTPConnection(HOST, parts.port, timeout=60)
        self.headers = {"Authorization": f"Bearer {d.token}"}

    def get(self, path: str) -> tuple[float, int, dict[str, str], bytes]:
        began = time.perf_counter()
        self.connection.request("GET", path, headers=self.headers)
        response = self.connection.getresponse()
        body = response.read()
        elapsed = time.perf_counter() - began
        if response.status != 200:
            raise BenchError(f"GET {path} answered {response.status}: {body[:300]!r}")
        return elapsed, len(json.loads(body)), dict(response.getheaders()), body

    def close(self) -> None:
        self.connection.close()


def next_path(headers: dict[str, str]) -> str | None:
    link = headers.get("Link")
    if link is None:
        return None
    return link.partition(";")[0].strip().removeprefix("<").removesuffix(">")


def _cursors(client: Client, first: str) -> list[str]:
    """Every page's path, walking the Link headers from `first`."""
    paths, path = [], first
    while path is not None:
        paths.append(path)
        _, _, headers, _ = client.get(path)
        path = next_path(headers)
    return paths


def _page_metrics(times: list[float]) -> dict[str, float]:
    ordered = sorted(times)
    return {"p50_ms": percentile(ordered, 0.5) * 1000, "p99_ms": percentile(ordered, 0.99) * 1000}


def jobs_page(ctx: Context) -> dict[str, Any]:
    scale = ctx.scale
    jobs = scale.rest_jobs

    def run(index: int) -> tuple[dict[str, float], dict[str, Any], dict[str, float]]:
        data = ctx.data_dir(jobs)
        with Dispatcher(data, log_path=ctx.log_path()).start() as d:
            client = Client(d)
            try:
                pages = _cursors(client, f"/api/v1/jobs/?limit={PAGE_JOBS}")
                rng = random.Random(index)
                window = CpuWindow.start([d.pid])
                times = []
                for _ in range(scale.list_page_samples):
                    elapsed, count, _, _ = client.get(rng.choice(pages))
                    if count == 0:
                        raise BenchError("an empty page")
                    times.append(elapsed)
                window.stop()
            finally:
                client.close()
        if len(pages) != -(-jobs // PAGE_JOBS):
            raise BenchError(f"{len(pages)} pages of {PAGE_JOBS} for {jobs} jobs")
        raw = {"pages": len(pages), "samples_ms": [round(t * 1000, 2) for t in times]}
        return _page_metrics(times), raw, window.report()

    return measure(
        "listing_jobs_page",
        run,
        runs=scale.runs,
        max_tries=scale.max_tries,
        unit="ms",
        what=f"GET /api/v1/jobs/?limit={PAGE_JOBS} at random cursors with {jobs:,} jobs "
        f"queued ({scale.list_page_samples} pages per run, one keep-alive connection)",
        params={"jobs": jobs, "limit": PAGE_JOBS, "requests_per_run": scale.list_page_samples},
    )


def _seed_big_job(path: Path, chunks: int) -> Path:
    """One job of `chunks` one-frame chunks, the first half done with an attempt each."""
    import asyncio

    from dispatcher import jobspec
    from dispatcher.model import CHUNK_DONE
    from dispatcher.store.sqlite import SqliteStore

    async def seed() -> None:
        store = SqliteStore(path / "corral.db", durability="full")
        await store.open()
        try:
            spec = jobspec.parse_spec(
                {"title": "huge", "frames": f"1-{chunks}", "batch": 1, "command": ["/bin/true"]}
            )
            job = jobspec.build_job(spec, 1, 1, "admin")
            now = time.time()
            for chunk in range(chunks // 2):
                job.chunk_status[chunk] = CHUNK_DONE
                job.chunk_attempts[chunk] = 1
                store.put_run((1, chunk, 1), 1, "done", now, now + 1.0, 0, "")
            job.recount()
            store.put_job(job)
            store.put_meta("next_job_id", "2")
            await store.commit()
        finally:
            await store.close()

    path.mkdir(parents=True, exist_ok=True)
    asyncio.run(seed())
    return path


def chunks_page(ctx: Context) -> dict[str, Any]:
    scale = ctx.scale
    chunks = scale.listing_chunks
    seeded = ctx.scratch / f"seed-1x{chunks}-runs"
    if not (seeded / "corral.db").exists():
        _seed_big_job(seeded, chunks)

    def run(index: int) -> tuple[dict[str, float], dict[str, Any], dict[str, float]]:
        from dispatcher.listing import encode_cursor

        ctx.counter += 1
        data = copy_data_dir(seeded, ctx.scratch / f"run-{ctx.counter:03d}")
        with Dispatcher(data, log_path=ctx.log_path()).start() as d:
            client = Client(d)
            try:
                rng = random.Random(index)
                window = CpuWindow.start([d.pid])
                times = []
                for _ in range(scale.list_page_samples):
                    start = rng.randrange(0, max(1, chunks - PAGE_CHUNKS))
                    query = f"limit={PAGE_CHUNKS}" + (
                        f"&after={encode_cursor(start - 1)}" if start else ""
                    )
                    elapsed, count, _, _ = client.get(f"/api/v1/jobs/1/tasks/?{query}")
                    if count != min(PAGE_CHUNKS, chunks - start):
                        raise BenchError(f"a page of {count} chunks, not {PAGE_CHUNKS}")
                    times.append(elapsed)
                window.stop()
            finally:
                client.close()
        raw = {"samples_ms": [round(t * 1000, 2) for t in times]}
        return _page_metrics(times), raw, window.report()

    return measure(
        "listing_chunks_page",
        run,
        runs=scale.runs,
        max_tries=scale.max_tries,
        unit="ms",
        what=f"GET /api/v1/jobs/ID/tasks/?limit={PAGE_CHUNKS} at random chunks of a "
        f"{chunks:,}-chunk job, half of them run (attempts read per page)",
        params={
            "chunks": chunks,
            "limit": PAGE_CHUNKS,
            "requests_per_run": scale.list_page_samples,
        },
    )


class Poller:
    """A console polling the job list: a 100-job page every 100 ms, walking the pages."""

    def __init__(self, d: Dispatcher) -> None:
        self.client = Client(d)
        self.times: list[float] = []
        self.stop = threading.Event()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self.run, name="bench-poller")

    def run(self) -> None:
        first = f"/api/v1/jobs/?limit={PAGE_JOBS}"
        path: str | None = first
        try:
            while not self.stop.wait(POLL_S):
                elapsed, _, headers, _ = self.client.get(path or first)
                self.times.append(elapsed)
                path = next_path(headers)
        except BaseException as exc:  # reported by the figure
            self.error = exc
        finally:
            self.client.close()

    def __enter__(self) -> Poller:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        self.thread.join()


def dispatch_with_polling(ctx: Context) -> dict[str, Any]:
    scale = ctx.scale
    jobs = scale.throughput_jobs

    def once(polled: bool) -> tuple[dict[str, Any], dict[str, float], list[float]]:
        data = ctx.data_dir(jobs)
        with Dispatcher(data, log_path=ctx.log_path()).start() as d:
            if not polled:
                result, cpu = run_simclients(
                    d, clients=scale.clients, warmup_s=scale.warmup_s, window_s=scale.window_s
                )
                return result, cpu, []
            with Poller(d) as poller:
                result, cpu = run_simclients(
                    d, clients=scale.clients, warmup_s=scale.warmup_s, window_s=scale.window_s
                )
            if poller.error is not None:
                raise BenchError(f"the polling client failed: {poller.error!r}")
            return result, cpu, poller.times

    def run(index: int) -> tuple[dict[str, float], dict[str, Any], dict[str, float]]:
        quiet, quiet_cpu, _ = once(polled=False)
        busy, busy_cpu, polls = once(polled=True)
        base = float(quiet["latency"]["p99_ms"])
        loaded = float(busy["latency"]["p99_ms"])
        metrics = {
            "p99_ms_unloaded": base,
            "p99_ms_polled": loaded,
            "p99_ratio": loaded / base if base else float("nan"),
            "poll_p99_ms": percentile(sorted(polls), 0.99) * 1000,
        }
        raw = {
            "unloaded": {k: v for k, v in quiet.items() if k != "latency_samples_ms"},
            "polled": {k: v for k, v in busy.items() if k != "latency_samples_ms"},
            "polls": len(polls),
            "poll_samples_ms": [round(t * 1000, 2) for t in polls],
            "cpu_unloaded": quiet_cpu,
        }
        return metrics, raw, busy_cpu

    return measure(
        "listing_dispatch",
        run,
        runs=scale.runs,
        max_tries=scale.max_tries,
        unit="ratio",
        what=f"result-to-next-assign p99 with {scale.clients} simulated clients while a "
        f"client polls GET /api/v1/jobs/?limit={PAGE_JOBS} every {POLL_S * 1000:.0f} ms, "
        "divided by the p99 of the same load without polling",
        params={"clients": scale.clients, "jobs": jobs, "poll_s": POLL_S, "limit": PAGE_JOBS},
    )


FIGURES = {
    "listing_jobs_page": jobs_page,
    "listing_chunks_page": chunks_page,
    "listing_dispatch": dispatch_with_polling,
}

__all__ = ["FIGURES", "chunks_page", "dispatch_with_polling", "jobs_page"]
