"""The SQLite store's named queries: a one-row statement made to take many rows."""

from __future__ import annotations

import sqlite3

import pytest

from dispatcher.store.sqlite_queries import PUT_RUNS, RUN_ROWS, Q, many_rows, put_runs_within


def test_many_rows_repeats_the_values_of_a_one_row_insert() -> None:
    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE t (a INTEGER PRIMARY KEY, b TEXT)")
    statement = many_rows(
        "INSERT INTO t (a, b) VALUES (?, ?) ON CONFLICT (a) DO UPDATE SET b = excluded.b", 3
    )
    assert statement.count("?") == 6 and statement.endswith("DO UPDATE SET b = excluded.b")
    db.execute(statement, [1, "x", 2, "y", 3, "z"])
    db.execute(statement, [3, "w", 4, "v", 5, "u"])
    assert db.execute("SELECT a, b FROM t ORDER BY a").fetchall() == [
        (1, "x"), (2, "y"), (3, "w"), (4, "v"), (5, "u"),
    ]  # fmt: skip
    with pytest.raises(ValueError, match="one-row"):
        many_rows("DELETE FROM t WHERE a = ?", 2)


def test_put_runs_has_a_statement_for_every_size() -> None:
    assert [size for size, _ in PUT_RUNS] == list(RUN_ROWS) and RUN_ROWS[-1] == 1
    for size, statement in PUT_RUNS:
        assert statement.count("?") == 12 * size
    assert PUT_RUNS[-1][1] == Q["put_run"]


def test_put_runs_within_a_parameter_limit_leaves_out_the_larger_statements() -> None:
    assert put_runs_within(32_766) == tuple(PUT_RUNS)
    old_sqlite = put_runs_within(999)  # (the limit before SQLite 3.32)
    assert [size for size, _ in old_sqlite] == [64, 32, 16, 8, 4, 2, 1]
    assert all(statement.count("?") <= 999 for _, statement in old_sqlite)
    assert [size for size, _ in put_runs_within(5)] == [1]  # one row goes whatever the limit
