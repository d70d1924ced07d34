"""Regular expressions of queries, on RE2: matching time grows with the text and the
pattern, never exponentially, so no pattern can hold the dispatcher (`(a+)+$` on a long
text is as quick as any other). RE2 has no backreferences or lookaround; a pattern
using them is refused with RE2's own reason.

A search costs at most about the pattern's size times the text's length, so both are
bounded: a pattern of more than MAX_PROGRAM_SIZE compiled instructions is refused (a
long counted repetition such as `.{1000}` is one), and a search looks at the first
MAX_SEARCH_CHARS characters of a text (more than any job field but a template field
holds). RE2 lets other threads run while it searches (evaluate.py checks in one).
"""

from __future__ import annotations

from collections.abc import Callable

import re2

MAX_PATTERN_CHARS = 1024
MAX_PROGRAM_SIZE = 2000
MAX_SEARCH_CHARS = 256 * 1024
MAX_PROGRAM_BYTES = 8 << 20
"""The memory RE2 may give one compiled pattern and its matching automaton."""


class PatternError(ValueError):
    """A pattern RE2 refuses; the message says why."""


def compile_search(pattern: str) -> Callable[[str], bool]:
    """A test: does `pattern` match anywhere in a text? Case-insensitive unless the
    pattern turns it off with `(?-i)`, as Smedge compares."""
    if len(pattern) > MAX_PATTERN_CHARS:
        raise PatternError(f"the pattern is {len(pattern)} characters; at most {MAX_PATTERN_CHARS}")
    options = re2.Options()
    options.case_sensitive = False
    options.never_capture = True
    options.max_mem = MAX_PROGRAM_BYTES
    options.log_errors = False
    try:
        compiled = re2.compile(pattern, options)
    except re2.error as exc:
        reason = exc.args[0] if exc.args else "not a pattern"
        if isinstance(reason, bytes):
            reason = reason.decode("utf-8", "replace")
        raise PatternError(str(reason)) from None
    except UnicodeEncodeError:
        raise PatternError("the pattern holds a lone surrogate (not text)") from None
    if compiled.programsize > MAX_PROGRAM_SIZE:
        raise PatternError(
            f"the pattern compiles to {compiled.programsize} instructions; at most "
            f"{MAX_PROGRAM_SIZE} (shorten long counted repetitions such as .{{1000}})"
        )
    search = compiled.search

    def test(text: str) -> bool:
        return search(text[:MAX_SEARCH_CHARS]) is not None

    return test
