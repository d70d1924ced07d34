"""Accounts as an operator meets them: the admin's first password printed by
`corral dispatcher`, `corral users passwd`, `corral logout` and `corral tokens`."""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import ssl
import subprocess
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.integration.farm import CORRAL, ApiError, Farm
from tests.integration.test_tls import make_ca, make_server_cert

PASSWORD_LINE = re.compile(r"the user admin was created with the password: (\S+)")


def corral(farm: Farm, *args: str, token: str | None = None, stdin: str = "",
           home: Path | None = None) -> subprocess.CompletedProcess[str]:  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith("CORRAL_")}
    env["CORRAL_DISPATCHER"] = farm.url
    if token is not None:
        env["CORRAL_TOKEN"] = token
    if home is not None:
        env["HOME"] = str(home)
    return subprocess.run([CORRAL, *args], input=stdin, capture_output=True, text=True,
                          env=env, timeout=60)  # fmt: skip


def login(farm: Farm, user: str, password: str) -> str:
    answer = farm.request("POST", "/api/v1/login", {"username": user, "password": password}, "")
    return str(answer["token"])


def stored_user(farm: Farm, name: str) -> dict[str, Any]:
    with sqlite3.connect(farm.data_dir / "corral.db") as db:
        (info,) = db.execute("SELECT info FROM users WHERE name = ?", (name,)).fetchone()
    result: dict[str, Any] = json.loads(info)
    return result


def test_first_start_prints_the_admin_password_once_and_keeps_only_its_hash(
    farm: Farm, tmp_path: Path
) -> None:
    log = farm.data_dir.parent / f"{farm.data_dir.name}-dispatcher.log"
    found = PASSWORD_LINE.findall(log.read_text())
    assert len(found) == 1, log.read_text()[-2000:]
    password = found[0]
    assert len(password) >= 16

    token = login(farm, "admin", password)
    assert farm.request("GET", "/api/v1/jobs/", token=token) == []
    with pytest.raises(ApiError) as caught:
        login(farm, "admin", password + "x")
    assert caught.value.status == 401

    admin = stored_user(farm, "admin")
    assert admin["password_hash"].startswith("$argon2")
    farm.stop()
    for path in farm.data_dir.rglob("*"):  # the password itself is nowhere on disk
        if path.is_file():
            assert password.encode() not in path.read_bytes(), path
    farm.start()
    assert len(PASSWORD_LINE.findall(log.read_text())) == 1  # not shown again on restart
    assert login(farm, "admin", password)  # and it still works


