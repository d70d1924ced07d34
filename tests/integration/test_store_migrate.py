"""`corral store migrate`: a farm that ran on SQLite goes on, whole, on PostgreSQL; a
target that holds anything, a farm still running and bad arguments are refused."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.integration.farm import CORRAL, Farm
from tests.integration.postgres import Cluster, require_cluster

pytestmark = pytest.mark.postgres


def migrate(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CORRAL, "store", "migrate", *args], capture_output=True, text=True, timeout=300
    )


def test_a_farm_moves_to_postgresql_whole_and_a_second_copy_is_refused(
    make_farm: Callable[..., Farm], postgres_cluster: Cluster | str, tmp_path: Path
) -> None:
    cluster = require_cluster(postgres_cluster)
    url = cluster.new_database()
    farm = make_farm()
    out = tmp_path / "out"
    out.mkdir()
    farm.client("alpha")
    job = farm.submit(title="before", frames="1-6", batch=2,
                      command=["sh", "-c", f'echo run >> "{out}/c{{start}}"'])  # fmt: skip
    assert farm.wait_state(job["id"], "done", "failed")["state"] == "done"
    waiting = farm.submit(title="waiting", paused=True)
    farm.request("POST", "/api/v1/users/", {"name": "ann", "permissions": ["submit"]})
    farm.request("POST", "/api/v1/pools/", {"name": "gpu", "nodes": ["alpha"]})
    pools_before = farm.request("GET", "/api/v1/pools/")
    nodes_before = [(n["name"], n["id"]) for n in farm.nodes()]
    farm.close()

    database = farm.data_dir / "corral.db"
    result = migrate("--from", f"sqlite://{database}", "--to", url)
    assert result.returncode == 0, result.stderr
    assert "checked ok" in result.stdout and "farm secret went along" in result.stdout
    rows = int(cluster.psql("SELECT COUNT(*) FROM runs", url.rsplit("/", 1)[1]))
    assert rows == 3
    with sqlite3.connect(database) as source:
        changes = source.execute("SELECT COUNT(*) FROM chunk_changes").fetchone()[0]
    copied = int(cluster.psql("SELECT COUNT(*) FROM chunk_changes", url.rsplit("/", 1)[1]))
    # (a clean stop wrote the chunks' changes into their jobs' arrays: none are left)
    assert copied == changes == 0

    # A new data directory on the database: the secret comes from it, so the render
    # client that knew the old farm's secret is still welcome.
    moved = tmp_path / "moved"
    moved.mkdir()
    shutil.copy(farm.data_dir / "admin.token", moved / "admin.token")
    again = make_farm("--store", url, data_dir=moved)
    assert (moved / "farm.secret").read_text() == (farm.data_dir / "farm.secret").read_text()
    jobs = {listed["title"]: listed for listed in again.request("GET", "/api/v1/jobs/")}
    assert jobs["before"]["state"] == "done" and jobs["waiting"]["id"] == waiting["id"]
    assert [chunk["attempts"] for chunk in again.chunks(job["id"])] == [1, 1, 1]
    assert "ann" in {user["name"] for user in again.request("GET", "/api/v1/users/")}
    assert again.request("GET", "/api/v1/pools/") == pools_before
    assert [(n["name"], n["id"]) for n in again.nodes()] == nodes_before
    again.client("beta")
    again.request("POST", f"/api/v1/jobs/{waiting['id']}/actions/resume")
    assert again.wait_state(waiting["id"], "done", "failed")["state"] == "done"
    again.close()

    refused = migrate("--from", f"sqlite://{database}", "--to", url, "--quiet")
    assert refused.returncode == 1 and "is not empty" in refused.stderr, refused.stderr
    assert "nothing was copied" in refused.stderr


def test_a_running_farm_a_missing_file_and_wrong_urls_are_refused(
    make_farm: Callable[..., Farm], postgres_url: str, tmp_path: Path
) -> None:
    farm = make_farm()
    running = migrate("--from", f"sqlite://{farm.data_dir / 'corral.db'}", "--to", postgres_url)
    assert running.returncode == 5 and "in use by another dispatcher" in running.stderr
    missing = migrate("--from", f"sqlite://{tmp_path / 'none.db'}", "--to", postgres_url)
    assert missing.returncode == 6 and "no such database file" in missing.stderr
    swapped = migrate("--from", postgres_url, "--to", f"sqlite://{tmp_path / 'x.db'}")
    assert swapped.returncode == 2 and "is not a SQLite database" in swapped.stderr
    not_pg = migrate("--from", f"sqlite://{tmp_path / 'x.db'}", "--to", "mysql://u:pw@h/db")
    assert not_pg.returncode == 2 and "not a PostgreSQL URL" in not_pg.stderr
    assert "pw" not in not_pg.stderr.replace("--", "")
