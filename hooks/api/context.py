"""Which Corral process the current Python code runs in (Muster's running context).

The entry point of each process sets it once: the hook host "dispatcher", the
render client "renderclient", console scripts "console". Plain Python is "".
"""

from __future__ import annotations

CONTEXTS = frozenset({"", "dispatcher", "console", "renderclient", "notificator"})

_current = ""


def set_context(name: str) -> None:
    """Set the running context; raises ValueError for a name Muster does not know."""
    global _current
    if name not in CONTEXTS:
        known = ", ".join(repr(context) for context in sorted(CONTEXTS))
        raise ValueError(f"unknown running context {name!r}; expected one of {known}")
    _current = name


def running_context() -> str:
    """The running context set by the entry point, "" in plain Python."""
    return _current
