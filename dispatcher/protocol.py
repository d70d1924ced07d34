"""The render-client wire protocol, shared by the dispatcher and render clients.

A frame is a 4-byte big-endian length followed by a msgpack map with a `type`
field. Messages are msgspec Structs tagged by that field; `decode` and
`FrameReader` are pure so tests need no socket.

Handshake (mutual, over a farm secret neither side sends):
  client -> Hello(nonce_c)         server -> Challenge(nonce_s, proof_s)
  client checks proof_s, then      client -> Auth(proof_c, proof_n, what it runs)
  server checks proof_c, proof_n   server -> Welcome(node id, new key, ...) or Refused
proof_s = HMAC(secret, "dispatcher" | nonce_c | nonce_s),
proof_c = HMAC(secret, "renderclient" | nonce_c | nonce_s),
proof_n = HMAC(node key, "node" | name | instance | nonce_c | nonce_s), empty
          while the client holds no key for the node.
A node key is issued by the dispatcher at a node's first registration (and
after an administrator reset it); it travels in the Welcome masked with
HMAC(secret, "node-key" | nonce_c | nonce_s), so only a peer that knows the
farm secret and saw this handshake's nonces can read it. Until a session is
authenticated its frames may be at most MAX_HANDSHAKE_FRAME_BYTES.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import struct
from typing import Annotated, Any, cast

import msgspec
from msgspec import Meta

PROTOCOL_VERSION = 1
MAX_FRAME_BYTES = 8 * 1024 * 1024
MAX_HANDSHAKE_FRAME_BYTES = 64 * 1024
NODE_KEY_BYTES = 32
HEADER = struct.Struct(">I")
SHA256_BLOCK_BYTES = 64
_PAD_INNER = bytes(byte ^ 0x36 for byte in range(256))
_PAD_OUTER = bytes(byte ^ 0x5C for byte in range(256))

# What a render client may report, checked when a frame is decoded (NaN and the
# infinities fail every bound; msgspec refuses invalid UTF-8, so no surrogates).
# A frame outside these bounds is a ProtocolError: its session is closed and
# nothing of the message is stored (docs/security.md, "Input limits").
MAX_ID = 2**53  # ids and counters stay exact in JSON and fit SQLite's integers
MAX_TIME_S = 4_102_444_800.0  # 2100-01-01 in Unix time
MAX_BYTES = 2**60
MAX_PERCENT = 1e6  # CPU percent of one core, summed over many cores
MAX_TEXT = 65536
MAX_ITEMS = 65536

Id = Annotated[int, Meta(ge=0, le=MAX_ID)]
Time = Annotated[float, Meta(ge=0.0, le=MAX_TIME_S)]
Bytes = Annotated[int, Meta(ge=0, le=MAX_BYTES)]
Percent = Annotated[float, Meta(ge=0.0, le=MAX_PERCENT)]
Count = Annotated[int, Meta(ge=0, le=MAX_ITEMS)]
Text = Annotated[str, Meta(max_length=MAX_TEXT)]
ExitCode = Annotated[int, Meta(ge=-(2**31), le=2**32)]


class Ref(msgspec.Struct, array_like=True, frozen=True):
    """Names one attempt of one chunk: the attempt number is a fencing token."""

    job: Id
    chunk: Id
    attempt: Id


class Hello(msgspec.Struct, tag="hello"):
    version: int
    name: str
    instance: int
    nonce: bytes


class Challenge(msgspec.Struct, tag="challenge"):
    version: int
    nonce: bytes
    proof: bytes


# What a template's verdict asks of the dispatcher after a failed attempt
# (MTemplateError's actions, docs/templates.md "Errors").
RESULT_ACTIONS = ("abort_render", "requeue_chunk", "exclude_node", "pause_job")


class Result(msgspec.Struct, tag="result"):
    """The end of one attempt. `ok` is the template's verdict on exit code and log.

    `frames_done`: frames the attempt completed; `warnings` / `errors`: what the
    template's checks found (errors counted even when the job skips them);
    `actions`: names from RESULT_ACTIONS the template's verdict asked for.
    """

    ref: Ref
    ok: bool
    exit_code: ExitCode | None = None
    error: Text = ""
    started: Time = 0.0
    finished: Time = 0.0
    killed: bool = False
    oom: bool = False
    peak_memory_bytes: Bytes = 0
    memory_available_bytes: Bytes = 0
    frames_done: Id = 0
    warnings: Id = 0
    errors: Id = 0
    actions: Annotated[list[Annotated[str, Meta(max_length=32)]], Meta(max_length=8)] = []


class RenderUsage(msgspec.Struct):
    """What one running attempt's process tree uses: CPU percent of one core, bytes."""

    ref: Ref
    pid: Id
    cpu_percent: Percent
    memory_bytes: Bytes
    nice: Annotated[int, Meta(ge=-100, le=100)] | None = None


