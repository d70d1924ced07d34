"""The render client against a test peer that speaks the protocol on 127.0.0.1 port 0."""

from __future__ import annotations

import asyncio
import logging
import os
import stat
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from pathlib import Path
from typing import Any, TypeVar

import pytest

from dispatcher.protocol import (
    PROTOCOL_VERSION,
    Assign,
    Auth,
    Bye,
    Challenge,
    Command,
    FrameReader,
    Heartbeat,
    Hello,
    Log,
    Message,
    Ref,
    Refused,
    Result,
    ResultAck,
    Welcome,
    decode,
    encode,
    mask_node_key,
    node_proof,
    proof,
    proof_ok,
)
from renderclient.client import RenderClient
from renderclient.main import ClientOptions, read_secret, run

pytestmark = pytest.mark.integration

SECRET = b"farm-secret-for-tests"
M = TypeVar("M")


class PeerConnection:
    """One accepted connection, driven message by message by the test."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self._frames = FrameReader()
        self._bodies: list[bytes] = []

    def send(self, message: Message) -> None:
        self.writer.write(encode(message))

    async def recv(self, timeout_s: float = 10.0) -> Message:
        while not self._bodies:
            data = await asyncio.wait_for(self.reader.read(65536), timeout_s)
            if not data:
                raise EOFError("the client closed the connection")
            self._bodies.extend(self._frames.feed(data))
        return decode(self._bodies.pop(0))

    async def expect(self, kind: type[M]) -> M:
        message = await self.recv()
        assert isinstance(message, kind), message
        return message

    async def handshake(self, *, node_id: int = 7, heartbeat_s: float = 5.0) -> Auth:
        hello = await self.expect(Hello)
        server_nonce = os.urandom(32)
        self.send(
            Challenge(
                version=PROTOCOL_VERSION,
                nonce=server_nonce,
                proof=proof(SECRET, "dispatcher", hello.nonce, server_nonce),
            )
        )
        auth = await self.expect(Auth)
        assert proof_ok(proof(SECRET, "renderclient", hello.nonce, server_nonce), auth.proof)
        self.send(
            Welcome(
                node_id=node_id,
                heartbeat_s=heartbeat_s,
                templates_digest=auth.templates_digest,
                templates=None,
            )
        )
        return auth

    async def close(self) -> None:
        self.writer.close()
        with suppress(OSError):
            await self.writer.wait_closed()


class PeerServer:
    def __init__(self) -> None:
        self.accepted: asyncio.Queue[PeerConnection] = asyncio.Queue()
        self.connections: list[PeerConnection] = []
        self.port = 0

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connection = PeerConnection(reader, writer)
        self.connections.append(connection)
        await self.accepted.put(connection)

    async def accept(self, timeout_s: float = 10.0) -> PeerConnection:
        return await asyncio.wait_for(self.accepted.get(), timeout_s)


@asynccontextmanager
async def peer_server() -> AsyncIterator[PeerServer]:
    peer = PeerServer()
    server = await asyncio.start_server(peer._handle, "127.0.0.1", 0)
    peer.port = server.sockets[0].getsockname()[1]
    try:
        yield peer
    finally:
        server.close()
        for connection in peer.connections:
            await connection.close()
        await server.wait_closed()


def _options(port: int, tmp_path: Path, **overrides: Any) -> ClientOptions:
    values: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": port,
        "name": "node-a",
        "secret": SECRET,
        "pools": ("lighting",),
        "state_dir": tmp_path / "state",
        "reconnect_max_s": 0.2,
        "log_batch_s": 0.01,
        "shutdown_grace_s": 5.0,
    }
    values.update(overrides)
    return ClientOptions(**values)


class Running:
    """A render client running against a test peer (`peer`), and its `run()` task."""

    def __init__(self, peer: PeerServer, client: RenderClient, task: asyncio.Task[int]) -> None:
        self.peer, self.client, self.task = peer, client, task

    async def connect(self) -> PeerConnection:
        """The client's next connection, handshake done."""
        conn = await self.peer.accept()
        await conn.handshake()
        return conn

    async def stop(self) -> None:
        """Close the client; it must exit 0."""
        await self.client.close()
        assert await asyncio.wait_for(self.task, 10) == 0


@asynccontextmanager
async def running_client(tmp_path: Path, **overrides: Any) -> AsyncIterator[Running]:
    """A render client started against a fresh peer (ended, if still running, on exit)."""
    async with peer_server() as peer:
        options = _options(peer.port, tmp_path, **overrides)
        client = RenderClient(options)
        task = asyncio.create_task(run(options, client=client))
        try:
            yield Running(peer, client, task)
        finally:
            if not task.done():
                await client.close()
                await asyncio.wait_for(task, 10)


def _cmdline_assign(ref: Ref, command: list[str], start: str = "1", end: str = "4") -> Assign:
    job = {"id": ref.job, "template": "cmdline", "command": command, "start": 1, "end": 8, "by": 1}
    return Assign(ref=ref, job=job, start=start, end=end)


