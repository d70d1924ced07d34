"""A job's notified users, as stored in `Job.notified_users` (with the job's spec, so the
list survives a restart): `{id, username, on_success, on_failure, on_deletion}` each,
with an optional `webhook` URL (http or https) called besides the user's e-mail. `id`
numbers the entries of one job; an entry keeps its id while it is on the list.

The operations (dispatcher/operations/notifications.py) keep the lists; the notifier
(dispatcher/notify.py) reads them when a job ends or is deleted.
"""

from __future__ import annotations

from collections.abc import Mapping
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
        place = where.rstrip(".")
        text = f"{place}: a JSON object is required" if place else "a JSON object is required"
        raise ValidationError(text, field=place or None)
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
            "webhook": _webhook_or_none(entry.get("webhook")),
        })  # fmt: skip
    return out


def view(entry: dict[str, Any], users: Mapping[str, Any]) -> dict[str, Any]:
    """An entry (of `entries`) as the API shows it: `{id, username, email, on_success,
    on_failure, on_deletion, webhook}`, `email` from `users` (the accounts by name), null
    when the user has none or is gone."""
    user = users.get(entry["username"])
    return {
        "id": entry["id"],
        "username": entry["username"],
        "email": getattr(user, "email", "") or None,
        **{name: entry[name] for name in (*EVENTS, "webhook")},
    }


def views(job: Job, users: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The job's notified users as the API shows them (see `view`)."""
    return [view(entry, users) for entry in entries(job)]


def _webhook_or_none(value: object) -> str | None:
    """A stored webhook that is a valid URL (an imported queue's need not be), else None."""
    if not isinstance(value, str) or len(value) > MAX_WEBHOOK_CHARS:
        return None
    try:
        return check_webhook(value)
    except ValueError:
        return None


def to_stored(payload: Any, field: str = "notified_users") -> list[dict[str, Any]]:
    """A submitted job's list of entries (request bodies) as `Job.notified_users` keeps it:
    each validated, numbered from 1, one entry per user (a later one replaces an earlier
    one). Whether the users exist is the caller's check."""
    if not isinstance(payload, list):
        raise ValidationError(f"{field}: a list is required", field=field)
    if len(payload) > MAX_NOTIFIED_PER_JOB:
        raise ValidationError(f"{field}: at most {MAX_NOTIFIED_PER_JOB} per job", field=field)
    by_name: dict[str, dict[str, Any]] = {}
    for position, item in enumerate(payload):
        entry = parse_entry(item, f"{field}.{position}.").model_dump(exclude_none=True)
        previous = by_name.get(entry["username"])
        by_name[entry["username"]] = {
            "id": previous["id"] if previous else len(by_name) + 1,
            **entry,
        }
    return list(by_name.values())
