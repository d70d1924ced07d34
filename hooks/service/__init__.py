"""The dispatcher's side of MDispatcherAPI: `ApiService.handle` answers the hook host's
calls. It is a front, like REST: the area modules (jobs, nodes, system, accounts)
translate each call into one operation (dispatcher/operations/).

The actor of a call is the template whose hook made it (`template:KEY`, with
the dispatcher's authority), or, for a dispatcher-context script, the user who
ran it.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from typing import Any

from dispatcher.errors import CorralError
from dispatcher.operations import Actor, Operations
from hooks import wire
from hooks.api.errors import code_for, kErrBadArgument, kErrInternal
from hooks.service import accounts, jobs, nodes, system, template_config  # noqa: F401
from hooks.service.registry import REGISTRY, Impl
from hooks.supervisor import HookHost

log = logging.getLogger(__name__)


def _failure(call: wire.ApiCall, exc: BaseException) -> wire.ApiReply:
    if isinstance(exc, CorralError | TimeoutError):
        return wire.ApiReply(call.call, code_for(exc), str(exc) or type(exc).__name__)
    if isinstance(exc, TypeError) and "argument" in str(exc):
        return wire.ApiReply(call.call, kErrBadArgument, f"{call.function}: {exc}")
    log.error("action=hook_api_error function=%s error=%r", call.function, exc, exc_info=exc)
    return wire.ApiReply(call.call, kErrInternal, f"{call.function} failed unexpectedly: {exc!r}")


class ApiService:
    """Maps ApiCall frames to the functions in REGISTRY, each onto an operation."""

    def __init__(self, operations: Operations) -> None:
        self.operations = operations
        self.host: HookHost | None = None  # set once the host exists: who runs a script

    def actor(self, call: wire.ApiCall) -> Actor:
        if call.template:
            return Actor.of_template(call.template)
        running = self.host.current_actor if self.host is not None else ""
        return self.operations.system.script_actor(running)

    def handle(self, call: wire.ApiCall) -> wire.ApiReply | Awaitable[wire.ApiReply]:
        self.operations.system.api_calls += 1
        entry = REGISTRY.get(call.function)
        if entry is None:
            return wire.ApiReply(
                call.call, kErrBadArgument, f"no MDispatcherAPI function {call.function!r}"
            )
        function, is_async = entry
        actor = self.actor(call)
        if is_async:
            return self._await(call, function, actor)
        try:
            values = function(self.operations, actor, *call.args)
        except Exception as exc:
            return _failure(call, exc)
        return wire.ApiReply(call.call, 0, "", list(values))

    async def _await(self, call: wire.ApiCall, function: Impl, actor: Actor) -> wire.ApiReply:
        try:
            values: list[Any] = await function(self.operations, actor, *call.args)
        except Exception as exc:
            return _failure(call, exc)
        return wire.ApiReply(call.call, 0, "", list(values))