def test_passwd_logout_and_tokens_from_the_command_line(farm: Farm, tmp_path: Path) -> None:
    farm.request("POST", "/api/v1/scripts/run", {"name": "u.py", "code": (
        "import MDispatcherAPI\nMDispatcherAPI.userAdd(MDispatcherAPI.MUser('bob'))\n")})  # fmt: skip
    # An administrator sets anyone's password.
    done = corral(farm, "users", "passwd", "bob", "--password-stdin", "--json",
                  token=farm.token, stdin="first-secret\n")  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"password_set": True, "user": "bob"}
    bob = login(farm, "bob", "first-secret")
    hashed = stored_user(farm, "bob")["password_hash"]
    assert hashed.startswith("$argon2") and "first-secret" not in hashed

    # A user sets their own only with the right current password; never someone else's.
    wrong = corral(farm, "users", "passwd", "bob", "--password-stdin", token=bob,
                   stdin="second-secret\nnot-the-old-one\n")  # fmt: skip
    assert wrong.returncode == 4 and "old_password" in wrong.stderr
    missing = corral(farm, "users", "passwd", "bob", "--password-stdin", token=bob,
                     stdin="second-secret\n")  # fmt: skip
    assert missing.returncode == 1 and "old_password" in missing.stderr
    short = corral(farm, "users", "passwd", "bob", "--password-stdin", token=bob,
                   stdin="short\nfirst-secret\n")  # fmt: skip
    assert short.returncode == 1 and "password" in short.stderr
    assert stored_user(farm, "bob")["password_hash"] == hashed
    others = corral(farm, "users", "passwd", "admin", "--password-stdin", token=bob,
                    stdin="taken-over-now\n")  # fmt: skip
    assert others.returncode == 4 and "administer" in others.stderr
    nobody = corral(farm, "users", "passwd", "nobody", "--password-stdin", token=farm.token,
                    stdin="whatever-secret\n")  # fmt: skip
    assert nobody.returncode == 7 and "nobody" in nobody.stderr
    own = corral(farm, "users", "passwd", "bob", "--password-stdin", token=bob,
                 stdin="second-secret\nfirst-secret\n")  # fmt: skip
    assert own.returncode == 0, own.stderr
    with pytest.raises(ApiError) as caught:
        login(farm, "bob", "first-secret")
    assert caught.value.status == 401
    login(farm, "bob", "second-secret")

    # corral login saves a token; corral tokens lists it; corral logout revokes and forgets it.
    home = tmp_path / "home"
    home.mkdir()
    saved = corral(farm, "login", "--user", "bob", "--password-stdin", home=home,
                   stdin="second-secret\n")  # fmt: skip
    assert saved.returncode == 0, saved.stderr
    token_file = home / ".config/corral/token"
    session = token_file.read_text().strip()
    mine = corral(farm, "tokens", "list", "--json", home=home)
    assert mine.returncode == 0, mine.stderr
    listed = json.loads(mine.stdout)
    assert {token["user"] for token in listed} == {"bob"} and len(listed) == 3
    assert [token["current"] for token in listed].count(True) == 1
    assert session not in mine.stdout
    table = corral(farm, "tokens", "list", home=home)
    assert table.returncode == 0 and "bob" in table.stdout and "EXPIRES" in table.stdout
    everyone = corral(farm, "tokens", "list", "--json", token=farm.token)
    assert {token["user"] for token in json.loads(everyone.stdout)} == {"admin", "bob"}
    denied = corral(farm, "tokens", "list", "--user", "admin", home=home)
    assert denied.returncode == 4

    out = corral(farm, "logout", "--json", home=home)
    assert out.returncode == 0, out.stderr
    current = next(token for token in listed if token["current"])
    assert json.loads(out.stdout) == {"revoked": current["id"], "forgotten": str(token_file)}
    assert not token_file.exists()
    with pytest.raises(ApiError) as caught:
        farm.request("GET", "/api/v1/jobs/", token=session)
    assert caught.value.status == 401

    # An administrator revokes another user's token by its id.
    first = next(token for token in json.loads(everyone.stdout) if token["user"] == "bob")
    revoked = corral(farm, "tokens", "revoke", first["id"], token=farm.token)
    assert revoked.returncode == 0, revoked.stderr
    assert farm.request("GET", "/api/v1/tokens/?user=bob") and all(
        token["id"] != first["id"] for token in farm.request("GET", "/api/v1/tokens/?user=bob")
    )
    again = corral(farm, "tokens", "revoke", first["id"], token=farm.token)
    assert again.returncode == 7 and "no token" in again.stderr


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
def test_the_session_cookie_is_secure_over_tls(
    make_farm: Callable[..., Farm], tmp_path: Path
) -> None:
    folder = tmp_path / "pki"
    folder.mkdir()
    ca_key, ca_cert = make_ca(folder, "farm")
    cert, key = make_server_cert(folder, ca_key, ca_cert)
    farm = make_farm("--tls-cert", str(cert), "--tls-key", str(key))
    log = farm.data_dir.parent / f"{farm.data_dir.name}-dispatcher.log"
    (password,) = PASSWORD_LINE.findall(log.read_text())
    body = json.dumps({"username": "admin", "password": password, "cookie": True}).encode()
    request = urllib.request.Request(farm.url + "/api/v1/login", data=body, method="POST")
    request.add_header("Content-Type", "application/json")
    context = ssl.create_default_context(cafile=str(ca_cert))
    with urllib.request.urlopen(request, timeout=30, context=context) as response:
        cookie = response.headers["Set-Cookie"]
        answer = json.loads(response.read())
    attributes = [part.strip().lower() for part in cookie.split(";")]
    assert {"secure", "httponly", "samesite=strict", "path=/"} <= set(attributes)
    assert answer["csrf_token"] and "token" not in answer
