"""The SQLite store's named queries (store/sql/queries.sql) and the folder of its SQL."""

from __future__ import annotations

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
