import hmac
import time

import msgspec
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


def _result_body(**fields: object) -> bytes:
    """A Result frame body with fields the Struct's own constructor would not check."""
    base: dict[str, object] = {"type": "result", "ref": [1, 0, 1], "ok": True}
    return msgspec.msgpack.encode({**base, **fields})


@pytest.mark.parametrize(
    "fields",
    [
        {"finished": 1e300},
        {"started": float("nan")},
        {"finished": float("inf")},
        {"started": -1.0},
        {"peak_memory_bytes": -1},
        {"memory_available_bytes": 2**63},
        {"exit_code": 2**40},
        {"error": "e" * (p.MAX_TEXT + 1)},
        {"ref": [1, -1, 1]},
        {"ref": [2**60, 0, 1]},
    ],
    ids=str,
)
def test_impossible_result_values_are_protocol_errors(fields: dict[str, object]) -> None:
    with pytest.raises(p.ProtocolError):
        p.decode(_result_body(**fields))


def test_a_plausible_result_decodes() -> None:
    now = time.time()
    result = p.decode(_result_body(started=now, finished=now + 1, peak_memory_bytes=1 << 30))
    assert isinstance(result, p.Result) and result.finished == now + 1


@pytest.mark.parametrize(
    "message",
    [
        {"type": "progress", "ref": [1, 0, 1], "percent": 101.0},
        {"type": "progress", "ref": [1, 0, 1], "percent": float("nan")},
        {"type": "heartbeat", "resources": {"sampled": 1e300}},
        {"type": "heartbeat", "resources": {"sampled": 1.0, "memory_total_bytes": -5}},
        {"type": "heartbeat", "resources": {"sampled": 1.0, "cpu_percent": float("inf")}},
        {
            "type": "heartbeat",
            "resources": {"sampled": 1.0, "gpus": [{"index": 0, "name": "g" * 300}]},
        },
        {
            "type": "heartbeat",
            "resources": {
                "sampled": 1.0,
                "renders": [{"ref": [1, 0, 1], "pid": 5, "cpu_percent": 1.0, "memory_bytes": -1}],
            },
        },
        {"type": "heartbeat", "running": [[1, 0, 1]] * (p.MAX_ITEMS + 1)},
        {"type": "reply", "request": -1, "ok": True},
        {"type": "result", "ref": [1, 0, 1], "ok": True, "error": b"\xed\xa0\x80"},
    ],
    ids=lambda message: str(message)[:60],
)
def test_impossible_values_in_other_messages_are_protocol_errors(
    message: dict[str, object],
) -> None:
    body = msgspec.msgpack.encode(message)
    if message.get("error") == b"\xed\xa0\x80":  # a surrogate, UTF-8 encoded by hand
        body = body.replace(b"\xc4\x03\xed\xa0\x80", b"\xa3\xed\xa0\x80")
    with pytest.raises(p.ProtocolError):
        p.decode(body)


def test_messages_decodes_whole_frames_and_keeps_a_partial_one() -> None:
    ref = p.Ref(5, 6, 7)
    messages = [p.Result(ref=ref, ok=True, exit_code=0), p.Heartbeat(running=[ref])]
    stream = b"".join(p.encode(message) for message in messages) * 3
    for cut in range(len(stream) + 1):  # every split of the stream in two reads
        reader = p.FrameReader()
        found = reader.messages(stream[:cut]) + reader.messages(stream[cut:])
        assert found == messages * 3
    reader = p.FrameReader()
    assert reader.messages(stream[:3]) == []  # less than a header: held
    assert reader.messages(b"") == []
    assert reader.messages(stream[3:]) == messages * 3


def test_messages_tells_the_size_of_the_frames_it_decoded() -> None:
    log = p.encode(p.Log(ref=p.Ref(1, 2, 3), data=b"x" * 5000))
    heartbeat = p.encode(p.Heartbeat())
    reader = p.FrameReader()
    reader.messages(log[:4000])  # (a part of a frame: nothing decoded)
    assert reader.decoded_bytes == 0
    reader.messages(log[4000:] + heartbeat + heartbeat[:2])
    assert reader.decoded_bytes == len(log) + len(heartbeat)  # the whole frame, read twice


def test_messages_refuses_an_oversized_or_bad_frame() -> None:
    with pytest.raises(p.ProtocolError, match="over the 1024 limit"):
        p.FrameReader(max_frame_bytes=1024).messages(p.HEADER.pack(4096) + b"x")
    bad = p.HEADER.pack(1) + b"\xc1"
    with pytest.raises(p.ProtocolError, match="bad message"):
        p.FrameReader().messages(p.encode(p.Heartbeat()) + bad)


@pytest.mark.parametrize("ref", [p.Ref(0, 0, 0), p.Ref(1, 2, 3), p.Ref(70000, 2**32, p.MAX_ID)])
def test_result_ack_frame_is_the_encoded_message(ref: p.Ref) -> None:
    assert p.result_ack_frame(ref) == p.encode(p.ResultAck(ref))
    (body,) = p.FrameReader().feed(p.result_ack_frame(ref))
    assert p.decode(body) == p.ResultAck(ref)


def test_keyed_sha256_is_hmac_sha256_for_every_key_length() -> None:
    # Short, block-sized and over-long keys (these are hashed first, as RFC 2104 says).
    for key_bytes in (0, 1, 32, 63, 64, 65, 200):
        key = bytes(range(key_bytes % 256)) * (key_bytes // 256 + 1)
        key = key[:key_bytes]
        for message in (b"", b"renderclient|a|b", bytes(range(256)) * 3):
            assert p.keyed_sha256(key, message) == hmac.digest(key, message, "sha256")
    # The published proofs are plain HMACs: a peer with only hmac.digest agrees.
    nonce_c, nonce_s = b"c" * 32, b"s" * 32
    assert p.proof(b"farm", "dispatcher", nonce_c, nonce_s) == hmac.digest(
        b"farm", b"dispatcher|" + nonce_c + b"|" + nonce_s, "sha256"
    )
    pad = hmac.digest(b"farm", b"node-key|" + nonce_c + b"|" + nonce_s, "sha256")
    key = bytes(range(32))
    masked = p.mask_node_key(b"farm", nonce_c, nonce_s, key)
    assert masked == bytes(a ^ b for a, b in zip(key, pad, strict=True))
    assert p.mask_node_key(b"farm", nonce_c, nonce_s, masked) == key


def test_a_preencoded_welcome_field_gives_the_same_frame() -> None:
    sources = {"blender.py": "print('b')\n" * 50, "maya.py": "x = 1\n"}
    plain = p.Welcome(node_id=3, heartbeat_s=5.0, templates_digest="d", templates=sources)
    raw = p.Welcome(
        node_id=3, heartbeat_s=5.0, templates_digest="d", templates=p.preencoded(sources)
    )
    assert p.encode(raw) == p.encode(plain)
    decoded = p.decode(p.encode(raw)[4:])
    assert isinstance(decoded, p.Welcome) and decoded.templates == sources
