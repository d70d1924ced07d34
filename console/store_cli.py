"""`corral store check`, `corral store backup` and `corral store migrate`: the
database of a data directory, or a PostgreSQL store (`--store postgresql://...`).

Check and backup read the file directly (they need read access to the data
directory, not a token), or connect to the PostgreSQL database as any client
does (dispatcher/store/pg_maintenance.py); both are safe while the dispatchers
run. Migrate copies a stopped farm's SQLite file into an empty PostgreSQL database.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import click

from console.auth import data_dir_from
from console.http import ConsoleError

DB_NAME = "corral.db"


def _database(ctx: click.Context, data_dir: Path | None, db: Path | None) -> Path:
    if db is not None:
        return db
    state = ctx.find_root().obj
    folder = data_dir or data_dir_from(getattr(state, "data_dir", None), getattr(state, "env", {}))
    if folder is None:
        raise click.UsageError("name the data directory with --data-dir (or CORRAL_DATA_DIR)")
    return folder / DB_NAME


_data_dir_option = click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="The dispatcher's data directory [env CORRAL_DATA_DIR].",
)
_db_option = click.option(
    "--db",
    type=click.Path(dir_okay=False, path_type=Path),
    help="A database file instead (a backup, say).",
)
_store_option = click.option(
    "--store",
    "store_url",
    metavar="postgresql://...",
    help="A PostgreSQL store instead of a data directory's SQLite file.",
)


def _postgres_url(store_url: str, data_dir: Path | None, db: Path | None) -> str:
    from dispatcher.store.urls import is_postgres, redact

    if data_dir is not None or db is not None:
        raise click.UsageError("give --store, or --data-dir / --db, not both")
    if not is_postgres(store_url):
        raise click.BadParameter(
            f"{redact(store_url)!r} is not a PostgreSQL URL: give postgresql://[user@]host[:port]/db",
            param_hint="'--store'",
        )
    return store_url


@click.group()
def store() -> None:
    """Check or copy a dispatcher's database (safe while it runs)."""


@store.command()
@_data_dir_option
@_db_option
@_store_option
@click.option("--json", "as_json", is_flag=True, help="One JSON object instead of text.")
@click.pass_context
def check(
    ctx: click.Context,
    data_dir: Path | None,
    db: Path | None,
    store_url: str | None,
    as_json: bool,
) -> None:
    """SQLite's full integrity check of the database: exit 0 when sound, 1 when not.

    With --store postgresql://... the PostgreSQL store's: schema version, row counts,
    the jobs' chunks against their attempts, and its indexes where amcheck is installed.

    \b
    corral store check --data-dir /srv/corral
    corral store check --store postgresql://corral@db/farm --json
    """
    if store_url is not None:
        _check_postgres(ctx, _postgres_url(store_url, data_dir, db), as_json)
        return
    from dispatcher.store.maintenance import check as run_check

    path = _database(ctx, data_dir, db)
    report = run_check(path)
    if as_json:
        click.echo(json.dumps(report.__dict__))
    elif report.ok:
        click.echo(
            f"{path}: ok ({report.pages} pages of {report.page_size} bytes, "
            f"schema {report.schema_version}, {report.jobs} jobs)"
        )
    else:
        click.echo(f"{path}: {len(report.problems)} problem(s) found", err=True)
        for problem in report.problems[:100]:
            click.echo(f"  {' '.join(problem.split())}", err=True)
    if not as_json:
        for note in report.notes:
            click.echo(f"note: {note}", err=True)
    ctx.exit(0 if report.ok else 1)


def _check_postgres(ctx: click.Context, url: str, as_json: bool) -> None:
    from dispatcher.store.pg_maintenance import check as run_check

    report = asyncio.run(run_check(url))
    if as_json:
        click.echo(json.dumps(report.__dict__))
    elif report.ok:
        indexes = f", {report.indexes_checked} indexes checked" if report.indexes_checked else ""
        click.echo(
            f"{report.path}: ok (schema {report.schema_version}, {report.jobs} jobs, "
            f"{report.rows.get('runs', 0)} attempts, {report.size_bytes} bytes{indexes})"
        )
    else:
        click.echo(f"{report.path}: {len(report.problems)} problem(s) found", err=True)
        for problem in report.problems[:100]:
            click.echo(f"  {' '.join(problem.split())}", err=True)
    if not as_json:
        for note in report.notes:
            click.echo(f"note: {note}", err=True)
    ctx.exit(0 if report.ok else 1)


