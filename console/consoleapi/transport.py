"""The console's link to the dispatcher, as MConsoleAPI uses it.

Every MConsoleAPI function goes through `call`: it checks the running context,
runs one or a few REST calls with a `corral_client.Client`, and answers a
MUSTERERR first, never raising. REST errors become MUSTERERR codes by the
dispatcher's own tables: the problem's status and title name the exception
the dispatcher raised (dispatcher/web/app.py), and `code_for_type` gives the
code its API service would have answered (hooks/api/errors.py).
"""

from __future__ import annotations

import http.client
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from corral_client import Client, ClientError, new_idempotency_key
from dispatcher.errors import (
    AuthenticationFailed,
    Busy,
    Conflict,
    CorralError,
    DirectoryUnavailable,
    LimitExceeded,
    NotFound,
    PermissionDenied,
    Refused,
    StoreError,
    TemplateError,
    TooManyAttempts,
    ValidationError,
)
from hooks.api.context import running_context
from hooks.api.errors import (
    MUSTERERR,
    code_for_type,
    kErrBadArgument,
    kErrDisconnected,
    kErrInternal,
    kErrTimeout,
    kErrWrongContext,
)

API = "/api/v1"
DEFAULT_TIMEOUT_S = 30.0
PAGE_ITEMS = 10_000  # the most a listing page holds (dispatcher/listing.py MAX_LIMIT)

# (status, title) of a problem answer -> the exception the dispatcher raised: the
# inverse of dispatcher/web/app.py's table (a unit test holds the two together).
_PROBLEMS: dict[tuple[int, str], type[CorralError]] = {
    (400, "Bad Request"): ValidationError,
    (404, "Not Found"): NotFound,
    (409, "Conflict"): Conflict,
    (422, "Refused by template"): Refused,
    (403, "Forbidden"): PermissionDenied,
    (503, "Store unavailable"): StoreError,
    (502, "Template failed"): TemplateError,
    (401, "Unauthorized"): AuthenticationFailed,
    (422, "Limit exceeded"): LimitExceeded,
    (503, "Service Unavailable"): Busy,
    (429, "Too Many Requests"): TooManyAttempts,
    (503, "Directory unavailable"): DirectoryUnavailable,
    (500, "Internal Server Error"): CorralError,
}
# A status with another title (aiohttp's own answers: 405, 413, a route not found).
_STATUSES: dict[int, type[CorralError]] = {
    401: AuthenticationFailed,
    403: PermissionDenied,
    404: NotFound,
    409: Conflict,
    422: Refused,
    429: TooManyAttempts,
    502: TemplateError,
    503: StoreError,
}


def code_for_problem(status: int, title: str) -> int:
    """The MUSTERERR code of a REST error answer (status 0: no answer came)."""
    if status == 0:
        return kErrDisconnected
    kind = _PROBLEMS.get((status, title)) or _STATUSES.get(status)
    if kind is None:
        kind = ValidationError if 400 <= status < 500 else CorralError
    return code_for_type(kind)


def error_of(function: str, exc: ClientError) -> MUSTERERR:
    """A client library error as the MUSTERERR of `function`."""
    if exc.timed_out:
        return MUSTERERR(kErrTimeout, f"{function}: {exc}")
    if exc.status == 0:
        return MUSTERERR(kErrDisconnected, f"{function}: {exc}")
    # The dispatcher's own words, as its API service answers them.
    return MUSTERERR(code_for_problem(exc.status, exc.title), exc.detail or exc.title or str(exc))


class Failed(Exception):
    """An answer the console API turns into a MUSTERERR (e.g. a node that refused)."""

    def __init__(self, code: int, description: str) -> None:
        super().__init__(description)
        self.code = code


@dataclass
class Settings:
    """Where the console API finds the dispatcher (None: as corral_client finds it)."""

    dispatcher: str | None = None
    token: str | None = None
    timeout_s: float = DEFAULT_TIMEOUT_S
    ca_file: str | None = None


_settings = Settings()
_client: Client | None = None
# The calls that returned an error, as "function: error ..." (run-script prints them);
# the first MAX_REPORTED of them, so that a long script's failures cannot fill memory.
api_errors: list[str] = []
MAX_REPORTED = 1000


