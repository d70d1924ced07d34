"""The dispatcher's end of the socket to the hook host (hooks/host.py): the frames it
reads (Ready, Done, ApiCall) and the replies it writes.

API calls from the host are read with flow control: at most
`MAX_CALLS_PER_TICK` are started per loop iteration (and no new one once
`TICK_BUDGET_S` has been spent in that iteration), and the host's socket is
not read while `MAX_CALLS_IN_FLIGHT` calls are unanswered or while their
replies wait to be written (the host is not reading them). A hook that sends
thousands of calls without reading replies thus waits on its own pipe instead
of growing the dispatcher or holding its loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable

from hooks import wire

log = logging.getLogger(__name__)

MAX_CALLS_IN_FLIGHT = 64  # API calls started and not yet answered, per host
MAX_CALLS_PER_TICK = 32  # API calls started in one loop iteration ...
TICK_BUDGET_S = 0.004  # ... and for at most this long (the first call always starts)
REPLY_BUFFER_BYTES = 1024 * 1024  # replies waiting to be written before reading stops


class HostDied(Exception):
    """The host process ended or its pipe broke."""


class HostProtocol(asyncio.Protocol):
    """Frames from the host: Ready, Done, ApiCall (these with flow control)."""

    def __init__(self, on_call: Callable[[HostProtocol, wire.ApiCall], None]) -> None:
        self.on_call = on_call  # starts a call; its reply comes back through reply()
        self.buffer = wire.FrameBuffer()
        self.transport: asyncio.Transport | None = None
        self.ready: asyncio.Future[wire.Ready] = asyncio.get_running_loop().create_future()
        self.ready.add_done_callback(lambda done: done.cancelled() or done.exception())
        # Done frames not yet collected (None: the host is gone), and the collector's
        # future while it waits: a Done resolves it straight from data_received.
        self.done: deque[wire.Done | None] = deque()
        self._done_waiter: asyncio.Future[wire.Done | None] | None = None
        self.lost = False
        self.backlog: deque[wire.ApiCall] = deque()  # read, not yet started
        self.in_flight = 0  # started, reply not yet written
        self.writing_paused = False
        self.reading_paused = False
        self._drain_scheduled = False
        self._started_this_tick = 0
        self._tick_began = 0.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        with contextlib.suppress(AttributeError, NotImplementedError):
            self.transport.set_write_buffer_limits(high=REPLY_BUFFER_BYTES)  # type: ignore[union-attr]

    def data_received(self, data: bytes) -> None:
        self._started_this_tick = 0  # one read per loop iteration: a new tick's budget
        try:
            for body in self.buffer.feed(data):
                message = wire.decode(body)
                if isinstance(message, wire.ApiCall):
                    if self.backlog or not self._may_start():
                        self.backlog.append(message)
                    else:
                        self._start(message)
                elif isinstance(message, wire.Done):
                    self._done_arrived(message)
                elif isinstance(message, wire.Ready) and not self.ready.done():
                    self.ready.set_result(message)
        except wire.WireError as exc:
            log.error("action=hook_host_protocol_error error=%s; restarting the host", exc)
            if self.transport is not None:
                self.transport.close()
        self._flow()

    # -- results -------------------------------------------------------------------------
    def _done_arrived(self, done: wire.Done | None) -> None:
        waiter = self._done_waiter
        if waiter is not None and not waiter.done() and not self.done:
            waiter.set_result(done)
        else:
            self.done.append(done)

    async def next_done(self, timeout_s: float) -> wire.Done | None:
        """The next Done frame (None once the host is gone); TimeoutError after `timeout_s`.
        No task or queue in between: the frame's arrival resumes the caller."""
        if self.done:
            return self.done.popleft()
        waiter: asyncio.Future[wire.Done | None] = asyncio.get_running_loop().create_future()
        self._done_waiter = waiter
        taken = False
        try:
            async with asyncio.timeout(timeout_s):
                done = await waiter
            taken = True
            return done
        finally:
            self._done_waiter = None
            if not taken and waiter.done() and not waiter.cancelled():
                # It came as the time ran out (or the caller was cancelled): keep it.
                self.done.appendleft(waiter.result())

    # -- flow control --------------------------------------------------------------
    def _may_start(self) -> bool:
        return (
            self.in_flight < MAX_CALLS_IN_FLIGHT
            and not self.writing_paused
            and (
                self._started_this_tick == 0
                or (
                    self._started_this_tick < MAX_CALLS_PER_TICK
                    and time.perf_counter() - self._tick_began < TICK_BUDGET_S
                )
            )
        )

    def _start(self, call: wire.ApiCall) -> None:
        if not self._started_this_tick:
            self._tick_began = time.perf_counter()
        self.in_flight += 1
        self._started_this_tick += 1
        self.on_call(self, call)

    def _flow(self) -> None:
        """Read the host's socket only while there is room for more calls; drain the backlog."""
        room = self.in_flight < MAX_CALLS_IN_FLIGHT and not self.writing_paused
        if self.backlog and room and not self._drain_scheduled:
            self._drain_scheduled = True  # the rest in the next iteration, with a new budget
            asyncio.get_running_loop().call_soon(self._drain)
        full = (
            len(self.backlog) >= MAX_CALLS_PER_TICK
            or self.in_flight >= MAX_CALLS_IN_FLIGHT
            or self.writing_paused
        )
        if self.transport is None or self.lost or full == self.reading_paused:
            return
        self.reading_paused = full
        if full:
            self.transport.pause_reading()
        else:
            self.transport.resume_reading()

    def _drain(self) -> None:
        self._drain_scheduled = False
        self._started_this_tick = 0
        while self.backlog and self._may_start() and not self.lost:
            self._start(self.backlog.popleft())
        self._flow()

    def answered(self) -> None:
        """A call's reply was handed to the transport (or dropped with the pipe)."""
        self.in_flight -= 1
        self._flow()

    def pause_writing(self) -> None:
        self.writing_paused = True
        self._flow()

    def resume_writing(self) -> None:
        self.writing_paused = False
        self._flow()

    # -- sending -----------------------------------------------------------------------
    def send(self, message: wire.Message) -> None:
        """Write one frame; EncodeError when the message cannot be encoded (nothing is written)."""
        if self.transport is not None and not self.lost:
            self.transport.write(wire.encode(message))

    def reply(self, answer: wire.ApiReply) -> None:
        """Send an API reply; one that cannot be encoded becomes an error reply naming why."""
        try:
            self.send(answer)
        except wire.EncodeError as exc:
            log.error("action=hook_api_reply_unencodable call=%d error=%s", answer.call, exc)
            self.send(wire.ApiReply(answer.call, 11, f"the reply could not be sent: {exc}"))
        finally:
            self.answered()

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        self.backlog.clear()
        if not self.ready.done():
            self.ready.set_exception(HostDied("the hook host exited before it was ready"))
        self._done_arrived(None)