async def _until_result(conn: PeerConnection) -> tuple[Result, bytes]:
    logs = bytearray()
    while True:
        message = await conn.recv()
        if isinstance(message, Log):
            logs += message.data
        elif isinstance(message, Result):
            return message, bytes(logs)


async def test_a_dispatcher_that_cannot_prove_the_secret_is_refused(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    marker = tmp_path / "ran"
    async with peer_server() as peer:
        task = asyncio.create_task(run(_options(peer.port, tmp_path)))
        conn = await peer.accept()
        hello = await conn.expect(Hello)
        assert (hello.name, hello.instance, len(hello.nonce)) == ("node-a", 0, 32)
        server_nonce = os.urandom(32)
        wrong = proof(b"not the farm secret", "dispatcher", hello.nonce, server_nonce)
        conn.send(Challenge(version=PROTOCOL_VERSION, nonce=server_nonce, proof=wrong))
        # A rogue dispatcher pushes on as if it had been accepted.
        conn.send(Welcome(node_id=1, heartbeat_s=5.0, templates_digest=""))
        conn.send(_cmdline_assign(Ref(1, 0, 1), ["touch", str(marker)]))
        with caplog.at_level(logging.ERROR):
            assert await asyncio.wait_for(task, 10) == 3
    assert not marker.exists()
    assert f"dispatcher 127.0.0.1:{peer.port} could not prove the farm secret" in caplog.text


async def test_refused_handshake_exits_3(tmp_path: Path) -> None:
    async with peer_server() as peer:
        task = asyncio.create_task(run(_options(peer.port, tmp_path)))
        conn = await peer.accept()
        hello = await conn.expect(Hello)
        server_nonce = os.urandom(32)
        good = proof(SECRET, "dispatcher", hello.nonce, server_nonce)
        conn.send(Challenge(version=PROTOCOL_VERSION, nonce=server_nonce, proof=good))
        await conn.expect(Auth)
        conn.send(Refused(reason="node-a/0 is disabled"))
        assert await asyncio.wait_for(task, 10) == 3


async def test_chunk_runs_and_its_result_is_reported_again_after_a_reconnect(
    tmp_path: Path,
) -> None:
    async with running_client(tmp_path) as running:
        conn = await running.peer.accept()
        auth = await conn.handshake()
        assert auth.pools == ["lighting"]
        assert auth.running == [] and auth.results == []
        assert auth.cpus == os.cpu_count() and auth.memory_bytes > 0
        assert len(auth.templates_digest) == 64

        ref = Ref(job=3, chunk=0, attempt=1)
        conn.send(_cmdline_assign(ref, ["sh", "-c", "echo hi {start}-{end}"]))
        result, logs = await _until_result(conn)
        assert b"hi 1-4" in logs
        assert result.ref == ref and result.ok and result.exit_code == 0
        await conn.close()  # before acknowledging it

        conn = await running.peer.accept()
        auth = await conn.handshake(heartbeat_s=0.05)
        assert auth.running == []
        assert [resent.ref for resent in auth.results] == [ref]
        assert auth.results[0].ok
        conn.send(ResultAck(ref=ref))
        heartbeat = await conn.expect(Heartbeat)
        assert heartbeat.running == []
        assert running.client.sessions[0].unacked == {}

        await running.stop()
        while not isinstance(message := await conn.recv(), Bye):
            assert isinstance(message, Heartbeat)


async def test_kill_command_stops_the_chunk(tmp_path: Path) -> None:
    async with running_client(tmp_path) as running:
        conn = await running.connect()
        working, queued = Ref(4, 0, 1), Ref(4, 1, 1)
        conn.send(_cmdline_assign(working, ["sh", "-c", "echo started; sleep 30"]))
        conn.send(_cmdline_assign(queued, ["sh", "-c", "echo never"], "5", "8"))
        assert (await conn.expect(Log)).data == b"started\n"
        conn.send(Command(action="pause", ref=working))
        conn.send(Command(action="kill", ref=queued))
        conn.send(Command(action="kill", ref=working))
        first, _ = await _until_result(conn)
        second, _ = await _until_result(conn)
        assert (first.ref, first.killed, first.ok) == (queued, True, False)
        assert (second.ref, second.killed, second.ok) == (working, True, False)
        assert second.error == "killed by the dispatcher"
        conn.send(ResultAck(ref=queued))
        conn.send(ResultAck(ref=working))
        await running.stop()


async def test_a_kill_that_overtakes_its_assignment_still_stops_it(tmp_path: Path) -> None:
    # The dispatcher sends an assignment once it is durable but a kill at once, so the
    # kill of a chunk just assigned can arrive first: the chunk must never start.
    async with running_client(tmp_path) as running:
        conn = await running.connect()
        marker = tmp_path / "started.txt"
        early = Ref(5, 0, 1)
        conn.send(Command(action="kill", ref=early))
        conn.send(_cmdline_assign(early, ["sh", "-c", f"echo started > {marker}; sleep 30"]))
        result, logs = await _until_result(conn)
        assert (result.ref, result.killed, result.ok) == (early, True, False)
        assert result.error == "killed by the dispatcher" and logs == b""
        assert not marker.exists()
        conn.send(ResultAck(ref=early))
        later = Ref(5, 0, 2)  # the next attempt of the same chunk runs
        conn.send(_cmdline_assign(later, ["sh", "-c", "echo ran"]))
        result, logs = await _until_result(conn)
        assert (result.ref, result.ok, logs) == (later, True, b"ran\n")
        conn.send(ResultAck(ref=later))
        await running.stop()


async def test_close_hands_back_a_running_chunk(tmp_path: Path) -> None:
    async with running_client(tmp_path) as running:
        conn = await running.connect()
        ref = Ref(6, 0, 1)
        conn.send(_cmdline_assign(ref, ["sh", "-c", "echo started; sleep 30"]))
        assert (await conn.expect(Log)).data == b"started\n"
        closing = asyncio.create_task(running.client.close())
        assert (await conn.expect(Heartbeat)).draining  # no more chunks, please
        result = await conn.expect(Result)
        assert (result.ref, result.killed, result.ok) == (ref, True, False)
        conn.send(ResultAck(ref=ref))
        await conn.expect(Bye)
        await asyncio.wait_for(closing, 10)
        await running.client.close()  # a second close is harmless
        assert await asyncio.wait_for(running.task, 10) == 0


async def test_close_with_finish_on_shutdown_lets_the_chunk_finish(tmp_path: Path) -> None:
    async with running_client(tmp_path, finish_on_shutdown=True) as running:
        conn = await running.connect()
        ref = Ref(8, 0, 1)
        conn.send(_cmdline_assign(ref, ["sh", "-c", "echo started; sleep 0.3; echo finished"]))
        assert (await conn.expect(Log)).data == b"started\n"
        closing = asyncio.create_task(running.client.close())
        result, logs = await _until_result(conn)
        assert (result.ref, result.ok, result.killed) == (ref, True, False)
        assert logs == b"finished\n"
        conn.send(ResultAck(ref=ref))
        await conn.expect(Bye)
        await asyncio.wait_for(closing, 10)
        assert await asyncio.wait_for(running.task, 10) == 0


async def test_each_instance_is_its_own_node(tmp_path: Path) -> None:
    async with running_client(tmp_path, instances=2) as running:
        hellos = [await (await running.peer.accept()).expect(Hello) for _ in range(2)]
        assert sorted((hello.name, hello.instance) for hello in hellos) == [
            ("node-a", 0),
            ("node-a", 1),
        ]
        await running.stop()


async def test_a_node_key_issued_in_the_welcome_is_kept_and_proved_after(
    tmp_path: Path,
) -> None:
    key = os.urandom(32)
    async with running_client(tmp_path) as running:
        conn = await running.peer.accept()
        hello = await conn.expect(Hello)
        server_nonce = os.urandom(32)
        good = proof(SECRET, "dispatcher", hello.nonce, server_nonce)
        conn.send(Challenge(version=PROTOCOL_VERSION, nonce=server_nonce, proof=good))
        auth = await conn.expect(Auth)
        assert auth.node_proof == b""  # no key yet
        masked = mask_node_key(SECRET, hello.nonce, server_nonce, key)
        conn.send(Welcome(node_id=7, heartbeat_s=5.0, templates_digest="", node_key=masked))
        kept = tmp_path / "state" / "node-keys" / "node-a.0.key"
        while not kept.exists():
            await asyncio.sleep(0.01)
        assert bytes.fromhex(kept.read_text()) == key
        assert stat.S_IMODE(kept.stat().st_mode) == 0o600
        await conn.close()

        conn = await running.peer.accept()
        hello = await conn.expect(Hello)
        server_nonce = os.urandom(32)
        good = proof(SECRET, "dispatcher", hello.nonce, server_nonce)
        conn.send(Challenge(version=PROTOCOL_VERSION, nonce=server_nonce, proof=good))
        auth = await conn.expect(Auth)
        expected = node_proof(key, "node-a", 0, hello.nonce, server_nonce)
        assert proof_ok(expected, auth.node_proof)
        conn.send(Refused(reason="stop here"))
        assert await asyncio.wait_for(running.task, 10) == 3


def test_read_secret_prefers_the_file(tmp_path: Path) -> None:
    secret_file = tmp_path / "secret"
    secret_file.write_text("  from-file\n")
    assert read_secret(secret_file, {"CORRAL_SECRET": "from-env"}) == b"from-file"
    assert read_secret(None, {"CORRAL_SECRET": " from-env \n"}) == b"from-env"
    with pytest.raises(ValueError, match="CORRAL_SECRET"):
        read_secret(None, {})
    with pytest.raises(ValueError, match="cannot read"):
        read_secret(tmp_path / "missing", {"CORRAL_SECRET": "x"})
