"""Corral's one exception tree. Each area has a subclass with the fields a caller needs."""

from __future__ import annotations


class CorralError(Exception):
    """Base of every error Corral raises on purpose."""


class ValidationError(CorralError):
    """Input that breaks a rule; `field` names the offending field when there is one."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class NotFound(CorralError):
    """A job, chunk, node or other object that does not exist."""


class Conflict(CorralError):
    """The request conflicts with the current state (ambiguous name, wrong state)."""


class Refused(CorralError):
    """A template's validation hook refused the request."""


class PermissionDenied(CorralError):
    """The caller lacks the permission the action needs."""


class StoreError(CorralError):
    """The database failed; wraps the driver's exception."""


class NotLeader(StoreError):
    """This dispatcher is not (or no longer) the farm's leader: its batch was fenced.

    `epoch` is the leader epoch the dispatcher wrote under (0 for a standby),
    `current_epoch` the one the database holds (docs/scaling.md "Fencing")."""

    def __init__(self, message: str, *, epoch: int, current_epoch: int) -> None:
        super().__init__(message)
        self.epoch = epoch
        self.current_epoch = current_epoch


class TemplateError(CorralError):
    """A template failed to load, or one of its hooks failed."""


class AuthenticationFailed(CorralError):
    """Unknown user, wrong password or a token the dispatcher does not know."""


class StoreUnavailable(StoreError):
    """The store cannot write now (disk full, read-only file system, I/O error).

    Nothing was changed; the store retries by itself and `retry_after_s` says when
    to ask again. `cause` is the driver's own message (e.g. "database or disk is full").
    """

    cause = ""
    retry_after_s = 1.0

    def __init__(self, message: str, *, cause: str, retry_after_s: float) -> None:
        super().__init__(message)
        self.cause = cause
        self.retry_after_s = retry_after_s


class StartupError(CorralError):
    """The dispatcher cannot start on this data directory as it is.

    `path` names the file or folder at fault; `exit_code` is the CLI's exit status
    (docs/cli.md)."""

    exit_code = 6

    def __init__(self, message: str, *, path: str) -> None:
        super().__init__(message)
        self.path = path


class DataDirLocked(StartupError):
    """Another dispatcher holds the data directory's lock; `holder_pid` is its pid (0: unknown)."""

    exit_code = 5

    def __init__(self, message: str, *, path: str, holder_pid: int) -> None:
        super().__init__(message, path=path)
        self.holder_pid = holder_pid


class LimitExceeded(CorralError):
    """A request would pass one of the dispatcher's size limits; `limit` names the
    setting and `value` is its current value."""

    limit = ""
    value = 0

    def __init__(self, message: str, limit: str, value: int) -> None:
        super().__init__(message)
        self.limit = limit
        self.value = value


class Busy(CorralError):
    """The dispatcher is at a bound it keeps on something open at once (event streams);
    `limit` names the setting. Nothing was changed: try again later."""

    limit = ""

    def __init__(self, message: str, limit: str = "") -> None:
        super().__init__(message)
        self.limit = limit


class TooManyAttempts(CorralError):
    """Too many failed logins for a user name or from an address in the window; nothing
    was checked. `retry_after_s` says when to try again."""

    retry_after_s = 1.0

    def __init__(self, message: str, retry_after_s: float = 1.0) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class DirectoryUnavailable(CorralError):
    """The configured LDAP directory did not answer in time or refused the dispatcher's
    own bind; `cause` is the client's message."""

    cause = ""

    def __init__(self, message: str, cause: str = "") -> None:
        super().__init__(message)
        self.cause = cause
