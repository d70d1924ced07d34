"""Hostile bytes on the render port cost one session, never the dispatcher."""

from __future__ import annotations

import asyncio
import os
import socket
import time
from collections.abc import Callable

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


def test_a_connection_that_does_not_finish_its_handshake_is_closed(
    make_farm: Callable[..., Farm],
) -> None:
    farm = make_farm("--handshake-timeout-s", "0.5")
    idle = connect(farm)
    half = connect(farm)
    half.sendall(p.HEADER.pack(100) + b"partial")
    hello_only = connect(farm)
    hello_only.sendall(p.encode(HELLO))
    started = time.monotonic()
    for sock in (idle, half, hello_only):
        assert closed_by_peer(sock, timeout_s=5.0), "a silent connection was kept open"
        sock.close()
    assert time.monotonic() - started < 4.0
    log = farm_log(farm)
    assert "no handshake within 0.5 s" in log
    # Named in the log by its hello once it said one, "?" before.
    assert "action=session_closed node=evil peer=" in log
    assert "action=session_closed node=? peer=" in log


def test_frames_before_authentication_are_small(farm: Farm) -> None:
    sock = connect(farm)
    # Under the 8 MiB limit of an authenticated session, over the handshake's 64 KiB.
    sock.sendall(p.HEADER.pack(p.MAX_HANDSHAKE_FRAME_BYTES + 1) + b"x" * 1024)
    assert closed_by_peer(sock, timeout_s=3.0)
    sock.close()
    assert f"frame of {p.MAX_HANDSHAKE_FRAME_BYTES + 1} bytes is over" in farm_log(farm)


def test_past_the_handshake_cap_connections_wait_in_the_backlog(
    make_farm: Callable[..., Farm],
) -> None:
    farm = make_farm("--max-handshaking", "4")
    idle = [connect(farm) for _ in range(4)]
    time.sleep(0.3)  # the dispatcher has taken all four
    waiting = connect(farm)  # the kernel completes it; the dispatcher does not read it yet
    waiting.sendall(p.encode(HELLO))
    waiting.settimeout(1.0)
    with pytest.raises(TimeoutError):
        waiting.recv(65536)
    idle.pop().close()  # a slot frees
    waiting.settimeout(5.0)
    frames = p.FrameReader()
    bodies: list[bytes] = []
    while not bodies:
        data = waiting.recv(65536)
        assert data, "the waiting connection was closed instead of served"
        bodies = frames.feed(data)
    assert isinstance(p.decode(bodies[0]), p.Challenge)
    for sock in [*idle, waiting]:
        sock.close()
    assert "action=accept_paused" in farm_log(farm)


CLIENTS_AT_ONCE = 2000


def test_thousands_of_clients_connecting_at_once_all_get_in(
    make_farm: Callable[..., Farm],
) -> None:
    """Far more clients than handshake slots connect in the same instant; none is refused."""
    farm = make_farm("--max-handshaking", "64")
    port = int(farm.render.rsplit(":", 1)[1])
    secret = (farm.data_dir / "farm.secret").read_text().strip().encode()

    async def one(number: int) -> str:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        frames = p.FrameReader()
        bodies: list[bytes] = []

        async def recv() -> p.Message:
            while not bodies:
                data = await reader.read(65536)
                if not data:
                    raise EOFError("closed by the dispatcher")
                bodies.extend(frames.feed(data))
            return p.decode(bodies.pop(0))

        try:
            nonce = os.urandom(32)
            writer.write(p.encode(p.Hello(p.PROTOCOL_VERSION, f"crowd-{number}", 0, nonce)))
            challenge = await recv()
            assert isinstance(challenge, p.Challenge)
            auth = p.Auth(proof=p.proof(secret, "renderclient", nonce, challenge.nonce))
            writer.write(p.encode(auth))
            answer = await recv()
            return type(answer).__name__
        finally:
            writer.close()

    async def crowd() -> tuple[list[str | BaseException], float]:
        started = time.monotonic()
        answers = await asyncio.wait_for(
            asyncio.gather(*(one(n) for n in range(CLIENTS_AT_ONCE)), return_exceptions=True),
            120,
        )
        return answers, time.monotonic() - started

    answers, took_s = asyncio.run(crowd())
    errors = [answer for answer in answers if answer != "Welcome"]
    assert not errors, f"{len(errors)} of {CLIENTS_AT_ONCE} did not get in: {errors[:3]}"
    print(f"{CLIENTS_AT_ONCE} clients welcomed in {took_s:.2f} s")
    assert farm.request("GET", "/api/v1/status")["nodes"] == CLIENTS_AT_ONCE
    assert farm.process is not None and farm.process.poll() is None


def farm_log(farm: Farm) -> str:
    return (farm.data_dir.parent / f"{farm.data_dir.name}-dispatcher.log").read_text()
