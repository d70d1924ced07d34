"""corral_client against a real dispatcher: submit, an idempotent retry after a lost
answer, a 400 naming the field, a 401, a login with a password, a timeout against a
socket that never answers, and the same library run by a real Python 3.7 when the
machine has one."""

from __future__ import annotations

import contextlib
import glob
import json
import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import corral_client
from corral_client import discovery
from tests.integration.farm import Farm
from tests.integration.hookfarm import start_farm

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def farm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Farm]:
    farm = start_farm(tmp_path_factory.mktemp("client") / "farm")
    farm.request("POST", "/api/v1/pools/", {"name": "gpu"})
    yield farm
    farm.close()


def client_of(farm: Farm, **options: object) -> corral_client.Client:
    return corral_client.Client(farm.url, farm.token, env={}, **options)  # type: ignore[arg-type]


def jobs_titled(farm: Farm, title: str) -> list[int]:
    return [job["id"] for job in farm.request("GET", "/api/v1/jobs/") if job["title"] == title]


def test_submit_and_read(farm: Farm) -> None:
    client = client_of(farm)
    job = corral_client.make_job(
        "client submit", "cmdline", 1, 10, chunk_size=3, priority=80, pools=["gpu", ""],
        command=["true"], data={"shot": "010"},
    )  # fmt: skip
    created = client.submit(job)
    assert isinstance(created["id"], int)
    seen = client.job(created["id"])
    assert (seen["title"], seen["template"], seen["priority"]) == ("client submit", "cmdline", 80)
    assert (seen["start"], seen["end"], seen["batch"], seen["pools"]) == (1.0, 10.0, 3, ["gpu"])
    assert seen["chunks"]["total"] == 4
    assert seen["data"]["shot"] == "010"
    assert client.job("client submit")["id"] == created["id"]  # by title
    assert "gpu" in client.pool_names()
    templates = json.dumps(client.templates())
    assert '"blender"' in templates and '"nuke"' in templates


def test_same_key_queues_once(farm: Farm) -> None:
    client = client_of(farm)
    key = corral_client.new_idempotency_key()
    job = corral_client.make_job("client keyed", "cmdline", 1, 2, command=["true"])
    first = client.submit(job, idempotency_key=key)
    status, headers, again = client.exchange(
        "POST", "/api/v1/jobs/", job, headers={"Idempotency-Key": key}
    )
    assert (status, again["id"]) == (201, first["id"])
    assert headers.get("Idempotent-Replayed") == "true"
    assert jobs_titled(farm, "client keyed") == [first["id"]]


