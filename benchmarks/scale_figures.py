"""The scale cases: many connected clients, consoles under load, constrained scheduling
at depth, the hot path against the reference loop, and the raw spawn rate.

Each case runs at the sizes the scale asks for (`Scale.growth`: a tenth in `make bench`,
a tenth and the full size in `make bench-full`), so the report shows how each figure
grows with the work. Every comparison (loaded against unloaded, constrained against
unconstrained, product against reference) is measured in the same run, one after the
other, on the same machine state.
"""

from __future__ import annotations

import http.client
import json
import math
import random
import subprocess
import sys
import textwrap
import threading
import time
import urllib.parse
from typing import TYPE_CHECKING, Any

from benchmarks import spawn_probes
from benchmarks.cpu import TICKS_PER_S, CpuWindow, process_ticks
from benchmarks.farm import HOST, BenchError, Dispatcher
from benchmarks.fleet import Fleet, RssSampler
from benchmarks.listing_figures import PAGE_JOBS, POLL_S, Poller
from benchmarks.reference import Reference
from benchmarks.runner import measure
from benchmarks.simclients import percentile

if TYPE_CHECKING:
    from benchmarks.dispatcher_figures import Context

# The full sizes of the cases; a run measures them times each of `Scale.growth`.
FULL_CLIENTS = 10_000
FULL_CONSOLE_NODES = 1_000
CONSOLE_JOBS = 10_000  # queued while the consoles poll (fixed: the listing's own size)
NODES_PER_SUBSCRIBER = 10
FULL_CONSTRAINED_CLIENTS = 1_000
FULL_CONSTRAINED_JOBS = 2_000
FULL_LICENSES = 100
POOLS = 20
FAIL_RATE = 0.05
IDLE_WINDOW_S = 10.0  # two heartbeat intervals
# The paced run: each client "renders" clients / PACED_PER_S s a chunk (give or take
# PACED_JITTER of it), so the farm offers this many chunks/s whatever its size.
PACED_PER_S = 5_000
PACED_JITTER = 0.5
WHY_EVERY_S = 0.05


def guarded(run: Any) -> Any:
    """A run whose request or process failed reports the case as failed (BenchError)
    instead of ending the whole benchmark."""

    def wrapped(index: int) -> Any:
        try:
            return run(index)
        except (OSError, subprocess.SubprocessError, ValueError, KeyError) as exc:
            raise BenchError(f"{type(exc).__name__}: {exc}") from exc

    return wrapped


def sized(full: int, fraction: float) -> int:
    return max(1, round(full * fraction))


class Http:
    """One keep-alive connection to a dispatcher's REST API."""

    def __init__(self, d: Dispatcher) -> None:
        port = urllib.parse.urlsplit(d.url).port
        self.connection = http.client.HTTPConnection(HOST, port, timeout=60)
        self.headers = {"Authorization": f"Bearer {d.token}", "Content-Type": "application/json"}

    def call(self, method: str, path: str, body: Any = None) -> tuple[float, Any]:
        data = None if body is None else json.dumps(body)
        began = time.perf_counter()
        self.connection.request(method, path, body=data, headers=self.headers)
        response = self.connection.getresponse()
        raw = response.read()
        elapsed = time.perf_counter() - began
        if response.status >= 300:
            raise BenchError(f"{method} {path} answered {response.status}: {raw[:300]!r}")
        return elapsed, json.loads(raw or b"null")

    def close(self) -> None:
        self.connection.close()


def _window_cpu(pids: list[int]) -> tuple[Any, dict[str, CpuWindow]]:
    held: dict[str, CpuWindow] = {}

    def on_window(edge: str) -> None:
        if edge == "start":
            held["window"] = CpuWindow.start(pids)
        else:
            held["window"].stop()

    return on_window, held


