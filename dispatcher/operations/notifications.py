"""Notified users: who is told when a job ends or is deleted (PyFarm's notified_users).

A job keeps its list in `Job.notified_users`, stored with the job's spec, so it
survives a restart. An entry is `{id, username, on_success, on_failure,
on_deletion}` and may carry a `webhook` URL (http or https) that is called
besides the user's e-mail. `id` numbers the entries of one job and never changes.
The sending itself is dispatcher/notify.py's service; these operations only keep
the lists.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pydantic
from pydantic import BaseModel, ConfigDict, Field, field_validator

from dispatcher.errors import NotFound, ValidationError
from dispatcher.events import JobEvent
from dispatcher.model import Job
from dispatcher.operations.actor import Actor
from dispatcher.operations.farm import Area

MAX_NOTIFIED_PER_JOB = 100
MAX_USERNAME_CHARS = 255
MAX_WEBHOOK_CHARS = 2048
EVENTS = ("on_success", "on_failure", "on_deletion")


def check_webhook(url: str) -> str:
    """An absolute http or https URL with a host; ValueError otherwise."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  # a malformed port raises here
    except ValueError:
        raise ValueError("not a URL") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("an http:// or https:// URL with a host is required")
    if any(char.isspace() or ord(char) < 32 for char in url):
        raise ValueError("a URL has no spaces or control characters")
    return url


class NotifiedUserBody(BaseModel):
    """A notified-user entry as a request gives it (PyFarm's body, plus `webhook`)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    username: str = Field(min_length=1, max_length=MAX_USERNAME_CHARS)
    on_success: bool = True
    on_failure: bool = True
    on_deletion: bool = False
    webhook: str | None = Field(None, min_length=1, max_length=MAX_WEBHOOK_CHARS)

    @field_validator("webhook")
    @classmethod
    def _webhook(cls, value: str | None) -> str | None:
        return None if value is None else check_webhook(value)


def parse_entry(payload: Any, where: str = "") -> NotifiedUserBody:
    """One entry validated; ValidationError names the first bad field (after `where`)."""
    if not isinstance(payload, dict):
        raise ValidationError(f"{where}a JSON object is required", field=where.rstrip(".") or None)
    try:
        return NotifiedUserBody.model_validate(payload)
    except pydantic.ValidationError as exc:
        first = exc.errors()[0]
        field = where + ".".join(str(part) for part in first["loc"])
        message = first["msg"].removeprefix("Value error, ")
        raise ValidationError(f"{field}: {message}", field=field) from None


def entries(job: Job) -> list[dict[str, Any]]:
    """The job's entries with every key present (lists stored by other fronts may omit some)."""
    out = []
    for position, entry in enumerate(job.notified_users, start=1):
        if not isinstance(entry, dict) or not isinstance(entry.get("username"), str):
            continue
        out.append({
            "id": entry.get("id") if isinstance(entry.get("id"), int) else position,
            "username": entry["username"],
            "on_success": bool(entry.get("on_success", True)),
            "on_failure": bool(entry.get("on_failure", True)),
            "on_deletion": bool(entry.get("on_deletion", False)),
            "webhook": entry.get("webhook") if isinstance(entry.get("webhook"), str) else None,
        })  # fmt: skip
    return out


class NotificationOperations(Area):
    def _view(self, entry: dict[str, Any]) -> dict[str, Any]:
        user = self.farm.users.users.get(entry["username"])
        return {
            "id": entry["id"],
            "username": entry["username"],
            "email": (user.email or None) if user is not None else None,
            **{name: entry[name] for name in (*EVENTS, "webhook")},
        }

    def notified_users(self, actor: Actor, key: int | str) -> list[dict[str, Any]]:
        """The job's notified users: `{id, username, email, on_success, on_failure,
        on_deletion, webhook}` each (`email` null when the user has none)."""
        job = self.farm.queue.get(key)
        return [self._view(entry) for entry in entries(job)]

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
