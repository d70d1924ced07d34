"""The hook host's end of the pipe to the dispatcher, as MDispatcherAPI uses it.

In the hook host, `hooks.host` opens one `Link` over the socket the
dispatcher handed it. An API function sends an `ApiCall` and blocks until the
matching `ApiReply`; the dispatcher runs the call on its loop against the live
queue. Anywhere else (plain Python, a console, a render client) there is no
link, and every call returns a kErrWrongContext MUSTERERR instead of raising.
"""

from __future__ import annotations

import itertools
import os
import socket
import time
from collections.abc import Callable, Sequence
from typing import Any

from hooks import wire
from hooks.api.context import running_context
from hooks.api.errors import (
    MUSTERERR,
    kErrBadArgument,
    kErrDisconnected,
    kErrNone,
    kErrWrongContext,
)

REPLY_SPIN_S = 200e-6
"""How long a call watches for its reply before it sleeps in a blocking read: a reply
comes in 50-100 µs when the dispatcher runs on another CPU, and a thread that slept
there must be woken too (on an idle CPU of a virtual machine that costs tens of
microseconds). The watch yields the CPU at every look, so a dispatcher woken on the
same CPU runs at once; a slower reply costs the host this much CPU, no more."""


class LinkClosed(Exception):
    """The dispatcher closed the pipe."""


class Link:
    """Blocking frame I/O over the host's socket."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self._reader = sock.makefile("rb", buffering=256 * 1024)
        self._calls = itertools.count(1)
        self.api_errors: list[str] = []  # failed calls of the current script, for its report
        self.template = ""  # the key of the template whose hook runs now ("" for a script)

    def send(self, message: wire.Message) -> None:
        self.sock.sendall(wire.encode(message))

    def receive(self) -> wire.Message:
        header = self._reader.read(4)
        if len(header) < 4:
            raise LinkClosed("the dispatcher closed the hook pipe")
        (length,) = wire.HEADER.unpack(header)
        if length > wire.MAX_FRAME_BYTES:
            raise wire.WireError(f"frame of {length} bytes is over the limit")
        body = self._reader.read(length)
        if len(body) < length:
            raise LinkClosed("the dispatcher closed the hook pipe mid-frame")
        return wire.decode(body)

    def watch(self, spin_s: float) -> bool:
        """Whether the socket has data to read (or was closed) within `spin_s` seconds,
        looked at without blocking, the CPU yielded between looks."""
        sock, deadline = self.sock, time.perf_counter() + spin_s
        flags = socket.MSG_PEEK | socket.MSG_DONTWAIT
        while True:
            try:
                sock.recv(1, flags)
                return True  # data, or b"" for a closed pipe: the read answers at once
            except (BlockingIOError, InterruptedError):
                pass
            except OSError:
                return True  # the read reports it
            if time.perf_counter() >= deadline:
                return False
            os.sched_yield()

    def call(self, function: str, args: Sequence[Any]) -> wire.ApiReply:
        """Run `function` on the dispatcher and wait for its reply."""
        call_id = next(self._calls)
        self.send(wire.ApiCall(call_id, function, list(args), self.template))
        self.watch(REPLY_SPIN_S)
        while True:
            message = self.receive()
            if isinstance(message, wire.ApiReply) and message.call == call_id:
                return message
            # A reply to a call abandoned by a time limit: drop it.

    def close(self) -> None:
        try:
            self._reader.close()
        finally:
            self.sock.close()


_link: Link | None = None


def set_link(link: Link | None) -> None:
    """Install the host's link (hooks.host does this once)."""
    global _link
    _link = link


def current_link() -> Link | None:
    return _link


Decode = Callable[[list[Any]], tuple[Any, ...]]


def invoke(
    function: str, args: Sequence[Any], empty: tuple[Any, ...], decode: Decode | None = None
) -> Any:
    """Call an API function; returns `err` alone or `(err, *values)`.

    `empty` are the values returned beside a failed MUSTERERR (e.g. `([],)` for
    a list); `decode` turns the reply's plain values into Muster objects.
    """
    wrong = _wrong_context(function)
    if wrong is not None:
        return _pack(wrong, empty)
    link = _link
    if link is None:
        return _pack(
            MUSTERERR(kErrDisconnected, "the hook host has no link to the dispatcher"), empty
        )
    try:
        reply = link.call(function, args)
    except wire.EncodeError as exc:
        return bad_argument(function, str(exc), empty)
    except (OSError, LinkClosed, wire.WireError) as exc:
        return _pack(
            MUSTERERR(kErrDisconnected, f"the link to the dispatcher failed: {exc}"), empty
        )
    if reply.code != kErrNone:
        err = MUSTERERR(reply.code, reply.description)
        link.api_errors.append(f"{function}: {err}")
        return _pack(err, empty)
    values = tuple(reply.values)[: len(empty)]
    if decode is not None:
        values = decode(list(values))
    return _pack(MUSTERERR(), values)


def _wrong_context(function: str) -> MUSTERERR | None:
    context = running_context()
    if context == "dispatcher":
        return None
    where = repr(context) if context else "plain Python"
    return MUSTERERR(
        kErrWrongContext,
        f"MDispatcherAPI.{function} works only in the dispatcher context (a dispatcher hook "
        f"or `corral run-script --target dispatcher`), not in {where}",
    )


def bad_argument(function: str, message: str, empty: tuple[Any, ...]) -> Any:
    """The answer to an argument the host side can already tell is wrong."""
    wrong = _wrong_context(function)
    if wrong is not None:
        return _pack(wrong, empty)
    err = MUSTERERR(kErrBadArgument, f"{function}: {message}")
    if _link is not None:
        _link.api_errors.append(f"{function}: {err}")
    return _pack(err, empty)


def _pack(err: MUSTERERR, values: tuple[Any, ...]) -> Any:
    return (err, *values) if values else err


def as_int(value: object) -> int | None:
    """An id argument as an int: ints and digit strings pass, anything else is None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdecimal():
        return int(value.strip())
    return None
