"""The farm's nouns: jobs with their compact chunk arrays, nodes, statuses.

Pure data, no I/O: the console, the render client and the hooks import this.
Field names follow the PyFarm seed where it has the concept (title, state,
start, end, by, batch, requeue, environ, data) so that REST needs no mapping.
"""

from __future__ import annotations

import enum
import math
import os
import re
import time
import uuid
from array import array
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation

FRAME_PLACES = Decimal("0.0001")
FRAME_LIMIT = Decimal(10) ** 9  # a frame number is below this in magnitude
ROOT_PARENT = -1
MAX_CHUNKS_PER_JOB = 1_000_000
# Identities of jobs and nodes stored before they had a UUID are derived from
# what never changes about them, so they stay the same across restarts.
LEGACY_UUID_NAMESPACE = uuid.UUID("6f1d5f3a-8d5e-4c1b-9a0e-2b7c4e1d9f30")


def legacy_uuid(*parts: object) -> str:
    return str(uuid.uuid5(LEGACY_UUID_NAMESPACE, ":".join(str(part) for part in parts)))


_UUID_TEXT = re.compile(
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
)


def parse_uuid(text: object) -> str | None:
    """A UUID written as 8-4-4-4-12 hex digits (either case) in its canonical lowercase
    form; None for any other value, and for the nil UUID (it names nothing)."""
    if not isinstance(text, str) or _UUID_TEXT.fullmatch(text) is None:
        return None
    canonical = text.lower()
    return None if canonical == NIL_UUID else canonical


NIL_UUID = "00000000-0000-0000-0000-000000000000"


def new_uuid() -> str:
    """A random (version 4) UUID in its canonical text: what str(uuid.uuid4()) gives,
    without building a UUID object (a new node takes one in its handshake)."""
    raw = bytearray(os.urandom(16))
    raw[6] = (raw[6] & 0x0F) | 0x40  # version 4
    raw[8] = (raw[8] & 0x3F) | 0x80  # the RFC 4122 variant
    text = raw.hex()
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


class Status(enum.StrEnum):
    """One status vocabulary for jobs and chunks (docs/statuses.md maps it)."""

    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    PAUSED = "paused"
    SKIPPED = "skipped"


# Chunk states are kept one byte each; these are the byte values.
CHUNK_QUEUED = 0
CHUNK_RUNNING = 1
CHUNK_DONE = 2
CHUNK_FAILED = 3
CHUNK_SKIPPED = 4
CHUNK_STATUS = {
    CHUNK_QUEUED: Status.QUEUED,
    CHUNK_RUNNING: Status.RUNNING,
    CHUNK_DONE: Status.DONE,
    CHUNK_FAILED: Status.FAILED,
    CHUNK_SKIPPED: Status.SKIPPED,
}
CHUNK_CODE = {status: code for code, status in CHUNK_STATUS.items()}


class DependMode(enum.StrEnum):
    """When a dependency counts as met (Muster's depend modes)."""

    SUCCESS = "success"
    FAILURE = "failure"
    ALWAYS = "always"


class JobKind(enum.StrEnum):
    JOB = "job"
    FOLDER = "folder"


# Members read once: a member read from its Enum class costs a descriptor call, and
# `Job.state` runs on every chunk's start and end.
_FOLDER = JobKind.FOLDER
_QUEUED, _RUNNING, _DONE = Status.QUEUED, Status.RUNNING, Status.DONE
_FAILED, _PAUSED = Status.FAILED, Status.PAUSED


def frame(value: object) -> Decimal:
    """A frame number as a Decimal with 4 places; raises ValueError when it is not one."""
    if isinstance(value, bool):
        raise ValueError(f"not a frame number: {value!r}")
    try:
        number = Decimal(str(value))
    except InvalidOperation as exc:
        raise ValueError(f"not a frame number: {value!r}") from exc
    if not number.is_finite() or abs(number) >= FRAME_LIMIT:
        raise ValueError(f"frame out of range: {value!r}")
    return number.quantize(FRAME_PLACES, rounding=ROUND_HALF_EVEN)


