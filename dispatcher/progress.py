"""The events of the changes the core makes by itself: job progress and node states.

Operations publish their own events. Render results, assignments, requeues and
nodes coming and going have no operation behind them, yet a console watching
the farm must see them. Nodes change rarely: each change is published at once.
Chunks change up to tens of thousands of times a second, so the queue only marks
the job (one set insertion); every `interval_s` the marked jobs are published,
one `ProgressEvent` each, once the store has committed what they show, a slice a
turn of the loop (`PUBLISH_SLICE`, or an eighth of what waits when that is more, so
that no backlog outlives `PUBLISH_TURNS` turns): each event goes to every open event
stream, and hundreds of jobs moving on under a thousand nodes, published in one step
to a hundred streams, would hold dispatch for tens of milliseconds.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable

from dispatcher.events import EventBus, NodeStateEvent, ProgressEvent
from dispatcher.model import Job, Node
from dispatcher.store import Store
from dispatcher.views import chunk_counts

log = logging.getLogger(__name__)

ACTOR = "system"
PUBLISH_SLICE = 16
"""Progress events published a turn of the loop at least (the rest wait, in order)."""
PUBLISH_TURNS = 8
"""Turns of the loop the events waiting are published in at most."""


class Progress:
    """Publishes job progress (coalesced per job) and node state changes on the bus.

    `jobs` is the queue's job table (read at publishing time); `interval_s` is read
    at every flush, so a changed setting takes effect at the next one.
    """

    def __init__(
        self,
        bus: EventBus,
        store: Store,
        jobs: dict[int, Job],
        interval_s: Callable[[], float],
    ) -> None:
        self.bus = bus
        self.store = store
        self.jobs = jobs
        self.interval_s = interval_s
        self._marked: set[int] = set()
        # Running chunks' progress of a job (wired to the queue by the app).
        self.running_of: Callable[[int], dict[str, float]] = lambda job_id: {}
        self._states: dict[int, str] = {}
        self._timer: asyncio.TimerHandle | None = None
        self._closed = False
        # Committed events not published yet, and the turn that publishes the next slice.
        self._unpublished: deque[ProgressEvent] = deque()
        self._per_turn = PUBLISH_SLICE
        self._publishing: asyncio.Handle | None = None

    # -- the hot path: one set insertion per chunk change ------------------------
    def job_moved(self, job: Job) -> None:
        """A chunk of `job` changed state (called by the queue)."""
        self._marked.add(job.id)
        if self._timer is None and not self._closed:
            self._timer = asyncio.get_running_loop().call_later(self.interval_s(), self._flush)

    def job_removed(self, job_id: int) -> None:
        self._marked.discard(job_id)
        self._states.pop(job_id, None)

    # -- publishing ---------------------------------------------------------------
    def _flush(self) -> None:
        self._timer = None
        marked, self._marked = self._marked, set()
        events = []
        for job_id in marked:
            job = self.jobs.get(job_id)
            if job is None:
                continue
            state = job.state.value
            action = "job_progress" if self._states.get(job_id) == state else "job_state"
            self._states[job_id] = state
            events.append(
                ProgressEvent(
                    action=action, actor=ACTOR, job=job_id, state=state, chunks=chunk_counts(job),
                    running=self.running_of(job_id),
                )
            )  # fmt: skip
        if not events:
            return

        def publish(done: asyncio.Future[None]) -> None:
            if done.cancelled() or done.exception() is not None:
                # Refused and taken back: what these events say did not happen.
                log.debug("action=progress_not_published jobs=%d", len(events))
                return
            if self._closed:
                return
            self._unpublished.extend(events)
            self._per_turn = max(PUBLISH_SLICE, -(-len(self._unpublished) // PUBLISH_TURNS))
            if self._publishing is None:
                self._publish_slice()

        self.store.commit_future().add_done_callback(publish)

    def _publish_slice(self) -> None:
        """Publish the oldest committed events, a turn's share; the next turn goes on."""
        self._publishing = None
        waiting = self._unpublished
        jobs = self.jobs
        for _ in range(self._per_turn):
            if not waiting:  # all out, or cleared by a close() of a subscriber's
                break
            event = waiting.popleft()
            if event.job in jobs:  # (a job deleted since: its removal was the last word)
                self.bus.publish(event)
        if waiting and not self._closed:
            self._publishing = asyncio.get_running_loop().call_soon(self._publish_slice)

    def node_changed(self, node: Node, action: str) -> None:
        """A node came online, went offline, was lost or disconnected."""
        if not self._closed:
            self.bus.publish(
                NodeStateEvent(action=action, actor=ACTOR, node=node.id, name=node.label)
            )

    def close(self) -> None:
        """Publish nothing more (the dispatcher is closing). Safe twice."""
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._publishing is not None:
            self._publishing.cancel()
            self._publishing = None
        self._unpublished.clear()
