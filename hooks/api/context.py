"""Which Corral process the current Python code runs in (Muster's running context).

The entry point of each process sets it once: the hook host "dispatcher", the
render client "renderclient", console scripts "console". Plain Python is "".
Setting it also makes `muster` a builtin, as in Muster's own interpreter: the
code Corral runs may call `muster.runningContext()` without importing it.
"""

from __future__ import annotations

import builtins
import importlib

CONTEXTS = frozenset({"", "dispatcher", "console", "renderclient", "notificator"})

_current = ""


def set_context(name: str) -> None:
    """Set the running context; raises ValueError for a name Muster does not know."""
    global _current
    if name not in CONTEXTS:
        known = ", ".join(repr(context) for context in sorted(CONTEXTS))
        raise ValueError(f"unknown running context {name!r}; expected one of {known}")
    _current = name
    install_builtin()


def install_builtin() -> None:
    """Make the `muster` module a builtin (every entry point does, through set_context)."""
    if not hasattr(builtins, "muster"):
        builtins.muster = importlib.import_module("muster")  # type: ignore[attr-defined]


def running_context() -> str:
    """The running context set by the entry point, "" in plain Python."""
    return _current
