"""The SQLite store's named queries (store/sql/queries.sql) and the folder of its SQL."""

from __future__ import annotations

import functools
import re
from pathlib import Path

SQL_DIR = Path(__file__).parent / "sql"


def named_queries(text: str) -> dict[str, str]:
    """Split a file of `-- name: x` blocks into {name: sql}."""
    queries: dict[str, str] = {}
    for block in re.split(r"^-- name: ", text, flags=re.MULTILINE)[1:]:
        name, _, sql = block.partition("\n")
        queries[name.strip()] = sql.strip().rstrip(";")
    return queries


Q = named_queries((SQL_DIR / "queries.sql").read_text())

# Rows a statement of `put_runs` takes: a batch's attempt rows go in the fewest of
# these (from the largest down), each one step of SQLite with the GIL let go.
RUN_ROWS = (512, 256, 128, 64, 32, 16, 8, 4, 2, 1)


def many_rows(single: str, rows: int) -> str:
    """A one-row `INSERT ... VALUES (?, ...) ...` statement that takes `rows` rows."""
    head, values, tail = single.partition("VALUES ")
    group, close, rest = tail.partition(")")
    if not values or not close:
        raise ValueError("not a one-row INSERT ... VALUES (...) statement")
    return head + values + ", ".join([group + close] * rows) + rest


# put_run for many rows: one statement per size of RUN_ROWS, as `put_runs` uses them.
PUT_RUNS = [(size, many_rows(Q["put_run"], size)) for size in RUN_ROWS]
RUN_PARAMETERS = Q["put_run"].count("?")


@functools.cache
def put_runs_within(max_parameters: int) -> tuple[tuple[int, str], ...]:
    """The PUT_RUNS statements that bind at most `max_parameters` parameters (a
    connection's SQLITE_LIMIT_VARIABLE_NUMBER: 999 before SQLite 3.32); one row always."""
    return tuple(
        (size, statement)
        for size, statement in PUT_RUNS
        if size == 1 or size * RUN_PARAMETERS <= max_parameters
    )
