"""Passwords for tokens: POST /api/v1/login and `corral login`, and what a user who is
not an administrator may not do with the token."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.integration.farm import CORRAL, ApiError, Farm
from tests.integration.hookfarm import script_json

ADD_BOB = """
import json, MDispatcherAPI
user = MDispatcherAPI.MUser("bob")
user.setPassword("correct horse")
user.setPermissions("submit,manage_own")
print(json.dumps(MDispatcherAPI.userAdd(user).getErrorCode()))
"""


def login(farm: Farm, body: object) -> dict[str, object]:
    result: dict[str, object] = farm.request("POST", "/api/v1/login", body, token="")
    return result


def test_login_gives_a_token_with_the_users_permissions(farm: Farm, tmp_path: Path) -> None:
    assert script_json(farm, ADD_BOB) == 0
    for body, status in (
        ({"username": "bob", "password": "wrong"}, 401),
        ({"username": "nobody", "password": "x"}, 401),
        ({"username": "bob"}, 400),
        ({"username": "", "password": "x"}, 400),
        (["bob", "correct horse"], 400),
        ({"username": "bob", "password": "x" * 5000}, 400),
    ):
        with pytest.raises(ApiError) as caught:
            login(farm, body)
        assert caught.value.status == status, (body, caught.value.body)
    answer = login(farm, {"username": "bob", "password": "correct horse"})
    token = str(answer["token"])
    assert answer["user"] == "bob" and answer["permissions"] == ["manage_own", "submit"]

    # Bob submits and manages his own jobs, but nothing of the admin's, nor scripts or node code.
    own = farm.request(
        "POST",
        "/api/v1/jobs/",
        {"title": "bob's", "command": ["true"], "paused": True},
        token=token,
    )
    assert own["user"] == "bob"
    farm.request("POST", f"/api/v1/jobs/{own['id']}/actions/resume", token=token)
    admins = farm.submit(title="admin's", command=["true"], paused=True)
    farm.client("node")
    node_id = farm.wait_nodes(1)[0]["id"]
    for method, path, body in (
        ("DELETE", f"/api/v1/jobs/{admins['id']}", None),
        ("POST", "/api/v1/scripts/run", {"name": "x.py", "code": "print(1)"}),
        ("POST", f"/api/v1/nodes/{node_id}/actions/run-python", {"code": "print(1)"}),
        ("POST", f"/api/v1/nodes/{node_id}/actions/pause", None),
    ):
        with pytest.raises(ApiError) as caught:
            farm.request(method, path, body, token=token)
        assert caught.value.status == 403, (path, caught.value.body)
    assert farm.job(admins["id"])["state"] == "paused"
    assert not farm.nodes()[0]["paused"]


def test_corral_login_saves_the_token_for_later_commands(farm: Farm, tmp_path: Path) -> None:
    assert script_json(farm, ADD_BOB) == 0
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CORRAL_")}
    env.update(HOME=str(home), CORRAL_DISPATCHER=farm.url)
    refused = subprocess.run([CORRAL, "login", "--user", "bob", "--password-stdin"], input="nope\n",
                             capture_output=True, text=True, env=env, timeout=30)  # fmt: skip
    assert refused.returncode == 4 and not (home / ".config/corral/token").exists()
    done = subprocess.run([CORRAL, "login", "--user", "bob", "--password-stdin"], input="correct horse\n",
                          capture_output=True, text=True, env=env, timeout=30)  # fmt: skip
    assert done.returncode == 0, done.stderr
    saved = home / ".config" / "corral" / "token"
    assert oct(saved.stat().st_mode & 0o777) == "0o600"
    listed = subprocess.run(
        [CORRAL, "jobs", "list", "--json"], capture_output=True, text=True, env=env, timeout=30
    )
    assert listed.returncode == 0 and listed.stdout.strip() == "[]", listed.stderr
