import pytest

from dispatcher import protocol as p


def test_round_trip_every_message_kind() -> None:
    ref = p.Ref(1, 2, 3)
    messages = [
        p.Hello(version=1, name="n", instance=0, nonce=b"x"),
        p.Challenge(version=1, nonce=b"y", proof=b"z"),
        p.Auth(proof=b"q", running=[ref], results=[p.Result(ref=ref, ok=True, exit_code=0)]),
        p.Welcome(node_id=4, heartbeat_s=5.0, templates_digest="d", templates={"a.py": "x"}),
        p.Refused(reason="no"),
        p.Assign(ref=ref, job={"id": 1}, start="1", end="10"),
        p.Log(ref=ref, data=b"out"),
        p.Progress(ref=ref, percent=50.0),
        p.ResultAck(ref=ref),
        p.Heartbeat(running=[ref]),
        p.Command("kill", ref=ref),
        p.Bye(reason="bye"),
    ]
    reader = p.FrameReader()
    stream = b"".join(p.encode(message) for message in messages)
    bodies = reader.feed(stream[:7]) + reader.feed(stream[7:])
    assert [p.decode(body) for body in bodies] == messages


@pytest.mark.parametrize("body", [b"", b"\xc1", b"\x81\xa4type\xa5nope", b"\x81\xa4type\xa5hello"])
def test_malformed_bodies_raise_protocol_error(body: bytes) -> None:
    with pytest.raises(p.ProtocolError):
        p.decode(body)


def test_oversized_frame_is_refused_before_it_is_read() -> None:
    reader = p.FrameReader(max_frame_bytes=1024)
    with pytest.raises(p.ProtocolError, match="over the 1024 limit"):
        reader.feed(p.HEADER.pack(4096) + b"x")


def test_proofs_depend_on_role_secret_and_nonces() -> None:
    base = p.proof(b"s", "dispatcher", b"a", b"b")
    assert p.proof_ok(base, p.proof(b"s", "dispatcher", b"a", b"b"))
    for other in (p.proof(b"t", "dispatcher", b"a", b"b"), p.proof(b"s", "renderclient", b"a", b"b"),
                  p.proof(b"s", "dispatcher", b"a", b"c")):  # fmt: skip
        assert not p.proof_ok(base, other)
