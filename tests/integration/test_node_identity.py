"""A node proves its own key: no holder of the farm secret can take another node's place,
and an administrator can reset a node's key. Corral's secrets never reach a render."""

from __future__ import annotations

import os
import socket
import sqlite3
import stat
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import msgspec
import pytest

from dispatcher import protocol as p
from tests.integration.farm import CORRAL, Farm, wait_for

pytestmark = pytest.mark.integration


class RawNode:
    """The render-client side of the handshake over a plain socket, driven by the test."""

    def __init__(self, farm: Farm, name: str, instance: int = 0) -> None:
        port = int(farm.render.rsplit(":", 1)[1])
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.secret = (farm.data_dir / "farm.secret").read_text().strip().encode()
        self.name, self.instance = name, instance
        self.frames = p.FrameReader()
        self.bodies: list[bytes] = []
        self.issued = b""

    def recv(self) -> p.Message:
        while not self.bodies:
            data = self.sock.recv(65536)
            if not data:
                raise EOFError("the dispatcher closed the connection")
            self.bodies.extend(self.frames.feed(data))
        return p.decode(self.bodies.pop(0))

    def handshake(self, key: bytes = b"", results: list[p.Result] | None = None) -> p.Message:
        """Hello and Auth with the farm secret (and `key`, if any); the dispatcher's answer."""
        nonce = os.urandom(32)
        hello = p.Hello(p.PROTOCOL_VERSION, self.name, self.instance, nonce)
        self.sock.sendall(p.encode(hello))
        challenge = self.recv()
        assert isinstance(challenge, p.Challenge), challenge
        auth = p.Auth(
            proof=p.proof(self.secret, "renderclient", nonce, challenge.nonce),
            results=results or [],
        )
        if key:
            proved = p.node_proof(key, self.name, self.instance, nonce, challenge.nonce)
            auth = msgspec.structs.replace(auth, node_proof=proved)
        self.sock.sendall(p.encode(auth))
        answer = self.recv()
        if isinstance(answer, p.Welcome) and getattr(answer, "node_key", b""):
            self.issued = p.mask_node_key(self.secret, nonce, challenge.nonce, answer.node_key)
        return answer

    def close(self) -> None:
        self.sock.close()


def dispatcher_log(farm: Farm) -> str:
    return (farm.data_dir.parent / f"{farm.data_dir.name}-dispatcher.log").read_text()


def key_file(farm: Farm, state: str, name: str, instance: int = 0) -> Path:
    return farm.data_dir.parent / state / "node-keys" / f"{name}.{instance}.key"


