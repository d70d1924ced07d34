"""Idempotency keys of submits: a retried submit answers the jobs its first try queued.

A submit may carry a key (REST: the ``Idempotency-Key`` header). The key, the
name of who submitted and a digest of the request are written into each job it
queues (``Job.idempotency``), so they commit in the same transaction as the
jobs: a dispatcher killed after that commit still knows the key when it
starts again. In memory, `IdempotencyKeys` maps (user, key) to those jobs; it is
built from the queue on first use and kept as submits commit.

A key is scoped to the user who sent it, and lives while at least one of its
jobs is in the queue and for at most the retention period (a setting) after its
submit; then the same key queues new jobs.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from dispatcher.errors import Conflict, ValidationError
from dispatcher.model import Job

HEADER = "Idempotency-Key"
MAX_KEY_CHARS = 255

Scope = tuple[str, str]  # (user, key)


def check_key(key: object) -> str:
    """A key is 1 to 255 printable ASCII characters (space to tilde)."""
    if (
        not isinstance(key, str)
        or not 0 < len(key) <= MAX_KEY_CHARS
        or not all(" " <= char <= "~" for char in key)
    ):
        raise ValidationError(
            f"{HEADER}: 1 to {MAX_KEY_CHARS} printable ASCII characters are required",
            field=HEADER,
        )
    return key


def digest(items: Any, owner: str | None) -> str:
    """What identifies a request's content: the same jobs for the same owner."""
    text = json.dumps(
        [owner, items], sort_keys=True, separators=(",", ":"), ensure_ascii=True, default=str
    )
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass
class Entry:
    """The jobs one keyed submit queued."""

    job_ids: list[int]
    digest: str
    time: float


class IdempotencyKeys:
    """(user, key) -> the jobs of a committed keyed submit, and the keyed submits in flight."""

    def __init__(self) -> None:
        self.entries: dict[Scope, Entry] = {}
        self.loaded = False
        # A keyed submit between its checks and its commit: a second request with its
        # key waits on this until the first committed or failed.
        self.pending: dict[Scope, asyncio.Future[None]] = {}

    def load(self, jobs: Iterable[Job]) -> None:
        """Rebuild the index from the queue's jobs (their stored keys)."""
        self.entries.clear()
        found: dict[Scope, Entry] = {}
        for job in sorted(jobs, key=lambda job: job.id):
            mark = job.idempotency
            if not mark:
                continue
            scope = (mark.get("by", ""), mark.get("key", ""))
            entry = found.get(scope)
            if entry is None or job.id != entry.job_ids[-1] + 1:
                # One submit's jobs have consecutive ids; a later submit with the same
                # key (made once the first one's jobs were gone) wins.
                found[scope] = Entry([job.id], str(mark.get("digest", "")), job.time_submitted)
            else:
                entry.job_ids.append(job.id)
        for scope, entry in sorted(found.items(), key=lambda item: item[1].time):
            self.entries[scope] = entry
        self.loaded = True

    def find(
        self,
        scope: Scope,
        request_digest: str,
        jobs: Mapping[int, Job],
        *,
        now: float,
        retention_s: float,
    ) -> list[Job] | None:
        """The live jobs of an earlier submit with this key, None when the key is free;
        Conflict when the key was used for a different request."""
        entry = self.entries.get(scope)
        if entry is None:
            return None
        live = [
            jobs[job_id]
            for job_id in entry.job_ids
            if job_id in jobs and _marked(jobs[job_id], scope)
        ]
        if not live or now - entry.time > retention_s:
            del self.entries[scope]
            return None
        if entry.digest != request_digest:
            ids = ", ".join(str(job.id) for job in live)
            raise Conflict(
                f"{HEADER} {scope[1]!r} was used for a different request (job {ids}); "
                "send a new key for a new request"
            )
        return live

    def add(self, scope: Scope, request_digest: str, jobs: list[Job], *, now: float) -> None:
        self.entries.pop(scope, None)  # keep the dict in time order
        self.entries[scope] = Entry([job.id for job in jobs], request_digest, now)

    def prune(self, *, now: float, retention_s: float) -> None:
        """Forget keys older than the retention period (the dict is in time order)."""
        for scope, entry in list(self.entries.items()):
            if now - entry.time <= retention_s:
                break
            del self.entries[scope]


def mark(scope: Scope, request_digest: str) -> dict[str, str]:
    """What a keyed submit writes into each of its jobs."""
    return {"by": scope[0], "key": scope[1], "digest": request_digest}


def _marked(job: Job, scope: Scope) -> bool:
    found = job.idempotency
    return bool(found) and (found.get("by"), found.get("key")) == scope  # type: ignore[union-attr]
