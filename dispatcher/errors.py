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


class TemplateError(CorralError):
    """A template failed to load, or one of its hooks failed."""


class LimitExceeded(CorralError):
    """A request would pass one of the dispatcher's size limits; `limit` names the
    setting and `value` is its current value."""

    def __init__(self, message: str, limit: str, value: int) -> None:
        super().__init__(message)
        self.limit = limit
        self.value = value
