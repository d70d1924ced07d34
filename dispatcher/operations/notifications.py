"""Notified users: who is told when a job ends or is deleted (PyFarm's notified_users).

These operations keep each job's list (dispatcher/notified.py has its shape); the
sending is dispatcher/notify.py's service.
"""

from __future__ import annotations

from typing import Any

from dispatcher.errors import NotFound, ValidationError
from dispatcher.events import JobEvent
from dispatcher.model import Job
from dispatcher.notified import (
    MAX_NOTIFIED_PER_JOB,
    MAX_USERNAME_CHARS,
    NotifiedUserBody,
    entries,
    parse_entry,
    view,
    views,
)
from dispatcher.operations.actor import Actor
from dispatcher.operations.farm import Area

__all__ = ["NotificationOperations", "NotifiedUserBody"]


class NotificationOperations(Area):
    def _view(self, entry: dict[str, Any]) -> dict[str, Any]:
        return view(entry, self.farm.users.users)

    def notified_users(self, actor: Actor, key: int | str) -> list[dict[str, Any]]:
        """The job's notified users: `{id, username, email, on_success, on_failure,
        on_deletion, webhook}` each (`email` null when the user has none)."""
        job = self.farm.queue.get(key)
        return views(job, self.farm.users.users)

    async def add_notified_user(
        self, actor: Actor, key: int | str, body: Any
    ) -> tuple[dict[str, Any], bool]:
        """Add a user to the job's list (or change the events of one already there).
        Returns the entry's view and whether it is new. NotFound for an unknown user."""
        job = self.farm.queue.get(key)
        actor.may_manage(job)
        wanted = parse_entry(body)
        if wanted.username not in self.farm.users.users:
            raise NotFound(f"no user named {wanted.username!r}")
        self.writable()
        current = entries(job)
        fields = wanted.model_dump()
        old = next((entry for entry in current if entry["username"] == wanted.username), None)
        if old is not None:
            old.update(fields)
            entry = old
        else:
            if len(current) >= MAX_NOTIFIED_PER_JOB:
                raise ValidationError(
                    f"notified_users: at most {MAX_NOTIFIED_PER_JOB} per job", field="username"
                )
            entry = {"id": max((item["id"] for item in current), default=0) + 1, **fields}
            current.append(entry)
        self._store(job, current)
        action = "notified_user_add" if old is None else "notified_user_change"
        await self._finish(actor, job, action, wanted.username)
        return self._view(entry), old is None

    async def remove_notified_user(self, actor: Actor, key: int | str, username: str) -> bool:
        """Take a user off the job's list; False when they were not on it. NotFound for a
        user who is neither on the list nor an account."""
        job = self.farm.queue.get(key)
        actor.may_manage(job)
        current = entries(job)
        kept = [entry for entry in current if entry["username"] != username]
        if len(kept) == len(current):
            if username not in self.farm.users.users:
                raise NotFound(f"no user named {username[:MAX_USERNAME_CHARS]!r}")
            return False
        self.writable()
        self._store(job, kept)
        await self._finish(actor, job, "notified_user_remove", username)
        return True

    def _store(self, job: Job, current: list[dict[str, Any]]) -> None:
        if self.farm.queue.jobs.get(job.id) is not job:
            raise NotFound(f"no job with id {job.id} (it was deleted)")
        job.notified_users = [
            {k: v for k, v in entry.items() if v is not None} for entry in current
        ]
        self.farm.store.put_job(job)

    async def _finish(self, actor: Actor, job: Job, action: str, username: str) -> None:
        event = JobEvent(action=action, actor=actor.name, jobs=[job.id], fields=["notified_users"])
        await self.finish(actor, event, job=job.id, username=username)
