"""Checks before the store opens its file, and one clear line for each way opening fails.

A dispatcher must never start an empty farm over an existing one, nor quietly
go on without the changes a lost WAL file held: both are refused here with the
path at fault and what to do. SQLite's own errors at open and load become
`StartupError`s with the same shape, so the CLI prints one line and exits with
`StartupError.exit_code` instead of a traceback.
"""

from __future__ import annotations

import errno
import sqlite3
import struct
from pathlib import Path

from dispatcher.errors import StartupError

# Files only a dispatcher that has run here writes: their presence means a farm.
FARM_MARKERS = ("admin.token", "dispatcher.json")
HEADER = b"SQLite format 3\x00"


def wal_path(db_path: Path) -> Path:
    return db_path.with_name(db_path.name + "-wal")


def shm_path(db_path: Path) -> Path:
    return db_path.with_name(db_path.name + "-shm")


def check_files(db_path: Path) -> None:
    """Refuse a database that is missing, empty, cut short or without its WAL."""
    data_dir = db_path.parent
    size = db_path.stat().st_size if db_path.exists() else None
    if not size:
        markers = [name for name in FARM_MARKERS if (data_dir / name).exists()]
        if markers:
            state = "is empty (0 bytes)" if size == 0 else "is missing"
            raise StartupError(
                f"{db_path} {state} but {data_dir} holds an existing farm ({', '.join(markers)}); "
                f"restore {db_path.name} from a backup, or move the folder's files away to "
                "start a new farm",
                path=str(db_path),
            )
        return
    wal, shm = wal_path(db_path), shm_path(db_path)
    if shm.exists() and not wal.exists():
        raise StartupError(
            f"{wal} is missing after an unclean stop (its {shm.name} is still there): the "
            "changes written after the last checkpoint are in it. Put the file back if you "
            f"have it; or delete {shm} to start from the last checkpoint, losing them",
            path=str(wal),
        )
    if not wal.exists() or wal.stat().st_size == 0:
        _check_length(db_path, size)


def _check_length(db_path: Path, size: int) -> None:
    """With no WAL to complete it, the file must be as long as its header says."""
    with db_path.open("rb") as source:
        header = source.read(100)
    if len(header) < 100 or not header.startswith(HEADER):
        raise not_a_database(db_path)
    (page_size,) = struct.unpack(">H", header[16:18])
    page_size = 65536 if page_size == 1 else page_size
    change_counter, pages = struct.unpack(">II", header[24:32])
    (valid_for,) = struct.unpack(">I", header[92:96])
    if pages and change_counter == valid_for and size < pages * page_size:
        raise StartupError(
            f"{db_path} is cut short ({size} bytes; its header says {pages * page_size}): "
            "restore it from a backup ('corral store backup' makes one)",
            path=str(db_path),
        )


def not_a_database(db_path: Path) -> StartupError:
    return StartupError(
        f"{db_path} is not a Corral database or its header is damaged: restore it from a "
        "backup ('corral store backup' makes one), or move it away to start a new farm",
        path=str(db_path),
    )


def explain(exc: BaseException, db_path: Path) -> StartupError:
    """One line for an error SQLite or the OS raised while opening or loading the store."""
    text = str(exc)
    lowered = text.lower()
    if isinstance(exc, StartupError):
        return exc
    if "not a database" in lowered:
        return not_a_database(db_path)
    if "malformed" in lowered or "corrupt" in lowered:
        return StartupError(
            f"{db_path} is damaged ({text}): restore it from a backup; 'corral store check' "
            "lists the damage",
            path=str(db_path),
        )
    if (
        "readonly" in lowered
        or "read-only" in lowered
        or _errno(exc) in (errno.EROFS, errno.EACCES)
    ):
        return StartupError(
            f"cannot write {db_path} ({text}): make {db_path.parent} writable for the dispatcher",
            path=str(db_path),
        )
    if "disk is full" in lowered or _errno(exc) == errno.ENOSPC:
        return StartupError(
            f"the disk holding {db_path} is full ({text}): free some space", path=str(db_path)
        )
    if "unable to open" in lowered:
        return StartupError(
            f"cannot open {db_path} ({text}): check that {db_path.parent} exists and is "
            "writable for the dispatcher",
            path=str(db_path),
        )
    if "i/o error" in lowered:
        return StartupError(
            f"cannot read {db_path} ({text}): check the disk, then 'corral store check'",
            path=str(db_path),
        )
    return StartupError(f"cannot open {db_path}: {text}", path=str(db_path))


def _errno(exc: BaseException) -> int | None:
    if isinstance(exc, OSError):
        return exc.errno
    if isinstance(exc, sqlite3.Error) and getattr(exc, "sqlite_errorname", "").startswith(
        "SQLITE_READONLY"
    ):
        return errno.EROFS
    return None
