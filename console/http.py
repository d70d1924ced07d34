"""A small synchronous client of the dispatcher's REST API (stdlib only).

Every call raises a `ConsoleError` subclass on failure, each with the exit code
the CLI uses: `RequestRefused` (1), `NothingThere` (7: 404), `AuthFailed` (4),
`DispatcherUnreachable` (3).
Proxies from the environment are ignored: consoles talk to the dispatcher directly.
"""

from __future__ import annotations

import http.client
import json
import socket
import ssl
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Mapping
from typing import Any

from corral_client.addresses import Addresses, build_opener, open_any, split_urls
from dispatcher.errors import CorralError

API_PREFIX = "/api/v1"
DEFAULT_TIMEOUT_S = 30.0
USER_AGENT = "corral-console/1"


class ConsoleError(CorralError):
    """An error a console reports as one line; `exit_code` is the CLI's exit status."""

    exit_code = 1


class RequestRefused(ConsoleError):
    """The dispatcher answered with an error (problem+json)."""

    def __init__(self, status: int, title: str, detail: str = "", field: str | None = None) -> None:
        self.status = status
        self.title = title
        self.detail = detail
        self.field = field
        super().__init__(self._message())

    def _message(self) -> str:
        text = self.detail or self.title or f"HTTP {self.status}"
        if self.field and self.field not in text:
            text = f"{self.field}: {text}"
        return text


class AuthFailed(RequestRefused):
    """The dispatcher refused the token (401), the token lacks a permission (403), or
    logins are refused for a while after too many failures (429)."""

    exit_code = 4


class NothingThere(RequestRefused):
    """The dispatcher has no such thing (404): an unknown job, node, pool, user ..."""

    exit_code = 7


class DispatcherUnreachable(ConsoleError):
    """No HTTP answer at all: refused connection, unknown host, timeout."""

    exit_code = 3

    def __init__(self, url: str, reason: str) -> None:
        self.url = url
        self.reason = reason
        super().__init__(f"cannot reach the dispatcher at {url} ({reason})")


def job_ref(value: int | str) -> str:
    """A job id or title as one URL path segment."""
    return urllib.parse.quote(str(value).strip(), safe="")