@store.command()
@click.argument("target", type=click.Path(dir_okay=False, path_type=Path))
@_data_dir_option
@_db_option
@_store_option
@click.option("--force", is_flag=True, help="Replace TARGET if it exists.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@click.pass_context
def backup(
    ctx: click.Context,
    target: Path,
    data_dir: Path | None,
    db: Path | None,
    store_url: str | None,
    force: bool,
    quiet: bool,
) -> None:
    """Copy the database to TARGET as it is at one instant (SQLite's online backup).

    With --store postgresql://... TARGET is a pg_dump archive (custom format; restore
    it with pg_restore); pg_dump and pg_restore must be installed.

    \b
    corral store backup /backup/corral.db --data-dir /srv/corral
    corral store backup /backup/farm.dump --store postgresql://corral@db/farm
    """
    if target.exists() and not force:
        raise ConsoleError(f"{target} exists; give another name or --force")
    if store_url is not None:
        _backup_postgres(_postgres_url(store_url, data_dir, db), target, quiet)
        return
    import sqlite3

    from dispatcher.store.maintenance import backup as run_backup

    source = _database(ctx, data_dir, db)
    bar: Any = None

    def progress(done: int, total: int) -> None:
        nonlocal bar
        if quiet:
            return
        if bar is None:
            bar = click.progressbar(
                length=total, label="backup", file=click.get_text_stream("stderr")
            )
            bar.__enter__()
        bar.update(done - bar.pos)

    try:
        pages = run_backup(source, target, progress)
    except (OSError, sqlite3.Error) as exc:
        raise ConsoleError(f"cannot back up {source}: {exc}") from exc
    finally:
        if bar is not None:
            bar.__exit__(None, None, None)
    click.echo(f"{source} -> {target}: {pages} pages, {target.stat().st_size} bytes, checked ok")


def _backup_postgres(url: str, target: Path, quiet: bool) -> None:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from dispatcher.errors import CorralError, StartupError
    from dispatcher.store import pg_maintenance
    from dispatcher.store.urls import redact

    try:
        tables = asyncio.run(pg_maintenance.table_count(url))
    except StartupError as exc:
        raise ConsoleError(str(exc)) from None
    bar = Progress(
        TextColumn("{task.description:<24}"), BarColumn(), MofNCompleteColumn(),
        TextColumn("tables"), TimeElapsedColumn(),
        console=Console(stderr=True), disable=quiet, transient=False,
    )  # fmt: skip
    task = bar.add_task("backup", total=tables)

    def progress(table: str) -> None:
        bar.update(task, description=table, advance=1)

    try:
        with bar:
            size = pg_maintenance.backup(url, target, progress)
    except CorralError as exc:
        raise ConsoleError(str(exc)) from None
    except OSError as exc:
        raise ConsoleError(f"cannot back up {redact(url)}: {exc}") from None
    click.echo(f"{redact(url)} -> {target}: {tables} tables, {size} bytes, checked ok")


def _sqlite_source(text: str) -> Path:
    from dispatcher.store.urls import sqlite_path

    path = sqlite_path(text) or ("" if "://" in text else text)
    if not path:
        raise click.BadParameter(
            f"{text!r} is not a SQLite database: give sqlite:///path/to/corral.db",
            param_hint="'--from'",
        )
    return Path(path)


@store.command()
@click.option("--from", "source", required=True, metavar="sqlite:///PATH",
              help="The farm's SQLite database (DATA_DIR/corral.db); its dispatcher stopped.")  # fmt: skip
@click.option("--to", "target", required=True, metavar="postgresql://...",
              help="An empty PostgreSQL database (created with createdb).")  # fmt: skip
@click.option("--quiet", is_flag=True, help="No progress bar.")
def migrate(source: str, target: str, quiet: bool) -> None:
    """Copy a farm's whole state from its SQLite file into an empty PostgreSQL database.

    The farm's dispatcher must be stopped (the data directory's lock is taken for the
    copy). A target that holds anything is refused (exit 1) and left as it was; the
    copy is one transaction, checked row for row before it commits. Then start the
    dispatcher with the same --data-dir and --store postgresql://... (docs/scaling.md).

    \b
    corral store migrate --from sqlite:///srv/corral/corral.db --to postgresql://corral@db/farm
    """
    from dispatcher.store.urls import is_postgres, redact

    path = _sqlite_source(source)
    if not is_postgres(target):
        raise click.BadParameter(
            f"{redact(target)!r} is not a PostgreSQL URL: give postgresql://[user@]host[:port]/db",
            param_hint="'--to'",
        )
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from dispatcher.store.copy import sqlite_to_postgres

    bar = Progress(
        TextColumn("{task.description:<16}"), BarColumn(), MofNCompleteColumn(),
        TextColumn("rows"), TimeElapsedColumn(),
        console=Console(stderr=True), disable=quiet, transient=False,
    )  # fmt: skip
    task = bar.add_task("migrate", total=None)

    def progress(table: str, done: int, total: int) -> None:
        bar.update(task, description=table or "migrate", completed=done, total=total)

    with bar:
        report = asyncio.run(sqlite_to_postgres(path, target, progress))
    rows = sum(report.rows.values())
    secret = "; the farm secret went along" if report.secret_copied else ""
    click.echo(
        f"{path} -> {redact(target)}: {rows} rows in {len(report.rows)} tables, checked ok{secret}"
    )


COMMANDS = [store]
