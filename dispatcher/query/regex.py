"""Regular expressions of queries, on RE2: matching time grows with the text, never
exponentially, so no pattern can hold the dispatcher (`(a+)+$` on a long text is as
quick as any other). RE2 has no backreferences or lookaround; a pattern using them is
refused with RE2's own reason."""

from __future__ import annotations

from collections.abc import Callable

import re2

MAX_PATTERN_CHARS = 1024
MAX_PROGRAM_BYTES = 8 << 20
"""The memory RE2 may give one compiled pattern: a pattern that needs more (a{1000}
nested, say) is refused instead of built."""


class PatternError(ValueError):
    """A pattern RE2 refuses; the message says why."""


def compile_search(pattern: str) -> Callable[[str], bool]:
    """A test: does `pattern` match anywhere in a text? Case-insensitive unless the
    pattern turns it off with `(?-i)`, as Smedge compares."""
    if len(pattern) > MAX_PATTERN_CHARS:
        raise PatternError(f"the pattern is {len(pattern)} characters; at most {MAX_PATTERN_CHARS}")
    options = re2.Options()
    options.case_sensitive = False
    options.max_mem = MAX_PROGRAM_BYTES
    options.log_errors = False
    try:
        compiled = re2.compile(pattern, options)
    except re2.error as exc:
        reason = exc.args[0] if exc.args else "not a pattern"
        if isinstance(reason, bytes):
            reason = reason.decode("utf-8", "replace")
        raise PatternError(str(reason)) from None
    search = compiled.search

    def test(text: str) -> bool:
        return search(text) is not None

    return test
