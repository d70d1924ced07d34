"""MUSTERERR, the first value every MDispatcherAPI function returns, and its codes.

Code 0 means success. The table below is the one documented in
docs/hooks.md; `code_for` is the one place a Corral exception becomes a code.
"""

from __future__ import annotations

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

__all__ = [
    "ERROR_CODES",
    "MUSTERERR",
    "kErrBadArgument",
    "kErrConflict",
    "kErrDisconnected",
    "kErrInternal",
    "kErrNone",
    "kErrNotFound",
    "kErrPermission",
    "kErrRefused",
    "kErrStore",
    "kErrTemplate",
    "kErrTimeout",
    "kErrWrongContext",
]

kErrNone = 0
kErrWrongContext = 1
kErrBadArgument = 2
kErrNotFound = 3
kErrConflict = 4
kErrRefused = 5
kErrPermission = 6
kErrStore = 7
kErrTemplate = 8
kErrTimeout = 9
kErrDisconnected = 10
kErrInternal = 11

# code: (constant name, meaning); docs/hooks.md shows this table.
ERROR_CODES: dict[int, tuple[str, str]] = {
    kErrNone: ("kErrNone", "success"),
    kErrWrongContext: (
        "kErrWrongContext",
        "called outside the dispatcher context (plain Python, a console or a render client)",
    ),
    kErrBadArgument: ("kErrBadArgument", "an argument has the wrong type or value"),
    kErrNotFound: (
        "kErrNotFound",
        "no job, chunk, node, user, group, pool, repository or log of that id or name",
    ),
    kErrConflict: (
        "kErrConflict",
        "the object's state forbids it (e.g. a folder that is not empty, a name in use)",
    ),
    kErrRefused: ("kErrRefused", "a template's validation hook refused it"),
    kErrPermission: ("kErrPermission", "not allowed (e.g. removing the admin user)"),
    kErrStore: ("kErrStore", "the database failed; nothing was changed"),
    kErrTemplate: ("kErrTemplate", "a template failed to load or a hook failed"),
    kErrTimeout: (
        "kErrTimeout",
        "the operation did not finish in time (e.g. a node did not answer)",
    ),
    kErrDisconnected: ("kErrDisconnected", "the hook host lost its link to the dispatcher"),
    kErrInternal: (
        "kErrInternal",
        "an unexpected error in the dispatcher; its log has the traceback",
    ),
}

# The one table from Corral's exceptions to MUSTERERR codes: every class of
# dispatcher/errors.py has its row (a test checks it); a subclass without its own row
# takes its parent's.
_BY_EXCEPTION: list[tuple[type[CorralError], int]] = [
    (ValidationError, kErrBadArgument),
    (NotFound, kErrNotFound),
    (Conflict, kErrConflict),
    (Refused, kErrRefused),
    (PermissionDenied, kErrPermission),
    (StoreError, kErrStore),
    (StoreUnavailable, kErrStore),
    (NotLeader, kErrStore),  # (a leader's write fenced as it stepped down)
    (StartupError, kErrStore),
    (DataDirLocked, kErrStore),
    (TemplateError, kErrTemplate),
    (AuthenticationFailed, kErrPermission),
    (CorralError, kErrInternal),
    (LimitExceeded, kErrBadArgument),
    (Busy, kErrTimeout),
    (TooManyAttempts, kErrPermission),
    (DirectoryUnavailable, kErrTimeout),
]


def code_for(exc: BaseException) -> int:
    """The MUSTERERR code of an exception raised while serving an API call."""
    return code_for_type(type(exc))


def code_for_type(kind: type[BaseException]) -> int:
    """The MUSTERERR code of an exception class (the row of its nearest class)."""
    if issubclass(kind, TimeoutError):
        return kErrTimeout
    rows = dict(_BY_EXCEPTION)
    for base in kind.__mro__:
        if base in rows:
            return rows[base]
    return kErrInternal  # not Corral's: an unexpected error


class MUSTERERR:
    """An API call's outcome: `getErrorCode()` is 0 on success, `getDescription()` says why not."""

    def __init__(self, code: int = kErrNone, description: str = "") -> None:
        self._code = int(code)
        self._description = str(description)

    def getErrorCode(self) -> int:
        return self._code

    def getDescription(self) -> str:
        return self._description

    def getErrorName(self) -> str:
        """The constant's name ("kErrNotFound"), or "" for a code not in the table."""
        return ERROR_CODES.get(self._code, ("", ""))[0]

    def isOk(self) -> bool:
        return self._code == kErrNone

    def __eq__(self, other: object) -> bool:
        if isinstance(other, MUSTERERR):
            return (self._code, self._description) == (other._code, other._description)
        return NotImplemented

    def __hash__(self) -> int:
        return hash((self._code, self._description))

    def __repr__(self) -> str:
        return f"MUSTERERR({self._code}, {self._description!r})"

    def __str__(self) -> str:
        if self._code == kErrNone:
            return "success"
        return f"error {self._code} ({self.getErrorName()}): {self._description}"
