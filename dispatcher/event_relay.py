"""Relaying the leader's change events to its standbys (hot standby on PostgreSQL).

The leader's `EventSender` subscribes to its event bus and sends every event's
encoded form with PostgreSQL's NOTIFY on the `corral_events` channel, from a
supervised task on a connection of its own. Publishing on the bus only appends
the encoded event to a bounded queue: when the database is slow or away and the
queue is full, the event is dropped and counted (`dropped`, the metric
`corral_event_relay_dropped_total`, a warning in the log at most every few
seconds); an operation never waits for the relay.

A standby's `EventListener` LISTENs on that channel on a connection of its own and
publishes each event into the standby's own bus, so that its `/api/v1/events`
subscribers see the leader's changes (numbered by the standby's bus: a
Last-Event-ID resumes within the standby's own memory of events).

A payload is `EPOCH NUMBER JSON`: the leader's epoch, the event's number among
those its sender numbered, the event as the stream sends it. NOTIFY takes payloads under 8,000 bytes; an event whose encoded form is
longer (a job event naming thousands of jobs) is sent as a `system` event
`event_too_big` naming the event's type, action, actor and size, so that a
subscriber knows to read the farm again. Events sent while a standby's listening
connection is down are not replayed to it (it reconnects and goes on); a notice
from an epoch older than the leader the standby knows is ignored.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable, Iterator

import asyncpg
import msgspec
from prometheus_client.core import CounterMetricFamily, Metric

from dispatcher.errors import CorralError
from dispatcher.events import AnyEvent, Event, EventBus, SystemEvent, encode, kind
from dispatcher.store.pg_schema import close_quietly, connect
from dispatcher.tasks import cancel_all

log = logging.getLogger(__name__)

CHANNEL = "corral_events"
MAX_PAYLOAD_BYTES = 7900  # PostgreSQL's limit is 8,000 bytes, the epoch prefix included
QUEUE_EVENTS = 4096
BATCH_EVENTS = 256
DROP_LOG_INTERVAL_S = 5.0
_DB_ERRORS = (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError)
_decoder = msgspec.json.Decoder(AnyEvent)


def payload(epoch: int, number: int, event: Event) -> tuple[str, bool]:
    """What NOTIFY carries for `event`, the `number`th the leader sent: `EPOCH NUMBER
    JSON` (the number keeps two equal events from being merged into one notice, and
    shows a standby the notices it missed), and whether the event was too big and is
    sent as an `event_too_big` marker."""
    body = encode(event)
    too_big = len(body) + 48 > MAX_PAYLOAD_BYTES
    if too_big:
        body = encode(
            SystemEvent(
                action="event_too_big",
                actor=event.actor,
                time=event.time,
                detail={"type": kind(event), "action": event.action, "bytes": len(body)},
            )
        )
    return f"{epoch} {number} {body.decode()}", too_big


def parse(text: str) -> tuple[int, int, Event]:
    """(epoch, number, event) of a payload; ValueError when it is not one."""
    epoch, number, body = (text.split(" ", 2) + ["", ""])[:3]
    try:
        return int(epoch), int(number), _decoder.decode(body)
    except msgspec.DecodeError as exc:
        raise ValueError(f"not an event: {exc}") from exc


class EventSender:
    """The leader's side: its bus's events sent on the channel. `start()` subscribes and
    starts the sending task; `close()` (safe twice) stops both."""

    def __init__(
        self,
        url: str,
        bus: EventBus,
        epoch: int,
        *,
        timeout_s: float = 5.0,
        max_queued: int = QUEUE_EVENTS,
    ) -> None:
        self.url = url
        self.max_queued = max_queued
        self.bus = bus
        self.epoch = epoch
        self.timeout_s = timeout_s
        self.queue: deque[str] = deque()
        self.numbered = 0  # events numbered for the channel (sent or dropped)
        self.sent = 0
        self.dropped = 0
        self.oversized = 0
        self.restarts = 0
        self._wake = asyncio.Event()
        self._unsubscribe: Callable[[], None] | None = None
        self._task: asyncio.Task[None] | None = None
        self._conn: asyncpg.Connection | None = None
        self._closed = False
        self._drop_logged = 0.0

    def start(self) -> None:
        if self._task is not None:
            return
        self._unsubscribe = self.bus.subscribe(self._queue)
        self._start_task()

    def _start_task(self) -> None:
        self._task = asyncio.create_task(self._send_loop(), name="event-relay-send")
        self._task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        """Supervision: a sending task that died of a bug is logged and restarted."""
        if task.cancelled() or self._closed:
            return
        log.error("action=event_relay_send_died error=%r; restarting it", task.exception())
        self.restarts += 1
        asyncio.get_running_loop().call_later(0.5, self._restart)

    def _restart(self) -> None:
        if not self._closed:
            self._start_task()

    def _queue(self, event: Event) -> None:
        """The bus subscriber: never blocks; a full queue drops the event and counts it
        (its number is spent: the standbys see the gap)."""
        self.numbered += 1
        if len(self.queue) >= self.max_queued:
            self.dropped += 1
            now = time.monotonic()
            if now - self._drop_logged >= DROP_LOG_INTERVAL_S:
                self._drop_logged = now
                log.warning(
                    "action=event_relay_dropped dropped=%d: the database takes notices too "
                    "slowly; standbys miss these events",
                    self.dropped,
                )
            return
        text, too_big = payload(self.epoch, self.numbered, event)
        self.oversized += too_big
        self.queue.append(text)
        self._wake.set()

    async def _send_loop(self) -> None:
        while not self._closed:
            if not self.queue:
                self._wake.clear()
                await self._wake.wait()
                continue
            batch = [self.queue.popleft() for _ in range(min(BATCH_EVENTS, len(self.queue)))]
            try:
                conn = await self._connection()
                await conn.execute(
                    "SELECT pg_notify($1, text) FROM unnest($2::text[]) AS notices(text)",
                    CHANNEL, batch, timeout=self.timeout_s,
                )  # fmt: skip
                self.sent += len(batch)
            except (*_DB_ERRORS, CorralError) as exc:  # (StartupError: cannot connect)
                self.dropped += len(batch)
                log.warning(
                    "action=event_relay_send_failed events=%d dropped=%d error=%r",
                    len(batch), self.dropped, exc,
                )  # fmt: skip
                await self._drop_connection()
                await asyncio.sleep(1.0)

    async def _connection(self) -> asyncpg.Connection:
        if self._conn is None or self._conn.is_closed():
            self._conn = await connect(self.url, timeout_s=self.timeout_s)
        return self._conn

    async def _drop_connection(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            await close_quietly(conn)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._unsubscribe is not None:
            self._unsubscribe()
        task, self._task = self._task, None
        if task is not None:
            await cancel_all([task])
        await self._drop_connection()


class EventListener:
    """A standby's side: the channel's events published into its own bus. `start()`
    connects (raises on failure); a lost connection is made again by a supervised
    task every `retry_s`. `close()` is safe twice."""

    def __init__(
        self,
        url: str,
        bus: EventBus,
        leader_epoch: Callable[[], int],
        *,
        retry_s: float = 1.0,
        timeout_s: float = 5.0,
    ) -> None:
        self.url = url
        self.bus = bus
        self.leader_epoch = leader_epoch
        self.retry_s = retry_s
        self.timeout_s = timeout_s
        self.received = 0
        self.ignored = 0
        self.missed = 0  # notices a gap in the leader's numbers shows were not received
        self.reconnects = 0
        self._last: tuple[int, int] = (0, 0)  # (epoch, number) of the last notice
        self._conn: asyncpg.Connection | None = None
        self._task: asyncio.Task[None] | None = None
        self._closed = False

    async def start(self) -> None:
        """Listen (a failure is logged: the watcher tries again every `retry_s`)."""
        try:
            await self._listen()
        except Exception as exc:  # (StartupError: the database away)
            log.warning("action=event_relay_listen_failed error=%s; trying again", exc)
        self._task = asyncio.create_task(self._watch(), name="event-relay-listen")
        self._task.add_done_callback(self._task_done)

    async def _listen(self) -> None:
        conn = await connect(self.url, timeout_s=self.timeout_s)
        try:
            await conn.add_listener(CHANNEL, self._notified)
        except BaseException:
            await close_quietly(conn)
            raise
        self._conn = conn

    def _notified(self, conn: object, pid: int, channel: str, text: str) -> None:
        try:
            epoch, number, event = parse(text)
        except ValueError as exc:
            self.ignored += 1
            log.warning("action=event_relay_bad_notice error=%s", exc)
            return
        if epoch < self.leader_epoch():  # (a leader that has since lost the lead)
            self.ignored += 1
            return
        last_epoch, last_number = self._last
        if epoch == last_epoch and number > last_number + 1:
            self.missed += number - last_number - 1
            log.warning(
                "action=event_relay_missed events=%d epoch=%d", number - last_number - 1, epoch
            )
        self._last = (epoch, number)
        self.received += 1
        self.bus.publish(event)

    async def _watch(self) -> None:
        """Ping the listening connection every `retry_s`; listen again when it is lost."""
        while not self._closed:
            await asyncio.sleep(self.retry_s)
            conn = self._conn
            try:
                if conn is None or conn.is_closed():
                    raise ConnectionError("the listening connection is closed")
                await conn.fetchval("SELECT 1", timeout=self.timeout_s)
                continue
            except _DB_ERRORS as exc:
                log.warning("action=event_relay_listen_lost error=%r; listening again", exc)
            self._conn = None
            if conn is not None:
                await close_quietly(conn)
            try:
                await self._listen()
                self.reconnects += 1
            except Exception as exc:  # (StartupError: the database away)
                log.warning("action=event_relay_listen_failed error=%s; trying again", exc)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        """Supervision: a watcher that died of a bug is logged and restarted."""
        if task.cancelled() or self._closed:
            return
        log.error("action=event_relay_listen_died error=%r; restarting it", task.exception())
        self._task = asyncio.get_running_loop().create_task(
            self._watch(), name="event-relay-listen"
        )
        self._task.add_done_callback(self._task_done)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        task, self._task = self._task, None
        if task is not None:
            await cancel_all([task])
        conn, self._conn = self._conn, None
        if conn is not None:
            await close_quietly(conn)


class RelayCollector:
    """The relay's counters for /metrics (registered on the dispatcher's registry)."""

    def __init__(self, relay: EventSender | EventListener) -> None:
        self.relay = relay

    def collect(self) -> Iterator[Metric]:
        relay = self.relay
        if isinstance(relay, EventSender):
            counts = {
                "sent": ("events sent to the standbys (NOTIFY)", relay.sent),
                "dropped": ("events not sent: the database slow or away", relay.dropped),
                "oversized": ("events sent as event_too_big markers", relay.oversized),
            }
        else:
            counts = {
                "received": ("the leader's events published on this standby", relay.received),
                "ignored": ("notices ignored (malformed, or of an older epoch)", relay.ignored),
                "missed": ("the leader's events this standby did not receive", relay.missed),
            }
        for name, (text, value) in counts.items():
            yield CounterMetricFamily(f"corral_event_relay_{name}", text, value=value)
