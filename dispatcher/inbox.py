"""What render clients sent, handled in bounded slices of the loop.

At 1,000 clients one network read cycle brings up to a result from every node, and
handling them all where they are read held the loop for tens of milliseconds: an HTTP
request read in the same cycle waited for all of them. The inbox handles what is read
at once while the cycle's budget lasts (`slice_s`, the common case at small farms: no
extra loop turn), and keeps the rest, already decoded, for loop callbacks that each
handle one more slice and give the loop back.

Order: a read is handled at once only when nothing waits before it, so every node's
messages are handled in the order they came, and the nodes' reads in the order they
were read. Memory: past `max_waiting` waiting messages or `max_waiting_bytes` of their
frames (a deferred log frame keeps its text), a read is handled at once again (with
everything before it), as the loop did before, so a flood of messages cannot grow the
inbox without bound.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

SLICE_S = 0.0005
"""How long a read cycle, or one later callback, may spend handling messages."""
MAX_WAITING = 20_000
"""Waiting messages past which a read is handled at once with everything before it."""
MAX_WAITING_BYTES = 64 * 1024 * 1024
"""Bytes of waiting frames past which a read is handled at once with everything before it."""

Sender = TypeVar("Sender")
Message = TypeVar("Message")


class Inbox(Generic[Sender, Message]):
    """Messages of many senders handled in arrival order, about `slice_s` at a time.

    `handle(sender, messages)` handles one read's messages; it must catch what one
    sender's messages can raise (an error here is logged and the next read goes on).
    """

    def __init__(
        self,
        handle: Callable[[Sender, list[Message]], None],
        *,
        slice_s: float = SLICE_S,
        max_waiting: int = MAX_WAITING,
        max_waiting_bytes: int = MAX_WAITING_BYTES,
    ) -> None:
        self._handle = handle
        self.slice_s = slice_s
        self.max_waiting = max_waiting
        self.max_waiting_bytes = max_waiting_bytes
        self._waiting: deque[tuple[Sender, list[Message], int]] = deque()
        self._reads_of: dict[Sender, int] = {}  # waiting reads per sender (none: absent)
        self.waiting_messages = 0
        self.waiting_bytes = 0
        self._budget_ends = 0.0  # end of this read cycle's budget (0: not started)
        self._scheduled = False
        self.deferred = 0  # reads that waited for a later callback (the metrics)

    def __len__(self) -> int:
        return len(self._waiting)

    def put(self, sender: Sender, messages: list[Message], size_bytes: int = 0) -> None:
        """One read's messages (`size_bytes`: their frames' size): handled now when nothing
        waits and the budget lasts, else kept for a later slice."""
        if not messages:
            return
        if not self._waiting:
            if self._within_budget():
                self._handle_one(sender, messages)
                return
        elif (
            self.waiting_messages + len(messages) > self.max_waiting
            or self.waiting_bytes + size_bytes > self.max_waiting_bytes
        ):
            self.handle_all()
            self._handle_one(sender, messages)
            return
        self._waiting.append((sender, messages, size_bytes))
        self._reads_of[sender] = self._reads_of.get(sender, 0) + 1
        self.waiting_messages += len(messages)
        self.waiting_bytes += size_bytes
        self.deferred += 1
        self._schedule()

    def handle_from(self, sender: Sender) -> None:
        """Handle now, in order, what waits from `sender` (it is going away)."""
        if sender not in self._reads_of:  # (a mass disconnect scans nothing for them)
            return
        del self._reads_of[sender]
        mine = [entry for entry in self._waiting if entry[0] == sender]
        self._waiting = deque(entry for entry in self._waiting if entry[0] != sender)
        for _, messages, size_bytes in mine:
            self.waiting_messages -= len(messages)
            self.waiting_bytes -= size_bytes
            self._handle_one(sender, messages)

    def handle_all(self) -> None:
        """Handle everything waiting now (shutdown, or a flood past `max_waiting`)."""
        while self._waiting:
            self._take_one()

    def _within_budget(self) -> bool:
        now = time.perf_counter()
        if not self._budget_ends:
            # The first read of a cycle: the callback that ends the cycle is queued.
            self._budget_ends = now + self.slice_s
            self._schedule()
        return now < self._budget_ends

    def _schedule(self) -> None:
        if not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self._slice)

    def _slice(self) -> None:
        """A loop callback: one slice of the waiting reads, then the loop goes on."""
        self._scheduled = False
        deadline = time.perf_counter() + self.slice_s
        while self._waiting:
            self._take_one()
            if time.perf_counter() >= deadline:
                break
        # The reads of the next cycle get a budget of their own.
        self._budget_ends = 0.0
        if self._waiting:
            self._schedule()

    def _take_one(self) -> None:
        sender, messages, size_bytes = self._waiting.popleft()
        left = self._reads_of[sender] - 1
        if left:
            self._reads_of[sender] = left
        else:
            del self._reads_of[sender]
        self.waiting_messages -= len(messages)
        self.waiting_bytes -= size_bytes
        self._handle_one(sender, messages)

    def _handle_one(self, sender: Sender, messages: list[Message]) -> None:
        try:
            self._handle(sender, messages)
        except Exception:  # one sender's bug must not keep the others' messages
            log.exception("action=inbox_handle_failed; the next read goes on")
