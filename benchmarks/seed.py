"""Queues seeded straight into a data directory through the dispatcher's own store.

REST would take minutes for a million chunks; the store's `put_job` and one
group commit take about a second. A seeded directory is made once per shape
and copied for every run that needs it.
"""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

from dispatcher import jobspec
from dispatcher.store.sqlite import SqliteStore

DB_FILES = ("corral.db", "corral.db-wal", "corral.db-shm")


async def _seed(
    data_dir: Path, jobs: int, chunks_per_job: int, command: list[str], template: str
) -> None:
    store = SqliteStore(data_dir / "corral.db", durability="full")
    await store.open()
    try:
        spec = jobspec.parse_spec(
            {
                "title": "bench",
                "frames": f"1-{chunks_per_job}",
                "batch": 1,
                "command": command,
                "template": template,
            }  # fmt: skip
        )
        for index in range(jobs):
            job_id = index + 1
            job = jobspec.build_job(spec, job_id, job_id, "admin")
            job.title = f"bench {job_id}"
            store.put_job(job)
        store.put_meta("next_job_id", str(jobs + 1))
        await store.commit()
    finally:
        await store.close()


def seed_queue(
    data_dir: Path,
    *,
    jobs: int,
    chunks_per_job: int,
    command: list[str] | None = None,
    template: str = "cmdline",
) -> Path:
    """A data directory holding `jobs` queued jobs of `chunks_per_job` one-frame chunks."""
    data_dir.mkdir(parents=True, exist_ok=True)
    asyncio.run(_seed(data_dir, jobs, chunks_per_job, command or ["/bin/true"], template))
    return data_dir


def copy_data_dir(source: Path, target: Path) -> Path:
    """A fresh copy of a seeded directory (the database only: tokens are made on start)."""
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    for name in DB_FILES:
        if (source / name).exists():
            shutil.copy2(source / name, target / name)
    return target
