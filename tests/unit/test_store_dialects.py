"""Both SQL dialects describe the same store: the same migration numbers, the same
named statements; the store setting and the URL shown without its password."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from dispatcher.config import Settings
from dispatcher.errors import ValidationError
from dispatcher.store.urls import is_postgres, redact, sqlite_path

SQL = Path(__file__).resolve().parents[2] / "dispatcher" / "store" / "sql"


def numbers(folder: Path) -> list[int]:
    return sorted(int(path.name.split("_", 1)[0]) for path in folder.glob("*.sql"))


def names(path: Path) -> set[str]:
    return set(re.findall(r"^-- name: (\S+)", path.read_text(), flags=re.MULTILINE))


def test_both_dialects_have_the_same_migration_numbers_without_gaps() -> None:
    sqlite, postgres = numbers(SQL / "migrations"), numbers(SQL / "postgres" / "migrations")
    assert sqlite == postgres
    assert sqlite == list(range(1, len(sqlite) + 1))
    stems = {path.name for path in (SQL / "migrations").glob("*.sql")}
    assert stems == {path.name for path in (SQL / "postgres" / "migrations").glob("*.sql")}


def test_postgresql_has_every_statement_the_sqlite_store_names() -> None:
    missing = names(SQL / "queries.sql") - names(SQL / "postgres" / "queries.sql")
    assert missing == set()


def test_the_store_setting_takes_sqlite_or_a_postgresql_url(tmp_path: Path) -> None:
    assert Settings(data_dir=tmp_path).store == ""
    assert Settings(data_dir=tmp_path, store=" sqlite ").store == ""
    url = "postgresql://corral:pw@db.example:5433/farm"
    assert Settings(data_dir=tmp_path, store=url).store == url
    for bad in ("mysql://x/y", "/var/lib/corral.db", "postgresql:/x"):
        with pytest.raises(ValueError, match="not a store"):
            Settings(data_dir=tmp_path, store=bad)


def test_a_store_in_a_settings_file_is_checked(tmp_path: Path) -> None:
    from dispatcher.config_sources import Layer, resolve

    config = tmp_path / "corral.toml"
    config.write_text(f'data_dir = "{tmp_path}"\nstore = "postgresql://u:secret@h/farm"\n')
    resolved = resolve(options=Layer(), env={}, config=config)
    assert resolved.settings.store == "postgresql://u:secret@h/farm"
    report = resolved.report()["store"]
    assert report["value"] == "postgresql://u:***@h/farm" and report["origin"] == "file"
    config.write_text(f'data_dir = "{tmp_path}"\nstore = "oracle://h/farm"\n')
    with pytest.raises(ValidationError, match="not a store"):
        resolve(options=Layer(), env={}, config=config)


def test_urls_are_told_apart_and_shown_without_their_password() -> None:
    assert is_postgres("postgresql://h/db") and is_postgres("postgres://h/db")
    assert not is_postgres("sqlite:///var/corral.db")
    assert sqlite_path("sqlite:///var/corral.db") == "/var/corral.db"
    assert sqlite_path("postgresql://h/db") == ""
    assert redact("postgresql://ann:s3cret@db:5432/farm") == "postgresql://ann:***@db:5432/farm"
    assert redact("postgresql://ann@db/farm") == "postgresql://ann@db/farm"
    assert "s3cret" not in redact("postgresql://ann:s3cret@[::1/farm")
