"""The change events the farm operations publish, and the in-process bus that carries them.

Every operation that changes the farm publishes exactly one event after its
change is durable. An event names the action (the same word the action log
records), who did it and what it touched; the live event stream, the metrics
and the web console subscribe to the bus. A subscriber that raises is logged
and dropped from that delivery: it can never fail or delay the operation.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import msgspec

log = logging.getLogger(__name__)

RECENT_EVENTS = 1024


class Event(msgspec.Struct, kw_only=True, tag_field="type"):
    """What every event carries: the action's name, the actor's name and when."""

    action: str
    actor: str
    time: float = msgspec.field(default_factory=time.time)


class JobEvent(Event, tag="job"):
    """Jobs were submitted, edited, moved, paused, resumed, reinitialised or deleted."""

    jobs: list[int]
    fields: list[str] = []


class ChunkEvent(Event, tag="chunk"):
    """A chunk's state was set by an operator."""

    job: int
    chunk: int
    state: str


class NodeEvent(Event, tag="node"):
    """A node action: `nodes` the nodes touched, `job` when the action was about a job."""

    nodes: list[int]
    job: int | None = None
    ok: bool = True


class AccountEvent(Event, tag="account"):
    """A user, group, pool or repository was added, changed or removed."""

    kind: str
    name: str


class SystemEvent(Event, tag="system"):
    """A dispatcher-wide change: settings, engine, templates, logs, queue import."""

    detail: dict[str, Any] = {}


AnyEvent = JobEvent | ChunkEvent | NodeEvent | AccountEvent | SystemEvent
Subscriber = Callable[[Event], None]

_encoder = msgspec.json.Encoder()


def encode(event: Event) -> bytes:
    """An event as JSON (its `type` tag first), as the event stream sends it."""
    return _encoder.encode(event)


class EventBus:
    """Synchronous publish/subscribe on the dispatcher loop, with the last events kept."""

    def __init__(self, keep: int = RECENT_EVENTS) -> None:
        self._subscribers: list[Subscriber] = []
        self.recent: deque[Event] = deque(maxlen=keep)
        self.published = 0

    def subscribe(self, subscriber: Subscriber) -> Callable[[], None]:
        """Call `subscriber` with every event from now on; returns the unsubscribe function."""
        self._subscribers.append(subscriber)

        def unsubscribe() -> None:
            if subscriber in self._subscribers:
                self._subscribers.remove(subscriber)

        return unsubscribe

    def publish(self, event: Event) -> None:
        self.published += 1
        self.recent.append(event)
        for subscriber in list(self._subscribers):
            try:
                subscriber(event)
            except Exception:  # a subscriber's bug never reaches the operation
                log.exception(
                    "action=event_subscriber_failed event=%s subscriber=%r",
                    event.action,
                    subscriber,
                )
