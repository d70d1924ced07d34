"""The table of dispatcher-side MDispatcherAPI functions.

Each area module decorates its functions with `@api`. A function takes the
operations, the actor making the call and the call's plain arguments; it
checks their types, calls one operation and returns the values that follow
the MUSTERERR. Errors are the operations' CorralErrors; `ApiService` maps them
to MUSTERERR codes (hooks/api/errors.py).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from dispatcher.errors import ValidationError

Impl = Callable[..., Any]

REGISTRY: dict[str, tuple[Impl, bool]] = {}


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