class Gpu(msgspec.Struct):
    index: Count
    name: Annotated[str, Meta(max_length=256)]
    utilization_percent: Percent | None = None
    memory_used_bytes: Bytes | None = None
    memory_total_bytes: Bytes | None = None
    temperature_c: Annotated[float, Meta(ge=-273.0, le=1000.0)] | None = None


class Resources(msgspec.Struct):
    """A render client's view of its host and of its renders. None where unknown.

    `memory_available_bytes` is what a new render of this instance could use:
    the host's available memory, or less where a memory limit applies.
    """

    sampled: Time
    cpus: Count = 0
    cpu_percent: Percent | None = None
    load_1m: Percent | None = None
    memory_total_bytes: Bytes | None = None
    memory_available_bytes: Bytes | None = None
    memory_limit_bytes: Bytes | None = None
    gpus: Annotated[list[Gpu], Meta(max_length=1024)] | None = None
    renders: Annotated[list[RenderUsage], Meta(max_length=MAX_ITEMS)] = []


# Client configuration values: {template key: {item name: value}} (hooks/api/preferences.py).
ConfigValue = Annotated[str, Meta(max_length=4096)] | int | float | bool
TemplateConfig = Annotated[
    dict[
        Annotated[str, Meta(max_length=256)],
        Annotated[dict[Annotated[str, Meta(max_length=256)], ConfigValue], Meta(max_length=256)],
    ],
    Meta(max_length=1024),
]


class Auth(msgspec.Struct, tag="auth"):
    """`node_proof` proves the node key (see node_proof); empty when the client has none.
    `template_config`: the node's own client configuration values (shown by the dispatcher)."""

    proof: bytes
    host: str = ""
    platform: str = ""
    pools: list[str] = []
    templates_digest: str = ""
    running: list[Ref] = []
    results: list[Result] = []
    cpus: int = 0
    memory_bytes: int = 0
    resources: Resources | None = None
    node_proof: bytes = b""
    # What the node offers jobs' requirements: software as (name, version) and tags.
    software: Annotated[list[tuple[Text, Text]], Meta(max_length=1024)] = []
    tags: Annotated[list[Text], Meta(max_length=1024)] = []
    template_config: TemplateConfig = {}


class Welcome(msgspec.Struct, tag="welcome"):
    """`node_key`: a new node key, masked (see mask_node_key); empty when none is issued.
    `template_config`: the client configuration the dispatcher sets for this node (its
    own values over its pools'); None from a dispatcher that does not send it."""

    node_id: int
    heartbeat_s: float
    templates_digest: str
    templates: dict[str, str] | None = None
    node_key: bytes = b""
    template_config: TemplateConfig | None = None


class Refused(msgspec.Struct, tag="refused"):
    reason: str


# How a standby dispatcher's refusal begins (renderclient/dispatchers.py tells it from
# a refusal of the node itself by this, never by a word a node's name may hold).
STANDBY_REFUSAL = "this dispatcher is a standby"


class Assign(msgspec.Struct, tag="assign"):
    """Run one chunk. `job` is the job as the template hooks see it (REST field names).

    `ram_warning_mb` and `ram_max_mb` are the job's memory thresholds for the attempt's
    process tree (None: none): past the first the client writes a warning into the
    chunk's log, past the second it ends the render and fails the attempt. A client
    that predates them ignores them (msgspec skips unknown fields).
    """

    ref: Ref
    job: dict[str, Any]
    start: str
    end: str
    time_limit_s: float = 0.0
    ram_warning_mb: Annotated[int, Meta(ge=1)] | None = None
    ram_max_mb: Annotated[int, Meta(ge=1)] | None = None


