"""Store URLs: which store a `store` setting names, and the same URL fit to show."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

POSTGRES_SCHEMES = ("postgresql://", "postgres://")
SQLITE_SCHEME = "sqlite://"


def is_postgres(url: str) -> bool:
    """True when `url` names a PostgreSQL database (postgresql://...)."""
    return url.startswith(POSTGRES_SCHEMES)


def sqlite_path(url: str) -> str:
    """The file a sqlite:///path URL names ('' for anything else)."""
    return url[len(SQLITE_SCHEME) :] if url.startswith(SQLITE_SCHEME) else ""


def redact(url: str) -> str:
    """The URL with its password replaced by ***, for logs, status and settings reports."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return "postgresql://(unreadable URL)"
    if password is None:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=f"{parts.username or ''}:***@{host}"))
