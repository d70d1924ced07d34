"""Node keys on the wire and on disk, and the environment renders get."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from dispatcher import protocol as p
from renderclient.environment import remove_secrets, without_secrets
from renderclient.nodekeys import NodeKeyError, NodeKeys


def test_a_masked_key_is_readable_only_with_the_secret_and_the_nonces() -> None:
    key, secret, nc, ns = os.urandom(32), b"farm-secret", os.urandom(32), os.urandom(32)
    masked = p.mask_node_key(secret, nc, ns, key)
    assert masked != key and len(masked) == len(key)
    assert p.mask_node_key(secret, nc, ns, masked) == key
    assert p.mask_node_key(b"other-secret", nc, ns, masked) != key
    assert p.mask_node_key(secret, nc, os.urandom(32), masked) != key


def test_a_node_proof_is_bound_to_the_key_the_name_and_the_nonces() -> None:
    key, nc, ns = os.urandom(32), os.urandom(32), os.urandom(32)
    proof = p.node_proof(key, "alpha", 0, nc, ns)
    assert p.proof_ok(proof, p.node_proof(key, "alpha", 0, nc, ns))
    for other in (
        p.node_proof(os.urandom(32), "alpha", 0, nc, ns),
        p.node_proof(key, "alpha", 1, nc, ns),
        p.node_proof(key, "beta", 0, nc, ns),
        p.node_proof(key, "alpha", 0, nc, os.urandom(32)),
    ):
        assert not p.proof_ok(proof, other)


def test_older_peers_frames_still_decode() -> None:
    """An Auth without node_proof and a Welcome without node_key (older peers) decode."""
    old_auth = p.encode(p.Auth(proof=b"x" * 32))
    decoded = p.decode(old_auth[4:])
    assert isinstance(decoded, p.Auth) and decoded.node_proof == b""


def test_node_keys_are_private_files_replaced_whole(tmp_path: Path) -> None:
    keys = NodeKeys(tmp_path / "state")
    assert keys.load("render/01 x", 2) == b""
    first, second = os.urandom(32), os.urandom(32)
    path = keys.save("render/01 x", 2, first)
    assert path.parent == tmp_path / "state" / "node-keys" and "/" not in path.name
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    keys.save("render/01 x", 2, second)
    assert keys.load("render/01 x", 2) == second
    assert keys.load("render/01 x", 3) == b""
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]  # no temporary left


def test_a_corrupt_key_file_counts_as_no_key(tmp_path: Path) -> None:
    keys = NodeKeys(tmp_path)
    keys.folder.mkdir()
    keys.path("n", 0).write_text("not hex\n")
    assert keys.load("n", 0) == b""


def test_a_key_that_cannot_be_kept_names_the_file(tmp_path: Path) -> None:
    keys = NodeKeys(tmp_path)
    keys.folder.write_text("a file where the key folder should be")
    with pytest.raises(NodeKeyError, match="cannot keep the node key in"):
        keys.save("n", 0, b"k" * 32)


def test_corrals_secrets_are_removed_from_a_childs_environment() -> None:
    secret = b"s3cret-value-0123456789"
    env = {
        "PATH": "/bin",
        "CORRAL_SECRET": secret.decode(),
        "CORRAL_TOKEN": "t",
        "CORRAL_SECRET_FILE": "/etc/corral/farm.secret",
        "corral_api_key": "k",
        "SAVED": f"prefix-{secret.decode()}",
        "SECRET_PATH": "/etc/corral/farm.secret",
        "CORRAL_NODE": "alpha",
        "CORRAL_DISPATCHER": "farm:9681",
    }
    kept = without_secrets(env, secret, ["/etc/corral/farm.secret"])
    assert kept == {"PATH": "/bin", "CORRAL_NODE": "alpha", "CORRAL_DISPATCHER": "farm:9681"}
    removed = remove_secrets(env, secret, ["/etc/corral/farm.secret"])
    assert env == kept and len(removed) == 6


def test_the_auth_frame_reports_only_the_results_that_fit_before_authentication() -> None:
    from renderclient.session import AUTH_RESULTS_BUDGET_BYTES, _within

    results = [p.Result(ref=p.Ref(1, n, 1), ok=False, error="x" * 1000) for n in range(200)]
    kept = _within(results, AUTH_RESULTS_BUDGET_BYTES)
    assert 0 < len(kept) < len(results) and kept == results[: len(kept)]
    auth = p.encode(p.Auth(proof=b"x" * 32, results=kept))
    assert len(auth) - 4 <= p.MAX_HANDSHAKE_FRAME_BYTES
