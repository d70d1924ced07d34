"""A job's notified users, as stored in `Job.notified_users` (with the job's spec, so the
list survives a restart): `{id, username, on_success, on_failure, on_deletion}` each,
with an optional `webhook` URL (http or https) called besides the user's e-mail. `id`
numbers the entries of one job; an entry keeps its id while it is on the list.

The operations (dispatcher/operations/notifications.py) keep the lists; the notifier
(dispatcher/notify.py) reads them when a job ends or is deleted.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pydantic
from pydantic import BaseModel, ConfigDict, Field, field_validator

from dispatcher.errors import ValidationError
from dispatcher.model import Job

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
