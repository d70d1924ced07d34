"""Hot standby on a real PostgreSQL: two real `corral dispatcher --hot-standby`
processes on one database, real render clients, SIGKILL and a cut lock session.

Fencing is checked from the database itself: `corral_epochs` counts the batches
each leader epoch committed, and when the last of them committed."""

from __future__ import annotations

import asyncio
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from dispatcher import protocol as p
from dispatcher.errors import NotLeader
from dispatcher.leadership import Leadership, epochs
from dispatcher.store.postgres import PostgresStore
from tests.integration.clirun import cli, user_token
from tests.integration.farm import CORRAL, ApiError, Farm, wait_for
from tests.integration.postgres import Cluster, require_cluster

pytestmark = pytest.mark.postgres

HOT = ["--hot-standby", "--standby-refresh-s", "0.5"]


def standby_of(
    make_farm: Callable[..., Farm], leader: Farm, url: str, name: str, *extra: str
) -> Farm:
    """A second dispatcher on the leader's database, with its own data directory (the
    admin token copied along: the token's digest is in the database)."""
    data_dir = leader.data_dir.parent / name
    data_dir.mkdir()
    shutil.copy(leader.data_dir / "admin.token", data_dir / "admin.token")
    return make_farm("--store", url, *HOT, *extra, data_dir=data_dir)


def status(farm: Farm) -> dict[str, Any]:
    """The status route's answer; {} while the dispatcher changes role (its HTTP port
    closes for a moment between the two)."""
    try:
        found: dict[str, Any] = farm.request("GET", "/api/v1/status")
    except (urllib.error.URLError, ConnectionError):
        return {}
    return found


def without_redirects(method: str, url: str, token: str) -> tuple[int, str]:
    """One request whose redirect is not followed: (status, Location)."""

    class Keep(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: object, **kwargs: object) -> None:
            return None

    opener = urllib.request.build_opener(Keep)
    request = urllib.request.Request(url, data=b"{}", method=method)
    request.add_header("Authorization", f"Bearer {token}")
    request.add_header("Content-Type", "application/json")
    try:
        with opener.open(request, timeout=10) as response:
            return response.status, response.headers.get("Location", "")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("Location", "")


async def follow(method: str, farm: Farm, path: str, body: object) -> Any:
    """One request to `farm` whose 307 is followed with the same method, body and token
    (aiohttp drops the token when a redirect changes port, as browsers do)."""
    headers = {"Authorization": f"Bearer {farm.token}"}
    async with aiohttp.ClientSession() as session:
        async with session.request(
            method, farm.url + path, json=body, headers=headers, allow_redirects=False
        ) as first:
            assert first.status == 307, await first.text()
            location = first.headers["Location"]
        async with session.request(method, location, json=body, headers=headers) as response:
            assert response.status < 300, await response.text()
            if response.content_type == "application/json":
                return await response.json()
            return None


def hello_answer(render: str) -> p.Message:
    """Say hello on a render port, as a render client does; the first answer."""
    host, port = render.rsplit(":", 1)
    hello = p.Hello(version=p.PROTOCOL_VERSION, name="probe", instance=0, nonce=b"n" * 32)
    with socket.create_connection((host.replace("0.0.0.0", "127.0.0.1"), int(port)), 10) as conn:
        conn.sendall(p.encode(hello))
        reader = p.FrameReader()
        while True:
            data = conn.recv(65536)
            assert data, "the render port closed without an answer"
            frames = reader.feed(data)
            if frames:
                return p.decode(frames[0])