class DispatcherClient:
    """Calls the REST API at `base_url` with a bearer token; one connection per call.

    `base_url` may name several dispatchers of one farm separated by commas: a call
    that cannot reach one tries the next within `timeout_s`, and a standby's 307 is
    followed to the leader (corral_client/addresses.py). `base_url` is then the
    address in use, `urls` all of them.

    `auth_hint` is appended to authentication failures (the CLI says there how to
    give a token when it found none). `ca_file` verifies an https dispatcher's
    certificate against that CA instead of the system's.
    """

    def __init__(
        self,
        base_url: str,
        token: str | None,
        *,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        auth_hint: str = "",
        ca_file: str | None = None,
    ) -> None:
        try:
            self.addresses = Addresses(split_urls(base_url))
        except ValueError as exc:
            raise ConsoleError(str(exc)) from None
        self.token = token
        self.timeout_s = timeout_s
        self.auth_hint = auth_hint
        self.last_link: str | None = None
        context = None
        if ca_file:
            try:
                context = ssl.create_default_context(cafile=ca_file)
            except (OSError, ValueError) as exc:
                raise ConsoleError(f"cannot read the CA file {ca_file}: {exc}") from None
        self._opener = build_opener(self.addresses.urls, context)

    @property
    def base_url(self) -> str:
        """The dispatcher address calls go to now (the one that answered last)."""
        return self.addresses.current

    @property
    def urls(self) -> list[str]:
        """Every dispatcher address this client was given, in order."""
        return list(self.addresses.urls)

    def _where(self) -> str:
        if len(self.addresses) == 1:
            return self.base_url
        return "any of " + ", ".join(self.addresses.urls)

    # -- transport ---------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        query: Mapping[str, object] | None = None,
        headers: Mapping[str, str] | None = None,
        data: bytes | Iterable[bytes] | None = None,
        prefix: str = API_PREFIX,
    ) -> Any:
        """One call; returns decoded JSON, text for text/plain, None for an empty answer.

        `data` is a raw text/plain body instead of `body`'s JSON (an iterable of bytes
        needs a Content-Length header); `prefix` goes before `path` (the API's by default;
        "" for /metrics). `last_link` keeps the answer's Link header (the next page).
        """
        suffix = prefix + path
        if query:
            pairs = {key: str(value) for key, value in query.items() if value is not None}
            if pairs:
                suffix += "?" + urllib.parse.urlencode(pairs)
        headers = {"Accept": "application/json", "User-Agent": USER_AGENT, **(headers or {})}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        if data is not None:
            headers.setdefault("Content-Type", "text/plain; charset=utf-8")
        elif body is not None:
            data = json.dumps(body).encode("utf-8")
            headers["Content-Type"] = "application/json"
        body_data = data

        def make_request(base: str) -> urllib.request.Request:
            return urllib.request.Request(
                base + suffix, data=body_data, headers=headers, method=method
            )

        try:
            with open_any(self._opener, self.addresses, make_request, self.timeout_s) as response:
                payload = response.read()
                content_type = response.headers.get("Content-Type", "")
                self.last_link = response.headers.get("Link")
        except urllib.error.HTTPError as exc:
            raise self._refusal(exc) from None
        except urllib.error.URLError as exc:
            raise DispatcherUnreachable(self._where(), _reason(exc.reason)) from None
        except (OSError, http.client.HTTPException) as exc:
            raise DispatcherUnreachable(self._where(), _reason(exc)) from None
        return _decode(payload, content_type)

    def follow(self, **filters: Any) -> Any:
        """An `EventFollower` of the live events (`jobs`, `nodes`, `kinds`, `after`)."""
        from console.events import EventFollower  # it builds on this module

        return EventFollower(self, **filters)

    def open_stream(self, path: str, query: Mapping[str, object], timeout_s: float) -> Any:
        """Open a streamed text answer (a followed log); read it with `.read1()` or by line.
        `timeout_s` bounds each read."""
        pairs = [(key, str(value)) for key, value in query.items() if value is not None]
        return self._open(path, pairs, {"Accept": "text/plain"}, timeout_s)

    def open_events(
        self, query: list[tuple[str, str]], last_event_id: int | None, timeout_s: float
    ) -> Any:
        """Open GET /api/v1/events (server-sent events); the answer is read line by line
        (console/events.py). `timeout_s` bounds each read, not the stream."""
        headers = {"Accept": "text/event-stream"}
        if last_event_id is not None:
            headers["Last-Event-ID"] = str(last_event_id)
        return self._open("/events", query, headers, timeout_s)

    def _open(
        self, path: str, query: list[tuple[str, str]], headers: dict[str, str], timeout_s: float
    ) -> Any:
        suffix = API_PREFIX + path
        if query:
            suffix += "?" + urllib.parse.urlencode(query)
        headers = {"User-Agent": USER_AGENT, **headers}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"

        def make_request(base: str) -> urllib.request.Request:
            return urllib.request.Request(base + suffix, headers=headers, method="GET")

        try:
            return open_any(self._opener, self.addresses, make_request, timeout_s)
        except urllib.error.HTTPError as exc:
            raise self._refusal(exc) from None
        except urllib.error.URLError as exc:
            raise DispatcherUnreachable(self._where(), _reason(exc.reason)) from None
        except (OSError, http.client.HTTPException) as exc:
            raise DispatcherUnreachable(self._where(), _reason(exc)) from None

    def _refusal(self, exc: urllib.error.HTTPError) -> RequestRefused:
        try:
            raw = exc.read()
        except OSError:
            raw = b""
        title, detail, field = exc.reason or "", "", None
        try:
            problem = json.loads(raw) if raw else None
        except ValueError:
            problem = None
        if isinstance(problem, dict):
            title = str(problem.get("title") or title)
            detail = str(problem.get("detail") or "")
            field = problem.get("field") or None
        elif raw:
            detail = raw.decode("utf-8", "replace").strip()[:500]
        status = exc.code
        if status in (401, 403):
            if self.auth_hint:
                detail = f"{detail or title or 'unauthorized'} ({self.auth_hint})"
            return AuthFailed(status, title or "unauthorized", detail, field)
        if status == 429:  # too many failed logins: not allowed now
            return AuthFailed(status, title, detail, field)
        if status == 404:
            return NothingThere(status, title, detail, field)
        return RequestRefused(status, title, detail, field)

    # -- jobs --------------------------------------------------------------

    def jobs(
        self, state: str | None = None, *, hidden: bool | None = None, where: str | None = None
    ) -> list[dict[str, Any]]:
        """The jobs (in `state`); `hidden` False leaves hidden jobs out, True keeps only them;
        `where` is a Smedge query as JSON text (docs/rest.md, "Queries")."""
        flag = None if hidden is None else str(hidden).lower()
        query = {"state": state, "hidden": flag}
        if where is not None:
            query["where"] = where
        result = self.request("GET", "/jobs/", query=query)
        return list(result or [])

    def job(self, ref: int | str) -> dict[str, Any]:
        return dict(self.request("GET", f"/jobs/{job_ref(ref)}"))

    def job_id(self, ref: int | str) -> int:
        """An id as is; a title is looked up (the dispatcher resolves it)."""
        text = str(ref).strip()
        if text.isdecimal():
            return int(text)
        return int(self.job(text)["id"])

    def submit(
        self, body: dict[str, Any] | list[dict[str, Any]], *, idempotency_key: str | None = None
    ) -> Any:
        """Submit jobs; with a key, a repeat of this submit answers its first jobs."""
        if idempotency_key is None:
            return self.request("POST", "/jobs/", body=body)
        return self.request(
            "POST", "/jobs/", body=body, headers={"Idempotency-Key": idempotency_key}
        )

    def edit_job(self, job_id: int, fields: Mapping[str, Any]) -> dict[str, Any]:
        return dict(self.request("PATCH", f"/jobs/{job_id}", body=dict(fields)))

    def delete_job(self, job_id: int) -> None:
        self.request("DELETE", f"/jobs/{job_id}")

    def job_action(self, job_id: int, action: str) -> dict[str, Any]:
        return dict(self.request("POST", f"/jobs/{job_id}/actions/{action}"))

    def tasks(self, job_id: int) -> list[dict[str, Any]]:
        return list(self.request("GET", f"/jobs/{job_id}/tasks/") or [])

    def task_id(self, job_id: int, chunk: int) -> int:
        """The global task id of a job's chunk (0-based), from the job's `task_ids` runs;
        ConsoleError past its last chunk."""
        job = self.job(job_id)
        total = int((job.get("chunks") or {}).get("total") or 0)
        if not 0 <= chunk < total:
            raise NothingThere(
                404, "Not Found", f"job {job_id} has no chunk {chunk} (it has {total})"
            )
        found = -1
        for first, base in job.get("task_ids") or []:
            if first > chunk:
                break
            found = base + chunk - first
        return found

    def chunk_log(self, job_id: int, chunk: int, attempt: int | None = None) -> str:
        task = self.task_id(job_id, chunk)
        result = self.request("GET", f"/jobs/{job_id}/tasks/{task}/log", query={"attempt": attempt})
        if result is None:
            return ""
        return result if isinstance(result, str) else json.dumps(result)

    def why(self, job_id: int) -> dict[str, Any]:
        return dict(self.request("GET", f"/jobs/{job_id}/why"))

    # -- nodes -------------------------------------------------------------

    def nodes(self) -> list[dict[str, Any]]:
        return list(self.request("GET", "/nodes/") or [])


def _decode(payload: bytes, content_type: str) -> Any:
    if not payload:
        return None
    if "json" in content_type:
        try:
            return json.loads(payload)
        except ValueError as exc:
            raise RequestRefused(200, "malformed answer", f"invalid JSON: {exc}") from None
    return payload.decode("utf-8", "replace")


def _reason(reason: object) -> str:
    if isinstance(reason, ConnectionRefusedError):
        return "connection refused"
    if isinstance(reason, TimeoutError):
        return "timed out"
    if isinstance(reason, socket.gaierror):
        return f"unknown host: {reason.strerror or reason}"
    if isinstance(reason, OSError) and reason.strerror:
        return reason.strerror.lower()
    return str(reason) or type(reason).__name__