class Log(msgspec.Struct, tag="log"):
    ref: Ref
    data: bytes


class Progress(msgspec.Struct, tag="progress"):
    """How far a running attempt is, as its template reads it from the log;
    `frames_done` None where the client does not count frames."""

    ref: Ref
    percent: Annotated[float, Meta(ge=0.0, le=100.0)]
    frames_done: Id | None = None


class ResultAck(msgspec.Struct, tag="result_ack"):
    ref: Ref


class Heartbeat(msgspec.Struct, tag="heartbeat"):
    """Sent every heartbeat interval. `draining`: the client is shutting down and
    takes no more chunks (what it runs is finished or handed back)."""

    running: Annotated[list[Ref], Meta(max_length=MAX_ITEMS)] = []
    resources: Resources | None = None
    draining: bool = False


class Command(msgspec.Struct, tag="command"):
    """A dispatcher command. Actions (dispatcher/control.py sends them):

    kill (ref), priority {nice}, realtime_log {on}, update, soft_restart,
    run_python {request, code, timeout_s}, system_event {request, event},
    template_config {values} (the whole client configuration the dispatcher sets
    for the node, replacing what it sent before; a client without it answers
    "unsupported command", so the protocol version stays 1),
    engine_event {request, event, argv, timeout_s} (an engine event command to
    run after a chunk, its arguments made by the dispatcher; the same rule).
    Commands with a `request` number are answered by a Reply with that number.
    """

    action: str
    ref: Ref | None = None
    args: dict[str, Any] = {}


class Reply(msgspec.Struct, tag="reply"):
    """A render client's answer to a command that carried a request number."""

    request: Id
    ok: bool
    output: Annotated[str, Meta(max_length=4 * 1024 * 1024)] = ""


class Bye(msgspec.Struct, tag="bye"):
    reason: Text = ""


Message = (
    Hello
    | Challenge
    | Auth
    | Welcome
    | Refused
    | Assign
    | Log
    | Progress
    | Result
    | ResultAck
    | Heartbeat
    | Command
    | Reply
    | Bye
)

_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(Message)


class ProtocolError(Exception):
    """A peer sent something that is not a valid frame or message."""


def encode(message: Message) -> bytes:
    """One frame: the length header and the msgpack body."""
    body = _encoder.encode(message)
    return HEADER.pack(len(body)) + body


def _ack_prefix() -> bytes:
    """The bytes of every ResultAck body before its ref (the tag and the field name)."""
    sample = Ref(0, 0, 0)
    body, tail = _encoder.encode(ResultAck(sample)), _encoder.encode(sample)
    assert body.endswith(tail)
    return body[: -len(tail)]


_ACK_PREFIX = _ack_prefix()


def result_ack_frame(ref: Ref) -> bytes:
    """`encode(ResultAck(ref))`, with the constant part encoded once (one per result)."""
    body = _ACK_PREFIX + _encoder.encode(ref)
    return HEADER.pack(len(body)) + body


def preencoded(value: dict[str, Any]) -> dict[str, Any]:
    """`value` encoded once, for a field that many messages carry (an Assign's job).

    msgspec writes the bytes as they are, so the frame is the same as with the
    dict; the return type is the field's, for the message's constructor.
    """
    return cast(dict[str, Any], msgspec.Raw(_encoder.encode(value)))


def decode(body: bytes | memoryview) -> Message:
    """Decode one frame body; raises ProtocolError naming what was wrong."""
    try:
        message: Message = _decoder.decode(body)
        return message
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise ProtocolError(f"bad message: {exc}") from exc


