"""The dispatcher's side of MDispatcherAPI: `ApiService.handle` answers the hook host's calls.

Every function runs on the dispatcher loop against the live queue and state;
the area modules (jobs, nodes, system, accounts) hold the implementations.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any

from dispatcher.errors import CorralError
from hooks import wire
from hooks.api.errors import kErrBadArgument, kErrInternal
from hooks.service import accounts, jobs, nodes, system  # noqa: F401  (they fill REGISTRY)
from hooks.service.registry import REGISTRY, Impl

if TYPE_CHECKING:
    from dispatcher.app import Dispatcher

log = logging.getLogger(__name__)


def _failure(call: wire.ApiCall, exc: BaseException) -> wire.ApiReply:
    from hooks.api.errors import code_for

    if isinstance(exc, CorralError):
        return wire.ApiReply(call.call, code_for(exc), str(exc) or type(exc).__name__)
    if isinstance(exc, TimeoutError):
        return wire.ApiReply(call.call, code_for(exc), str(exc) or "timed out")
    if isinstance(exc, TypeError) and "argument" in str(exc):
        return wire.ApiReply(call.call, kErrBadArgument, f"{call.function}: {exc}")
    log.error("action=hook_api_error function=%s error=%r", call.function, exc, exc_info=exc)
    return wire.ApiReply(call.call, kErrInternal, f"{call.function} failed unexpectedly: {exc!r}")


class ApiService:
    """Maps ApiCall frames to the implementations in REGISTRY."""

    def __init__(self, dispatcher: Dispatcher) -> None:
        self.dispatcher = dispatcher
        self.calls = 0

    def handle(self, call: wire.ApiCall) -> wire.ApiReply | Awaitable[wire.ApiReply]:
        self.calls += 1
        entry = REGISTRY.get(call.function)
        if entry is None:
            return wire.ApiReply(
                call.call, kErrBadArgument, f"no MDispatcherAPI function {call.function!r}"
            )
        function, is_async = entry
        if is_async:
            return self._await(call, function)
        try:
            values = function(self.dispatcher, *call.args)
        except Exception as exc:
            return _failure(call, exc)
        return wire.ApiReply(call.call, 0, "", list(values))

    async def _await(self, call: wire.ApiCall, function: Impl) -> wire.ApiReply:
        try:
            values: list[Any] = await function(self.dispatcher, *call.args)
        except Exception as exc:
            return _failure(call, exc)
        return wire.ApiReply(call.call, 0, "", list(values))
