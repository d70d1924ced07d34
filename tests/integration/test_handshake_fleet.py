"""Many handshakes against a real dispatcher: every client welcomed with its own node,
the template sources shipped to clients whose digest is stale (the same bytes each
time), and a reconnecting node reconciled against its own attempts only while the
other nodes keep theirs."""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from dispatcher import protocol as p
from tests.integration.farm import ApiError, Farm, wait_for
from tests.integration.mounts import fill, tmpfs

pytestmark = pytest.mark.integration


class Client:
    """The render client's side of the protocol over a plain socket, driven by the test."""

    def __init__(self, farm: Farm, name: str, key: bytes = b"") -> None:
        port = int(farm.render.rsplit(":", 1)[1])
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=20)
        self.secret = (farm.data_dir / "farm.secret").read_text().strip().encode()
        self.name = name
        self.key = key  # the node key the dispatcher issued (proved when set)
        self.frames = p.FrameReader()
        self.bodies: list[bytes] = []

    def recv(self) -> p.Message:
        while not self.bodies:
            data = self.sock.recv(1 << 20)
            if not data:
                raise EOFError(f"{self.name}: the dispatcher closed the connection")
            self.bodies.extend(self.frames.feed(data))
        return p.decode(self.bodies.pop(0))

    def recv_until(self, kind: type[p.Message]) -> p.Message:
        while True:
            message = self.recv()
            if isinstance(message, kind):
                return message

    def handshake(self, digest: str = "", running: list[p.Ref] | None = None) -> p.Welcome:
        nonce = os.urandom(32)
        self.sock.sendall(p.encode(p.Hello(p.PROTOCOL_VERSION, self.name, 0, nonce)))
        challenge = self.recv()
        assert isinstance(challenge, p.Challenge), challenge
        expected = p.proof(self.secret, "dispatcher", nonce, challenge.nonce)
        assert p.proof_ok(expected, challenge.proof)
        auth = p.Auth(
            proof=p.proof(self.secret, "renderclient", nonce, challenge.nonce),
            templates_digest=digest,
            running=running or [],
            node_proof=p.node_proof(self.key, self.name, 0, nonce, challenge.nonce)
            if self.key
            else b"",
        )
        self.sock.sendall(p.encode(auth))
        welcome = self.recv()
        assert isinstance(welcome, p.Welcome), welcome
        if welcome.node_key:
            self.key = p.mask_node_key(self.secret, nonce, challenge.nonce, welcome.node_key)
        return welcome

    def close(self) -> None:
        self.sock.close()


@pytest.mark.parametrize("loop", ["uvloop", "asyncio"])
def test_concurrent_handshakes_each_get_a_node_and_stale_digests_get_the_sources(
    make_farm: Callable[..., Farm], monkeypatch: pytest.MonkeyPatch, loop: str
) -> None:
    # Both event loops: a plain connection is wrapped in its transport without a task.
    if loop == "asyncio":
        monkeypatch.setenv("CORRAL_EVENT_LOOP", "asyncio")
    farm = make_farm()
    count = 60
    welcomes: dict[str, p.Welcome] = {}
    errors: list[BaseException] = []
    clients: list[Client] = []
    lock = threading.Lock()

    def connect(index: int) -> None:
        try:
            client = Client(farm, f"fleet-{index:03d}")
            welcome = client.handshake(digest="stale" if index % 2 else "")
            with lock:
                clients.append(client)
                welcomes[client.name] = welcome
        except BaseException as exc:  # (reported below, with the others)
            errors.append(exc)

    threads = [threading.Thread(target=connect, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    try:
        assert not errors, errors[:3]
        assert len({welcome.node_id for welcome in welcomes.values()}) == count
        digests = {welcome.templates_digest for welcome in welcomes.values()}
        assert len(digests) == 1
        digest = digests.pop()
        shipped = [welcome.templates for welcome in welcomes.values()]
        assert shipped[0] and all(sources == shipped[0] for sources in shipped)
        assert all(name.endswith(".py") for name in shipped[0])
        # A client that has the dispatcher's templates gets none again.
        fresh = Client(farm, "fleet-fresh")
        clients.append(fresh)
        assert fresh.handshake(digest=digest).templates is None
        online = wait_for(lambda: len(farm.wait_nodes(count + 1)) >= count + 1, what="online")
        assert online
    finally:
        for client in clients:
            client.close()


def test_a_reconnecting_node_gives_back_only_its_own_attempts(farm: Farm) -> None:
    nodes = [Client(farm, f"busy-{index}") for index in range(4)]
    try:
        for client in nodes:
            client.handshake()
        job = farm.submit(frames="1-8", command=["true"])
        assigned: dict[str, p.Ref] = {}
        for client in nodes:
            message = client.recv_until(p.Assign)
            assert isinstance(message, p.Assign)
            assigned[client.name] = message.ref
        assert len({(ref.job, ref.chunk) for ref in assigned.values()}) == 4
        # busy-0 comes back reporting nothing: its attempt is requeued, the others stay.
        gone = nodes[0]
        gone.close()
        back = Client(farm, gone.name, gone.key)
        nodes[0] = back
        back.handshake()
        lost = assigned[gone.name]

        def requeued() -> bool:
            chunks = farm.chunks(job["id"])
            return chunks[lost.chunk]["attempts"] >= 2 or chunks[lost.chunk]["state"] != "running"

        wait_for(requeued, what="the reconnected node's attempt to be given back")
        chunks = farm.chunks(job["id"])
        for name, ref in assigned.items():
            if name != gone.name:
                assert chunks[ref.chunk]["state"] == "running", (name, chunks[ref.chunk])
        # A node that reconnects reporting its attempt keeps it.
        keeper = nodes[1]
        keeper.close()
        again = Client(farm, keeper.name, keeper.key)
        nodes[1] = again
        again.handshake(running=[assigned[keeper.name]])
        kept = farm.chunks(job["id"])[assigned[keeper.name].chunk]
        assert kept["state"] == "running"
    finally:
        for client in nodes:
            client.close()


def _submit_status(farm: Farm) -> int:
    """The status of a job submission: 201, or the error's (503 while the disk is full)."""
    try:
        farm.submit(command=["true"])
    except ApiError as exc:
        return exc.status
    return 201


def test_handshakes_the_store_cannot_register_are_closed_then_welcomed_later(
    tmp_path: Path,
) -> None:
    with tmpfs(tmp_path / "disk", 24 << 20) as disk:
        farm = Farm(disk, ["--store-retry-max-s", "0.2"]).start()
        clients: list[Client] = []
        try:
            filler = fill(disk)
            # Writes fail until the store knows the disk is full (then it refuses at once).
            wait_for(lambda: _submit_status(farm) == 503, 20, "the store to refuse writes")
            refused = [Client(farm, f"early-{index}") for index in range(3)]
            clients += refused
            for client in refused:
                with pytest.raises(EOFError):  # no Welcome: its registration was not durable
                    client.handshake()
            log = (disk.parent / f"{disk.name}-dispatcher.log").read_text()
            assert log.count("not registered") >= len(refused)
            filler.unlink()
            wait_for(lambda: _submit_status(farm) == 201, 20, "writes to be accepted again")
            again = [Client(farm, client.name) for client in refused]
            clients += again
            ids = {client.handshake().node_id for client in again}
            assert len(ids) == len(again)
            farm.wait_nodes(len(again))
        finally:
            for client in clients:
                client.close()
            farm.close()
