"""`corral store check` and `corral store backup` on a PostgreSQL store: a real
dispatcher on the throwaway cluster, the real `corral` command, real pg_dump and
pg_restore."""

from __future__ import annotations

import asyncio
import json
import struct
import subprocess
from collections.abc import Callable
from pathlib import Path

import asyncpg
import pytest

from dispatcher.store import pg_maintenance
from tests.integration.farm import CORRAL, Farm
from tests.integration.postgres import Cluster, require_cluster

pytestmark = pytest.mark.postgres


def corral(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CORRAL, *args], capture_output=True, text=True, timeout=120)


async def execute(url: str, *statements: str) -> None:
    db = await asyncpg.connect(url)
    try:
        for statement in statements:
            await db.execute(statement)
    finally:
        await db.close()


async def fetchval(url: str, query: str) -> object:
    db = await asyncpg.connect(url)
    try:
        return await db.fetchval(query)
    finally:
        await db.close()


def test_check_a_live_farms_database_then_find_what_is_wrong(
    make_farm: Callable[..., Farm], postgres_url: str
) -> None:
    farm = make_farm("--store", postgres_url)
    farm.client("alpha")
    job = farm.submit(title="checked", frames="1-4", batch=1)
    farm.wait_state(job["id"], "done", timeout_s=30)

    # Safe while the dispatcher runs; without amcheck the indexes are a note, not a problem.
    found = corral("store", "check", "--store", postgres_url)
    assert found.returncode == 0, found.stderr
    assert "ok (schema" in found.stdout and "1 jobs, 4 attempts" in found.stdout
    assert "amcheck extension is not installed" in found.stderr

    asyncio.run(execute(postgres_url, "CREATE EXTENSION amcheck"))
    report = json.loads(corral("store", "check", "--store", postgres_url, "--json").stdout)
    assert report["ok"] is True and report["dialect"] == "postgresql"
    assert report["jobs"] == 1 and report["rows"]["runs"] == 4
    assert report["indexes_checked"] >= 5 and report["schema_version"] >= 5
    assert report["size_bytes"] > 0

    # Attempts of a job that does not exist, and one past a job's last chunk.
    asyncio.run(
        execute(
            postgres_url,
            "INSERT INTO runs (job_id, chunk, attempt, node_id, state) VALUES (999, 0, 1, 1, 'done')",
            f"INSERT INTO runs (job_id, chunk, attempt, node_id, state) "
            f"VALUES ({job['id']}, 40, 1, 1, 'done')",
        )
    )
    broken = corral("store", "check", "--store", postgres_url)
    assert broken.returncode == 1
    assert "2 problem(s) found" in broken.stderr
    assert "attempts are recorded for job 999, which does not exist" in broken.stderr
    assert f"job {job['id']} has an attempt recorded for chunk 40" in broken.stderr

    # Chunk change rows: cells cut short, a chunk past the job's last, a deleted job's.
    past = struct.pack("<iBIiB", 40, 3, 1, -1, 0).hex()
    asyncio.run(
        execute(
            postgres_url,
            f"INSERT INTO chunk_changes VALUES (1000001, {job['id']}, '\\x0102'::bytea)",
            f"INSERT INTO chunk_changes VALUES (1000002, {job['id']}, '\\x{past}'::bytea)",
            f"INSERT INTO chunk_changes VALUES (1000003, 999, '\\x{past}'::bytea)",
        )
    )
    broken = corral("store", "check", "--store", postgres_url)
    assert "4 problem(s) found" in broken.stderr
    assert f"chunk change 1000001 of job {job['id']}: its cells are 2 bytes" in broken.stderr
    assert f"chunk change 1000002 of job {job['id']} names chunk 40, past its 4" in broken.stderr
    assert "note: 1 chunk change rows of deleted jobs" in broken.stderr


def test_check_refuses_what_is_not_a_corral_database(postgres_cluster: Cluster | str) -> None:
    cluster = require_cluster(postgres_cluster)
    empty = cluster.new_database()
    found = corral("store", "check", "--store", empty)
    assert found.returncode == 1
    assert "not a Corral database" in found.stderr
    missing = corral("store", "check", "--store", cluster.url("no_such_farm"))
    assert missing.returncode == 1 and "no such database" in missing.stderr
    wrong = corral("store", "check", "--store", "sqlite:///x.db")
    assert wrong.returncode == 2 and "is not a PostgreSQL URL" in wrong.stderr
    both = corral("store", "check", "--store", empty, "--data-dir", "/nowhere")
    assert both.returncode == 2 and "not both" in both.stderr


def test_backup_dumps_a_live_farm_and_the_dump_restores(
    make_farm: Callable[..., Farm], postgres_url: str, postgres_cluster: Cluster | str,
    tmp_path: Path,
) -> None:  # fmt: skip
    cluster = require_cluster(postgres_cluster)
    farm = make_farm("--store", postgres_url)
    for number in range(3):
        farm.submit(title=f"kept {number}", paused=True)
    target = tmp_path / "farm.dump"
    made = corral("store", "backup", str(target), "--store", postgres_url)
    assert made.returncode == 0, made.stderr
    assert "checked ok" in made.stdout and target.stat().st_size > 0
    assert "tables" in made.stderr  # the progress bar
    again = corral("store", "backup", str(target), "--store", postgres_url)
    assert again.returncode == 1 and "exists" in again.stderr

    restored = cluster.new_database()
    pg_restore = pg_maintenance.find_tool("pg_restore")
    assert pg_restore is not None
    loaded = subprocess.run(
        [str(pg_restore), "--no-owner", f"--dbname={restored}", str(target)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert loaded.returncode == 0, loaded.stderr
    assert asyncio.run(fetchval(restored, "SELECT COUNT(*) FROM jobs")) == 3
    assert corral("store", "check", "--store", restored).returncode == 0


def test_backup_without_pg_dump_is_not_supported(postgres_url: str, tmp_path: Path) -> None:
    with pytest.raises(pg_maintenance.NotSupported, match="not supported here: pg_dump"):
        pg_maintenance.backup(postgres_url, tmp_path / "x.dump", path="", root=tmp_path)
    assert not (tmp_path / "x.dump").exists()


def test_a_failed_dump_leaves_no_file(postgres_cluster: Cluster | str, tmp_path: Path) -> None:
    cluster = require_cluster(postgres_cluster)
    target = tmp_path / "x.dump"
    with pytest.raises(pg_maintenance.CorralError, match="pg_dump failed"):
        pg_maintenance.backup(cluster.url("no_such_farm"), target)
    assert not target.exists() and not (tmp_path / "x.dump.partial").exists()
