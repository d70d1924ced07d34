"""The exit code of each of Corral's errors when it leaves the `corral` command
(docs/cli.md has the table)."""

from __future__ import annotations

from console.http import ConsoleError
from dispatcher.errors import (
    AuthenticationFailed,
    Busy,
    Conflict,
    CorralError,
    DataDirLocked,
    DirectoryUnavailable,
    LimitExceeded,
    NotFound,
    NotLeader,
    PermissionDenied,
    Refused,
    StartupError,
    StoreError,
    StoreUnavailable,
    TemplateError,
    TooManyAttempts,
    ValidationError,
)

# The one table from Corral's exceptions to exit codes (1 refused or failed, 4 not allowed,
# 7 not found);
# every class of dispatcher/errors.py has its row, a test checks it. The console's own
# errors (console/http.py) carry their exit code.
EXIT_CODES: dict[type[CorralError], int] = {
    CorralError: 1,
    ValidationError: 1,
    NotFound: 7,
    Conflict: 1,
    Refused: 1,
    PermissionDenied: 4,
    StoreError: 1,
    TemplateError: 1,
    AuthenticationFailed: 4,
    StoreUnavailable: 1,
    NotLeader: 1,
    StartupError: StartupError.exit_code,  # 6: the data directory cannot be used as it is
    DataDirLocked: DataDirLocked.exit_code,  # 5: another dispatcher holds it
    LimitExceeded: 1,
    Busy: 1,
    TooManyAttempts: 4,  # login refused until the window passes
    DirectoryUnavailable: 1,
}


def exit_code_for(exc: CorralError) -> int:
    """The exit code of an error: the console's own, or the row of its nearest class."""
    if isinstance(exc, ConsoleError):
        return exc.exit_code
    for kind in type(exc).__mro__:
        if kind in EXIT_CODES:
            return EXIT_CODES[kind]
    raise AssertionError(f"no exit code for {type(exc).__name__}")  # CorralError has a row
