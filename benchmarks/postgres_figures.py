"""The dispatcher's figures with its state on PostgreSQL, beside SQLite's: no-op chunks/s
end to end and restart time with the big queue.

The server is a throwaway cluster on this machine (initdb and pg_ctl in the scratch
folder's temporary sibling, `fsync=on`, synchronous commit: as durable as SQLite's
`synchronous=FULL`), made as the tests make theirs; each run gets a new database
filled from the seeded SQLite queue by `corral store migrate`'s copy. Without
PostgreSQL installed the figures are skipped and say why.
"""

from __future__ import annotations

import asyncio
from typing import Any

from benchmarks.cpu import CpuWindow
from benchmarks.dispatcher_figures import Context, _latency_metrics, _raw
from benchmarks.farm import BenchError, Dispatcher, run_simclients
from benchmarks.runner import measure
from dispatcher.store.copy import sqlite_to_postgres
from tests.integration.postgres import Cluster, start_cluster


def _skipped(reason: str) -> dict[str, Any]:
    return {"status": f"skipped: {reason}", "metrics": {}}


def _server_pids(cluster: Cluster) -> tuple[int, ...]:
    """The server's processes (postmaster and backends), counted as the figure's own CPU."""
    found = cluster.psql("SELECT pid FROM pg_stat_activity").split()
    postmaster = (cluster.folder / "data" / "postmaster.pid").read_text().split()[0]
    return tuple(int(pid) for pid in [postmaster, *found] if pid.isdigit())


def _on_postgres(ctx: Context, cluster: Cluster, jobs: int) -> tuple[Any, str]:
    """A seeded data directory whose queue was moved into a new database: (dir, url)."""
    data = ctx.data_dir(jobs)
    url = cluster.new_database("bench")
    asyncio.run(sqlite_to_postgres(data / "corral.db", url))
    for name in ("corral.db", "corral.db-wal", "corral.db-shm"):
        (data / name).unlink(missing_ok=True)
    return data, url


def _with_cluster(figure: Any) -> Any:
    def run(ctx: Context) -> dict[str, Any]:
        try:
            cluster = start_cluster(fsync=True)
        except (OSError, RuntimeError) as exc:
            return _skipped(f"no PostgreSQL server: {exc}")
        try:
            result: dict[str, Any] = figure(ctx, cluster)
            return result
        finally:
            cluster.stop()

    run.__doc__ = figure.__doc__
    return run


@_with_cluster
def noop_postgres(ctx: Context, cluster: Cluster) -> dict[str, Any]:
    """No-op chunks/s end to end with the queue on PostgreSQL (as noop_ahead0 on SQLite)."""
    scale = ctx.scale
    seeded = scale.throughput_jobs * scale.chunks_per_job

    def run(index: int) -> tuple[dict[str, float], dict[str, Any], dict[str, float]]:
        data, url = _on_postgres(ctx, cluster, scale.throughput_jobs)
        d = Dispatcher(data, log_path=ctx.log_path(), extra_args=("--store", url))
        with d.start():
            result, cpu = run_simclients(
                d, clients=scale.clients, warmup_s=scale.warmup_s, window_s=scale.window_s,
                extra_pids=_server_pids(cluster),
            )  # fmt: skip
            status = d.status()
        return _latency_metrics(result), _raw(result, status, seeded), cpu

    return measure(
        "noop_postgres",
        run,
        runs=scale.runs,
        max_tries=scale.max_tries,
        unit="chunks/s",
        what=f"no-op chunks/s end to end, {scale.clients} simulated clients, assign_ahead 0, "
        "the queue on PostgreSQL on this machine (fsync on, synchronous commit)",
        params={"clients": scale.clients, "queued_chunks": seeded, "window_s": scale.window_s},
    )


@_with_cluster
def restart_postgres(ctx: Context, cluster: Cluster) -> dict[str, Any]:
    """Restart time with the big queue on PostgreSQL (as queue_1m's restart_s on SQLite)."""
    scale = ctx.scale
    data, url = _on_postgres(ctx, cluster, scale.big_jobs)
    Dispatcher(data, log_path=ctx.log_path(), extra_args=("--store", url)).start().stop()

    def run(index: int) -> tuple[dict[str, float], dict[str, Any], dict[str, float]]:
        d = Dispatcher(data, log_path=ctx.log_path(), extra_args=("--store", url))
        window = CpuWindow.start(_server_pids(cluster))
        with d.start():
            window.track([d.pid])
            window.stop()
            loaded = d.status()["jobs"]
        if loaded != scale.big_jobs:
            raise BenchError(f"the restarted dispatcher loaded {loaded} jobs, not {scale.big_jobs}")
        return {"restart_s": d.started_s}, {"jobs": loaded}, window.report()

    return measure(
        "restart_postgres",
        run,
        runs=scale.restart_runs,
        max_tries=scale.max_tries,
        unit="s",
        what=f"restart (exec to `listening` printed, queue loaded), {scale.big_chunks:,} "
        f"queued chunks over {scale.big_jobs:,} jobs, the queue on PostgreSQL",
        params={"queued_chunks": scale.big_chunks, "jobs": scale.big_jobs},
    )


FIGURES = {"noop_postgres": noop_postgres, "restart_postgres": restart_postgres}
