"""Hostile bytes on the render port cost one session, never the dispatcher."""

from __future__ import annotations

import socket
import time

import pytest

from dispatcher import protocol as p
from tests.integration.farm import Farm


def connect(farm: Farm) -> socket.socket:
    port = int(farm.render.rsplit(":", 1)[1])
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    return sock


def closed_by_peer(sock: socket.socket, timeout_s: float = 5.0) -> bool:
    """True when the dispatcher closes the connection (after any answer it sends)."""
    sock.settimeout(timeout_s)
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline:
            if sock.recv(65536) == b"":
                return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except TimeoutError:
        return False
    return False


HELLO = p.Hello(version=p.PROTOCOL_VERSION, name="evil", instance=0, nonce=b"n" * 32)


@pytest.mark.parametrize(
    "payload",
    [
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        p.HEADER.pack(0xFFFFFFFF) + b"x",
        p.HEADER.pack(5) + b"\xc1\xc1\xc1\xc1\xc1",
        p.encode(p.Result(ref=p.Ref(1, 0, 1), ok=True)),
        p.encode(p.Auth(proof=b"x" * 32)),
        p.encode(p.Hello(version=999, name="old", instance=0, nonce=b"n")),
        p.encode(p.Hello(version=p.PROTOCOL_VERSION, name="", instance=0, nonce=b"n")),
        p.encode(p.Hello(version=p.PROTOCOL_VERSION, name="x", instance=-4, nonce=b"n")),
        p.encode(HELLO) + p.encode(p.Auth(proof=b"wrong" * 6)),
        p.encode(HELLO) + p.encode(HELLO),
    ],
    ids=[
        "http",
        "huge-frame",
        "garbage-msgpack",
        "result-first",
        "auth-first",
        "old-version",
        "empty-name",
        "bad-instance",
        "wrong-proof",
        "hello-twice",
    ],  # fmt: skip
)
def test_hostile_session_is_closed_and_farm_goes_on(farm: Farm, payload: bytes) -> None:
    sock = connect(farm)
    sock.sendall(payload)
    assert closed_by_peer(sock), "the dispatcher kept a hostile session open"
    sock.close()
    assert farm.nodes() == []
    assert farm.request("GET", "/api/v1/status")["nodes"] == 0


def test_many_idle_and_half_open_connections_do_not_stop_work(farm: Farm) -> None:
    socks = [connect(farm) for _ in range(50)]
    for sock in socks[:25]:
        sock.sendall(p.HEADER.pack(100) + b"partial")
    farm.client("honest")
    job = farm.submit(title="still works", frames="1-4", command=["true"])
    assert farm.wait_state(job["id"], "done", timeout_s=30)["state"] == "done"
    for sock in socks:
        sock.close()
    assert farm.process is not None and farm.process.poll() is None
