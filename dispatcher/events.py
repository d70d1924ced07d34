"""The change events the farm operations publish, and the in-process bus that carries them.

Every operation that changes the farm publishes exactly one event after its
change is durable. An event names the action (the same word the action log
records), who did it and what it touched. The core's own changes (render
results, nodes coming and going) are published as `CoreEvent`s by
dispatcher/progress.py. The live event stream (dispatcher/streams.py) and the
web console subscribe to the bus. A subscriber that raises is logged and
dropped from that delivery: it can never fail or delay the operation.
"""

from __future__ import annotations

import itertools
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


class CoreEvent(Event):
    """A change the core made by itself, with no operation behind it (render results,
    nodes coming and going); its actor is `system`."""


class ProgressEvent(CoreEvent, tag="progress"):
    """Where a job stands after its chunks moved on by themselves (assigned, finished,
    failed, requeued). Published at most once per job per `events_progress_interval_s`,
    after the change is durable. `action` is `job_state` when the job's state differs
    from its previous progress event (or it has none), `job_progress` otherwise."""

    job: int
    state: str
    chunks: dict[str, int]
    # Running chunks' percent as their render clients read it from the log, by index.
    running: dict[str, float] = {}


class NodeStateEvent(CoreEvent, tag="node_state"):
    """A node came online, went offline (silent), was lost, or disconnected:
    `action` is node_online, node_offline, node_lost or node_disconnected."""

    node: int
    name: str


AnyEvent = (
    JobEvent | ChunkEvent | NodeEvent | AccountEvent | SystemEvent | ProgressEvent | NodeStateEvent
)
Subscriber = Callable[[Event], None]

_encoder = msgspec.json.Encoder()


def encode(event: Event) -> bytes:
    """An event as JSON (its `type` tag first), as the event stream sends it."""
    return _encoder.encode(event)


def kind(event: Event) -> str:
    """An event's kind: its type tag (`job`, `node`, `progress`, ...)."""
    return event.__struct_config__.tag  # type: ignore[return-value]


class EventBus:
    """Synchronous publish/subscribe on the dispatcher loop, with the last events kept.

    Every event has a sequence number, one more than the event before. A bus starts
    its numbers at the microseconds since the epoch at its creation, so the numbers of
    a restarted dispatcher are above every number of its earlier runs: a client that
    resumes with a number the bus does not know learns it missed events (`since`).
    """

    def __init__(self, keep: int = RECENT_EVENTS) -> None:
        self._subscribers: list[Subscriber] = []
        self.recent: deque[Event] = deque(maxlen=keep)
        self.published = 0
        self.first_seq = time.time_ns() // 1000

    @property
    def last_seq(self) -> int:
        """The sequence number of the last event published (first_seq - 1: none yet)."""
        return self.first_seq + self.published - 1

    def since(self, seq: int) -> list[tuple[int, Event]] | None:
        """The kept events after `seq` with their numbers; None when some of those were
        not kept (too old) or `seq` is none of this bus's numbers (another run's)."""
        last = self.last_seq
        if seq > last or seq < self.first_seq - 1:
            return None
        oldest = last - len(self.recent) + 1
        if seq < oldest - 1:
            return None
        skip = seq - oldest + 1
        kept = itertools.islice(self.recent, skip, None)
        return [(seq + 1 + index, event) for index, event in enumerate(kept)]

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
