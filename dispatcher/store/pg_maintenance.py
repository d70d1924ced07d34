"""Checking and backing up a PostgreSQL store from outside its dispatcher (`corral store`).

`check` connects as any client does, in one read-only transaction, so it runs
while the farm's dispatchers serve: the schema version, the row counts, the
consistency of the jobs' chunk arrays with the attempts recorded for them, and,
where the database has the `amcheck` extension, a structural check of every
B-tree index of the farm's tables. `backup` runs `pg_dump` (custom format, one
consistent snapshot) with a progress count of the tables dumped, checks the
archive with `pg_restore --list` and renames it into place; without `pg_dump`
it is a `NotSupported` error saying what to install.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from dispatcher.errors import CorralError, StartupError
from dispatcher.store import chunk_changes
from dispatcher.store.pg_schema import Q, connect, explain, migrations
from dispatcher.store.urls import redact

PG_ROOT = Path("/usr/lib/postgresql")
MAX_LISTED = 20

# (query, what a row it finds means): every query answers (a, b) pairs, none when sound.
_CONSISTENCY = (
    (
        "SELECT id, length(chunk_status) FROM jobs WHERE length(chunk_attempts) <> "
        "4 * length(chunk_status) OR length(chunk_nodes) <> 4 * length(chunk_status) "
        f"ORDER BY id LIMIT {MAX_LISTED}",
        "job {0}: its chunk arrays disagree in length ({1} chunks)",
    ),
    (
        "SELECT DISTINCT job_id, 0 FROM runs WHERE job_id NOT IN (SELECT id FROM jobs) "
        f"ORDER BY job_id LIMIT {MAX_LISTED}",
        "attempts are recorded for job {0}, which does not exist",
    ),
    (
        "SELECT r.job_id, r.chunk FROM runs r JOIN jobs j ON j.id = r.job_id "
        f"WHERE r.chunk >= length(j.chunk_status) ORDER BY 1, 2 LIMIT {MAX_LISTED}",
        "job {0} has an attempt recorded for chunk {1}, past its last chunk",
    ),
    (
        "SELECT DISTINCT job_id, 0 FROM chunk_failures WHERE job_id NOT IN "
        f"(SELECT id FROM jobs) ORDER BY job_id LIMIT {MAX_LISTED}",
        "failures are remembered for job {0}, which does not exist",
    ),
)
_COUNTED = ("jobs", "runs", "nodes", "users", "records")
_INDEXES = """
SELECT index_class.oid::regclass::text
FROM pg_index
JOIN pg_class index_class ON index_class.oid = pg_index.indexrelid
JOIN pg_am ON pg_am.oid = index_class.relam
JOIN pg_namespace ON pg_namespace.oid = index_class.relnamespace
WHERE pg_am.amname = 'btree' AND pg_namespace.nspname = current_schema()
ORDER BY 1
"""


class NotSupported(CorralError):
    """What this machine cannot do (a missing tool), with what to install."""


@dataclass
class PgCheckReport:
    """What `check` found; `ok` when `problems` is empty. `notes` are not problems."""

    path: str
    ok: bool = False
    dialect: str = "postgresql"
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    schema_version: int = 0
    jobs: int = 0
    rows: dict[str, int] = field(default_factory=dict)
    size_bytes: int = 0
    indexes_checked: int = 0


async def check(url: str) -> PgCheckReport:
    """Check the Corral database at `url` (see the module); never changes it."""
    report = PgCheckReport(path=redact(url))
    try:
        db = await connect(url)
    except StartupError as exc:
        report.problems.append(str(exc))
        return report
    try:
        async with db.transaction(isolation="repeatable_read", readonly=True):
            await _check_in(db, report)
    except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
        report.problems.append(str(explain(exc, url)))
    finally:
        await db.close()
    report.ok = not report.problems
    return report


async def _check_in(db: asyncpg.Connection, report: PgCheckReport) -> None:
    report.size_bytes = int(await db.fetchval("SELECT pg_database_size(current_database())"))
    if await db.fetchval("SELECT to_regclass('corral_schema')") is None:
        report.problems.append("not a Corral database (no corral_schema table)")
        return
    report.schema_version = int(
        await db.fetchval("SELECT COALESCE(MAX(version), 0) FROM corral_schema")
    )
    latest = migrations()[-1][0]
    if report.schema_version > latest:
        report.problems.append(
            f"schema version {report.schema_version} is newer than this Corral knows ({latest})"
        )
    elif report.schema_version < latest:
        report.notes.append(
            f"schema version {report.schema_version}: the next dispatcher start brings it to {latest}"
        )
    for table in _COUNTED:
        if await db.fetchval("SELECT to_regclass($1)", table) is None:
            report.problems.append(f"the table {table} is missing")
            continue
        report.rows[table] = int(await db.fetchval(f"SELECT COUNT(*) FROM {table}"))  # noqa: S608
    if report.problems:
        return
    report.jobs = report.rows["jobs"]
    for query, meaning in _CONSISTENCY:
        for first, second in await db.fetch(query):
            report.problems.append(meaning.format(first, second))
    if await db.fetchval("SELECT to_regclass('chunk_changes')") is not None:
        found = await db.fetch(Q["check_chunk_changes"])
        problems, orphans = chunk_changes.check_rows(found, MAX_LISTED)
        report.problems.extend(problems)
        if orphans:
            report.notes.append(chunk_changes.orphans_note(orphans))
    if await db.fetchval("SELECT 1 FROM pg_extension WHERE extname = 'amcheck'") is None:
        report.notes.append(
            "indexes not checked: the amcheck extension is not installed in this database "
            "(CREATE EXTENSION amcheck, as a superuser, enables the check)"
        )
        return
    for (index,) in await db.fetch(_INDEXES):
        try:
            async with db.transaction():  # a savepoint: one broken index spoils no other
                await db.execute("SELECT bt_index_check($1::regclass, true)", index)
            report.indexes_checked += 1
        except asyncpg.PostgresError as exc:
            report.problems.append(f"index {index}: {exc}")


def find_tool(name: str, path: str | None = None, root: Path = PG_ROOT) -> Path | None:
    """`name` (pg_dump, pg_restore) on `path` (default: PATH), else in the newest
    `root`/N/bin (Debian's /usr/lib/postgresql/N/bin)."""
    found = shutil.which(name, path=path)
    if found:
        return Path(found)
    versions = sorted(
        (path for path in root.glob(f"*/bin/{name}") if path.parent.parent.name.isdigit()),
        key=lambda path: int(path.parent.parent.name),
    )
    return versions[-1] if versions else None


def _without_password(url: str) -> tuple[str, str]:
    """(the URL without its password, the password or "") for a tool's command line."""
    parts = urlsplit(url)
    if parts.password is None:
        return url, ""
    host = parts.netloc.rsplit("@", 1)[1]
    user = f"{parts.username}@" if parts.username else ""
    return urlunsplit(parts._replace(netloc=user + host)), parts.password


async def table_count(url: str) -> int:
    """How many tables of the current schema a dump holds (for its progress)."""
    db = await connect(url)
    try:
        return int(
            await db.fetchval("SELECT COUNT(*) FROM pg_tables WHERE schemaname = current_schema()")
        )
    finally:
        await db.close()


_DUMPING = re.compile(r'dumping contents of table "?([^"\s]+)"?')


def backup(
    url: str,
    target: Path,
    progress: Callable[[str], None] | None = None,
    env: dict[str, str] | None = None,
    *,
    path: str | None = None,
    root: Path = PG_ROOT,
) -> int:
    """Dump the database at `url` into `target` (pg_dump's custom format, restored with
    pg_restore); returns the archive's size in bytes. `progress(table)` is called as
    each table's rows are dumped; `path` and `root` are where the tools are looked for
    (find_tool). Raises NotSupported without pg_dump, CorralError when pg_dump or the
    archive's check fails (the partial file removed)."""
    pg_dump, pg_restore = find_tool("pg_dump", path, root), find_tool("pg_restore", path, root)
    if pg_dump is None or pg_restore is None:
        raise NotSupported(
            "not supported here: pg_dump and pg_restore are not on PATH; install the "
            "PostgreSQL client tools (Debian: postgresql-client), or back up the database "
            "with the server's own tools"
        )
    plain, password = _without_password(url)
    environment = dict(os.environ if env is None else env)
    if password:
        environment["PGPASSWORD"] = password  # kept off the process list
    partial = target.with_name(target.name + ".partial")
    partial.unlink(missing_ok=True)
    command = [
        str(pg_dump),
        "--format=custom",
        "--verbose",
        f"--file={partial}",
        f"--dbname={plain}",
    ]
    try:
        process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
            env=environment,
        )  # fmt: skip
        assert process.stderr is not None
        errors: list[str] = []
        for line in process.stderr:
            match = _DUMPING.search(line)
            if match and progress is not None:
                progress(match.group(1))
            elif "error" in line.lower() or "fatal" in line.lower():
                errors.append(line.strip())
        if process.wait() != 0:
            raise CorralError(
                f"pg_dump failed on {redact(url)}: {' '.join(errors[-3:]) or 'see its output'}"
            )
        listed = subprocess.run(
            [str(pg_restore), "--list", str(partial)], capture_output=True, text=True,
            timeout=300,
        )  # fmt: skip
        if listed.returncode != 0 or "TABLE DATA" not in listed.stdout:
            raise CorralError(f"the dump of {redact(url)} fails its check: {listed.stderr.strip()}")
        with open(partial, "rb+") as archive:
            os.fsync(archive.fileno())
        partial.replace(target)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return target.stat().st_size