def _load(
    d: Dispatcher,
    clients: int,
    ctx: Context,
    *,
    ahead: int = 0,
    pools: int = 0,
    fail_rate: float = 0.0,
    hold_s: float = 0.0,
    during: Any = None,
    label: str = "sim",
) -> tuple[dict[str, Any], dict[str, float], float, int]:
    """Connect `clients` simulated clients to `d`, then a warm-up and a window at full
    speed: (merged result, CPU window, connect seconds, peak dispatcher RSS)."""  # fmt: skip
    scale = ctx.scale
    with Fleet(d, clients, warmup_s=scale.warmup_s, window_s=scale.window_s, ahead=ahead,
               pools=pools, fail_rate=fail_rate, hold_s=hold_s,
               hold_jitter=PACED_JITTER if hold_s else 0.0, label=label).start() as fleet:  # fmt: skip
        connect_s = fleet.connect()
        on_window, held = _window_cpu([d.pid, *fleet.pids])

        def edge(name: str) -> None:
            on_window(name)
            if during is not None:
                during(name)

        with RssSampler(d.pid) as rss:
            result = fleet.measure(edge)
    if result["closed_early"]:
        raise BenchError(f"{result['closed_early']} simulated clients were disconnected")
    return result, held["window"].report(), connect_s, rss.peak


def _ran_dry(d: Dispatcher, seeded: int) -> dict[str, Any]:
    status = d.status()
    if int(status.get("results") or 0) >= seeded:
        raise BenchError(f"the queue of {seeded} chunks ran dry; seed more for this window")
    return status


# -- case 1: many connected clients --------------------------------------------
def many_clients(ctx: Context, clients: int) -> dict[str, Any]:
    """Connect time, idle CPU and RSS with `clients` heartbeating; chunks/s, p99 and
    RSS with all of them working."""
    scale = ctx.scale
    jobs = scale.big_jobs if clients > scale.clients else scale.throughput_jobs
    seeded = jobs * scale.chunks_per_job

    def run(index: int) -> tuple[dict[str, float], dict[str, Any], dict[str, float]]:
        ctx.counter += 1
        empty = ctx.scratch / f"run-{ctx.counter:03d}"
        idle = Dispatcher(empty, log_path=ctx.log_path())
        with idle.start() as d, Fleet(d, clients, label="idle").start() as fleet:
            connect_s = fleet.connect()
            online = d.status()["nodes_online"]
            time.sleep(1.0)  # the last Welcomes' follow-ups settle
            rss_idle = d.status(collect_garbage=True)["rss_bytes"]
            window = CpuWindow.start([d.pid, *fleet.pids])
            ticks = process_ticks(d.pid)
            time.sleep(IDLE_WINDOW_S if scale.name != "smoke" else 0.5)
            idle_ticks = process_ticks(d.pid) - ticks
            window.stop()
            idle_rss_now = d.status()["rss_bytes"]
        if online < clients:
            raise BenchError(f"{online} of {clients} clients online after connecting")
        idle_cpu_pct = 100 * idle_ticks / TICKS_PER_S / window.elapsed_s
        with Dispatcher(ctx.data_dir(jobs), log_path=ctx.log_path()).start() as d:
            result, cpu, load_connect_s, rss_peak = _load(d, clients, ctx)
            paced, _, _, _ = _load(d, clients, ctx, hold_s=clients / PACED_PER_S, label="paced")
            status = _ran_dry(d, seeded)
        metrics = {
            "connect_s": connect_s,
            "connect_loaded_s": load_connect_s,
            "rss_idle_mb": rss_idle / 1e6,
            "idle_cpu_pct": idle_cpu_pct,
            "chunks_per_s": result["chunks_per_s"],
            "p99_ms": float(result["latency"].get("p99_ms", math.nan)),
            "rss_load_mb": rss_peak / 1e6,
            "paced_chunks_per_s": paced["chunks_per_s"],
            "paced_p99_ms": float(paced["latency"].get("p99_ms", math.nan)),
        }
        raw = {
            "idle": {"nodes_online": online, "rss_after_idle_window_bytes": idle_rss_now,
                     "cpu": window.report(), "heartbeat_s": result.get("heartbeat_s")},
            "load": {key: value for key, value in result.items()},
            "paced": paced,
            "dispatcher": {key: status.get(key) for key in ("results", "store_batches")},
        }  # fmt: skip
        return metrics, raw, cpu

    return measure(
        f"clients_{clients}",
        guarded(run),
        runs=scale.scale_runs,
        max_tries=scale.max_tries,
        unit="chunks/s",
        what=f"{clients:,} simulated render clients (real handshake) in "
        f"{math.ceil(clients / 2500)} processes: connect time for all (empty queue), the "
        f"dispatcher's CPU over {IDLE_WINDOW_S:.0f} s of heartbeats and RSS after a full "
        f"collection; then no-op chunks/s, p99 and peak RSS with {seeded:,} chunks queued; "
        f"then p99 with each client taking {clients / PACED_PER_S:g} s a chunk "
        f"({PACED_PER_S:,} chunks/s offered)",
        params={
            "clients": clients,
            "queued_chunks": seeded,
            "idle_window_s": IDLE_WINDOW_S,
            "paced_hold_s": clients / PACED_PER_S,
            "paced_jitter": PACED_JITTER,
        },  # fmt: skip
    )


