"""A dispatcher on PostgreSQL: a real `corral dispatcher --store postgresql://...` with
render clients, kill -9 and restart; one dispatcher per database; clear refusals
of a server that cannot be reached or a database that does not exist."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from dispatcher.errors import StartupError
from dispatcher.store.postgres import PostgresStore
from tests.integration.farm import CORRAL, Farm, killed_during_submits, wait_for
from tests.integration.postgres import Cluster, require_cluster

pytestmark = pytest.mark.postgres


async def test_a_second_store_on_the_same_database_is_refused(postgres_url: str) -> None:
    first = PostgresStore(postgres_url)
    await first.open()
    second = PostgresStore(postgres_url)
    with pytest.raises(StartupError, match="another dispatcher uses the database"):
        await second.open()
    await first.close()
    await second.open()  # the lock went with the first store's connection
    assert second.pragmas()["dialect"] == "postgresql"
    assert second.pragmas()["schema_version"] >= 5
    await second.close()


async def test_an_unreachable_server_or_a_missing_database_is_one_clear_line(
    postgres_cluster: Cluster | str,
) -> None:
    cluster = require_cluster(postgres_cluster)
    missing = PostgresStore(cluster.url("no_such_farm"))
    with pytest.raises(StartupError, match="no such database"):
        await missing.open()
    closed_port = PostgresStore("postgresql://ann:secret@127.0.0.1:1/farm")
    with pytest.raises(StartupError, match="cannot reach the PostgreSQL server") as caught:
        await closed_port.open()
    assert "secret" not in str(caught.value) and "ann:***@" in str(caught.value)


def test_a_farm_on_postgresql_renders_survives_kill_9_and_shows_no_password(
    make_farm: Callable[..., Farm], postgres_url: str, tmp_path: Path
) -> None:
    farm = make_farm("--store", postgres_url)
    status = farm.request("GET", "/api/v1/status")
    assert status["store"]["dialect"] == "postgresql"
    out = tmp_path / "out"
    out.mkdir()
    farm.client("alpha", instances=2)
    job = farm.submit(
        title="on postgres", frames="1-40", batch=4,
        command=["sh", "-c", f'echo run >> "{out}/chunk_{{start}}.txt"'],
    )  # fmt: skip
    assert farm.wait_state(job["id"], "done", "failed")["state"] == "done"
    assert sorted(path.name for path in out.iterdir()) == sorted(
        f"chunk_{start}.txt" for start in range(1, 41, 4)
    )
    assert all(path.read_text() == "run\n" for path in out.iterdir())

    acknowledged = killed_during_submits(farm, threads=1, at_least=15, command=["true"])
    farm.start()  # the same database: its lock went with the killed process
    jobs = {listed["id"]: listed for listed in farm.request("GET", "/api/v1/jobs/")}
    assert not set(acknowledged) - set(jobs), "acknowledged jobs lost after kill -9"
    assert jobs[job["id"]]["state"] == "done"
    assert [chunk["attempts"] for chunk in farm.chunks(job["id"])] == [1] * 10


def test_a_bad_store_setting_stops_the_dispatcher_with_a_clear_line(tmp_path: Path) -> None:
    for store, code, expected in (
        ("mysql://h/farm", 2, "not a store"),
        ("postgresql://ann:pw@127.0.0.1:1/farm", 6, "cannot reach the PostgreSQL server"),
    ):
        result = subprocess.run(
            [CORRAL, "dispatcher", "--data-dir", str(tmp_path / "farm"), "--store", store,
             "--port", "0", "--http-port", "0", "--compat-port", "0"],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert result.returncode == code and expected in result.stderr, result.stderr
        assert ":pw@" not in result.stderr


async def test_config_show_reads_the_stored_settings_from_the_database(
    postgres_url: str, tmp_path: Path
) -> None:
    import json

    store = PostgresStore(postgres_url)
    await store.open()
    store.put_record("config", "settings", b'{"heartbeat_interval_s": 2.5}')
    await store.commit()
    await store.close()
    with_password = postgres_url.replace("corral@", "corral:hunter2@")
    result = subprocess.run(
        [CORRAL, "config", "show", "--data-dir", str(tmp_path), "--store", with_password,
         "--json"],
        capture_output=True, text=True, timeout=60, env={"PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout)
    shown = shown.get("settings", shown)
    assert shown["heartbeat_interval_s"]["value"] == 2.5
    assert shown["heartbeat_interval_s"]["origin"] == "stored"
    assert "hunter2" not in result.stdout and ":***@" in shown["store"]["value"]


async def test_two_migrations_at_once_make_one_schema(postgres_url: str) -> None:
    import asyncio

    from dispatcher.store import pg_schema

    first, second = await pg_schema.connect(postgres_url), await pg_schema.connect(postgres_url)
    try:
        versions = await asyncio.gather(pg_schema.migrate(first), pg_schema.migrate(second))
        latest = pg_schema.migrations()[-1][0]
        assert versions == [latest, latest]
        recorded = await first.fetch("SELECT version FROM corral_schema ORDER BY version")
        assert [row[0] for row in recorded] == list(range(1, latest + 1))
        assert await pg_schema.migrate(first) == latest  # nothing left to do
        await first.execute("INSERT INTO corral_schema (version) VALUES ($1)", latest + 1)
        with pytest.raises(StartupError, match="newer than this Corral knows"):
            await pg_schema.migrate(second)
    finally:
        await pg_schema.close_quietly(first)
        await pg_schema.close_quietly(second)


async def test_malformed_urls_are_refused_without_their_password() -> None:
    for url in ("postgresql://ann:pw@[::1/farm", "postgresql://ann:pw@host:notaport/farm",
                "postgresql://ann:pw@127.0.0.1:1/farm?sslmode=nonsense"):  # fmt: skip
        store = PostgresStore(url)
        with pytest.raises(StartupError) as caught:
            await store.open()
        assert ":pw@" not in str(caught.value), str(caught.value)


def test_a_farm_rides_out_its_database_connections_being_cut(
    make_farm: Callable[..., Farm], postgres_cluster: Cluster | str, tmp_path: Path
) -> None:
    cluster = require_cluster(postgres_cluster)
    url = cluster.new_database()
    database = url.rsplit("/", 1)[1]
    farm = make_farm("--store", url, "--store-retry-max-s", "0.2")
    out = tmp_path / "out"
    out.mkdir()
    farm.client("alpha", instances=2)
    job = farm.submit(
        title="through cuts", frames="1-30",
        command=["sh", "-c", f'sleep 0.1; echo run >> "{out}/f{{start}}"'],
    )  # fmt: skip
    for finished in (5, 12, 20):  # every connection of the dispatcher, cut three times
        wait_for(lambda n=finished: len(list(out.iterdir())) >= n, 60, f"{finished} chunks")
        cluster.psql(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            f"WHERE datname = '{database}' AND pid <> pg_backend_pid()"
        )
    assert farm.wait_state(job["id"], "done", "failed", timeout_s=120)["state"] == "done"
    assert len(list(out.iterdir())) == 30
    status = farm.request("GET", "/api/v1/status")
    assert status["store_health"]["state"] == "ok"
    farm.close()
    log = (tmp_path / f"{farm.data_dir.name}-dispatcher.log").read_text()
    assert "action=store_reconnected" in log  # (the cuts were met, and ridden out)
    again = make_farm("--store", url, data_dir=farm.data_dir)
    assert again.job(job["id"])["state"] == "done"


def test_while_the_database_turns_the_dispatcher_away_changes_get_503_and_reads_go_on(
    make_farm: Callable[..., Farm], postgres_cluster: Cluster | str
) -> None:
    from tests.integration.farm import ApiError

    cluster = require_cluster(postgres_cluster)
    url = cluster.new_database()
    database = url.rsplit("/", 1)[1]
    farm = make_farm("--store", url, "--store-retry-max-s", "0.2")
    kept = farm.submit(title="kept", paused=True)
    cluster.psql(f"ALTER DATABASE {database} ALLOW_CONNECTIONS false")
    cluster.psql(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        f"WHERE datname = '{database}' AND pid <> pg_backend_pid()"
    )
    try:
        tries = iter(range(1000))

        def refused() -> bool:
            try:
                farm.submit(title=f"refused {next(tries)}", paused=True)
            except ApiError as exc:
                assert exc.status == 503, exc
                return True
            return False

        wait_for(refused, 30, "a submit refused with 503")
        started = time.monotonic()
        assert refused() and time.monotonic() - started < 10  # at once, not after a wait
        assert farm.request("GET", "/api/v1/status")["store_health"]["state"] == "unavailable"
        assert "kept" in {job["title"] for job in farm.request("GET", "/api/v1/jobs/")}
    finally:
        cluster.psql(f"ALTER DATABASE {database} ALLOW_CONNECTIONS true")
    wait_for(
        lambda: farm.request("GET", "/api/v1/status")["store_health"]["state"] == "ok",
        30, "the store to recover",
    )  # fmt: skip
    # The refused submit was taken back once the database could be read again.
    assert [job["title"] for job in farm.request("GET", "/api/v1/jobs/")] == ["kept"]
    after = farm.submit(title="after", paused=True)
    farm.close()
    again = make_farm("--store", url, data_dir=farm.data_dir)
    titles = {job["title"]: job["id"] for job in again.request("GET", "/api/v1/jobs/")}
    assert titles == {"kept": kept["id"], "after": after["id"]}


async def test_reads_replace_a_cut_connection_or_say_the_store_cannot_be_read(
    postgres_cluster: Cluster | str,
) -> None:
    from dispatcher.errors import StoreUnavailable

    cluster = require_cluster(postgres_cluster)
    url = cluster.new_database()
    database = url.rsplit("/", 1)[1]
    cut_readers = (
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        f"WHERE datname = '{database}' AND pid <> pg_backend_pid() "
        "AND pid NOT IN (SELECT pid FROM pg_locks WHERE locktype = 'advisory')"
    )
    store = PostgresStore(url, retry_max_s=0.2)
    await store.open()
    store.put_run((1, 0, 1), 7, "done", 1.0, 2.0, 0, "")
    await store.commit()
    cluster.psql(cut_readers)
    assert [run[:5] for run in await store.runs(1)] == [(1, 0, 1, 7, "done")]
    cluster.psql(f"ALTER DATABASE {database} ALLOW_CONNECTIONS false")
    try:
        cluster.psql(cut_readers)
        with pytest.raises(StoreUnavailable, match="cannot be read"):
            await store.runs(1)
    finally:
        cluster.psql(f"ALTER DATABASE {database} ALLOW_CONNECTIONS true")
    assert len(await store.runs(1)) == 1
    await store.close()


def test_the_configuration_api_shows_no_store_password_and_takes_itself_back(
    make_farm: Callable[..., Farm], postgres_url: str
) -> None:
    with_password = postgres_url.replace("corral@", "corral:hunter2@")
    farm = make_farm("--store", with_password)
    shown = farm.request("GET", "/api/v1/system/configuration")
    assert shown["values"]["store"] == with_password.replace(":hunter2@", ":***@")
    assert "hunter2" not in str(farm.request("GET", "/api/v1/status"))
    # Every value as read, sent back: nothing changes (the shown store is the store).
    answer = farm.request("PATCH", "/api/v1/system/configuration", {"values": shown["values"]})
    assert answer == {"changed": []}
