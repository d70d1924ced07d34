"""The inbox of render clients' messages (no sockets): a read is handled at once while
the cycle's budget lasts; past it reads wait, decoded, for later slices that give the
loop back between them, in arrival order and in each sender's order; a sender going
away has its reads handled first; a flood past the bound is handled at once."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Iterator

import pytest

from dispatcher.inbox import Inbox


class Handled(list[tuple[str, str]]):
    """What the inbox handed on, as (sender, message), in order."""

    def __call__(self, sender: str, messages: list[str]) -> None:
        self.extend((sender, message) for message in messages)


async def turns(count: int) -> None:
    for _ in range(count):
        await asyncio.sleep(0)


async def test_a_read_is_handled_at_once_while_the_budget_lasts() -> None:
    handled = Handled()
    inbox = Inbox(handled, slice_s=60.0)
    inbox.put("a", ["a1", "a2"])
    inbox.put("b", ["b1"])
    assert handled == [("a", "a1"), ("a", "a2"), ("b", "b1")]
    assert len(inbox) == 0 and inbox.deferred == 0


async def test_past_the_budget_reads_wait_for_slices_in_arrival_order() -> None:
    handled = Handled()
    inbox = Inbox(handled, slice_s=0.0)  # one read per slice
    reads = [("a", ["a1"]), ("b", ["b1"]), ("a", ["a2", "a3"]), ("c", ["c1"]), ("b", ["b2"])]
    for sender, messages in reads:
        inbox.put(sender, messages)
    assert handled == [] and len(inbox) == 5 and inbox.waiting_messages == 6
    between: list[int] = []
    asyncio.get_running_loop().call_soon(lambda: between.append(len(handled)))
    await turns(1)
    assert handled == [("a", "a1")]
    assert between == [1], "the loop ran another callback after one slice"
    await turns(len(reads))
    expected = [(sender, message) for sender, messages in reads for message in messages]
    assert handled == expected and len(inbox) == 0 and inbox.waiting_messages == 0
    assert inbox.deferred == 5


async def test_a_read_waits_behind_earlier_ones_even_within_the_budget() -> None:
    handled = Handled()
    inbox = Inbox(handled, slice_s=0.0)
    inbox.put("a", ["a1"])  # waits (no budget)
    inbox.slice_s = 60.0
    inbox.put("a", ["a2"])  # would fit the budget: it must not pass a1
    assert handled == []
    await turns(1)
    assert handled == [("a", "a1"), ("a", "a2")]


async def test_the_next_read_cycle_gets_a_budget_of_its_own() -> None:
    handled = Handled()
    inbox = Inbox(handled, slice_s=60.0)
    inbox.put("a", ["a1"])
    inbox._budget_ends = 1.0  # (this cycle's budget spent long ago)
    inbox.put("a", ["a2"])
    assert handled == [("a", "a1")]
    await turns(1)
    assert handled == [("a", "a1"), ("a", "a2")]
    inbox.put("a", ["a3"])  # a new cycle: handled at once again
    assert handled[-1] == ("a", "a3")


async def test_a_sender_going_away_has_its_waiting_reads_handled_first() -> None:
    handled = Handled()
    inbox = Inbox(handled, slice_s=0.0)
    for sender, message in [("a", "a1"), ("b", "b1"), ("a", "a2"), ("b", "b2")]:
        inbox.put(sender, [message])
    inbox.handle_from("b")
    assert handled == [("b", "b1"), ("b", "b2")]
    assert len(inbox) == 2 and inbox.waiting_messages == 2
    await turns(3)
    assert handled[2:] == [("a", "a1"), ("a", "a2")]
    inbox.handle_from("a")  # nothing waits: nothing happens
    assert len(handled) == 4


async def test_a_flood_past_the_bound_is_handled_at_once_in_order() -> None:
    handled = Handled()
    inbox = Inbox(handled, slice_s=0.0, max_waiting=3)
    inbox.put("a", ["a1", "a2"])
    inbox.put("b", ["b1"])
    assert handled == []
    inbox.put("a", ["a3"])  # 4 waiting would pass the bound
    assert handled == [("a", "a1"), ("a", "a2"), ("b", "b1"), ("a", "a3")]
    assert len(inbox) == 0 and inbox.waiting_messages == 0


async def test_waiting_bytes_past_the_bound_are_handled_at_once_in_order() -> None:
    handled = Handled()
    inbox = Inbox(handled, slice_s=0.0, max_waiting_bytes=100)
    inbox.put("a", ["a1"], 60)  # (a deferred log frame keeps its data)
    inbox.put("b", ["b1"], 30)
    assert handled == [] and inbox.waiting_bytes == 90
    inbox.put("a", ["a2"], 20)  # 110 bytes waiting would pass the bound
    assert handled == [("a", "a1"), ("b", "b1"), ("a", "a2")]
    assert len(inbox) == 0 and inbox.waiting_bytes == 0
    inbox.put("c", ["c1"], 50)
    inbox.handle_from("c")
    assert inbox.waiting_bytes == 0 and handled[-1] == ("c", "c1")


class Unscanned(deque[tuple[str, list[str], int]]):
    """The waiting reads, which a sender with nothing waiting must not cost a scan."""

    def __iter__(self) -> Iterator[tuple[str, list[str], int]]:
        raise AssertionError("the waiting reads were scanned")


async def test_a_sender_with_nothing_waiting_goes_away_without_a_scan() -> None:
    handled = Handled()
    inbox = Inbox(handled, slice_s=0.0)
    for sender, message in [("a", "a1"), ("b", "b1"), ("a", "a2")]:
        inbox.put(sender, [message])
    await turns(2)  # b's only read handled in its slice: b has nothing waiting now
    assert handled == [("a", "a1"), ("b", "b1")]
    waiting = inbox._waiting
    inbox._waiting = Unscanned(waiting)
    for sender in ["b", "c", "d"]:  # (a mass disconnect while backed up)
        inbox.handle_from(sender)
    inbox._waiting = waiting
    assert len(inbox) == 1 and handled == [("a", "a1"), ("b", "b1")]
    inbox.handle_from("a")
    assert handled[-1] == ("a", "a2") and len(inbox) == 0


async def test_a_failing_read_is_logged_and_the_next_one_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    handled = Handled()

    def handle(sender: str, messages: list[str]) -> None:
        if sender == "bad":
            raise RuntimeError("a bug")
        handled(sender, messages)

    inbox = Inbox(handle, slice_s=60.0)
    inbox.put("bad", ["x"])
    inbox.put("a", ["a1"])
    inbox.slice_s, inbox._budget_ends = 0.0, 1.0  # the rest waits for slices
    inbox.put("bad", ["y"])
    inbox.put("a", ["a2"])
    await turns(3)
    assert handled == [("a", "a1"), ("a", "a2")]
    assert caplog.text.count("action=inbox_handle_failed") == 2


async def test_an_empty_read_changes_nothing() -> None:
    handled = Handled()
    inbox = Inbox(handled, slice_s=0.0)
    inbox.put("a", [])
    assert len(inbox) == 0 and inbox.deferred == 0
