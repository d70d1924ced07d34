"""Ordered indexes of the queue's jobs: by id, by state, user, parent folder and template,
the hidden ones, and the job of each UUID.

Listings page through these instead of scanning every job. Each index keeps job ids
in ascending order, so a page is "the next N ids after the cursor": a bisection,
not a scan. The queue keeps them in step wherever a job is added, removed, edited
or its chunk counters move (a job's state is derived from them).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Hashable, Iterator
from typing import Generic, TypeVar

from dispatcher.model import Job, Status

K = TypeVar("K", bound=Hashable)


class SortedIds:
    """A set of ints kept in ascending order. New ids are usually the largest: an append."""

    __slots__ = ("_ids",)

    def __init__(self) -> None:
        self._ids: list[int] = []

    def add(self, key: int) -> None:
        ids = self._ids
        if not ids or key > ids[-1]:
            ids.append(key)
            return
        at = bisect_left(ids, key)
        if at == len(ids) or ids[at] != key:
            ids.insert(at, key)

    def discard(self, key: int) -> None:
        ids = self._ids
        at = bisect_left(ids, key)
        if at < len(ids) and ids[at] == key:
            del ids[at]

    def after(self, key: int, count: int) -> list[int]:
        """Up to `count` ids greater than `key`, in order."""
        at = bisect_right(self._ids, key)
        return self._ids[at : at + count]

    def __contains__(self, key: object) -> bool:
        ids = self._ids
        if not isinstance(key, int):
            return False
        at = bisect_left(ids, key)
        return at < len(ids) and ids[at] == key

    def __len__(self) -> int:
        return len(self._ids)

    def __iter__(self) -> Iterator[int]:
        return iter(list(self._ids))


class FieldIndex(Generic[K]):
    """Job ids per value of one field; empty sets are dropped."""

    __slots__ = ("_by_value",)

    def __init__(self) -> None:
        self._by_value: dict[K, SortedIds] = {}

    def add(self, value: K, key: int) -> None:
        ids = self._by_value.get(value)
        if ids is None:
            ids = self._by_value[value] = SortedIds()
        ids.add(key)

    def discard(self, value: K, key: int) -> None:
        ids = self._by_value.get(value)
        if ids is not None:
            ids.discard(key)
            if not ids:
                del self._by_value[value]

    def ids(self, value: K) -> SortedIds:
        """The ids holding `value` (an empty set when none does)."""
        return self._by_value.get(value) or SortedIds()

    def values(self) -> list[K]:
        return list(self._by_value)


class JobIndex:
    """Every job id in order, per state, user, parent folder and template, the hidden
    jobs (few: a console's `?hidden=true` pages through them alone), and the job id of
    each UUID (`uuid`).

    `update(job)` after a job was added or edited, `update_state(job)` after its chunk
    counters moved (the hot path: one state comparison when nothing changed),
    `remove(job_id)` when it went.
    """

    all: SortedIds
    state: FieldIndex[Status]
    user: FieldIndex[str]
    parent: FieldIndex[int]
    template: FieldIndex[str]
    hidden: SortedIds

    def __init__(self) -> None:
        self.clear()

    def clear(self) -> None:
        self.all = SortedIds()
        self.state: FieldIndex[Status] = FieldIndex()
        self.user: FieldIndex[str] = FieldIndex()
        self.parent: FieldIndex[int] = FieldIndex()
        self.template: FieldIndex[str] = FieldIndex()
        self.hidden = SortedIds()
        self.uuid: dict[str, int] = {}
        self._uuids: dict[int, str] = {}
        self._states: dict[int, Status] = {}
        self._fields: dict[int, tuple[str, int, str, bool]] = {}

    def update(self, job: Job) -> None:
        """Index a new job, or move an edited one to its new values."""
        fields = (job.user, job.parent, job.template, job.hidden)
        if self._uuids.get(job.id) != job.uuid:
            self._forget_uuid(job.id)
            self.uuid[job.uuid] = job.id
            self._uuids[job.id] = job.uuid
        old = self._fields.get(job.id)
        if old != fields:
            if old is None:
                self.all.add(job.id)
            else:
                self.user.discard(old[0], job.id)
                self.parent.discard(old[1], job.id)
                self.template.discard(old[2], job.id)
                self.hidden.discard(job.id)
            self.user.add(fields[0], job.id)
            self.parent.add(fields[1], job.id)
            self.template.add(fields[2], job.id)
            if job.hidden:
                self.hidden.add(job.id)
            self._fields[job.id] = fields
        self.update_state(job)

    def update_state(self, job: Job) -> None:
        """Move the job to the index of its current state, if it changed."""
        state = job.state
        old = self._states.get(job.id)
        if old is state:
            return
        if old is not None:
            self.state.discard(old, job.id)
        self.state.add(state, job.id)
        self._states[job.id] = state

    def _forget_uuid(self, job_id: int) -> None:
        old = self._uuids.pop(job_id, None)
        if old is not None and self.uuid.get(old) == job_id:
            del self.uuid[old]

    def remove(self, job_id: int) -> None:
        self._forget_uuid(job_id)
        fields = self._fields.pop(job_id, None)
        if fields is not None:
            self.all.discard(job_id)
            self.user.discard(fields[0], job_id)
            self.parent.discard(fields[1], job_id)
            self.template.discard(fields[2], job_id)
            self.hidden.discard(job_id)
        state = self._states.pop(job_id, None)
        if state is not None:
            self.state.discard(state, job_id)

    def __len__(self) -> int:
        return len(self.all)
