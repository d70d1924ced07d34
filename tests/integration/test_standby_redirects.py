"""Corral's own clients keep their token when they follow a real standby's 307 to the
leader at another port (aiohttp, curl -L and requests drop it there): the `corral`
command, corral_client, MConsoleAPI (a console-context script) and MClientAPI (the
Muster-style REST port). Real PostgreSQL, two real dispatchers."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

import MClientAPI
from corral_client import Client
from tests.integration.clirun import user_token
from tests.integration.farm import CORRAL, Farm
from tests.integration.test_hot_standby import HOT, standby_of, status, without_redirects

pytestmark = pytest.mark.postgres


def titles(farm: Farm) -> list[str]:
    return [job["title"] for job in farm.request("GET", "/api/v1/jobs/")]


def test_every_corral_client_keeps_its_token_through_a_standbys_307(
    make_farm: Callable[..., Farm], postgres_url: str, tmp_path: Path
) -> None:
    leader = make_farm("--store", postgres_url, *HOT)
    standby = standby_of(make_farm, leader, postgres_url, "standby")
    assert status(standby)["role"] == "standby"
    token = user_token(leader, "ann", "submit", "manage_own")
    # The standby answers a write 307 to the leader: another port of the same host.
    code, location = without_redirects("POST", standby.url + "/api/v1/jobs/", token)
    assert code == 307 and location == leader.url + "/api/v1/jobs/" and leader.url != standby.url

    # corral_client: a submit through the standby is ann's job on the leader.
    client = Client(standby.url, token=token, timeout_s=20)
    made = client.submit({"title": "by the library", "command": ["true"], "paused": True})
    assert leader.job(made["id"])["user"] == "ann"

    # The corral command, as a user types it.
    done = subprocess.run(
        [CORRAL, "--dispatcher", standby.url, "--token", token, "jobs", "resume", str(made["id"])],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert leader.job(made["id"])["state"] != "paused"

    # MConsoleAPI in a console-context script.
    script = tmp_path / "console.py"
    script.write_text(
        "import json\n"
        "import MConsoleAPI as api\n"
        "err, folder = api.jobAddFolder(0, 'ann', 'by MConsoleAPI')\n"
        "print(json.dumps([err.getErrorCode(), err.getDescription()]))\n"
    )
    env = {**os.environ, "CORRAL_DISPATCHER": standby.url, "CORRAL_TOKEN": token,
           "HOME": str(tmp_path)}  # fmt: skip
    done = subprocess.run(
        [CORRAL, "run-script", str(script), "--target", "console"],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1])[0] == 0, done.stdout

    # MClientAPI on the standby's Muster-style port: the login (a POST) and a job
    # action are both redirected to the leader, the token kept for the second.
    compat_port = int(json.loads((standby.data_dir / "dispatcher.json").read_text())["compat_port"])
    session = MClientAPI.InitializeSession()
    assert MClientAPI.Connect(session, "127.0.0.1", compat_port).getErrorCode() == 0
    err = MClientAPI.Authenticate(session, "ann", "ann-password-1")
    assert err.getErrorCode() == 0, err.getDescription()
    err = MClientAPI.ActionPauseJob(session, made["id"])
    assert err.getErrorCode() == 0, err.getDescription()
    assert leader.job(made["id"])["state"] == "paused"

    assert {"by the library", "by MConsoleAPI"} <= set(titles(leader))


def test_curl_keeps_the_token_across_the_redirect_only_when_told(
    make_farm: Callable[..., Farm], postgres_url: str
) -> None:
    """What docs/scaling.md tells curl users: `-L` alone drops the token at the
    leader's port (401); `--location-trusted` keeps it."""
    curl = shutil.which("curl")
    if curl is None:
        pytest.skip("curl is not installed")
    leader = make_farm("--store", postgres_url, *HOT)
    standby = standby_of(make_farm, leader, postgres_url, "standby")
    body = json.dumps({"title": "by curl", "command": ["true"], "paused": True})

    def run(*follow: str) -> tuple[int, str]:
        done = subprocess.run(
            [curl, "-s", "-o", "/dev/stderr", "-w", "%{http_code}", *follow,
             "-H", f"Authorization: Bearer {leader.token}",
             "-H", "Content-Type: application/json", "--data", body,
             standby.url + "/api/v1/jobs/"],
            capture_output=True, text=True, timeout=30,
        )  # fmt: skip
        return int(done.stdout or 0), done.stderr

    assert run("-L")[0] == 401
    code, answer = run("--location-trusted", "-L")
    assert code == 201, answer
    assert titles(leader) == ["by curl"]
