"""TLS on the render port and HTTP, with a CA and certificates this test makes (openssl)."""

from __future__ import annotations

import json
import shutil
import socket
import ssl
import subprocess
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.integration.farm import CORRAL, Farm, wait_for

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command"),
]


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=60)


def make_ca(folder: Path, name: str) -> tuple[Path, Path]:
    key, cert = folder / f"{name}-ca.key", folder / f"{name}-ca.pem"
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
             "-out", str(cert), "-days", "2", "-subj", f"/CN={name} test CA")  # fmt: skip
    return key, cert


def make_server_cert(folder: Path, ca_key: Path, ca_cert: Path) -> tuple[Path, Path]:
    key, csr, cert = folder / "server.key", folder / "server.csr", folder / "server.pem"
    extensions = folder / "server.ext"
    extensions.write_text("subjectAltName = IP:127.0.0.1, DNS:localhost\n")
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(csr),
             "-subj", "/CN=127.0.0.1")  # fmt: skip
    _openssl("x509", "-req", "-in", str(csr), "-CA", str(ca_cert), "-CAkey", str(ca_key),
             "-CAcreateserial", "-out", str(cert), "-days", "2", "-extfile", str(extensions))  # fmt: skip
    return cert, key


@pytest.fixture
def pki(tmp_path: Path) -> dict[str, Path]:
    folder = tmp_path / "pki"
    folder.mkdir()
    ca_key, ca_cert = make_ca(folder, "farm")
    cert, key = make_server_cert(folder, ca_key, ca_cert)
    _other_key, other_ca = make_ca(folder, "other")
    return {"ca": ca_cert, "cert": cert, "key": key, "other_ca": other_ca}


def https_json(farm: Farm, path: str, ca: Path) -> Any:
    context = ssl.create_default_context(cafile=str(ca))
    request = urllib.request.Request(farm.url + path, method="GET")
    request.add_header("Authorization", f"Bearer {farm.token}")
    with urllib.request.urlopen(request, timeout=30, context=context) as response:
        return json.loads(response.read())


def test_render_port_and_http_speak_tls_verified_against_the_ca(
    make_farm: Callable[..., Farm], pki: dict[str, Path]
) -> None:
    farm = make_farm("--tls-cert", str(pki["cert"]), "--tls-key", str(pki["key"]))
    assert farm.url.startswith("https://")
    record = json.loads((farm.data_dir / "dispatcher.json").read_text())
    assert record["http_url"] == farm.url

    farm.client("secure", "--tls-ca", str(pki["ca"]))
    # Without TLS, and against another CA, a render client never gets in.
    farm.client("plain")
    farm.client("doubting", "--tls-ca", str(pki["other_ca"]))

    def online() -> list[str]:
        return [n["name"] for n in https_json(farm, "/api/v1/nodes/", pki["ca"]) if n["online"]]

    assert wait_for(online, 30, "the TLS node online") == ["secure"]
    time.sleep(2.0)  # the other two have had many reconnect attempts meanwhile
    assert online() == ["secure"]

    cli = [CORRAL, "--dispatcher", farm.url, "--token", farm.token]
    submitted = subprocess.run(
        [*cli, "--tls-ca", str(pki["ca"]), "submit", "--name", "over tls", "--frames", "1-2",
         "--", "true"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert submitted.returncode == 0, submitted.stderr
    jobs = https_json(farm, "/api/v1/jobs/", pki["ca"])
    job = next(job for job in jobs if job["title"] == "over tls")
    wait_for(
        lambda: https_json(farm, f"/api/v1/jobs/{job['id']}", pki["ca"])["state"] == "done",
        60,
        "the job done over TLS",
    )
    # The CLI without the CA does not trust the dispatcher: one line, exit 3.
    untrusted = subprocess.run([*cli, "nodes", "list"], capture_output=True, text=True, timeout=60)
    assert untrusted.returncode == 3, untrusted.stderr
    assert "certificate" in untrusted.stderr and untrusted.stderr.count("\n") == 1

    log = (farm.data_dir.parent / "client-doubting.log").read_text()
    assert "action=tls_verify_failed" in log


def test_a_certificate_without_its_key_is_a_usage_error(
    tmp_path: Path, pki: dict[str, Path]
) -> None:
    result = subprocess.run(
        [CORRAL, "dispatcher", "--data-dir", str(tmp_path / "data"), "--port", "0",
         "--http-port", "0", "--compat-port", "off", "--tls-cert", str(pki["cert"])],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 2
    assert "tls_cert and tls_key go together" in result.stderr


def test_an_unreadable_certificate_stops_the_start_with_one_line(tmp_path: Path) -> None:
    missing = tmp_path / "missing.pem"
    result = subprocess.run(
        [CORRAL, "dispatcher", "--data-dir", str(tmp_path / "data"), "--port", "0",
         "--http-port", "0", "--compat-port", "off", "--tls-cert", str(missing),
         "--tls-key", str(missing)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 1
    assert f"cannot load the TLS certificate {missing}" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_connection_that_never_starts_tls_loses_its_slot_at_the_deadline(
    make_farm: Callable[..., Farm], pki: dict[str, Path]
) -> None:
    farm = make_farm(
        "--tls-cert", str(pki["cert"]), "--tls-key", str(pki["key"]),
        "--handshake-timeout-s", "1", "--max-handshaking", "2",
    )  # fmt: skip
    port = int(farm.render.rsplit(":", 1)[1])
    silent = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(2)]
    for sock in silent:
        sock.settimeout(5.0)
        assert sock.recv(1024) == b"", "a silent connection outlived its handshake time"
        sock.close()
    farm.client("after", "--tls-ca", str(pki["ca"]))
    nodes = wait_for(
        lambda: [n for n in https_json(farm, "/api/v1/nodes/", pki["ca"]) if n["online"]],
        30,
        "the TLS node online once the silent ones are gone",
    )
    assert [n["name"] for n in nodes] == ["after"]