def test_a_standby_answers_reads_redirects_writes_and_refuses_render_clients(
    make_farm: Callable[..., Farm], postgres_url: str
) -> None:
    leader = make_farm("--store", postgres_url, *HOT)
    standby = standby_of(make_farm, leader, postgres_url, "standby")
    lead, stand = status(leader), status(standby)
    assert (lead["role"], lead["epoch"], lead["leader_url"]) == ("leader", 1, leader.url)
    assert (stand["role"], stand["epoch"], stand["leader_url"]) == ("standby", 1, leader.url)
    assert (
        lead["leader_render"]
        == stand["leader_render"]
        == f"127.0.0.1:{leader.render.split(':')[1]}"
    )

    shown = cli(standby, "system", "status")
    assert shown.code == 0, shown.err
    lines = {
        words[0]: words[1:] for words in (line.split() for line in shown.out.splitlines()) if words
    }
    assert lines["role"] == ["standby"] and lines["epoch"] == ["1"], shown.out
    assert lines["leader_url"] == [leader.url], shown.out

    job = leader.submit(title="seen from the standby", paused=True)
    wait_for(
        lambda: [j["title"] for j in standby.request("GET", "/api/v1/jobs/")]
        == ["seen from the standby"],
        15, "the standby to read the job",
    )  # fmt: skip
    assert standby.job(job["id"])["state"] == leader.job(job["id"])["state"]
    assert standby.request("GET", "/api/v1/nodes/") == []
    # Users, their tokens and named records made on the leader reach the standby too.
    token = user_token(leader, "ann", "submit")
    leader.request("POST", "/api/v1/pools/", {"name": "gpu"})
    wait_for(
        lambda: "gpu" in [pool["name"] for pool in standby.request("GET", "/api/v1/pools/")],
        15, "the standby to read the pool",
    )  # fmt: skip
    assert standby.request("GET", "/api/v1/status", token=token)["user"] == "ann"

    for method, path in (("POST", "/api/v1/jobs/"), ("DELETE", f"/api/v1/jobs/{job['id']}")):
        code, location = without_redirects(method, standby.url + path + "?x=1", standby.token)
        assert (code, location) == (307, leader.url + path + "?x=1")
    # A client that follows redirects (aiohttp does, with the method and body) writes
    # through a standby.
    submitted = asyncio.run(
        follow(
            "POST", standby, "/api/v1/jobs/", {"title": "via", "command": ["true"], "paused": True}
        )
    )
    assert leader.job(submitted["id"])["title"] == "via"
    asyncio.run(follow("DELETE", standby, f"/api/v1/jobs/{job['id']}", None))
    assert [j["title"] for j in leader.request("GET", "/api/v1/jobs/")] == ["via"]

    refused = hello_answer(standby.render)
    assert isinstance(refused, p.Refused)
    assert refused.reason.endswith(f"leader={stand['leader_render']}"), refused.reason
    assert "standby" in refused.reason
    assert isinstance(hello_answer(leader.render), p.Challenge)  # the leader takes them
    # A leader stopped with SIGTERM lets the lead go as it exits; the standby takes it.
    assert leader.stop() == 0
    wait_for(lambda: status(standby).get("role") == "leader", 15, "the standby to lead")
    assert standby.request("GET", "/api/v1/jobs/")[0]["title"] == "via"
    assert standby.stop() == 0


async def test_a_batch_fenced_by_a_newer_epoch_is_refused_and_the_leader_steps_down(
    postgres_url: str,
) -> None:
    old = Leadership(postgres_url, poll_s=0.1)
    await old.open()
    epoch = await old.try_take("http://old", "old:1")
    assert epoch == 1
    store = PostgresStore(postgres_url, leader_epoch=epoch)
    fenced: list[NotLeader] = []
    store.on_fenced = fenced.append
    await store.open()
    store.put_meta("before", "1")
    await store.commit()  # its own epoch: committed

    # The old leader's lock session is cut: it knows at once, and a new leader takes over.
    await old.release()
    assert old.lost.is_set() and not old.leading
    new = Leadership(postgres_url, poll_s=0.1)
    await new.open()
    assert await new.try_take("http://new", "new:1") == 2
    store.put_meta("after", "1")
    with pytest.raises(NotLeader, match="no longer the leader .*epoch 1.*leader epoch is 2") as got:
        await store.commit()
    assert (got.value.epoch, got.value.current_epoch) == (1, 2)
    assert fenced and fenced[0] is got.value  # the waiters get the cause the leader acts on
    snapshot = await store.load()
    assert snapshot.meta.get("before") == "1" and "after" not in snapshot.meta
    found = {row[0]: row for row in await epochs(postgres_url)}
    assert found[1][3] == 1 and found[2][3] == 0  # one batch under epoch 1, none under 2
    await store.close()

    # A standby's store (epoch 0) commits nothing either.
    standby = PostgresStore(postgres_url, leader_epoch=0)
    await standby.open()
    standby.put_meta("standby", "1")
    with pytest.raises(NotLeader, match="a standby"):
        await standby.commit()
    await standby.close()
    info = await new.leader()
    assert (info.epoch, info.http_url, info.render_address) == (2, "http://new", "new:1")
    await new.close()
    await old.close()


