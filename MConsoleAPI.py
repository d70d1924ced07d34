"""Muster's `MConsoleAPI` module: drive the farm from a console script, over HTTP.

It holds the console counterparts of MDispatcherAPI's 80 functions (and of
Corral's four client-configuration extensions), with the same names,
arguments, MUSTERERR-first returns and objects::

    if muster.runningContext() == "console":
        import MConsoleAPI as api
    elif muster.runningContext() == "dispatcher":
        import MDispatcherAPI as api
    err, jobs = api.jobGetList()

The functions work in the console context (`corral run-script FILE --target
console`) and return a kErrWrongContext MUSTERERR elsewhere. They call the
dispatcher's REST API at the address and with the token the `corral` command
uses; `connect()` names others. See docs/console.md.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from console.consoleapi.accounts import *  # noqa: F403
from console.consoleapi.jobs import *  # noqa: F403
from console.consoleapi.nodes import *  # noqa: F403
from console.consoleapi.system import *  # noqa: F403
from console.consoleapi.template_config import *  # noqa: F403
from console.consoleapi.transport import configure as _configure
from hooks.api.dispatcher_api import AREAS as AREAS
from hooks.api.dispatcher_api import EXTENSIONS as EXTENSIONS
from hooks.api.dispatcher_api import FUNCTION_NAMES as FUNCTION_NAMES
from hooks.api.errors import *  # noqa: F403
from hooks.api.farm_objects import *  # noqa: F403
from hooks.api.objects import MChunk as MChunk
from hooks.api.objects import MJob as MJob
from hooks.api.objects import MStringRef as MStringRef

# Functions a console cannot carry out (each returns a documented MUSTERERR): none, every
# one reaches its operation over REST.
NOT_SUPPORTED: tuple[str, ...] = ()


def connect(
    dispatcher: str | None = None,
    token: str | None = None,
    timeout_s: float | None = None,
    ca_file: str | None = None,
) -> None:
    """Use this dispatcher URL, token, per-call timeout (seconds, default 30) and CA file
    from the next call on (a Corral addition; None: as the `corral` command finds them)."""
    _configure(dispatcher, token, timeout_s, ca_file)


def functions(*, extensions: bool = False) -> dict[str, Callable[..., Any]]:
    """Every API function by name, in the seed's order (then Corral's, with `extensions`)."""
    namespace = globals()
    names = FUNCTION_NAMES + EXTENSIONS if extensions else FUNCTION_NAMES
    return {name: namespace[name] for name in names}
