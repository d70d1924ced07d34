"""The hook host's end of the pipe: a call watches briefly for its reply before it
sleeps in a blocking read, and the watch never takes what it saw."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest

from hooks import wire
from hooks.api.link import Link

pytestmark = pytest.mark.integration


@pytest.fixture
def pipe() -> Iterator[tuple[Link, socket.socket]]:
    ours, theirs = socket.socketpair()
    link = Link(ours)
    yield link, theirs
    link.close()
    theirs.close()


def test_the_watch_sees_data_waiting_and_leaves_it_to_the_read(
    pipe: tuple[Link, socket.socket],
) -> None:
    link, dispatcher = pipe
    began = time.perf_counter()
    assert link.watch(0.002) is False
    assert time.perf_counter() - began >= 0.002  # it watched for the whole time

    dispatcher.sendall(wire.encode(wire.ApiReply(1, 0, "", [42])))
    assert link.watch(1.0) is True
    assert link.receive() == wire.ApiReply(1, 0, "", [42])  # nothing was taken


def test_the_watch_ends_at_once_when_the_dispatcher_closed_the_pipe(
    pipe: tuple[Link, socket.socket],
) -> None:
    link, dispatcher = pipe
    dispatcher.close()
    began = time.perf_counter()
    assert link.watch(5.0) is True
    assert time.perf_counter() - began < 1.0