# -- case 2: consoles under load -----------------------------------------------
class Subscribers:
    """`count` event-stream subscribers in a process of their own."""

    def __init__(self, d: Dispatcher, count: int) -> None:
        token_file = d.data_dir / "admin.token"
        args = [sys.executable, "-m", "benchmarks.consoles", "--url", d.url,
                "--token-file", str(token_file), "--count", str(count)]  # fmt: skip
        self.process = subprocess.Popen(
            args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line.startswith("phase subscribed"):
            self.process.kill()
            _, err = self.process.communicate()
            raise BenchError(f"the event-stream subscribers failed: {err.strip()[-1500:]}")

    def finish(self) -> dict[str, Any]:
        out, err = self.process.communicate("stop\n", timeout=60)
        for line in out.splitlines():
            if line.startswith("result "):
                found: dict[str, Any] = json.loads(line[len("result ") :])
                return found
        raise BenchError(f"the event-stream subscribers gave no result: {err.strip()[-1500:]}")


def consoles(ctx: Context, nodes: int) -> dict[str, Any]:
    """Chunks/s and p99 with a listing poller and nodes / 10 event-stream subscribers,
    against the same load without them, in the same run."""
    scale = ctx.scale
    jobs = scale.rest_jobs
    chunks_per_job = max(scale.chunks_per_job, 200_000 // jobs)  # (the smoke scale's 2 jobs)
    seeded = jobs * chunks_per_job
    subscribers = max(1, nodes // NODES_PER_SUBSCRIBER)

    def once(loaded: bool) -> dict[str, Any]:
        data = ctx.data_dir(jobs, chunks_per_job=chunks_per_job)
        with Dispatcher(data, log_path=ctx.log_path()).start() as d:
            if not loaded:
                result, cpu, _, _ = _load(d, nodes, ctx)
                _ran_dry(d, seeded)
                return {"result": result, "cpu": cpu}
            streams = Subscribers(d, subscribers)
            try:
                with Poller(d) as poller:
                    result, cpu, _, _ = _load(d, nodes, ctx)
            finally:
                events = streams.finish()
            if poller.error is not None:
                raise BenchError(f"the polling client failed: {poller.error!r}")
            _ran_dry(d, seeded)
            return {"result": result, "cpu": cpu, "polls": poller.times, "events": events}

    def run(index: int) -> tuple[dict[str, float], dict[str, Any], dict[str, float]]:
        quiet = once(False)
        busy = once(True)
        rate0, rate1 = quiet["result"]["chunks_per_s"], busy["result"]["chunks_per_s"]
        p0 = float(quiet["result"]["latency"].get("p99_ms", math.nan))
        p1 = float(busy["result"]["latency"].get("p99_ms", math.nan))
        if busy["events"]["failed"]:
            raise BenchError(f"{busy['events']['failed']} event streams failed")
        metrics = {
            "chunks_per_s_unloaded": rate0,
            "chunks_per_s": rate1,
            "rate_ratio": rate1 / rate0 if rate0 else math.nan,
            "p99_ms_unloaded": p0,
            "p99_ms": p1,
            "p99_ratio": p1 / p0 if p0 else math.nan,
            "poll_p99_ms": percentile(sorted(busy["polls"]), 0.99) * 1000,
        }
        raw = {"unloaded": quiet["result"], "loaded": busy["result"], "events": busy["events"],
               "polls": len(busy["polls"]), "cpu_unloaded": quiet["cpu"]}  # fmt: skip
        return metrics, raw, busy["cpu"]

    return measure(
        f"consoles_{nodes}",
        guarded(run),
        runs=scale.scale_runs,
        max_tries=scale.max_tries,
        unit="ratio",
        what=f"{nodes:,} simulated clients with {jobs:,} jobs queued, while a console polls "
        f"GET /api/v1/jobs/?limit={PAGE_JOBS} every {POLL_S * 1000:.0f} ms and {subscribers} "
        "consoles follow GET /api/v1/events; against the same load without them",
        params={"nodes": nodes, "jobs": jobs, "subscribers": subscribers, "poll_s": POLL_S},
    )


# -- case 3: constrained scheduling at depth ----------------------------------
LICENSED_TEMPLATE = """
import shlex
import MTemplateAPI


class BenchLicensed(MTemplateAPI.MTemplate):
    def __init__(self):
        MTemplateAPI.MTemplate.__init__(self)
        self.setID(9301)
        self.setKey("benchlicensed")
        self.setName("benchlicensed")
        self.setTemplateLogic(MTemplateAPI.kTemplateMultiframe)
        self.setMaximumLicenses({licenses})
        self.setLicensesGroup("bench-licenses")
        for platform in self.platforms():
            platform.setPlatformEnabled(1)

    def onBuildCommandLine(self, platform, job, chunk, clientTemplatePreferences, instanceNum):
        return shlex.join(job.to_dict()["command"])


MTemplateAPI.MManager.getUniqueClass().installPyTemplate(BenchLicensed())
"""


def constrained_jobs(jobs: int, chunks_per_job: int, seed: int = 16) -> list[dict[str, Any]]:
    """The job mix: priorities 10 / 50 / 90; 60 % limited to two of the 20 pools; 20 %
    capped at 5 nodes; 10 % on the template whose license group is capped; every second
    pair of jobs linked frame by frame (job 2k+1 waits for the same frame of job 2k)."""
    rng = random.Random(seed)
    specs = []
    for index in range(jobs):
        spec: dict[str, Any] = {
            "title": f"constrained {index}",
            "frames": f"1-{chunks_per_job}",
            "command": ["/bin/true"],
            "priority": rng.choice((10, 50, 90)),
        }
        if rng.random() < 0.6:
            spec["pools"] = [f"pool{index % POOLS:02d}", f"pool{(index + 7) % POOLS:02d}"]
        if rng.random() < 0.2:
            spec["max_nodes"] = 5
        if rng.random() < 0.1:
            spec["template"] = "benchlicensed"
        if index % 4 == 1:  # pairs (0, 1), (4, 5), ...; ids start at 1
            spec["depends_on"] = [index]  # the job submitted just before this one
            spec["per_frame"] = True
        specs.append(spec)
    return specs


def constrained_run(
    ctx: Context,
    clients: int,
    jobs: int,
    licenses: int,
    index: int,
    extra_env: dict[str, str] | None = None,
    watch: Any = None,
) -> tuple[dict[str, float], dict[str, Any], dict[str, float]]:
    """One run of case 3: the unconstrained load, then the constrained mix on a fresh
    dispatcher, both started with `extra_env` (metrics, raw figures, CPU window);
    `watch(pid, edge)` hears the constrained window open and close."""
    env = extra_env or {}
    chunks_per_job = max(1, ctx.scale.constrained_chunks // jobs)
    seeded = jobs * chunks_per_job
    site = ctx.scratch / f"templates-{licenses}"
    site.mkdir(parents=True, exist_ok=True)
    (site / "benchlicensed.py").write_text(
        textwrap.dedent(LICENSED_TEMPLATE.format(licenses=licenses))
    )
    specs = constrained_jobs(jobs, chunks_per_job)
    data = ctx.data_dir(jobs, chunks_per_job=chunks_per_job)
    with Dispatcher(data, log_path=ctx.log_path(), extra_env=env).start() as d:
        free, free_cpu, _, _ = _load(d, clients, ctx)
        _ran_dry(d, seeded)
    ctx.counter += 1
    fresh = ctx.scratch / f"run-{ctx.counter:03d}"
    extra = ("--templates-dir", str(site))
    with Dispatcher(fresh, log_path=ctx.log_path(), extra_args=extra, extra_env=env).start() as d:
        rest = Http(d)
        try:
            began = time.perf_counter()
            for spec in specs:
                rest.call("POST", "/api/v1/jobs/", spec)
            submit_s = time.perf_counter() - began
            whys: list[float] = []
            reasons: dict[str, int] = {}
            stop = threading.Event()
            failure: list[BaseException] = []
            rng = random.Random(index)

            def ask_why() -> None:
                asker = Http(d)
                try:
                    while not stop.wait(WHY_EVERY_S):
                        elapsed, answer = asker.call(
                            "GET", f"/api/v1/jobs/{rng.randint(1, jobs)}/why"
                        )
                        if answer["state"] == "queued":
                            whys.append(elapsed)
                        for reason in answer["reasons"][:1]:
                            key = reason.split("(")[0][:60]
                            reasons[key] = reasons.get(key, 0) + 1
                except BaseException as exc:  # reported below
                    failure.append(exc)
                finally:
                    asker.close()

            asker = threading.Thread(target=ask_why, name="bench-why")

            def during(edge: str) -> None:
                if watch is not None:
                    watch(d.pid, edge)
                if edge == "start":
                    asker.start()
                else:
                    stop.set()
                    asker.join()

            held, cpu, _, _ = _load(
                d, clients, ctx, pools=POOLS, fail_rate=FAIL_RATE, during=during
            )
            status = _ran_dry(d, seeded)
        finally:
            rest.close()
    if failure:
        raise BenchError(f"GET .../why failed: {failure[0]!r}")
    rate0, rate1 = free["chunks_per_s"], held["chunks_per_s"]
    ordered = sorted(whys)
    metrics = {
        "chunks_per_s_unconstrained": rate0,
        "chunks_per_s": rate1,
        "rate_ratio": rate1 / rate0 if rate0 else math.nan,
        "p99_ms_unconstrained": float(free["latency"].get("p99_ms", math.nan)),
        "p99_ms": float(held["latency"].get("p99_ms", math.nan)),
        "why_p50_ms": percentile(ordered, 0.5) * 1000,
        "why_p99_ms": percentile(ordered, 0.99) * 1000,
        "why_max_ms": (ordered[-1] * 1000) if ordered else math.nan,
    }
    raw = {"unconstrained": free, "constrained": held, "submit_s": round(submit_s, 2),
           "why_samples_ms": [round(t * 1000, 2) for t in whys], "why_reasons": reasons,
           "failed_results": held["failed"], "cpu_unconstrained": free_cpu,
           "dispatcher": {key: status.get(key) for key in ("results", "store_batches")}}  # fmt: skip
    return metrics, raw, cpu


def constrained(ctx: Context, clients: int, jobs: int, licenses: int) -> dict[str, Any]:
    """Chunks/s and p99 with the constrained mix against the same clients and chunk count
    unconstrained, and `GET /api/v1/jobs/ID/why` latency while it runs."""
    chunks_per_job = max(1, ctx.scale.constrained_chunks // jobs)

    def run(index: int) -> tuple[dict[str, float], dict[str, Any], dict[str, float]]:
        return constrained_run(ctx, clients, jobs, licenses, index)

    return measure(
        f"constrained_{clients}",
        guarded(run),
        runs=ctx.scale.scale_runs,
        max_tries=ctx.scale.max_tries,
        unit="ratio",
        what=f"{clients:,} simulated clients in {POOLS} pools, {jobs:,} jobs of {chunks_per_job} "
        "chunks: priorities 10/50/90, 60 % on two pools, 20 % at most 5 nodes, 10 % in a "
        f"license group capped at {licenses}, per-frame dependencies between pairs, "
        f"{FAIL_RATE:.0%} of results failed (retried); against the same clients and chunk "
        "count unconstrained; why = GET /api/v1/jobs/ID/why on queued jobs during the window",
        params={
            "clients": clients,
            "jobs": jobs,
            "chunks_per_job": chunks_per_job,
            "licenses": licenses,
            "pools": POOLS,
            "fail_rate": FAIL_RATE,
        },  # fmt: skip
    )


# -- case 4: the hot path against the reference --------------------------------
def reference(ctx: Context) -> dict[str, Any]:
    """No-op chunks/s of the product and of benchmarks/reference.py, the same simulated
    clients, with one chunk per node and with four ahead, one after the other."""
    scale = ctx.scale
    jobs = scale.throughput_jobs
    seeded = jobs * scale.chunks_per_job
    clients = scale.clients

    def run(index: int) -> tuple[dict[str, float], dict[str, Any], dict[str, float]]:
        metrics: dict[str, float] = {}
        raw: dict[str, Any] = {}
        cpu: dict[str, float] = {}
        for ahead in (0, 4):
            d = Dispatcher(ctx.data_dir(jobs), assign_ahead=ahead, log_path=ctx.log_path())
            with d.start():
                product, cpu, _, _ = _load(d, clients, ctx, ahead=ahead)
                _ran_dry(d, seeded)
            ctx.counter += 1
            with Reference(
                ctx.scratch / f"reference-{ctx.counter:03d}", seeded, ahead
            ).start() as r:
                bare, _, _, _ = _load(r, clients, ctx, ahead=ahead)  # type: ignore[arg-type]
            if bare["acked"] + clients * (1 + ahead) >= seeded:
                raise BenchError("the reference's queue ran dry; seed more for this window")
            rate, ref_rate = product["chunks_per_s"], bare["chunks_per_s"]
            metrics[f"product_ahead{ahead}_per_s"] = rate
            metrics[f"reference_ahead{ahead}_per_s"] = ref_rate
            metrics[f"ratio_ahead{ahead}"] = rate / ref_rate if ref_rate else math.nan
            raw[f"ahead{ahead}"] = {"product": product, "reference": bare}
        return metrics, raw, cpu

    return measure(
        "reference",
        guarded(run),
        runs=scale.runs,
        max_tries=scale.max_tries,
        unit="ratio",
        what=f"no-op chunks/s, {clients:,} simulated clients: corral dispatcher / the bare "
        "reference loop (benchmarks/reference.py: Protocol transport, msgspec, group commit, "
        "synchronous=FULL, no handshake check, no scheduling), assign_ahead 0 and 4",
        params={"clients": clients, "queued_chunks": seeded},
    )


# -- case 6: the raw spawn rate ----------------------------------------------
def spawn_raw(ctx: Context) -> dict[str, Any]:
    scale = ctx.scale

    def run(index: int) -> tuple[dict[str, float], dict[str, Any], dict[str, float]]:
        window = CpuWindow.start()
        rates = spawn_probes.all_rates(2, scale.probe_s)
        window.stop()
        return rates, {}, window.report()

    return measure(
        "spawn_raw",
        guarded(run),
        runs=scale.runs,
        max_tries=scale.max_tries,
        unit="spawns/s",
        what="/bin/true started directly (no reaper) 2 at a time: stdlib asyncio, uvloop, "
        "os.posix_spawn + waitpid; fastest = the best of the three",
        params={"parallel": 2},
    )


# -- case 5: one jobGet from a hook -------------------------------------------
def hook_jobget(ctx: Context) -> dict[str, Any]:
    """The median round trip of MDispatcherAPI.jobGet from a template hook
    (benchmarks/hook_roundtrip.py: a real dispatcher and hook host)."""
    from benchmarks import hook_roundtrip

    scale = ctx.scale

    def run(index: int) -> tuple[dict[str, float], dict[str, Any], dict[str, float]]:
        window = CpuWindow.start()
        try:
            found = hook_roundtrip.measure(scale.hook_calls)
        except RuntimeError as exc:
            raise BenchError(str(exc)) from exc
        window.stop()
        metrics = {key: float(found[key]) for key in ("median_us", "p90_us", "p99_us")}
        return metrics, found, window.report()

    return measure(
        "hook_jobget",
        guarded(run),
        runs=scale.runs,
        max_tries=scale.max_tries,
        unit="us",
        what=f"one MDispatcherAPI.jobGet from a template hook, {scale.hook_calls:,} calls "
        "timed inside the hook host (encode, pipe, the dispatcher's answer, decode)",
        params={"calls": scale.hook_calls},
    )


def run_cases(ctx: Context) -> dict[str, dict[str, Any]]:
    """Every scale case at every size of `ctx.scale.growth`."""
    scale = ctx.scale
    figures: dict[str, dict[str, Any]] = {}
    for fraction in scale.growth:
        clients = sized(FULL_CLIENTS, fraction)
        figures[f"clients_{clients}"] = many_clients(ctx, clients)
    for fraction in scale.growth:
        nodes = sized(FULL_CONSOLE_NODES, fraction)
        figures[f"consoles_{nodes}"] = consoles(ctx, nodes)
    for fraction in scale.growth:
        clients = sized(FULL_CONSTRAINED_CLIENTS, fraction)
        figures[f"constrained_{clients}"] = constrained(
            ctx, clients, sized(FULL_CONSTRAINED_JOBS, fraction), sized(FULL_LICENSES, fraction)
        )
    figures["reference"] = reference(ctx)
    figures["hook_jobget"] = hook_jobget(ctx)
    return figures


__all__ = ["constrained", "constrained_run", "consoles", "hook_jobget", "many_clients", "reference", "run_cases",
           "spawn_raw"]  # fmt: skip


def largest_fleet(scale: Any) -> int:
    """The most simulated clients a case of `scale` connects at once."""
    return max(sized(FULL_CLIENTS, fraction) for fraction in scale.growth)