def configure(
    dispatcher: str | None = None,
    token: str | None = None,
    timeout_s: float | None = None,
    ca_file: str | None = None,
) -> None:
    """Use this dispatcher, token, timeout and CA from the next call on."""
    global _settings, _client
    _settings = Settings(
        dispatcher, token, DEFAULT_TIMEOUT_S if timeout_s is None else float(timeout_s), ca_file
    )
    _client = None


def settings() -> Settings:
    return _settings


def client() -> Client:
    """The connection's client, made on first use."""
    global _client
    if _client is None:
        _client = Client(
            _settings.dispatcher, _settings.token, _settings.timeout_s, _settings.ca_file
        )
    return _client


def wrong_context(function: str) -> MUSTERERR | None:
    context = running_context()
    if context == "console":
        return None
    where = repr(context) if context else "plain Python"
    return MUSTERERR(
        kErrWrongContext,
        f"MConsoleAPI.{function} works only in the console context (`corral run-script FILE "
        f"--target console`), not in {where}",
    )


def pack(err: MUSTERERR, values: tuple[Any, ...]) -> Any:
    return (err, *values) if values else err


def _failed(function: str, err: MUSTERERR, values: tuple[Any, ...]) -> Any:
    if len(api_errors) < MAX_REPORTED:
        api_errors.append(f"{function}: {err}")
    return pack(err, values)


def bad_argument(function: str, message: str, empty: tuple[Any, ...]) -> Any:
    """The answer to an argument the console can already tell is wrong."""
    wrong = wrong_context(function)
    if wrong is not None:
        return pack(wrong, empty)
    return _failed(function, MUSTERERR(kErrBadArgument, f"{function}: {message}"), empty)


Work = Callable[[Client], tuple[Any, ...]]


def call(function: str, empty: tuple[Any, ...], work: Work) -> Any:
    """Run `work` with the client; `err` alone or `(err, *values)`, `empty` beside a failure."""
    wrong = wrong_context(function)
    if wrong is not None:
        return pack(wrong, empty)
    try:
        values = work(client())
    except ClientError as exc:
        return _failed(function, error_of(function, exc), empty)
    except Failed as exc:
        return _failed(function, MUSTERERR(exc.code, f"{function}: {exc}"), empty)
    except (ValueError, http.client.HTTPException) as exc:  # an unusable address or answer
        return _failed(function, MUSTERERR(kErrDisconnected, f"{function}: {exc}"), empty)
    except Exception as exc:  # never raise into the script
        err = MUSTERERR(kErrInternal, f"{function} failed unexpectedly: {exc!r}")
        return _failed(function, err, empty)
    return pack(MUSTERERR(), values[: len(empty)])


def segment(value: object) -> str:
    """A value as one path segment."""
    return urllib.parse.quote(str(value), safe="")


def get(client: Client, path: str, query: dict[str, Any] | None = None) -> Any:
    return client.request("GET", API + path, query=query)


def send(client: Client, method: str, path: str, body: Any = None) -> Any:
    return client.request(method, API + path, body)


def get_all(client: Client, path: str, query: dict[str, Any] | None = None) -> list[Any]:
    """Every item of a listing, a page at a time (the pages' `Link` headers)."""
    items: list[Any] = []
    params: dict[str, Any] = {**(query or {}), "limit": PAGE_ITEMS}
    while True:
        _, headers, page = client.exchange("GET", API + path, query=params)
        items.extend(page or [])
        cursor = _next_cursor(headers)
        if cursor is None:
            return items
        params["after"] = cursor


def _next_cursor(headers: dict[str, str]) -> str | None:
    link = next((value for name, value in headers.items() if name.lower() == "link"), "")
    if 'rel="next"' not in link:
        return None
    target = link.split(";", 1)[0].strip().strip("<>")
    after = urllib.parse.parse_qs(urllib.parse.urlsplit(target).query).get("after")
    return after[0] if after else None


SUBMIT_RETRIES = 2


def submit(client: Client, item: dict[str, Any]) -> dict[str, Any]:
    """Submit one job as Muster does (a title may repeat). A connection that breaks before
    the answer is tried again with the same Idempotency-Key, so the job is queued once."""
    headers = {"Idempotency-Key": new_idempotency_key()}
    query = {"unique_titles": "false"}
    attempt = 0
    while True:
        try:
            answer: dict[str, Any] = client.request(
                "POST", API + "/jobs/", item, headers=headers, query=query
            )
            return answer
        except ClientError as exc:
            if exc.status != 0 or exc.timed_out or attempt >= SUBMIT_RETRIES:
                raise
        attempt += 1