class LosingProxy:
    """A TCP proxy that passes the first `lose` requests to the dispatcher but drops
    their answers (closing the connection when the answer begins), then passes
    everything."""

    def __init__(self, target: str, lose: int) -> None:
        host, port = target.split("://", 1)[1].rsplit(":", 1)
        self.target = (host, int(port))
        self.lose = lose
        self.connections = 0
        self.server = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.server.getsockname()[1]}"
        self.thread = threading.Thread(target=self._serve, name="losing-proxy", daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            self.connections += 1
            drop = self.connections <= self.lose
            threading.Thread(target=self._relay, args=(conn, drop), daemon=True).start()

    def _relay(self, conn: socket.socket, drop: bool) -> None:
        upstream = socket.create_connection(self.target, timeout=10)
        conn.settimeout(10)

        def forward() -> None:
            try:
                while data := conn.recv(65536):
                    upstream.sendall(data)
            except OSError:
                pass

        threading.Thread(target=forward, daemon=True).start()
        try:
            while data := upstream.recv(65536):
                if drop:
                    break  # the answer began: the job is committed; the client hears nothing
                conn.sendall(data)
        except OSError:
            pass
        finally:
            # shutdown, not only close: the forwarding thread still blocks in recv on conn.
            for side in (upstream, conn):
                with contextlib.suppress(OSError):
                    side.shutdown(socket.SHUT_RDWR)
                side.close()

    def close(self) -> None:
        self.server.close()


def test_lost_answer_is_retried_with_the_same_key(farm: Farm) -> None:
    proxy = LosingProxy(farm.url, lose=1)
    try:
        client = corral_client.Client(proxy.url, farm.token, timeout_s=10, env={})
        job = corral_client.make_job("client lost answer", "cmdline", 1, 5, command=["true"])
        created = client.submit(job, retries=2)
    finally:
        proxy.close()
    assert proxy.connections == 2  # the first answer was lost, the retry got one
    assert jobs_titled(farm, "client lost answer") == [created["id"]]


def test_lost_answers_without_retries_fail_loudly(farm: Farm) -> None:
    proxy = LosingProxy(farm.url, lose=5)
    try:
        client = corral_client.Client(proxy.url, farm.token, timeout_s=10, env={})
        job = corral_client.make_job("client no retry", "cmdline", 1, 5, command=["true"])
        with pytest.raises(corral_client.ClientError) as caught:
            client.submit(job, retries=0)
    finally:
        proxy.close()
    assert caught.value.status == 0 and not caught.value.timed_out
    assert "no answer" in str(caught.value)
    assert len(jobs_titled(farm, "client no retry")) == 1  # it arrived; the answer did not


def test_refused_field_is_named(farm: Farm) -> None:
    client = client_of(farm)
    job = corral_client.make_job("client bad", "cmdline", 1, 5, command=["true"])
    job["priority"] = "high"
    with pytest.raises(corral_client.ClientError) as caught:
        client.submit(job)
    error = caught.value
    assert error.status == 400 and error.field == "priority", error.problem
    assert error.problem["status"] == 400 and "priority" in str(error)
    assert jobs_titled(farm, "client bad") == []


def test_bad_token_is_401(farm: Farm, tmp_path: Path) -> None:
    with pytest.raises(corral_client.ClientError) as caught:
        corral_client.Client(farm.url, "not-a-token", env={}).pool_names()
    assert caught.value.status == 401 and not caught.value.timed_out
    # No token anywhere: the 401 says how to give one.
    anonymous = corral_client.Client(farm.url, env={}, home=str(tmp_path))
    assert anonymous.token is None
    with pytest.raises(corral_client.ClientError) as caught:
        anonymous.submit(corral_client.make_job("client anon", "cmdline", 1, 1, command=["true"]))
    assert caught.value.status == 401 and "CORRAL_TOKEN" in str(caught.value)
    assert jobs_titled(farm, "client anon") == []


def test_login_with_a_password(farm: Farm, tmp_path: Path) -> None:
    farm.request(
        "POST", "/api/v1/users/",
        {"name": "ana", "password": "correct horse", "permissions": ["submit", "manage_own"]},
    )  # fmt: skip
    client = corral_client.Client(farm.url, env={}, home=str(tmp_path))
    with pytest.raises(corral_client.ClientError) as caught:
        client.login("ana", "wrong horse")
    assert caught.value.status == 401
    token = client.login("ana", "correct horse", save=True)
    assert client.token == token
    # The saved token is found by the next client, as `corral` finds it.
    later = corral_client.Client(farm.url, env={}, home=str(tmp_path))
    assert later.token == token
    created = later.submit(corral_client.make_job("client ana", "cmdline", 1, 1, command=["true"]))
    assert farm.job(created["id"])["user"] == "ana"


def test_discovery_order(tmp_path: Path) -> None:
    env = {"CORRAL_DISPATCHER": "farm:9000", "CORRAL_TOKEN": "from-env"}
    assert discovery.find_dispatcher("http://given:1/", env) == "http://given:1"
    assert discovery.find_dispatcher(None, env) == "http://farm:9000"
    assert discovery.find_dispatcher(None, {}) == "http://127.0.0.1:9890"
    assert discovery.find_token("given", env, str(tmp_path)) == "given"
    assert discovery.find_token(None, env, str(tmp_path)) == "from-env"
    assert discovery.find_token(None, {}, str(tmp_path)) is None
    path = Path(discovery.save_token("from-file", str(tmp_path)))
    assert path == tmp_path / ".config" / "corral" / "token"
    assert path.stat().st_mode & 0o777 == 0o600
    assert discovery.find_token(None, {}, str(tmp_path)) == "from-file"
    assert discovery.find_token(None, env, str(tmp_path)) == "from-env"


def test_a_data_directory_names_the_dispatcher_and_its_admin_token(tmp_path: Path) -> None:
    """As the corral command does: CORRAL_DATA_DIR's dispatcher.json and admin.token come
    after the variables and the token file."""
    data, home = tmp_path / "data", tmp_path / "home"
    data.mkdir()
    env = {"CORRAL_DATA_DIR": str(data)}
    assert discovery.find_dispatcher(None, env) == "http://127.0.0.1:9890"
    assert discovery.find_token(None, env, str(home)) is None
    (data / "dispatcher.json").write_text('{"http_url": "http://farm:9123/"}')
    (data / "admin.token").write_text("admin-token\n")
    assert discovery.find_dispatcher(None, env) == "http://farm:9123"
    assert discovery.find_token(None, env, str(home)) == "admin-token"
    (data / "dispatcher.json").write_text('{"http_port": 9555}')
    assert discovery.find_dispatcher(None, env) == "http://127.0.0.1:9555"
    for junk in ("[1, 2]", "not json", '{"http_port": 70000}', '{"http_port": true}'):
        (data / "dispatcher.json").write_text(junk)
        assert discovery.find_dispatcher(None, env) == "http://127.0.0.1:9890", junk
    discovery.save_token("mine", str(home))
    assert discovery.find_token(None, env, str(home)) == "mine"  # the token file first
    both = {**env, "CORRAL_DISPATCHER": "other:1", "CORRAL_TOKEN": "env"}
    assert discovery.find_dispatcher(None, both) == "http://other:1"
    assert discovery.find_token(None, both, str(home)) == "env"


def test_master_url_reads_another_farms_variables() -> None:
    """SMEDGE_MASTER / DRQUEUE_MASTER: a host, host:port or a URL; the port variable only
    for a host that names none; 9890 when neither does; unset: as the corral command."""
    url = discovery.master_url
    assert url("M", "P", {"M": "farm"}) == "http://farm:9890"
    assert url("M", "P", {"M": " farm ", "P": "7000"}) == "http://farm:7000"
    assert url("M", "P", {"M": "farm:6000", "P": "7000"}) == "http://farm:6000"
    assert url("M", None, {"M": "farm", "P": "7000"}) == "http://farm:9890"
    assert url("M", "P", {"M": "https://farm:9443/"}) == "https://farm:9443"
    assert url("M", "P", {"M": "fd00::5", "P": "7000"}) == "http://[fd00::5]:7000"
    assert url("M", "P", {"CORRAL_DISPATCHER": "other:1234", "P": "7000"}) == "http://other:1234"
    assert url("M", "P", {}) == "http://127.0.0.1:9890"
    for bad, named in (({"M": "farm", "P": "not-a-port"}, "P"), ({"M": "farm:0"}, "M"),
                       ({"M": "farm:99999", "P": "7000"}, "M"), ({"M": "farm", "P": "-1"}, "P")):  # fmt: skip
        with pytest.raises(ValueError, match=f"^{named}: the port must be a number"):
            url("M", "P", bad)
    for half in ("farm:", ":7000"):
        with pytest.raises(ValueError, match="^M: .* is not host or host:port"):
            url("M", "P", {"M": half})


def test_silent_socket_times_out() -> None:
    """A socket that accepts connections (its backlog) but never answers."""
    with socket.create_server(("127.0.0.1", 0), backlog=8) as silent:
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        client = corral_client.Client(url, "token", timeout_s=0.5, env={})
        began = time.monotonic()
        with pytest.raises(corral_client.ClientError) as caught:
            client.job(1)
        assert caught.value.timed_out and caught.value.status == 0
        assert "within 0.5 s" in str(caught.value)
        # A submit retries (same key) and then gives up too, in bounded time.
        with pytest.raises(corral_client.ClientError) as caught:
            client.submit({"title": "never"}, retries=1)
        assert caught.value.timed_out
    assert time.monotonic() - began < 10


def python37() -> str | None:
    """A Python 3.7 interpreter, if this machine has one."""
    candidates = [shutil.which("python3.7") or ""]
    candidates += sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.7*/bin/python3.7")))
    for candidate in candidates:
        if not candidate:
            continue
        try:
            done = subprocess.run(
                [candidate, "-c", "import sys; print(sys.version_info[:2] == (3, 7))"],
                capture_output=True, text=True, timeout=30,
            )  # fmt: skip
        except OSError:
            continue
        if done.stdout.strip() == "True":
            return candidate
    return None


def test_runs_on_python_37(farm: Farm, tmp_path: Path) -> None:
    interpreter = python37()
    if interpreter is None:
        pytest.skip("no Python 3.7 interpreter here (the syntax is checked by the unit test)")
    script = (
        "import corral_client, sys\n"
        "client = corral_client.Client()\n"
        "job = corral_client.make_job('client py37', 'cmdline', 1, 4, chunk_size=2,"
        " command=['true'])\n"
        "created = client.submit(job)\n"
        "try:\n"
        "    client.submit(dict(job, title='py37 bad', priority=-1))\n"
        "except corral_client.ClientError as exc:\n"
        "    print(exc.status, exc.field)\n"
        "print(created['id'], sys.version_info[:2])\n"
    )
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path), "PYTHONPATH": str(ROOT),
           "CORRAL_DISPATCHER": farm.url, "CORRAL_TOKEN": farm.token}  # fmt: skip
    done = subprocess.run(
        [interpreter, "-c", script], capture_output=True, text=True, timeout=60, env=env,
        cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    refused, created = done.stdout.splitlines()
    assert refused == "400 priority"
    job_id, version = created.split(" ", 1)
    assert version == "(3, 7)"
    assert jobs_titled(farm, "client py37") == [int(job_id)]
