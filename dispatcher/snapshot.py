"""Queue snapshots as SQL text: dbExportQueueSQL writes them, dbImportQueueSQL reads them.

The format is Corral's own and nothing else is accepted:

    -- corral queue export v1
    -- exported 2026-01-01T00:00:00+00:00 jobs=2
    INSERT INTO jobs (id, spec, chunk_status, chunk_attempts, chunk_nodes, chunk_failures) VALUES (1, '{...}', X'00', X'00000000', X'ffffffff', X'00');
    -- end jobs=2

An import checks every line against that grammar, loads the rows into a
scratch in-memory database whose authorizer allows nothing but inserts into
its `jobs` table, then rebuilds and validates each job (spec rules, chunk
arrays that match the frames, parents and dependencies inside the snapshot).
Only a snapshot that passes all of it is handed to the queue, which applies
it in one store transaction. Raw SQL never reaches the store.
"""

from __future__ import annotations

import datetime
import re
import sqlite3
from typing import Any

import msgspec

from dispatcher import jobspec
from dispatcher.errors import ValidationError
from dispatcher.model import CHUNK_STATUS, ROOT_PARENT, Job, JobKind, within
from dispatcher.store import rows

HEADER = "-- corral queue export v1"
COLUMNS = "id, spec, chunk_status, chunk_attempts, chunk_nodes, chunk_failures"
MAX_SNAPSHOT_CHARS = 512 * 1024 * 1024
_INSERT = re.compile(
    r"INSERT INTO jobs \(" + re.escape(COLUMNS) + r"\) VALUES \("
    r"(\d{1,15}), '((?:[^']|'')*)', X'([0-9A-Fa-f]*)', X'([0-9A-Fa-f]*)', X'([0-9A-Fa-f]*)', X'([0-9A-Fa-f]*)'\);"
)
_END = re.compile(r"-- end jobs=(\d+)")
_SCRATCH_SCHEMA = (
    "CREATE TABLE jobs (id INTEGER PRIMARY KEY, spec TEXT NOT NULL, chunk_status BLOB NOT NULL, "
    "chunk_attempts BLOB NOT NULL, chunk_nodes BLOB NOT NULL, chunk_failures BLOB NOT NULL)"
)
_SPEC_KEYS = frozenset(jobspec.JobSpec.model_fields) - {"frames"}


def export(jobs: list[Job]) -> str:
    """The queue as Corral's snapshot text (jobs by id)."""
    now = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    lines = [HEADER, f"-- exported {now} jobs={len(jobs)}"]
    for job in sorted(jobs, key=lambda item: item.id):
        spec = rows.job_spec(job).decode("utf-8").replace("'", "''")
        status, attempts, nodes, failures = rows.job_chunks(job)
        lines.append(
            f"INSERT INTO jobs ({COLUMNS}) VALUES ({job.id}, '{spec}', X'{status.hex()}', "
            f"X'{attempts.hex()}', X'{nodes.hex()}', X'{failures.hex()}');"
        )
    lines.append(f"-- end jobs={len(jobs)}")
    return "\n".join(lines) + "\n"


def _only_inserts(action: int, table: str | None, *_: Any) -> int:
    if action == sqlite3.SQLITE_INSERT and table == "jobs":
        return sqlite3.SQLITE_OK
    return sqlite3.SQLITE_DENY


def parse(text: str) -> list[Job]:
    """Check a snapshot in full and return its jobs; ValidationError says what and where."""
    if not isinstance(text, str) or len(text) > MAX_SNAPSHOT_CHARS:
        raise ValidationError("sql: not a Corral queue snapshot (text up to 512 MB)", field="sql")
    lines = [line.rstrip("\r") for line in text.split("\n")]
    if not lines or lines[0].strip() != HEADER:
        raise ValidationError(
            f"sql: line 1: a Corral queue snapshot starts with {HEADER!r}", field="sql"
        )
    statements: list[tuple[int, re.Match[str]]] = []
    declared: int | None = None
    for number, line in enumerate(lines[1:], start=2):
        stripped = line.strip()
        if not stripped:
            continue
        if declared is not None:
            raise ValidationError(
                f"sql: line {number}: nothing may follow the end line", field="sql"
            )
        end = _END.fullmatch(stripped)
        if end is not None:
            declared = int(end.group(1))
            continue
        if stripped.startswith("--"):
            continue
        match = _INSERT.fullmatch(stripped)
        if match is None:
            raise ValidationError(
                f"sql: line {number}: not a job row of a Corral snapshot", field="sql"
            )
        statements.append((number, match))
    if declared is None:
        raise ValidationError("sql: the snapshot is cut short (no end line)", field="sql")
    if declared != len(statements):
        raise ValidationError(
            f"sql: the end line says {declared} jobs, the snapshot has {len(statements)}",
            field="sql",
        )
    return _validated(_scratch_rows(statements))


