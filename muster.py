"""Muster's `muster` module: tells a script which context it runs in.

Scripts pick their API module with it::

    if muster.runningContext() == "dispatcher":
        import MDispatcherAPI
"""

from __future__ import annotations

from hooks.api.context import running_context

__all__ = ["runningContext"]


def runningContext() -> str:
    """ "dispatcher", "console", "renderclient", or "" in plain Python."""
    return running_context()