def frame_text(value: Decimal) -> str:
    """A frame as a command line wants it: 1, -3, 12.5 (no exponent, no trailing zeros)."""
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "") else text


def parse_frame_range(text: str) -> tuple[Decimal, Decimal]:
    """Parse '1-100', '-10--1', '5' or '1.5-3' into (start, end)."""
    cleaned = text.strip()
    if not cleaned:
        raise ValueError("empty frame range")
    # The separating dash is the first '-' that follows a digit.
    for index in range(1, len(cleaned)):
        if cleaned[index] == "-" and (cleaned[index - 1].isdecimal() or cleaned[index - 1] == "."):
            start, end = cleaned[:index], cleaned[index + 1 :]
            return frame(start), frame(end)
    single = frame(cleaned)
    return single, single


def frame_count(start: Decimal, end: Decimal, by: Decimal) -> int:
    """How many frames start..end (inclusive) by step `by` holds."""
    if by <= 0:
        raise ValueError("by must be positive")
    if end < start:
        raise ValueError("end frame is before start frame")
    return int((end - start) // by) + 1


@dataclass(slots=True)
class Dependency:
    job_id: int
    mode: DependMode = DependMode.SUCCESS


@dataclass(slots=True)
class Job:
    """A job or folder of the queue. Chunk state lives in compact arrays."""

    id: int
    title: str
    user: str = "admin"
    kind: JobKind = JobKind.JOB
    parent: int = ROOT_PARENT
    template: str = "cmdline"
    priority: int = 50
    paused: bool = False
    start: Decimal = Decimal(1)
    end: Decimal = Decimal(1)
    by: Decimal = Decimal(1)
    batch: int = 1
    pools: list[str] = field(default_factory=list)
    excluded_pools: list[str] = field(default_factory=list)
    max_nodes: int = 0
    depends_on: list[Dependency] = field(default_factory=list)
    per_frame: bool = False
    requeue: int = 3
    time_limit_s: float = 0.0
    memory_mb: int = 0
    environ: dict[str, str] = field(default_factory=dict)
    notes: str = ""
    data: dict[str, object] = field(default_factory=dict)
    command: list[str] = field(default_factory=list)
    project: str = ""
    department: str = ""
    time_submitted: float = field(default_factory=time.time)
    time_started: float | None = None
    time_finished: float | None = None
    seq: int = 0
    # Compact per-chunk state, one entry per chunk.
    chunk_status: bytearray = field(default_factory=bytearray)
    chunk_attempts: array[int] = field(default_factory=lambda: array("I"))
    chunk_nodes: array[int] = field(default_factory=lambda: array("i"))
    chunk_failures: bytearray = field(default_factory=bytearray)
    # Derived counters, kept in step with chunk_status by the queue.
    counts: list[int] = field(default_factory=lambda: [0, 0, 0, 0, 0])
    cursor: int = 0
    failed_reason: str = ""
    # A stable identity beside the integer id (Smedge and PyFarm name jobs by UUID).
    uuid: str = field(default_factory=new_uuid)
    # Who is told when the job ends or is deleted: {id, username, on_success, on_failure,
    # on_deletion[, webhook]} each (dispatcher/notified.py).
    notified_users: list[dict[str, object]] = field(default_factory=list)
    # A keyed submit's key (dispatcher/idempotency.py): {"key", "by", "digest"}, else None.
    idempotency: dict[str, str] | None = None
    # PyFarm's job fields (dispatcher/requirements.py gives the requirements meaning).
    jobtype: str | None = None
    jobtype_version: int = 1
    software_requirements: list[dict[str, object]] = field(default_factory=list)
    tag_requirements: list[dict[str, object]] = field(default_factory=list)
    ram_warning: int | None = None
    ram_max: int | None = None
    cpus: int = 1
    hidden: bool = False
    tags: list[str] = field(default_factory=list)
    project_id: int | None = None
    # Global task ids: runs of [first chunk index, task id of that chunk, time created];
    # chunk i of a run starting at index f with id b has task id b + i - f.
    task_ids: list[list[float]] = field(default_factory=list)
    # Template logic (dispatcher/logic.py): multiframe, broadcast, target_host or
    # image_slicing; the nodes broadcast or target-host chunks run on; image slicing's
    # tile count; the fields whose paths are translated per platform (dispatcher/paths.py).
    logic: str = "multiframe"
    hosts: list[str] = field(default_factory=list)
    slices: int = 0
    subst: list[str] = field(default_factory=list)
    # Counts changes of the job's fields (not stored): the queue bumps it on each, so
    # what is built from them (each Assign's job view) is kept while it stays the same.
    version: int = field(default=0, compare=False, repr=False)

    def task_id(self, index: int) -> int:
        """The global task id of chunk `index` (-1 when the job has none yet)."""
        found = -1
        for first, base, _ in self.task_ids:
            if first > index:
                break
            found = int(base) + index - int(first)
        return found

    def task_index(self, task_id: int) -> int | None:
        """The chunk whose global task id is `task_id`, or None."""
        runs = self.task_ids
        for position, (first, base, _) in enumerate(runs):
            end = int(runs[position + 1][0]) if position + 1 < len(runs) else self.chunk_count
            index = task_id - int(base) + int(first)
            if int(first) <= index < end:
                return index
        return None

    def task_created(self, index: int) -> float:
        """When chunk `index`'s task was made (submit, or the edit that added it)."""
        found = self.time_submitted
        for first, _, created in self.task_ids:
            if first > index:
                break
            found = created
        return found

    @property
    def frames(self) -> int:
        if self.kind is JobKind.FOLDER:
            return 0
        return frame_count(self.start, self.end, self.by)

    @property
    def chunk_count(self) -> int:
        return len(self.chunk_status)

    def planned_chunks(self) -> int:
        """How many chunks the job's frames and logic make (dispatcher/logic.py)."""
        if self.kind is JobKind.FOLDER:
            return 0
        if self.logic == "broadcast":  # one per node it was sent to
            return len(self.hosts)
        if self.logic == "image_slicing":  # the tiles, then the assembling chunk
            return self.slices + 1
        return math.ceil(self.frames / self.batch)

    @property
    def whole_range(self) -> bool:
        """True when every chunk renders the job's whole frame range (not frame chunks)."""
        return self.logic in ("broadcast", "image_slicing")

    def init_chunks(self) -> None:
        """(Re)create the chunk arrays: every chunk queued, no attempt yet."""
        count = self.planned_chunks()
        self.chunk_status = bytearray(count)
        self.chunk_attempts = array("I", bytes(4 * count))
        self.chunk_nodes = array("i", [-1]) * count
        self.chunk_failures = bytearray(count)
        self.recount()

    def recount(self) -> None:
        self.counts = [self.chunk_status.count(code) for code in range(5)]
        self.cursor = self._first_queued(0)

    def _first_queued(self, index: int) -> int:
        found = self.chunk_status.find(CHUNK_QUEUED, index)
        return self.chunk_count if found < 0 else found

    def advance_cursor(self) -> None:
        found = self.chunk_status.find(CHUNK_QUEUED, self.cursor)  # (_first_queued, inline)
        self.cursor = len(self.chunk_status) if found < 0 else found

    def set_chunk(self, index: int, code: int) -> None:
        """Change one chunk's status byte and keep counts and cursor in step."""
        old = self.chunk_status[index]
        if old == code:
            return
        self.counts[old] -= 1
        self.counts[code] += 1
        self.chunk_status[index] = code
        if code == CHUNK_QUEUED and index < self.cursor:
            self.cursor = index
        elif old == CHUNK_QUEUED and index == self.cursor:
            self.advance_cursor()

    def chunk_frames(self, index: int) -> tuple[Decimal, Decimal]:
        """The first and last frame of chunk `index`."""
        if self.whole_range:
            return self.start, self.end
        first = index * self.batch
        last = first + self.batch - 1
        if index >= len(self.chunk_status) - 1:  # only the last chunk may be short
            last = min(last, self.frames - 1)
        return self.start + first * self.by, self.start + last * self.by

    def chunk_of_frame(self, value: Decimal) -> int | None:
        """The chunk that renders frame `value`, or None where the job has no such frame."""
        if value < self.start or value > self.end:
            return None
        if self.whole_range:  # a sliced frame is done when its tiles are assembled
            return self.chunk_count - 1 if self.logic == "image_slicing" else None
        steps, rest = divmod(value - self.start, self.by)
        if rest:
            return None
        return int(steps) // self.batch

    @property
    def done(self) -> int:
        return self.counts[CHUNK_DONE] + self.counts[CHUNK_SKIPPED]

    @property
    def finished(self) -> bool:
        """True when no chunk is queued or running."""
        return self.counts[CHUNK_QUEUED] == 0 and self.counts[CHUNK_RUNNING] == 0

    @property
    def state(self) -> Status:
        """The job's status, derived from its chunks."""
        counts = self.counts
        if self.kind is _FOLDER:
            return _PAUSED if self.paused else _QUEUED
        if not counts[CHUNK_QUEUED] and not counts[CHUNK_RUNNING] and self.chunk_status:
            return _FAILED if counts[CHUNK_FAILED] else _DONE  # (finished, with chunks)
        if self.paused:
            return _PAUSED
        return _RUNNING if counts[CHUNK_RUNNING] else _QUEUED

    @property
    def progress(self) -> float:
        return self.done / self.chunk_count if self.chunk_count else 1.0


MAX_ID_DIGITS = 18
"""Ids are 64-bit numbers: a longer run of digits names no id (and int() refuses
thousands of digits with a ValueError)."""


def parse_id(text: str, *, signed: bool = False) -> int | None:
    """The number an id written as text names: ASCII decimal digits (with `signed`, after
    an optional '-'), at most MAX_ID_DIGITS of them; None for any other text."""
    digits = text[1:] if signed and text.startswith("-") else text
    if not digits.isascii() or not digits.isdecimal() or len(digits) > MAX_ID_DIGITS:
        return None
    return int(text)


def within(jobs: Mapping[int, Job], folder: int, job_id: int) -> bool:
    """True when `folder` is the job `job_id` itself or lies anywhere below it, so that
    making `folder` the job's parent would put the job inside itself (a cycle)."""
    seen: set[int] = set()
    current = folder
    while current != ROOT_PARENT and current not in seen:
        if current == job_id:
            return True
        seen.add(current)
        above = jobs.get(current)
        if above is None:
            return False
        current = above.parent
    return False


@dataclass(slots=True)
class Node:
    """A render client instance, known by (host name, instance number)."""

    id: int
    name: str
    instance: int = 0
    host: str = ""
    pools: list[str] = field(default_factory=list)
    paused: bool = False
    notes: str = ""
    online: bool = False
    address: str = ""
    platform: str = ""
    templates: list[str] = field(default_factory=list)
    last_seen: float = 0.0
    excluded_jobs: set[int] = field(default_factory=set)
    excluded_templates: set[str] = field(default_factory=set)
    # Settings the dispatcher sends again whenever the node connects.
    process_priority: int | None = None
    realtime_log: bool = True
    uuid: str = field(default_factory=new_uuid)
    # What the render client reports in each handshake: software (name, version), tags, CPUs.
    software: list[tuple[str, str]] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    cpus: int = 0
    # The node's own key (hex), issued at registration and proved in every
    # handshake; empty until issued, or after an administrator reset it.
    key: str = field(default="", repr=False)

    @property
    def label(self) -> str:
        return self.name if self.instance == 0 else f"{self.name}#{self.instance}"
