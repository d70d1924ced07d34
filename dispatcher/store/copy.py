"""Copying a farm's whole state from its SQLite file into an empty PostgreSQL database
(`corral store migrate`).

The source is brought to the latest schema first (as a dispatcher would on
start), then every table is copied in one transaction on the target with
PostgreSQL's COPY, in the order it was written; the counts are checked before
the transaction commits. A target that holds anything is refused, and so is a
source or target a running dispatcher holds.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dispatcher.auth import FARM_SECRET_META
from dispatcher.datadir import DataDirLock
from dispatcher.errors import Conflict, StartupError
from dispatcher.store import pg_schema
from dispatcher.store.sqlite import SqliteStore
from dispatcher.store.urls import redact

STEP_ROWS = 2000


@dataclass(frozen=True)
class Table:
    """A table to copy: its columns as SQLite reads them, each with its kind
    (int, float, text, bytes), and its order."""

    name: str
    columns: tuple[tuple[str, str], ...]
    order: str

    @property
    def names(self) -> list[str]:
        return [name for name, _ in self.columns]


TABLES = (
    Table("meta", (("key", "text"), ("value", "text")), "key"),
    Table(
        "jobs",
        (
            ("id", "int"),
            ("spec", "bytes"),
            ("chunk_status", "bytes"),
            ("chunk_attempts", "bytes"),
            ("chunk_nodes", "bytes"),
            ("chunk_failures", "bytes"),
            ("changes_from", "int"),
        ),
        "id",
    ),  # fmt: skip
    Table(
        "chunk_changes",
        (("seq", "int"), ("job_id", "int"), ("cells", "bytes")),
        "seq",
    ),  # fmt: skip
    Table(
        "runs",
        (
            ("job_id", "int"),
            ("chunk", "int"),
            ("attempt", "int"),
            ("node_id", "int"),
            ("state", "text"),
            ("started", "float"),
            ("finished", "float"),
            ("exit_code", "int"),
            ("error", "text"),
            ("frames_done", "int"),
            ("warnings", "int"),
            ("errors", "int"),
        ),
        "job_id, chunk, attempt",
    ),  # fmt: skip
    Table("nodes", (("id", "int"), ("name", "text"), ("instance", "int"), ("info", "bytes")), "id"),
    Table("users", (("name", "text"), ("info", "bytes")), "name"),
    Table("records", (("kind", "text"), ("name", "text"), ("info", "bytes")), "kind, name"),
    Table("statistics", (("time", "float"), ("info", "bytes")), "rowid"),
    Table(
        "history",
        (("time", "float"), ("job_id", "int"), ("event", "text"), ("info", "bytes")),
        "rowid",
    ),  # fmt: skip
    Table(
        "chunk_failures",
        (("job_id", "int"), ("chunk", "int"), ("failed_on", "bytes"), ("memory_needed", "int")),
        "job_id, chunk",
    ),  # fmt: skip
    Table(
        "node_failures",
        (("job_id", "int"), ("node_id", "int"), ("failures", "int")),
        "job_id, node_id",
    ),  # fmt: skip
)


class TargetNotEmpty(Conflict):
    """The target database already holds a farm's state (or some of it)."""


@dataclass
class CopyReport:
    source: str
    target: str
    rows: dict[str, int] = field(default_factory=dict)
    secret_copied: bool = False


def _convert(value: Any, kind: str) -> Any:
    if value is None:
        return None
    if kind == "bytes":
        return value.encode("utf-8", "surrogatepass") if isinstance(value, str) else bytes(value)
    if kind == "text":
        return value.decode("utf-8") if isinstance(value, bytes) else str(value)
    if kind == "float":
        return float(value)
    return int(value)


def _read(db: sqlite3.Connection, table: Table) -> Iterator[list[tuple[Any, ...]]]:
    cursor = db.execute(f"SELECT {', '.join(table.names)} FROM {table.name} ORDER BY {table.order}")
    kinds = [kind for _, kind in table.columns]
    while found := cursor.fetchmany(STEP_ROWS):
        yield [tuple(_convert(v, k) for v, k in zip(row, kinds, strict=True)) for row in found]


async def _upgrade(source: Path) -> None:
    """Bring the source to the latest schema, as its dispatcher would on start."""
    store = SqliteStore(source)
    await store.open()
    await store.close()


async def target_rows(db: Any) -> dict[str, int]:
    """The rows each table of the target holds (after its schema is made)."""
    return {table.name: int(await db.fetchval(f"SELECT COUNT(*) FROM {table.name}"))
            for table in TABLES}  # fmt: skip


async def sqlite_to_postgres(
    source: Path,
    url: str,
    progress: Callable[[str, int, int], None] | None = None,
) -> CopyReport:
    """Copy the farm of the SQLite file `source` into the empty database `url`.

    `progress(table, done, total)` follows the copy (total: every row of every table).
    Raises StartupError when either end cannot be used or a dispatcher holds it, and
    TargetNotEmpty when the target holds any row: nothing is written then."""
    if not source.is_file():
        raise StartupError(f"{source}: no such database file", path=str(source))
    lock = DataDirLock(source.parent)  # no dispatcher may change the source meanwhile
    lock.acquire()
    try:
        await _upgrade(source)
        return await _copy(source, url, progress)
    finally:
        lock.release()


async def _copy(
    source: Path, url: str, progress: Callable[[str, int, int], None] | None
) -> CopyReport:
    report = CopyReport(source=str(source), target=redact(url))
    db = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    target = await pg_schema.connect(url)
    try:
        if not await target.fetchval(pg_schema.Q["try_lock"]):
            raise StartupError(
                f"a dispatcher uses the database {redact(url)}: stop it first", path=redact(url)
            )
        await pg_schema.migrate(target)
        found = {name: rows for name, rows in (await target_rows(target)).items() if rows}
        if found:
            held = ", ".join(f"{name} {rows}" for name, rows in found.items())
            raise TargetNotEmpty(
                f"{redact(url)} is not empty ({held} rows): give an empty database "
                "(createdb), nothing was copied"
            )
        totals = {
            t.name: db.execute(f"SELECT COUNT(*) FROM {t.name}").fetchone()[0] for t in TABLES
        }
        total = sum(totals.values())
        done = 0
        if progress is not None:
            progress("", 0, total)
        secret_file = source.parent / "farm.secret"
        async with target.transaction():
            for table in TABLES:
                for rows in _read(db, table):
                    await target.copy_records_to_table(
                        table.name, records=rows, columns=table.names
                    )
                    done += len(rows)
                    if progress is not None:
                        progress(table.name, done, total)
            if progress is not None:
                progress("copied", done, total)
            copied = await target_rows(target)
            if copied != totals:
                raise StartupError(
                    f"the copy does not match its source ({copied} rows, not {totals}); "
                    "nothing was copied",
                    path=redact(url),
                )
            if secret_file.is_file():
                secret = secret_file.read_text().strip()
                await target.execute(pg_schema.Q["put_meta"], FARM_SECRET_META, secret)
                report.secret_copied = True
        report.rows = copied
    finally:
        db.close()
        await pg_schema.close_quietly(target)
    return report
