"""Render clients and consoles given several dispatcher addresses fail over by themselves.

Real processes throughout: `corral dispatcher` on a SQLite data directory,
`corral renderclient` given a list of render addresses, and the consoles (the
`corral` command, corral_client, MClientAPI) given a list of HTTP addresses. A
dead address is a port nothing listens on; a standby's 307 comes from a small
real HTTP server that redirects every request to the live dispatcher.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

import MClientAPI
from corral_client import Client, ClientError
from dispatcher.protocol import Refused, encode
from tests.integration.farm import CORRAL, Farm, wait_for
from tests.integration.test_node_control import lines


def dead_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (connections are refused)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def render_address(farm: Farm) -> str:
    return "127.0.0.1:" + farm.render.rsplit(":", 1)[1]


def client_log(farm: Farm, name: str) -> str:
    path = farm.data_dir.parent / f"client-{name}.log"
    return path.read_text() if path.exists() else ""


@pytest.fixture
def redirector(farm: Farm) -> Iterator[tuple[str, list[str]]]:
    """A server that answers every request 307 to the same path on `farm` (as a standby
    does for writes); yields its URL and the methods it redirected."""
    seen: list[str] = []

    class Redirect(BaseHTTPRequestHandler):
        def _redirect(self) -> None:
            seen.append(self.command)
            length = int(self.headers.get("Content-Length") or 0)
            self.rfile.read(length)
            self.send_response(307)
            self.send_header("Location", farm.url + self.path)
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_GET = do_POST = do_PATCH = do_DELETE = do_PUT = _redirect

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Redirect)
    thread = threading.Thread(target=server.serve_forever, name="redirector", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_render_client_given_a_dead_address_first_works(farm: Farm, tmp_path: Path) -> None:
    out = tmp_path / "chunks.txt"
    dead = f"127.0.0.1:{dead_port()}"
    farm.client("alpha", dispatcher=f"{dead},{render_address(farm)}")
    farm.wait_nodes(1)
    script = f'echo "end $CORRAL_CHUNK" >> "{out}"'
    job = farm.submit(title="listed", command=["sh", "-c", script], start=1, end=3, batch=1)
    farm.wait_state(job["id"], "done", timeout_s=30)
    assert sorted(fields[0] for fields in lines(out, "end")) == ["0", "1", "2"]
    log = client_log(farm, "alpha")
    assert f"action=dispatcher_switch node=alpha instance=0 from={dead}" in log


@pytest.fixture
def fake_standby(farm: Farm) -> Iterator[tuple[str, list[str]]]:
    """A render port that refuses every handshake as a standby does: "no leader is known
    yet" twice (a takeover under way), then naming `farm` as the leader. Yields its
    address and the refusals it sent."""
    leader = render_address(farm)
    sent: list[str] = []
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(5)
                conn.recv(65536)  # the Hello
                if len(sent) < 2:
                    reason = "this dispatcher is a standby and no leader is known yet; try again"
                else:
                    reason = f"this dispatcher is a standby; connect to the leader: leader={leader}"
                conn.sendall(encode(Refused(reason)))
                sent.append(reason)

    thread = threading.Thread(target=serve, name="fake-standby", daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.getsockname()[1]}", sent
    finally:
        stop.set()
        thread.join(5)
        server.close()


def test_render_client_refused_by_a_standby_goes_to_the_leader_it_names(
    farm: Farm, fake_standby: tuple[str, list[str]], tmp_path: Path
) -> None:
    standby, sent = fake_standby
    out = tmp_path / "chunks.txt"
    farm.client("alpha", dispatcher=standby)  # the standby's address alone
    farm.wait_nodes(1)
    assert len(sent) >= 3  # twice no leader yet (not fatal), then the leader named
    job = farm.submit(title="via the leader", command=["sh", "-c", f'echo done >> "{out}"'])
    farm.wait_state(job["id"], "done", timeout_s=30)
    log = client_log(farm, "alpha")
    assert (
        f"action=dispatcher_switch node=alpha instance=0 from={standby} "
        f"to={render_address(farm)} reason=refused by a standby naming the leader"
    ) in log


def test_render_client_refused_by_every_address_stops(farm: Farm) -> None:
    """A refusal moves on to the next address; refused by every one, the client exits 3."""
    farm.client("alpha")  # registers alpha and keeps its node key in state-alpha
    farm.wait_nodes(1)
    port = render_address(farm).rsplit(":", 1)[1]
    # Another "alpha" without that key: refused at both addresses (the same dispatcher).
    process = subprocess.Popen(
        [CORRAL, "renderclient", "--dispatcher", f"127.0.0.1:{port},localhost:{port}",
         "--name", "alpha", "--secret-file", str(farm.data_dir / "farm.secret"),
         "--state-dir", str(farm.data_dir.parent / "state-impostor")],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    output, _ = process.communicate(timeout=60)
    assert process.returncode == 3, output
    assert "action=dispatcher_switch" in output
    assert "every dispatcher refused this node" in output


def test_console_given_a_dead_address_first_works(farm: Farm) -> None:
    dead = f"http://127.0.0.1:{dead_port()}"
    listed = f"{dead},{farm.url}"
    result = subprocess.run(
        [CORRAL, "--dispatcher", listed, "--token", farm.token, "submit", "--name", "via list",
         "--json", "--", "true"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    submitted = json.loads(result.stdout)
    job_id = (submitted[0] if isinstance(submitted, list) else submitted)["id"]
    assert farm.job(job_id)["title"] == "via list"
    # corral_client: the same list, and the address that answered is kept for the next call.
    client = Client(listed, token=farm.token, timeout_s=10)
    assert client.job(job_id)["title"] == "via list"
    assert client.url == farm.url and client.urls == [dead, farm.url]
    created = client.submit({"title": "library via list", "template": "cmdline",
                             "command": ["true"]})  # fmt: skip
    assert farm.job(created["id"])["title"] == "library via list"


def test_console_with_only_dead_addresses_gives_up_at_its_deadline() -> None:
    listed = f"127.0.0.1:{dead_port()},127.0.0.1:{dead_port()}"
    client = Client(listed, token="x", timeout_s=1.5)
    began = time.monotonic()
    with pytest.raises(ClientError) as caught:
        client.jobs()
    waited_s = time.monotonic() - began
    # Rounds over both addresses with pauses between them, until the 1.5 s deadline.
    assert 1.0 <= waited_s < 5.0, waited_s
    assert caught.value.status == 0
    assert "cannot reach the dispatcher at any of http://127.0.0.1:" in str(caught.value)


def test_a_307_is_followed_with_method_and_body(
    farm: Farm, redirector: tuple[str, list[str]]
) -> None:
    url, seen = redirector
    client = Client(url, token=farm.token, timeout_s=10)
    created = client.submit({"title": "redirected", "template": "cmdline", "command": ["true"]})
    assert seen == ["POST"]
    assert farm.job(created["id"])["title"] == "redirected"
    result = subprocess.run(
        [CORRAL, "--dispatcher", url, "--token", farm.token, "jobs", "pause", str(created["id"])],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert seen == ["POST", "POST"]
    assert farm.job(created["id"])["state"] == "paused"


def test_mclientapi_connects_to_a_list(farm: Farm) -> None:
    record = json.loads((farm.data_dir / "dispatcher.json").read_text())
    compat_port = int(record["compat_port"])
    session = MClientAPI.InitializeSession()
    # The compat port listens on 127.0.0.1 only: 127.0.0.2 refuses the connection.
    err = MClientAPI.Connect(session, "127.0.0.2,127.0.0.1", compat_port)
    assert err.getErrorCode() == 0, err.getDescription()
    assert MClientAPI.Authenticate(session, "admin", "wrong").getErrorCode() == 401
    # The session starts its next call at the address that answered.
    assert session.getURL() == f"http://127.0.0.1:{compat_port},http://127.0.0.2:{compat_port}"
    assert MClientAPI.Connect(session, "127.0.0.2", compat_port).getErrorCode() != 0


def test_render_client_follows_a_dispatcher_moved_mid_job(
    make_farm: Callable[..., Farm], tmp_path: Path
) -> None:
    """Dispatcher A dies mid-job; B starts on the same data directory at another port; the
    client given both finishes the job there, every chunk done once by its own output."""
    first = make_farm()
    data_dir = first.data_dir
    second_port = dead_port()
    out = tmp_path / "chunks.txt"
    listed = f"{render_address(first)},127.0.0.1:{second_port}"
    first.client("alpha", "--reconnect-max-s", "0.5", "--instances", "2", dispatcher=listed)
    first.wait_nodes(2)
    script = (
        f'echo "start $CORRAL_CHUNK $CORRAL_ATTEMPT" >> "{out}"; sleep 0.4; '
        f'echo "end $CORRAL_CHUNK $CORRAL_ATTEMPT" >> "{out}"'
    )
    job = first.submit(title="moved", command=["sh", "-c", script], start=1, end=12, batch=1)
    wait_for(lambda: len(lines(out, "end")) >= 3, 30, "a few chunks done on A")
    first.stop(signal.SIGKILL)
    second = Farm(data_dir, ["--port", str(second_port)]).start()
    try:
        assert second.render.endswith(f":{second_port}")
        second.wait_state(job["id"], "done", timeout_s=60)
        ends = [fields[0] for fields in lines(out, "end")]
        assert sorted(ends, key=int) == [str(chunk) for chunk in range(12)], ends
        for chunk in range(12):
            runs = second.request(
                "GET", f"/api/v1/jobs/{job['id']}/tasks/{second.task(job['id'], chunk)}"
            )["runs"]
            assert [run["state"] for run in runs] == ["done"], (chunk, runs)
        log = client_log(first, "alpha")
        assert f"to=127.0.0.1:{second_port}" in log
    finally:
        second.stop()


def test_a_console_script_reaches_the_farm_through_a_list(farm: Farm) -> None:
    """MConsoleAPI (`corral run-script --target console`) with CORRAL_DISPATCHER a list."""
    script = farm.data_dir.parent / "listed.py"
    script.write_text(
        "import json\n"
        "import MConsoleAPI as api\n"
        "err, folder = api.jobAddFolder(0, 'admin', 'made through a list')\n"
        "print(json.dumps([err.getErrorCode(), len(api.jobGetList()[1])]))\n"
    )
    env = {**os.environ, "CORRAL_DISPATCHER": f"127.0.0.1:{dead_port()},{farm.url}",
           "CORRAL_TOKEN": farm.token, "HOME": str(farm.data_dir)}  # fmt: skip
    done = subprocess.run(
        [CORRAL, "run-script", str(script), "--target", "console"],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == [0, 1]
    titles = [job["title"] for job in farm.request("GET", "/api/v1/jobs/")]
    assert "made through a list" in titles


def test_a_followed_log_streams_through_a_list(farm: Farm) -> None:
    """A streamed answer (a chunk's live log) opens at the live address of a list."""
    farm.client("alpha")
    script = "sleep 4; echo first line; sleep 1; echo last line"  # the follow starts first
    job = farm.submit(title="followed", command=["sh", "-c", script])
    wait_for(lambda: farm.job(job["id"])["chunks"]["running"], 30, "the chunk to run")
    listed = f"127.0.0.1:{dead_port()},{farm.url}"
    done = subprocess.run(
        [CORRAL, "--dispatcher", listed, "--token", farm.token, "chunks", "log", str(job["id"]),
         "0", "--follow", "--follow-s", "20"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "first line" in done.stdout and "last line" in done.stdout