class FrameReader:
    """Splits a byte stream into frame bodies; refuses frames over `max_frame_bytes`."""

    error: type[Exception] = ProtocolError

    def __init__(self, max_frame_bytes: int = MAX_FRAME_BYTES) -> None:
        self.max_frame_bytes = max_frame_bytes
        self._buffer = bytearray()
        self.decoded_bytes = 0  # the size of the frames the last `messages` decoded

    def feed(self, data: bytes) -> list[bytes]:
        self._buffer += data
        bodies: list[bytes] = []
        offset = 0
        buffer = self._buffer
        while len(buffer) - offset >= 4:
            (length,) = HEADER.unpack_from(buffer, offset)
            if length > self.max_frame_bytes:
                raise self.error(
                    f"frame of {length} bytes is over the {self.max_frame_bytes} limit"
                )
            if len(buffer) - offset - 4 < length:
                break
            bodies.append(bytes(buffer[offset + 4 : offset + 4 + length]))
            offset += 4 + length
        if offset:
            del buffer[:offset]
        return bodies

    def messages(self, data: bytes) -> list[Message]:
        """`feed`, each whole frame decoded where it lies (no copy of its body).

        Data that holds whole frames only, the usual case, is never copied into the
        buffer. Raises ProtocolError for a frame over the limit or that does not decode;
        the session is over then, and what the reader holds no longer matters.
        """
        buffer = self._buffer
        source: bytes | bytearray = data
        if buffer:
            buffer += data
            source = buffer
        size = len(source)
        limit = self.max_frame_bytes
        found: list[Message] = []
        offset = 0
        with memoryview(source) as view:
            while size - offset >= 4:
                (length,) = HEADER.unpack_from(source, offset)
                if length > limit:
                    raise self.error(f"frame of {length} bytes is over the {limit} limit")
                end = offset + 4 + length
                if end > size:
                    break
                found.append(decode(view[offset + 4 : end]))
                offset = end
        self.decoded_bytes = offset
        if source is buffer:
            if offset:
                del buffer[:offset]
        elif offset < size:
            buffer += data[offset:]
        return found


def proof(secret: bytes, role: str, client_nonce: bytes, server_nonce: bytes) -> bytes:
    """HMAC-SHA256 that proves knowledge of the farm secret for one handshake."""
    return keyed_sha256(secret, role.encode() + b"|" + client_nonce + b"|" + server_nonce)


@functools.lru_cache(maxsize=8)
def _hmac_pads(key: bytes) -> tuple[Any, Any]:
    """The SHA-256 states after HMAC's inner and outer padded keys (RFC 2104)."""
    if len(key) > SHA256_BLOCK_BYTES:
        key = hashlib.sha256(key).digest()
    key = key.ljust(SHA256_BLOCK_BYTES, b"\0")
    inner = hashlib.sha256(key.translate(_PAD_INNER))
    outer = hashlib.sha256(key.translate(_PAD_OUTER))
    return inner, outer


def keyed_sha256(key: bytes, message: bytes) -> bytes:
    """HMAC-SHA256 of `message` under a long-lived key (the farm secret): the same bytes
    as hmac.digest, from padded-key states made once per key and copied per message
    (a one-shot HMAC looks the digest up and pads the key again each time)."""
    inner, outer = _hmac_pads(key)
    inner = inner.copy()
    inner.update(message)
    outer = outer.copy()
    outer.update(inner.digest())
    return cast(bytes, outer.digest())


def proof_ok(expected: bytes, given: bytes) -> bool:
    return hmac.compare_digest(expected, given)


def node_proof(
    key: bytes, name: str, instance: int, client_nonce: bytes, server_nonce: bytes
) -> bytes:
    """HMAC-SHA256 that proves a node's own key for one handshake, bound to its name."""
    message = b"|".join(
        [b"node", name.encode(), str(instance).encode(), client_nonce, server_nonce]
    )
    return hmac.digest(key, message, "sha256")


def mask_node_key(secret: bytes, client_nonce: bytes, server_nonce: bytes, key: bytes) -> bytes:
    """The node key XOR a pad only this handshake's two peers can make; its own inverse."""
    pad = keyed_sha256(secret, b"node-key|" + client_nonce + b"|" + server_nonce)
    if len(key) > len(pad):
        raise ValueError(f"a node key is at most {len(pad)} bytes")
    if not key:
        return b""
    pad = pad[: len(key)]
    mixed = int.from_bytes(key, "big") ^ int.from_bytes(pad, "big")
    return mixed.to_bytes(len(key), "big")
