"""Checking and copying a dispatcher's database from outside it (`corral store`).

Both work on the file directly, through their own read-only connection, so they
run while the dispatcher serves: in WAL mode a reader never blocks the writer
and sees one consistent state.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from dispatcher.errors import StartupError
from dispatcher.store import chunk_changes, startup
from dispatcher.store.sqlite import SQL_DIR, Q

BACKUP_STEP_PAGES = 256


@dataclass
class CheckReport:
    path: str
    ok: bool
    problems: list[str] = field(default_factory=list)
    pages: int = 0
    page_size: int = 0
    schema_version: int = 0
    jobs: int = 0
    notes: list[str] = field(default_factory=list)  # (not problems)


def latest_schema() -> int:
    return max(int(path.name.split("_", 1)[0]) for path in (SQL_DIR / "migrations").glob("*.sql"))


def _connect_read_only(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None)
    db.execute("PRAGMA query_only=ON")
    return db


def check(path: Path) -> CheckReport:
    """SQLite's full integrity check, plus what makes it a Corral database."""
    report = CheckReport(path=str(path), ok=False)
    if not path.is_file():
        report.problems.append("no such file")
        return report
    if path.stat().st_size == 0:
        report.problems.append("the file is empty (0 bytes)")
        return report
    try:
        startup.check_files(path)
    except StartupError as exc:
        report.problems.append(str(exc))
    try:
        db = _connect_read_only(path)
        try:
            report.page_size = db.execute("PRAGMA page_size").fetchone()[0]
            report.pages = db.execute("PRAGMA page_count").fetchone()[0]
            report.schema_version = db.execute("PRAGMA user_version").fetchone()[0]
            found = [row[0] for row in db.execute("PRAGMA integrity_check")]
            if found != ["ok"]:
                report.problems.extend(found)
            tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
            if "jobs" not in tables or report.schema_version == 0:
                report.problems.append("not a Corral database (no schema version or jobs table)")
            else:
                report.jobs = db.execute("SELECT COUNT(*) FROM jobs").fetchone()[0]
            if "chunk_changes" in tables and "jobs" in tables:
                _check_chunk_changes(db, report)
            if report.schema_version > latest_schema():
                report.problems.append(
                    f"schema version {report.schema_version} is newer than this Corral "
                    f"knows ({latest_schema()})"
                )
        finally:
            db.close()
    except sqlite3.Error as exc:
        report.problems.append(str(exc))
    report.ok = not report.problems
    return report


def _check_chunk_changes(db: sqlite3.Connection, report: CheckReport) -> None:
    problems, orphans = chunk_changes.check_rows(db.execute(Q["check_chunk_changes"]))
    report.problems.extend(problems)
    if orphans:
        report.notes.append(chunk_changes.orphans_note(orphans))


def backup(source: Path, target: Path, progress: Callable[[int, int], None] | None = None) -> int:
    """Copy `source` to `target` as it is at one instant, through SQLite's backup API;
    returns the pages copied. `progress(done, total)` follows each step. The copy is
    written beside `target` and renamed into place once complete and checked."""
    if not source.is_file():
        raise FileNotFoundError(f"{source}: no such database")
    partial = target.with_name(target.name + ".partial")
    partial.unlink(missing_ok=True)
    src = _connect_read_only(source)
    try:
        # A read transaction pins one snapshot for every step: the dispatcher's
        # writes meanwhile neither restart the copy nor leak into it.
        src.execute("BEGIN")
        src.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
        dst = sqlite3.connect(partial)
        try:
            total = [0]

            def step(_status: int, remaining: int, pages: int) -> None:
                total[0] = pages
                if progress is not None:
                    progress(pages - remaining, pages)

            src.backup(dst, pages=BACKUP_STEP_PAGES, progress=step)
            found = dst.execute("PRAGMA quick_check").fetchone()[0]
            if found != "ok":
                raise sqlite3.DatabaseError(f"the copy fails its check: {found}")
            dst.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
        finally:
            dst.close()
        src.execute("COMMIT")
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    finally:
        src.close()
    with open(partial, "rb+") as copy:
        os.fsync(copy.fileno())
    partial.replace(target)
    return total[0]


def read_record(path: Path, kind: str, name: str) -> bytes | None:
    """One named record of the database (`corral config show` reads the stored settings),
    None when the database or the record is missing."""
    if not path.is_file():
        return None
    db = _connect_read_only(path)
    try:
        row = db.execute(Q["get_record"], (kind, name)).fetchone()
    finally:
        db.close()
    return None if row is None else bytes(row[0])
