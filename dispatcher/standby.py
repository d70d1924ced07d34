"""Hot standby: a dispatcher process on PostgreSQL that leads its farm or stands by.

Every dispatcher started on a PostgreSQL store runs as a `HotStandby`. It tries
to take the lead (dispatcher/leadership.py): the one that holds the database's
leader lock runs a full `Dispatcher` whose store fences every batch with its
epoch; the others run a *standby* `Dispatcher`, which answers reads from the farm
as last read from the database (again every `standby_refresh_s`), redirects
writes to the leader (307) and refuses render clients naming the leader's render
address. A standby tries to take the lock every `standby_poll_s`; when it gets it
(the leader's session is gone: the leader died or was cut off), it closes its
standby parts and starts as leader, loading the farm as a restarting dispatcher
does (work in flight is reconciled by attempt numbers when the render clients
come back). A leader whose lock session is lost, or whose batch is fenced, steps
down at once (no assignment, render clients disconnected), closes, and starts
again as a standby in the same process. A store that fails for good stops the
process, as for a dispatcher alone.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from urllib.parse import urlsplit

from dispatcher.app import Dispatcher
from dispatcher.auth import Users
from dispatcher.config import Settings
from dispatcher.config_sources import Origin
from dispatcher.errors import CorralError
from dispatcher.event_relay import EventListener, EventSender, RelayCollector
from dispatcher.leadership import Leadership
from dispatcher.roles import LeaderInfo, Role
from dispatcher.store.pg_schema import DatabaseInUse
from dispatcher.tasks import cancel_all

log = logging.getLogger(__name__)


class HotStandby:
    """One dispatcher process of a farm of several on one PostgreSQL database, leader or
    standby by turns. `await start()`, then `await close()` (safe twice); `current` is
    the dispatcher of its present role."""

    def __init__(self, settings: Settings, *, origins: Mapping[str, Origin] | None = None) -> None:
        self.settings = settings
        self.origins = origins
        self.leadership = Leadership(settings.store, poll_s=settings.standby_poll_s)
        self.role = Role("standby")
        self.current: Dispatcher | None = None
        self.fatal: BaseException | None = None
        self.changes = 0  # role changes since start (for the log and the tests)
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._closed = asyncio.Event()
        self._refreshed = 0.0
        self._closing_task: asyncio.Task[None] | None = None
        # The leader's events sent to the standbys, or received from the leader
        # (dispatcher/event_relay.py).
        self.relay: EventSender | EventListener | None = None

    # -- what the command line reads -----------------------------------------
    def _dispatcher(self) -> Dispatcher:
        if self.current is None:
            raise RuntimeError("the dispatcher has not started")
        return self.current

    @property
    def users(self) -> Users:
        return self._dispatcher().users

    @property
    def render_address(self) -> tuple[str, int]:
        return self._dispatcher().render_address

    @property
    def http_url(self) -> str:
        return self._dispatcher().http_url

    # -- lifecycle -----------------------------------------------------------
    async def start(self) -> None:
        """Lead when the lock is free, else stand by once a leader has said where it is."""
        await self.leadership.open()
        alone = 0  # tries that found the lock held and no leader epoch
        while True:
            epoch = await self.leadership.try_take(*self._advertised(None))
            if epoch:
                await self._lead(epoch)
                break
            leader = await self.leadership.leader()
            # A dispatcher alone holding the lock under a dead leader's row: not a leader.
            held_alone = await self.leadership.held_alone()
            if leader.http_url and not held_alone:
                await self._stand_by(leader)
                break
            alone = alone + 1 if leader.epoch == 0 else 0
            # (a leader takes its epoch right after the lock: an epoch 0 thrice is not one)
            if held_alone or alone >= 3:
                raise DatabaseInUse(
                    f"another dispatcher uses the database {self.leadership.where} alone "
                    "(without --hot-standby): start every dispatcher of the farm with "
                    "--hot-standby",
                    path=self.leadership.where,
                )
            log.info("action=standby_wait: another dispatcher holds the lead and is starting")
            await asyncio.sleep(self.settings.standby_poll_s)
        self._task = asyncio.create_task(self._run(), name="hot-standby")
        self._task.add_done_callback(self._run_done)

    async def close(self) -> None:
        """Close the dispatcher of the present role and let the lead go. Safe twice."""
        if self._closing:
            await self._closed.wait()
            return
        self._closing = True
        task, self._task = self._task, None
        if task is not None:
            await cancel_all([task])
        try:
            await self._close_relay()
            if self.current is not None:
                await self.current.close()
        finally:
            await self.leadership.close()
            self._closed.set()

    async def wait_closed(self) -> None:
        await self._closed.wait()

    def _run_done(self, task: asyncio.Task[None]) -> None:
        """Supervision: the role loop ending by itself stops the process, loudly."""
        if task.cancelled() or self._closing:
            return
        exc = task.exception()
        if self.fatal is None:
            self.fatal = exc or RuntimeError("the hot-standby loop ended")
        log.critical("action=standby_loop_ended error=%r; the dispatcher stops", self.fatal)
        self._closing_task = asyncio.get_running_loop().create_task(
            self.close(), name="hot-standby-close"
        )

    # -- roles ---------------------------------------------------------------
    async def _lead(self, epoch: int) -> None:
        """Start as leader with `epoch` (the lock is held); on failure the lead goes."""
        url, render = self._advertised(self.current)
        self.role = Role("leader", epoch, LeaderInfo(epoch, url, render, time.time()))
        dispatcher = Dispatcher(self.settings, origins=self.origins, role=self.role)
        self.current = dispatcher
        try:
            await dispatcher.start()
            url, render = self._advertised(dispatcher)
            await self.leadership.advertise(url, render)
        except BaseException:
            await dispatcher.close()
            await self.leadership.release()
            raise
        self.role.leader = LeaderInfo(epoch, url, render, time.time())
        sender = EventSender(self.settings.store, dispatcher.bus, epoch)
        sender.start()
        self._relay_with(dispatcher, sender)
        log.warning("action=leading epoch=%d http=%s render=%s", epoch, url, render)

    async def _stand_by(self, leader: LeaderInfo) -> None:
        self.role = Role("standby", 0, leader)
        dispatcher = Dispatcher(self.settings, origins=self.origins, role=self.role)
        self.current = dispatcher
        try:
            await dispatcher.start()
        except BaseException:
            await dispatcher.close()
            raise
        self._refreshed = time.monotonic()
        listener = EventListener(
            self.settings.store,
            dispatcher.bus,
            lambda: self.role.leader.epoch,
            retry_s=self.settings.standby_poll_s,
        )
        await listener.start()
        self._relay_with(dispatcher, listener)
        log.warning(
            "action=standing_by leader_epoch=%d leader=%s", leader.epoch, leader.http_url or "-"
        )

    def _relay_with(self, dispatcher: Dispatcher, relay: EventSender | EventListener) -> None:
        self.relay = relay
        dispatcher.metrics.registry.register(RelayCollector(relay))

    async def _close_relay(self) -> None:
        relay, self.relay = self.relay, None
        if relay is not None:
            await relay.close()

    def _advertised(self, dispatcher: Dispatcher | None) -> tuple[str, str]:
        """(HTTP URL, render HOST:PORT) others reach this dispatcher at: --advertise-url
        (its host for the render port too), else its own listening addresses."""
        settings = self.settings
        url = settings.advertise_url.rstrip("/")
        if not url and dispatcher is not None:
            url = dispatcher.http_url
        if not url and settings.http_port:
            url = f"http://{_host(settings.http_host)}:{settings.http_port}"
        port = dispatcher.render_address[1] if dispatcher is not None else settings.port
        host = settings.host
        if settings.advertise_url or host in ("0.0.0.0", "::", ""):
            host = (urlsplit(url).hostname if url else None) or "127.0.0.1"
        render = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        return url, render if port else ""

    async def _run(self) -> None:
        """The role loop: a leader waits to lose the lead; a standby tries to take it."""
        while True:
            dispatcher = self._dispatcher()
            if self.role.name == "leader":
                await self._while_leading(dispatcher)
            else:
                await self._while_standing_by(dispatcher)

    async def _while_leading(self, dispatcher: Dispatcher) -> None:
        lost = asyncio.create_task(self.leadership.lost.wait(), name="leader-lost")
        closed = asyncio.create_task(dispatcher.wait_closed(), name="leader-closed")
        try:
            await asyncio.wait({lost, closed}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            await cancel_all([lost, closed])
        if dispatcher.fatal is not None:
            self.fatal = dispatcher.fatal
            raise RuntimeError(f"the store failed: {dispatcher.fatal}")
        reason = self.leadership.lost_reason or dispatcher.stepped_down or "it closed"
        lost_epoch = self.role.epoch
        await self._close_relay()
        dispatcher.step_down(reason)
        await dispatcher.wait_closed()
        await self.leadership.release()
        self.changes += 1
        log.warning("action=stepped_down reason=%s; standing by", reason)
        await self._stand_by_again(lost_epoch)

    async def _stand_by_again(self, lost_epoch: int) -> None:
        """Start as a standby after leading (or failing to), trying again every
        `standby_poll_s` while the database cannot be reached."""
        while True:
            try:
                leader = await self.leadership.leader()
                if leader.epoch <= lost_epoch:  # (its own row: no new leader yet)
                    leader = LeaderInfo(epoch=leader.epoch)
                await self._stand_by(leader)
                return
            except Exception as exc:  # (the database away: the driver's errors too)
                log.error("action=standby_start_failed error=%r; trying again", exc)
                await asyncio.sleep(self.settings.standby_poll_s)

    async def _while_standing_by(self, dispatcher: Dispatcher) -> None:
        await asyncio.sleep(self.settings.standby_poll_s)
        if dispatcher.fatal is not None:
            self.fatal = dispatcher.fatal
            raise RuntimeError(f"the store failed: {dispatcher.fatal}")
        try:
            epoch = await self.leadership.try_take(*self._advertised(dispatcher))
            if not epoch:
                self.role.leader = await self.leadership.leader()
        except (CorralError, OSError, TimeoutError) as exc:
            log.warning("action=standby_poll_failed error=%s; trying again", exc)
            return
        except Exception as exc:  # (the driver's errors: the database is away)
            log.warning("action=standby_poll_failed error=%r; trying again", exc)
            return
        if epoch:
            started = time.monotonic()
            await self._close_relay()
            await dispatcher.close()
            try:
                await self._lead(epoch)
            except Exception as exc:  # (the store's errors, and any the driver lets through)
                cause = exc.__cause__
                log.error(
                    "action=lead_start_failed error=%r cause=%r; standing by again", exc, cause
                )
                await self._stand_by_again(epoch)
                return
            self.changes += 1
            log.warning("action=took_lead epoch=%d start_s=%.3f", epoch, time.monotonic() - started)
            return
        if time.monotonic() - self._refreshed >= self.settings.standby_refresh_s:
            try:
                await dispatcher.refresh()
            except CorralError as exc:
                log.warning("action=standby_refresh_failed error=%s", exc)
            self._refreshed = time.monotonic()


def _host(host: str) -> str:
    if host in ("0.0.0.0", "::", ""):
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host
