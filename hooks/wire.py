"""The pipe between the dispatcher and its hook host.

Frames are a 4-byte big-endian length and a msgpack body (msgspec Structs
tagged by `type`), as on the render-client wire. The dispatcher sends work
(`Invoke`: a batch of hook calls, `RunScript`) and answers API calls
(`ApiReply`); the host announces itself (`Ready`), asks the dispatcher to run
MDispatcherAPI functions (`ApiCall`) and reports every finished hook or script
(`Done`). Values inside are plain msgpack data: dicts, lists, str, numbers.

Every hook call and script carries a call id, unique for the dispatcher's
lifetime, and its `Done` names it back: the dispatcher matches results to
calls by id, never by the order frames arrive in. API calls are matched to
their replies the same way (`ApiCall.call`).
"""

from __future__ import annotations

import struct
from typing import Any

import msgspec

from dispatcher.protocol import FrameReader

HEADER = struct.Struct(">I")
MAX_FRAME_BYTES = 64 * 1024 * 1024


class HookCall(msgspec.Struct, array_like=True):
    """One hook to run: `template` key, method name, the job/chunk in wire form, and the
    call id its `Done` answers with (set by the dispatcher when it sends the call)."""

    template: str
    method: str
    job: dict[str, Any] | None = None
    chunk: dict[str, Any] | None = None
    args: list[Any] = []
    id: int = 0


class Invoke(msgspec.Struct, tag="invoke"):
    batch: int
    calls: list[HookCall]


class RunScript(msgspec.Struct, tag="script"):
    batch: int
    name: str
    code: str
    call: int = 0


class Done(msgspec.Struct, tag="done"):
    """A hook call (or script) ended. `error` holds the traceback when it failed.

    `fatal` says the host exits after this frame (sys.exit, memory, time limit):
    the dispatcher restarts it and runs the rest of the batch on the new host.
    """

    batch: int
    index: int
    ok: bool = True
    code: int = 0
    description: str = ""
    job: dict[str, Any] | None = None
    value: str | None = None
    output: str = ""
    error: str = ""
    fatal: bool = False
    api_errors: list[str] = []
    call: int = 0


class ApiCall(msgspec.Struct, tag="api"):
    """An MDispatcherAPI call; `template` is the key of the template whose hook makes it
    ("" from a script)."""

    call: int
    function: str
    args: list[Any] = []
    template: str = ""


class ApiReply(msgspec.Struct, tag="api_reply"):
    call: int
    code: int = 0
    description: str = ""
    values: list[Any] = []


class Ready(msgspec.Struct, tag="ready"):
    pid: int
    templates: list[str] = []
    errors: list[str] = []


Message = Invoke | RunScript | Done | ApiCall | ApiReply | Ready

_encoder = msgspec.msgpack.Encoder(decimal_format="string")
_decoder = msgspec.msgpack.Decoder(Message)


class WireError(Exception):
    """A frame that is not a valid hook-host message."""


class EncodeError(WireError):
    """A message holds a value msgpack cannot carry (a lone surrogate, an object, a huge int)."""


def encode(message: Message) -> bytes:
    """The frame of `message`; EncodeError names what could not be encoded."""
    try:
        body = _encoder.encode(message)
    except (TypeError, ValueError, OverflowError) as exc:
        raise EncodeError(f"{type(message).__name__} could not be encoded: {exc}") from None
    return HEADER.pack(len(body)) + body


def decode(body: bytes) -> Message:
    try:
        message: Message = _decoder.decode(body)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise WireError(f"bad hook-host message: {exc}") from exc
    return message


class FrameBuffer(FrameReader):
    """The render-client frame splitter, with the hook pipe's own limit and error."""

    error = WireError

    def __init__(self, max_frame_bytes: int = MAX_FRAME_BYTES) -> None:
        super().__init__(max_frame_bytes)
