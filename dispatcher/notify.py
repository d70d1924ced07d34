"""Notifications: a job's notified users are told when it ends or is deleted.

The `Notifier` is told of a job's end by the queue (`on_finished`: done or failed)
and of its deletion by the queue (`on_deleted`, which keeps what the job was) and
then by the event bus (the `delete` event, published once the deletion is durable:
a deletion the store refused notifies nobody). Each user whose entry asks for that
event gets one notice per way to reach them: an e-mail to their account's address
and a POST to the entry's webhook URL.

Notices wait in a bounded queue. One supervised task, `notifier`, takes them and
sends up to `notify_concurrency` at once, each within `notify_timeout_s`; a failed
send is tried again after a pause that doubles from `notify_retry_s`, at most
`notify_attempts` times in all, then given up with a log line. Nothing here ever
waits on the event loop's behalf: the operations only append to the queue. A
notice still waiting when the dispatcher stops is logged and dropped (notices are
not stored), and one whose job ended just before a crash may be sent again when
the restarted dispatcher sees the job end again (at least once, not exactly once).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from dispatcher.auth import Users
from dispatcher.config import Settings
from dispatcher.events import Event, JobEvent
from dispatcher.model import Job, Status
from dispatcher.notified import entries
from dispatcher.notify_send import MailServer, NotConfigured, Senders, SendFailed, Undeliverable
from dispatcher.tasks import cancel_all
from dispatcher.views import iso

log = logging.getLogger(__name__)

# What each entry flag asks for, and the word a notice uses for it.
DONE, FAILED, DELETED = "done", "failed", "deleted"
FLAG = {DONE: "on_success", FAILED: "on_failure", DELETED: "on_deletion"}
# A deletion the bus has not confirmed after this long was refused by the store.
UNCONFIRMED_DELETE_S = 120.0
MAX_TITLE_IN_SUBJECT = 200
RESTART_PAUSE_MAX_S = 5.0


@dataclass(slots=True)
class Notice:
    """One message to one address: `channel` is "email" or "webhook"."""

    channel: str
    address: str
    username: str
    event: str
    job: dict[str, Any]
    actor: str = ""
    attempt: int = 1
    queued: float = field(default_factory=time.monotonic)


def job_summary(job: Job) -> dict[str, Any]:
    """What a notice says of its job (taken when the event happens)."""
    return {
        "id": job.id,
        "title": job.title,
        "user": job.user,
        "state": job.state.value,
        "uuid": job.uuid,
        "time_submitted": iso(job.time_submitted),
        "time_finished": iso(job.time_finished),
        "failed_reason": job.failed_reason,
        "chunks": job.chunk_count,
    }


def subject(notice: Notice) -> str:
    title = " ".join(str(notice.job["title"]).split())[:MAX_TITLE_IN_SUBJECT]
    return f'Corral: job {notice.job["id"]} "{title}" {notice.event}'


def mail_body(notice: Notice) -> str:
    job = notice.job
    lines = [
        f'Job {job["id"]} "{job["title"]}" of {job["user"]} is {notice.event}.',
        "",
        f"state: {job['state']}",
        f"submitted: {job['time_submitted']}",
    ]
    if job["time_finished"]:
        lines.append(f"finished: {job['time_finished']}")
    if job["failed_reason"]:
        lines.append(f"reason: {job['failed_reason']}")
    if notice.actor:
        lines.append(f"deleted by: {notice.actor}")
    lines += ["", f"You get this because {notice.username} is a notified user of this job."]
    return "\n".join(lines) + "\n"


def webhook_payload(notice: Notice) -> dict[str, Any]:
    payload = {"event": notice.event, "username": notice.username, "job": notice.job}
    payload["time"] = iso(time.time())
    if notice.actor:
        payload["actor"] = notice.actor
    return payload


class Notifier:
    """The notification service: `start()`, `close()` (both safe twice)."""

    def __init__(self, settings: Callable[[], Settings], users: Users) -> None:
        self._settings = settings
        self._users = users
        first = settings()
        self._queue: asyncio.Queue[Notice] = asyncio.Queue(first.notify_queue_max)
        self._senders = Senders(first.notify_concurrency)
        self._slots = asyncio.Semaphore(first.notify_concurrency)
        self._sending: set[asyncio.Task[None]] = set()
        self._retries: set[asyncio.TimerHandle] = set()
        self._deleting: dict[int, tuple[float, list[Notice]]] = {}
        self._task: asyncio.Task[None] | None = None
        self._running = False
        self.restarts = 0
        self.stats: Counter[str] = Counter()

    # -- what happened ---------------------------------------------------------------
    def job_finished(self, job: Job) -> None:
        """The queue saw the job end (every chunk done, skipped or failed)."""
        if not job.notified_users:
            return
        event = DONE if job.state is Status.DONE else FAILED
        for notice in self._notices(job, event):
            self._put(notice)

    def job_deleted(self, job: Job) -> None:
        """The queue removed the job; its notices wait for the bus to confirm the deletion."""
        if not job.notified_users:
            return
        now = time.monotonic()
        for job_id in [
            key for key, (at, _) in self._deleting.items() if now - at > UNCONFIRMED_DELETE_S
        ]:
            del self._deleting[job_id]  # its deletion was refused: the job is back
        notices = self._notices(job, DELETED)
        if notices:
            self._deleting[job.id] = (now, notices)

    def on_event(self, event: Event) -> None:
        """The bus subscriber: a durable deletion releases its notices."""
        if not isinstance(event, JobEvent) or event.action != "delete":
            return
        for job_id in event.jobs:
            _, notices = self._deleting.pop(job_id, (0.0, []))
            for notice in notices:
                notice.actor = event.actor
                self._put(notice)

    def _notices(self, job: Job, event: str) -> list[Notice]:
        summary = job_summary(job)
        notices = []
        for entry in entries(job):
            if not entry[FLAG[event]]:
                continue
            name = entry["username"]
            user = self._users.users.get(name)
            if user is None:  # an account removed since: its entry is ignored
                log.warning(
                    "action=notify_skipped job=%d user=%s reason=no_such_user", job.id, name
                )
                continue
            if user.email:
                notices.append(Notice("email", user.email, name, event, summary))
            elif not entry["webhook"]:
                log.warning("action=notify_skipped job=%d user=%s reason=no_address", job.id, name)
            if entry["webhook"]:
                notices.append(Notice("webhook", entry["webhook"], name, event, summary))
        return notices

    def _put(self, notice: Notice) -> None:
        if not self._running:
            self.stats["dropped"] += 1
            log.warning("action=notify_dropped reason=stopped %s", _describe(notice))
            return
        try:
            self._queue.put_nowait(notice)
        except asyncio.QueueFull:
            self.stats["dropped"] += 1
            log.error("action=notify_dropped reason=queue_full %s", _describe(notice))

    # -- lifecycle ---------------------------------------------------------------------
    async def start(self) -> None:
        if self._task is not None:
            return
        await self._senders.start()
        self._running = True
        self._task = asyncio.get_running_loop().create_task(self._supervise(), name="notifier")

    async def close(self) -> None:
        """Stop taking notices, let those being sent finish within shutdown_grace_s, then
        cancel the rest; notices still waiting are logged and dropped."""
        if self._task is None:
            return
        self._running = False
        await cancel_all([self._task])
        self._task = None
        for handle in self._retries:
            handle.cancel()
        waiting = self._queue.qsize() + len(self._retries)
        self._retries.clear()
        while not self._queue.empty():
            self._queue.get_nowait()
        if self._sending:
            _, pending = await asyncio.wait(
                self._sending, timeout=self._settings().shutdown_grace_s
            )
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending, timeout=self._settings().cancel_deadline_s)
        if waiting:
            self.stats["dropped"] += waiting
            log.warning("action=notify_dropped reason=stopping count=%d", waiting)
        await self._senders.close()

    async def _supervise(self) -> None:
        """Run the worker; a worker that dies is logged and started again."""
        while True:
            began = time.monotonic()
            try:
                await self._work()
            except asyncio.CancelledError:
                raise
            except Exception:
                if time.monotonic() - began > 60.0:
                    self.restarts = 0
                self.restarts += 1
                pause = min(0.05 * 2 ** min(self.restarts, 10), RESTART_PAUSE_MAX_S)
                log.exception(
                    "action=notify_worker_died restarts=%d pause_s=%.2f", self.restarts, pause
                )
                await asyncio.sleep(pause)

    async def _work(self) -> None:
        while True:
            await self._slots.acquire()
            try:
                notice = await self._queue.get()
                name = f"notify-{notice.channel}-{notice.job['id']}"
                task = asyncio.get_running_loop().create_task(self._send(notice), name=name)
            except BaseException:
                self._slots.release()
                raise
            self._sending.add(task)
            task.add_done_callback(self._sending.discard)

    # -- sending -----------------------------------------------------------------------
    async def _send(self, notice: Notice) -> None:
        settings = self._settings()
        try:
            if notice.channel == "email":
                await self._senders.mail(
                    MailServer.of(settings), notice.address, subject(notice), mail_body(notice)
                )
            elif notice.channel == "webhook":
                await self._senders.webhook(
                    notice.address, webhook_payload(notice), settings.notify_timeout_s
                )
            else:
                raise AssertionError(f"unknown channel {notice.channel!r}")
        except NotConfigured as exc:
            self.stats["not_configured"] += 1
            log.warning("action=notify_not_configured %s error=%r", _describe(notice), str(exc))
        except Undeliverable as exc:
            self.stats["undeliverable"] += 1
            log.warning("action=notify_undeliverable %s error=%r", _describe(notice), str(exc))
        except SendFailed as exc:
            self._failed(notice, str(exc), settings)
        except Exception as exc:  # a bug of ours: logged with its traceback, retried
            log.exception("action=notify_error %s", _describe(notice))
            self._failed(notice, repr(exc), settings)
        else:
            self.stats["sent"] += 1
            log.info("action=notify_sent %s", _describe(notice))
        finally:
            self._slots.release()

    def _failed(self, notice: Notice, error: str, settings: Settings) -> None:
        self.stats["failed"] += 1
        if notice.attempt >= settings.notify_attempts or not self._running:
            self.stats["gave_up"] += 1
            log.error("action=notify_gave_up %s error=%r", _describe(notice), error)
            return
        pause = settings.notify_retry_s * 2 ** (notice.attempt - 1)
        log.warning("action=notify_retry %s pause_s=%.1f error=%r", _describe(notice), pause, error)
        notice.attempt += 1
        handle: asyncio.TimerHandle | None = None

        def again() -> None:
            self._retries.discard(handle)  # type: ignore[arg-type]
            self._put(notice)

        handle = asyncio.get_running_loop().call_later(pause, again)
        self._retries.add(handle)


def _describe(notice: Notice) -> str:
    return (
        f"channel={notice.channel} job={notice.job['id']} event={notice.event} "
        f"user={notice.username} to={_shown(notice)!r} attempt={notice.attempt}"
    )


def _shown(notice: Notice) -> str:
    """The address as the log shows it: a webhook without its query or credentials, which
    may hold a secret."""
    if notice.channel != "webhook":
        return notice.address
    parts = urlsplit(notice.address)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"