def cli(farm: Farm, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CORRAL, "--dispatcher", farm.url, "--token", farm.token, *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_session_under_a_live_nodes_name_without_its_key_is_refused(farm: Farm) -> None:
    farm.client("alpha")
    farm.wait_nodes(1)
    job = farm.submit(
        title="real work", frames="1-1", command=["sh", "-c", "sleep 3; echo real-render"]
    )
    running = wait_for(
        lambda: next((n["running"] for n in farm.nodes() if n["running"]), None),
        30,
        "the chunk running on alpha",
    )
    ref = p.Ref(running[0]["job"], running[0]["chunk"], running[0]["attempt"])

    impostor = RawNode(farm, "alpha")
    forged = p.Result(ref=ref, ok=True, exit_code=0, started=time.time(), finished=time.time())
    answer = impostor.handshake(results=[forged])
    impostor.close()

    assert isinstance(answer, p.Refused), answer
    assert "did not prove" in answer.reason and "reset-key alpha" in answer.reason
    assert "action=node_key_refused" in dispatcher_log(farm)
    # The impostor's success was not taken: the real render finishes the chunk.
    assert farm.wait_state(job["id"], "done", "failed")["state"] == "done"
    log_text = farm.request("GET", f"/api/v1/jobs/{job['id']}/tasks/{farm.task(job['id'], 0)}/log")
    assert "real-render" in log_text
    chunk = farm.chunks(job["id"])[0]
    assert chunk["attempts"] == 1 and chunk["node"] == "alpha"
    assert [n["name"] for n in farm.nodes()] == ["alpha"]


def test_the_key_is_kept_private_and_a_wrong_key_is_refused_until_reset(farm: Farm) -> None:
    first = farm.client("beta")
    farm.wait_nodes(1)
    kept = key_file(farm, "state-beta", "beta")
    wait_for(kept.exists, 10, "the node key file")
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600
    assert len(bytes.fromhex(kept.read_text().strip())) == p.NODE_KEY_BYTES
    first.terminate()
    first.wait(timeout=20)

    # Same name, another machine's state folder (no key): refused, exit 3.
    other = farm.client("beta", "--state-dir", str(farm.data_dir.parent / "elsewhere"))
    assert other.wait(timeout=30) == 3
    # A forged key is refused too.
    wrong = RawNode(farm, "beta")
    assert isinstance(wrong.handshake(key=os.urandom(32)), p.Refused)
    wrong.close()

    reset = cli(farm, "nodes", "reset-key", "beta")
    assert reset.returncode == 0, reset.stderr
    assert "reset the key of node beta" in reset.stdout
    assert "action=node_key_reset" in dispatcher_log(farm)

    again = farm.client("beta", "--state-dir", str(farm.data_dir.parent / "elsewhere"))
    farm.wait_nodes(1)
    new_key = key_file(farm, "elsewhere", "beta")
    wait_for(new_key.exists, 10, "the new node key file")
    assert new_key.read_text() != kept.read_text()
    assert [n["name"] for n in farm.nodes()] == ["beta"]  # the same registration
    again.terminate()
    again.wait(timeout=20)
    # The old key no longer opens the door.
    old = farm.client("beta")
    assert old.wait(timeout=30) == 3


def test_reset_key_of_a_connected_node_gives_it_a_new_key_at_once(farm: Farm) -> None:
    farm.client("gamma")
    node = farm.wait_nodes(1)[0]
    kept = key_file(farm, "state-gamma", "gamma")
    wait_for(kept.exists, 10, "the node key file")
    before = kept.read_text()
    answer = farm.request("POST", f"/api/v1/nodes/{node['id']}/actions/reset-key")
    assert answer["ok"] and answer["action"] == "reset-key"
    wait_for(lambda: kept.read_text() != before, 20, "a new key on the node")
    farm.wait_nodes(1)
    job = farm.submit(title="after reset", frames="1-2", command=["true"])
    assert farm.wait_state(job["id"], "done", "failed")["state"] == "done"


def test_a_node_registered_without_a_key_gets_one_at_its_next_handshake(
    make_farm: Callable[..., Farm],
) -> None:
    farm = make_farm()
    raw = RawNode(farm, "legacy")
    assert isinstance(raw.handshake(), p.Welcome)
    first_key = raw.issued
    raw.close()
    farm.stop()
    # As written before node keys existed: no key in the node's row.
    with sqlite3.connect(farm.data_dir / "corral.db") as db:
        db.execute("UPDATE nodes SET info = json_remove(info, '$.key') WHERE name = 'legacy'")
    farm.start()
    raw = RawNode(farm, "legacy")
    answer = raw.handshake()  # no key: welcomed, and given a new one
    assert isinstance(answer, p.Welcome), answer
    assert raw.issued and raw.issued != first_key
    raw.close()
    new_key = raw.issued
    for key, expected in [(b"", p.Refused), (first_key, p.Refused), (new_key, p.Welcome)]:
        raw = RawNode(farm, "legacy")
        assert isinstance(raw.handshake(key=key), expected)  # from now on the key is needed
        raw.close()


def test_renders_and_node_code_never_see_corrals_secrets(farm: Farm, tmp_path: Path) -> None:
    secret = (farm.data_dir / "farm.secret").read_text().strip()
    port = farm.render.rsplit(":", 1)[1]
    env = {
        **os.environ,
        "CORRAL_SECRET": secret,
        "CORRAL_TOKEN": "token-of-the-node-operator",
        "STUDIO_FARM_SECRET_COPY": secret,
        "RENDER_PATH_HINT": "kept",
    }
    log = (tmp_path / "client-envy.log").open("a")
    client = subprocess.Popen(
        [CORRAL, "renderclient", "--dispatcher", f"127.0.0.1:{port}", "--name", "envy",
         "--state-dir", str(tmp_path / "state-envy")],
        stdout=log, stderr=subprocess.STDOUT, text=True, env=env,
    )  # fmt: skip
    try:
        node = farm.wait_nodes(1)[0]
        job = farm.submit(title="print env", frames="1-1", command=["env"])
        assert farm.wait_state(job["id"], "done", "failed")["state"] == "done"
        log_text = farm.request(
            "GET", f"/api/v1/jobs/{job['id']}/tasks/{farm.task(job['id'], 0)}/log"
        )
        assert "RENDER_PATH_HINT=kept" in log_text and "CORRAL_NODE=envy" in log_text
        assert secret not in log_text
        assert "CORRAL_SECRET" not in log_text and "token-of-the-node-operator" not in log_text

        code = "import os\nfor k, v in sorted(os.environ.items()): print(k, v)\n"
        answer = farm.request(
            "POST", f"/api/v1/nodes/{node['id']}/actions/run-python", {"code": code}
        )
        assert answer["ok"] and "RENDER_PATH_HINT kept" in answer["output"]
        assert secret not in answer["output"]
        assert "token-of-the-node-operator" not in answer["output"]
    finally:
        client.terminate()
        client.wait(timeout=20)
