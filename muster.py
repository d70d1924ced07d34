"""Muster's `muster` module: tells a script which context it runs in.

As in Muster it is a builtin wherever Corral runs Python (hook host, render
client, console scripts), so scripts pick their API module without importing it::

    if muster.runningContext() == "dispatcher":
        import MDispatcherAPI
    elif muster.runningContext() == "console":
        import MConsoleAPI
"""

from __future__ import annotations

from hooks.api.context import running_context

__all__ = ["runningContext"]


def runningContext() -> str:
    """ "dispatcher", "console", "renderclient", or "" in plain Python."""
    return running_context()
