"""Smedge's job query grammar, evaluated on the dispatcher (docs/rest.md, "Queries").

`parse_query` checks a decoded query and builds its test (grammar.py, with the names
of fields.py and the checks of checks.py); `matching_keys` runs it over the queue in
slices with a time budget, checking in worker threads (evaluate.py). Regular
expressions run on RE2 (regex.py).
"""

from dispatcher.query.evaluate import checkers, matching_keys
from dispatcher.query.fields import Catalog
from dispatcher.query.grammar import MAX_QUERY_CHARS, Query, QueryError, parse_query, read_query
from dispatcher.query.times import parse_time

__all__ = [
    "MAX_QUERY_CHARS",
    "Catalog",
    "Query",
    "QueryError",
    "checkers",
    "matching_keys",
    "parse_query",
    "parse_time",
    "read_query",
]
