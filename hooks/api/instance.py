"""Muster's MInstanceAPI: what render-client-side template code may ask about its node.

The functions work in the render client's own process (the template
callbacks it runs) and answer a kErrWrongContext MUSTERERR outside the
render-client context; Python the dispatcher runs on a node
(nodeRunPythonCode) runs in a process of its own and gets kErrNotFound. Like MDispatcherAPI, every function
returns a MUSTERERR first, then its value::

    err, count = MInstanceAPI.getRunningInstances()
    err, status = MInstanceAPI.getInstanceStatus(0)

The render client registers what it knows with `set_provider`; the status
constants' values are a GUESS (no public source shows them).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

from hooks.api.context import running_context
from hooks.api.errors import MUSTERERR, kErrBadArgument, kErrNotFound, kErrWrongContext

__all__ = [
    "MUSTERERR",
    "getInstanceStatus",
    "getRunningInstances",
    "kInstanceStatusDisconnected",
    "kInstanceStatusIdle",
    "kInstanceStatusPaused",
    "kInstanceStatusRendering",
    "set_provider",
]

kInstanceStatusIdle = 0
kInstanceStatusRendering = 1
kInstanceStatusPaused = 2
kInstanceStatusDisconnected = 3

STATUS_NAMES = {
    kInstanceStatusIdle: "idle",
    kInstanceStatusRendering: "rendering",
    kInstanceStatusPaused: "paused",
    kInstanceStatusDisconnected: "disconnected",
}

# The render client's answer: one status per instance, by instance number.
_provider: Callable[[], Sequence[int]] | None = None
_lock = threading.Lock()


def set_provider(provider: Callable[[], Sequence[int]] | None) -> None:
    """Register how to read the node's instance statuses (None: nothing is known)."""
    global _provider
    with _lock:
        _provider = provider


def _statuses() -> tuple[MUSTERERR, list[int]]:
    if running_context() != "renderclient":
        where = running_context() or "plain Python"
        return MUSTERERR(
            kErrWrongContext, f"MInstanceAPI works in the render client context, not in {where}"
        ), []
    with _lock:
        provider = _provider
    if provider is None:
        return MUSTERERR(kErrNotFound, "this process runs no render client instance"), []
    return MUSTERERR(), list(provider())


def getRunningInstances() -> tuple[MUSTERERR, int]:
    """The number of instances the render client runs on this node."""
    err, statuses = _statuses()
    return err, len(statuses)


def getInstanceStatus(num: int) -> tuple[MUSTERERR, int]:
    """The status of instance `num` (0-based): one of the kInstanceStatus... constants."""
    err, statuses = _statuses()
    if err.getErrorCode() != 0:
        return err, kInstanceStatusDisconnected
    if isinstance(num, bool) or not isinstance(num, int):
        return MUSTERERR(kErrBadArgument, f"num must be an instance number, not {num!r}"), (
            kInstanceStatusDisconnected
        )
    if not 0 <= num < len(statuses):
        return MUSTERERR(
            kErrNotFound, f"no instance {num}; this node runs {len(statuses)}"
        ), kInstanceStatusDisconnected
    return err, statuses[num]
