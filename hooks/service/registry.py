"""The table of dispatcher-side MDispatcherAPI implementations.

Each area module decorates its functions with `@api`; a function takes the
`Dispatcher` and the call's plain arguments, raises a CorralError on bad input
or state, and returns the list of values after the MUSTERERR. Coroutines are
for the calls that must wait (a commit, a node's answer).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from dispatcher.errors import ValidationError

if TYPE_CHECKING:
    from dispatcher.app import Dispatcher

Impl = Callable[..., Any]

REGISTRY: dict[str, tuple[Impl, bool]] = {}

ACTOR = "hooks"  # who the action log names for changes made through the API


def api(function: Impl) -> Impl:
    REGISTRY[function.__name__] = (function, inspect.iscoroutinefunction(function))
    return function


def as_int(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError(f"{what}: {value!r} is not an id", field=what)
    return value


def as_text(value: object, what: str, *, empty: bool = False) -> str:
    if not isinstance(value, str) or (not empty and not value.strip()):
        raise ValidationError(f"{what}: a non-empty string is required", field=what)
    return value


async def done(dispatcher: Dispatcher, action: str, **detail: object) -> list[Any]:
    """Record the change in the action log and wait until it is durable."""
    dispatcher.actions.record(ACTOR, action, **detail)
    await dispatcher.store.commit()
    return []