def address_lists() -> bool:
    """Whether render clients here take a list of dispatcher addresses."""
    import renderclient

    return (Path(renderclient.__file__).parent / "dispatchers.py").exists()


def render_clients(farms: list[Farm], count: int) -> None:
    """`count` render clients given every dispatcher's render address, in order."""
    if not address_lists():
        pytest.skip("render clients take a single dispatcher address in this tree")
    addresses = ",".join(f.render.replace("0.0.0.0", "127.0.0.1") for f in farms)
    keeper = farms[-1]
    for n in range(1, count + 1):
        name = f"node{n}"
        log = (keeper.data_dir.parent / f"client-{name}.log").open("a")
        keeper.clients.append(
            subprocess.Popen(
                [
                    CORRAL,
                    "renderclient",
                    "--dispatcher",
                    addresses,
                    "--name",
                    name,
                    "--secret-file",
                    str(keeper.data_dir / "farm.secret"),
                    "--state-dir",
                    str(keeper.data_dir.parent / f"state-{name}"),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                text=True,
            )  # fmt: skip
        )


def chunk_job(farm: Farm, out: Path, frames: int, sleep_s: float) -> int:
    """A job of one chunk per frame, each appending its frame number to its own file."""
    job = farm.submit(
        title="one line per frame", frames=f"1-{frames}",
        command=["sh", "-c", f'sleep {sleep_s}; echo "{{start}}" >> "{out}/chunk_{{start}}.txt"'],
    )  # fmt: skip
    return int(job["id"])


def rendering(farms: list[Farm], out: Path, clients: int, frames: int, rendered: int) -> int:
    """`clients` render clients on `farms` working on a job of `frames` chunks (see
    `chunk_job`) that writes into `out`; returns the job's id once `rendered` chunks ran."""
    out.mkdir()
    render_clients(farms, clients)
    farms[0].wait_nodes(clients)
    job_id = chunk_job(farms[0], out, frames, 0.1)
    wait_for(lambda: len(list(out.iterdir())) >= rendered, 120, f"{rendered} chunks rendered")
    return job_id


def assert_each_chunk_ran_once(out: Path, frames: int) -> None:
    """Every chunk's own output file holds exactly its one line."""
    found = {path.name: path.read_text() for path in out.iterdir()}
    assert sorted(found) == sorted(f"chunk_{n}.txt" for n in range(1, frames + 1))
    twice = {name: text for name, text in found.items() if text.count("\n") != 1}
    assert not twice, f"chunks that ran more than once: {twice}"
    assert all(found[f"chunk_{n}.txt"] == f"{n}\n" for n in range(1, frames + 1))


def done(farm: Farm, job_id: int) -> int:
    return int(farm.job(job_id)["chunks"]["done"])


def test_the_standby_takes_over_from_a_killed_leader_and_every_chunk_runs_once(
    make_farm: Callable[..., Farm], postgres_url: str, tmp_path: Path
) -> None:
    # A long reconnect grace: render clients that worked for the dead leader report
    # their running attempts to the new one before it would start them again.
    grace = ["--reconnect-grace-s", "15"]
    leader = make_farm("--store", postgres_url, *HOT, *grace)
    standby = standby_of(make_farm, leader, postgres_url, "standby", *grace)
    out = tmp_path / "out"
    job_id = rendering([leader, standby], out, 4, 200, 60)

    killed = time.monotonic()
    assert leader.stop(signal.SIGKILL) == -signal.SIGKILL
    leading = wait_for(
        lambda: status(standby).get("role") == "leader" and time.monotonic(), 30, "a new leader"
    )
    at_takeover = done(standby, job_id)
    first_commit = wait_for(
        lambda: done(standby, job_id) > at_takeover and time.monotonic(), 60,
        "a chunk committed by the new leader",
    )  # fmt: skip
    assert leading - killed < 10, f"took over in {leading - killed:.1f} s"
    print(  # (docs/scaling.md quotes these figures)
        f"\nfailover: leader SIGKILL -> standby leading {leading - killed:.2f} s, "
        f"-> first chunk committed by it {first_commit - killed:.2f} s"
    )
    assert status(standby)["epoch"] == 2
    assert standby.wait_state(job_id, "done", "failed", timeout_s=180)["state"] == "done"
    assert_each_chunk_ran_once(out, 200)


def lock_session_pid(cluster: Cluster, url: str) -> int:
    """The backend of the session that holds the leader lock of `url`'s database."""
    database = url.rsplit("/", 1)[1]
    found = cluster.psql(
        "SELECT l.pid FROM pg_locks l JOIN pg_database d ON d.oid = l.database "
        f"WHERE l.locktype = 'advisory' AND l.granted AND d.datname = '{database}'"
    )
    pids = [int(line) for line in found.split()]
    assert len(pids) == 1, found
    return pids[0]


def test_a_leader_cut_from_its_lock_session_stops_committing_before_the_standby_leads(
    make_farm: Callable[..., Farm], postgres_cluster: Cluster | str, tmp_path: Path
) -> None:
    cluster = require_cluster(postgres_cluster)
    url = cluster.new_database()
    grace = ["--reconnect-grace-s", "15"]
    leader = make_farm("--store", url, *HOT, *grace)
    standby = standby_of(make_farm, leader, url, "standby", *grace)
    out = tmp_path / "out"
    job_id = rendering([leader, standby], out, 2, 80, 20)

    # Only the lock session goes: the leader's process and its other connections live.
    cluster.psql(f"SELECT pg_terminate_backend({lock_session_pid(cluster, url)})")
    wait_for(lambda: status(standby).get("role") == "leader", 30, "the standby to lead")
    wait_for(
        lambda: (s := status(leader)).get("role") == "standby" and s["leader_url"] == standby.url,
        30, "the old leader to stand by",
    )  # fmt: skip
    assert leader.process is not None and leader.process.poll() is None
    assert standby.wait_state(job_id, "done", "failed", timeout_s=180)["state"] == "done"
    assert_each_chunk_ran_once(out, 80)

    found = {row[0]: row for row in asyncio.run(epochs(url))}
    assert sorted(found) == [1, 2]
    first_batches, first_last_commit = found[1][3], found[1][4]
    second_taken = found[2][2]
    assert first_batches > 0 and first_last_commit is not None
    assert first_last_commit < second_taken, "a batch of epoch 1 committed after epoch 2 existed"
    assert found[2][3] > 0  # the new leader committed the rest
    log = (tmp_path / "farm0-dispatcher.log").read_text()
    assert "action=lead_lost epoch=1" in log and "action=step_down" in log
    assert "action=stepped_down" in log and "action=standing_by" in log


def test_a_dispatcher_alone_is_its_farms_leader_without_an_epoch(
    make_farm: Callable[..., Farm],
) -> None:
    farm = make_farm()  # SQLite: no standby, no redirect
    shown = status(farm)
    port = farm.render.rsplit(":", 1)[1]
    assert (shown["role"], shown["epoch"], shown["leader_url"]) == ("leader", None, farm.url)
    assert shown["leader_render"].endswith(f":{port}")
    assert farm.submit(title="written here")["title"] == "written here"


def test_a_frozen_leader_loses_the_lead_and_commits_nothing_when_it_wakes(
    make_farm: Callable[..., Farm], postgres_url: str, tmp_path: Path
) -> None:
    grace = ["--reconnect-grace-s", "20"]
    leader = make_farm("--store", postgres_url, *HOT, *grace)
    standby = standby_of(make_farm, leader, postgres_url, "standby", *grace)
    out = tmp_path / "out"
    job_id = rendering([leader, standby], out, 2, 60, 15)

    # Frozen, its connections stay open (its kernel answers for it): the server ends
    # its silent lock session, and the standby takes the lead.
    assert leader.process is not None
    leader.process.send_signal(signal.SIGSTOP)
    frozen = time.monotonic()
    try:
        wait_for(lambda: status(standby).get("role") == "leader", 30, "the standby to lead")
        took = time.monotonic() - frozen
    finally:
        leader.process.send_signal(signal.SIGCONT)
    assert took < 10, f"took over from a frozen leader in {took:.1f} s"
    print(f"\nfrozen leader: SIGSTOP -> standby leading {took:.2f} s")
    wait_for(
        lambda: (s := status(leader)).get("role") == "standby" and s["leader_url"] == standby.url,
        30, "the woken leader to stand by",
    )  # fmt: skip
    assert standby.wait_state(job_id, "done", "failed", timeout_s=180)["state"] == "done"
    assert_each_chunk_ran_once(out, 60)
    found = {row[0]: row for row in asyncio.run(epochs(postgres_url))}
    assert sorted(found) == [1, 2]
    assert found[1][4] is not None and found[1][4] < found[2][2]


def test_dispatchers_alone_and_in_hot_standby_do_not_share_a_database(
    make_farm: Callable[..., Farm], postgres_url: str, tmp_path: Path
) -> None:
    def second(*extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [CORRAL, "dispatcher", "--data-dir", str(tmp_path / "second"), "--store",
             postgres_url, "--port", "0", "--http-port", "0", "--compat-port", "off", *extra],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip

    alone = make_farm("--store", postgres_url)
    refused = second(*HOT)
    assert refused.returncode == 6, refused.stderr
    assert "alone (without --hot-standby)" in refused.stderr
    alone.stop()
    make_farm("--store", postgres_url, *HOT, data_dir=alone.data_dir)
    refused = second()
    assert refused.returncode == 6 and "another dispatcher uses the database" in refused.stderr


def test_a_leader_whose_every_connection_is_cut_leads_again_and_finishes_the_job(
    make_farm: Callable[..., Farm], postgres_cluster: Cluster | str, tmp_path: Path
) -> None:
    cluster = require_cluster(postgres_cluster)
    url = cluster.new_database()
    database = url.rsplit("/", 1)[1]
    farm = make_farm("--store", url, *HOT, "--reconnect-grace-s", "15")
    out = tmp_path / "out"
    job_id = rendering([farm], out, 2, 40, 10)
    cluster.psql(  # as a restart of the server does to every session
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        f"WHERE datname = '{database}' AND pid <> pg_backend_pid()"
    )
    wait_for(lambda: status(farm).get("epoch") == 2, 30, "the dispatcher to lead again")
    assert status(farm)["role"] == "leader"
    assert farm.wait_state(job_id, "done", "failed", timeout_s=180)["state"] == "done"
    assert_each_chunk_ran_once(out, 40)


def test_a_leader_whose_write_is_fenced_refuses_it_and_steps_down(
    make_farm: Callable[..., Farm], postgres_cluster: Cluster | str, tmp_path: Path
) -> None:
    cluster = require_cluster(postgres_cluster)
    url = cluster.new_database()
    database = url.rsplit("/", 1)[1]
    farm = make_farm("--store", url, *HOT)
    kept = farm.submit(title="kept", paused=True)
    # Another leader's epoch, written behind this one's back (its lock session lives on).
    cluster.psql(
        "UPDATE corral_leader SET epoch = epoch + 1; INSERT INTO corral_epochs "
        "(epoch, http_url, taken_at) SELECT epoch, 'elsewhere', now() FROM corral_leader",
        database,
    )
    with pytest.raises(ApiError) as refused:
        farm.submit(title="fenced", paused=True)
    assert refused.value.status == 503
    assert "no longer the leader (its epoch 1): the database's leader epoch is 2" in str(
        refused.value
    )
    log = tmp_path / "farm0-dispatcher.log"
    wait_for(lambda: "action=step_down" in log.read_text(), 10, "the leader to step down")
    assert "action=fenced" in log.read_text()
    # Alone on the database, it takes the lead again, with the next epoch, from the
    # database: the fenced job is not there.
    wait_for(lambda: status(farm).get("epoch") == 3, 30, "the dispatcher to lead again")
    assert [job["title"] for job in farm.request("GET", "/api/v1/jobs/")] == ["kept"]
    assert farm.job(kept["id"])["title"] == "kept"
    found = {row[0]: row[3] for row in asyncio.run(epochs(url))}
    assert found[2] == 0  # (nothing was committed under the epoch written behind its back)


def test_a_standby_whose_start_as_leader_fails_in_the_driver_stands_by_and_leads_later(
    make_farm: Callable[..., Farm], postgres_cluster: Cluster | str, tmp_path: Path
) -> None:
    cluster = require_cluster(postgres_cluster)
    url = cluster.new_database()
    database = url.rsplit("/", 1)[1]
    leader = make_farm("--store", url, *HOT)
    standby = standby_of(make_farm, leader, url, "standby")
    # The server refuses the new leader's advertisement (the update keeping the epoch):
    # the driver raises its own error in the middle of the start as leader.
    cluster.psql(
        "CREATE FUNCTION refuse_advert() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        "IF NEW.epoch = OLD.epoch THEN RAISE EXCEPTION 'advertisement refused'; END IF; "
        "RETURN NEW; END $$; CREATE TRIGGER refuse_advert BEFORE UPDATE ON corral_leader "
        "FOR EACH ROW EXECUTE FUNCTION refuse_advert()",
        database,
    )
    leader.stop()
    log = tmp_path / "standby-dispatcher.log"
    wait_for(lambda: "action=lead_start_failed" in log.read_text(), 30, "a failed start")
    assert "advertisement refused" in log.read_text()  # (the real cause, logged)
    assert standby.process is not None and standby.process.poll() is None
    cluster.psql("DROP TRIGGER refuse_advert ON corral_leader", database)
    wait_for(lambda: status(standby).get("role") == "leader", 30, "the standby to lead")
    assert standby.process.poll() is None
    assert standby.submit(title="after", paused=True)["title"] == "after"


def test_a_standby_meeting_a_dispatcher_alone_under_a_dead_leaders_row_stops(
    make_farm: Callable[..., Farm], postgres_cluster: Cluster | str, tmp_path: Path
) -> None:
    cluster = require_cluster(postgres_cluster)
    url = cluster.new_database()
    leader = make_farm("--store", url, *HOT)
    assert leader.stop(signal.SIGKILL) == -signal.SIGKILL  # its row names it still
    make_farm("--store", url, data_dir=leader.data_dir)  # alone on the database
    try:
        refused = subprocess.run(
            [CORRAL, "dispatcher", "--data-dir", str(tmp_path / "second"), "--store", url,
             "--port", "0", "--http-port", "0", "--compat-port", "off", *HOT],
            capture_output=True, text=True, timeout=30,
        )  # fmt: skip
    except subprocess.TimeoutExpired as exc:
        raise AssertionError(f"the standby waited on the dead leader: {exc.stderr!r}") from exc
    assert refused.returncode == 6, refused.stderr
    assert "alone (without --hot-standby)" in refused.stderr
