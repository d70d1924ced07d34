"""The live event stream's operation: open a filtered stream of the farm's events.

Every user may follow the events (they carry ids, actions and actor names, the
same as the listings show). The number of open streams is bounded
(`events_max_streams`); past it a new one is refused with `Busy` (503).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from dispatcher.errors import Busy
from dispatcher.operations.actor import Actor
from dispatcher.operations.farm import Area
from dispatcher.streams import EventFilter, Item, Stream


@dataclass
class Opened:
    """A new stream; `replay` the kept events after the client's last one, `missed`
    when some of those are no longer kept (the client should reload what it shows);
    `last_seq` the number of the last event published so far."""

    stream: Stream
    replay: list[Item]
    missed: bool
    last_seq: int


class EventOperations(Area):
    def open_stream(
        self,
        actor: Actor,
        *,
        jobs: Iterable[int] = (),
        nodes: Iterable[int] = (),
        kinds: Iterable[str] = (),
        after: int | None = None,
    ) -> Opened:
        """Follow the events that match the filters, from `after` (an event number) on."""
        farm = self.farm
        settings = farm.settings
        streams = farm.streams
        if streams.closing:
            raise Busy("the dispatcher is shutting down", "events_max_streams")
        if len(streams.open) >= settings.events_max_streams:
            raise Busy(
                f"{len(streams.open)} event streams are open, the most this dispatcher "
                f"serves (events_max_streams); try again later",
                "events_max_streams",
            )
        wanted = EventFilter(frozenset(jobs), frozenset(nodes), frozenset(kinds))
        stream, replay, missed = streams.start(
            wanted, after, limit=settings.events_queue_events, who=actor.name
        )
        return Opened(stream, replay, missed, farm.bus.last_seq)

    def keepalive_s(self, actor: Actor) -> float:
        """How often an idle stream gets a comment line (events_keepalive_s)."""
        return self.farm.settings.events_keepalive_s

    def end_streams(self, reason: str) -> None:
        """End every open stream (the HTTP server is shutting down)."""
        self.farm.streams.end_all(reason)