def _scratch_rows(statements: list[tuple[int, re.Match[str]]]) -> list[tuple[Any, ...]]:
    scratch = sqlite3.connect(":memory:", isolation_level=None)
    try:
        scratch.execute(_SCRATCH_SCHEMA)
        scratch.set_authorizer(_only_inserts)
        for number, match in statements:
            try:
                scratch.execute(match.group(0))
            except sqlite3.Error as exc:
                raise ValidationError(f"sql: line {number}: {exc}", field="sql") from None
        scratch.set_authorizer(None)
        return scratch.execute(f"SELECT {COLUMNS} FROM jobs ORDER BY id").fetchall()
    finally:
        scratch.close()


def _validated(found: list[tuple[Any, ...]]) -> list[Job]:
    jobs: dict[int, Job] = {}
    uuids: dict[str, int] = {}
    for row in found:
        job_id = int(row[0])
        try:
            spec = msgspec.json.decode(row[1])
            job = rows.job_from_row(
                (job_id, row[1].encode() if isinstance(row[1], str) else row[1], *row[2:])
            )
        except (msgspec.DecodeError, KeyError, ValueError, TypeError) as exc:
            raise ValidationError(
                f"sql: job {job_id}: malformed row ({exc})", field="sql"
            ) from None
        _check_job(job_id, job, spec)
        if job.uuid in uuids:
            raise ValidationError(
                f"sql: job {job_id}: UUID {job.uuid} is job {uuids[job.uuid]}'s too", field="sql"
            )
        uuids[job.uuid] = job_id
        jobs[job_id] = job
    for job in jobs.values():
        if job.parent != ROOT_PARENT and (
            job.parent not in jobs or jobs[job.parent].kind is not JobKind.FOLDER
        ):
            raise ValidationError(
                f"sql: job {job.id}: parent {job.parent} is not a folder of the snapshot",
                field="sql",
            )
        if job.parent != ROOT_PARENT and within(jobs, job.parent, job.id):
            raise ValidationError(
                f"sql: job {job.id}: parent {job.parent} lies inside job {job.id} (a folder cycle)",
                field="sql",
            )
        for dep in job.depends_on:
            if dep.job_id not in jobs:
                raise ValidationError(
                    f"sql: job {job.id}: depends on job {dep.job_id}, not in the snapshot",
                    field="sql",
                )
    return list(jobs.values())


def _check_job(job_id: int, job: Job, spec: dict[str, Any]) -> None:
    if job_id < 1:
        raise ValidationError(f"sql: job id {job_id} is not positive", field="sql")
    # (A stored list of notified users is read leniently, dispatcher/notified.py `entries`.)
    fields = {key: value for key, value in spec.items() if key in _SPEC_KEYS - {"notified_users"}}
    fields["depends_on"] = [{"job": dep, "mode": mode} for dep, mode in spec.get("depends_on", [])]
    try:
        jobspec.parse_spec(fields)
    except ValidationError as exc:
        raise ValidationError(f"sql: job {job_id}: {exc}", field="sql") from None
    expected = Job(
        id=job_id,
        title=job.title,
        kind=job.kind,
        start=job.start,
        end=job.end,
        by=job.by,
        batch=job.batch,
        logic=job.logic,
        hosts=job.hosts,
        slices=job.slices,
    )
    expected.init_chunks()
    count = expected.chunk_count
    arrays = (
        len(job.chunk_status),
        len(job.chunk_attempts),
        len(job.chunk_nodes),
        len(job.chunk_failures),
    )
    if arrays != (count,) * 4:
        raise ValidationError(
            f"sql: job {job_id}: chunk arrays do not match its {count} chunks", field="sql"
        )
    if any(code not in CHUNK_STATUS for code in job.chunk_status):
        raise ValidationError(f"sql: job {job_id}: unknown chunk status byte", field="sql")
