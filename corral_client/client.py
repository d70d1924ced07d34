"""`Client`: the dispatcher's REST API over urllib, one connection per call."""

import json
import os
import socket
import ssl
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from typing import Any, Dict, Iterable, List, Mapping, Optional, Tuple, Union

from . import discovery
from .addresses import Addresses, build_opener, open_any, split_urls
from .errors import ClientError

API = "/api/v1"
DEFAULT_TIMEOUT_S = 30.0
# Bigger answers are refused: a submit tool never needs one, a wrong server may send one.
MAX_ANSWER_BYTES = 64 * 1024 * 1024
USER_AGENT = "corral-client/1 python/%d.%d" % sys.version_info[:2]

Job = Dict[str, Any]


def new_idempotency_key() -> str:
    """A fresh key for one submit (a random UUID); reuse it only to retry that submit."""
    return str(uuid.uuid4())


def make_job(
    title: str,
    template: str,
    start: float,
    end: float,
    chunk_size: int = 1,
    priority: Optional[int] = None,
    pools: Iterable[str] = (),
    data: Optional[Mapping[str, Any]] = None,
    **fields: Any,
) -> Job:
    """A job for ``Client.submit``: frames ``start``-``end`` of ``template``.

    ``chunk_size`` is frames per chunk (``batch``); ``priority`` None leaves the
    template's default; ``data`` holds the template's attributes (``job_file``,
    ``output_folder``, ...); any other job field (docs/rest.md) goes in ``fields``.
    """
    job = {
        "title": title,
        "template": template,
        "start": start,
        "end": end,
        "batch": chunk_size,
    }  # type: Job
    if priority is not None:
        job["priority"] = priority
    chosen = [pool for pool in pools if pool]
    if chosen:
        job["pools"] = chosen
    if data:
        job["data"] = dict(data)
    job.update(fields)
    return job


class Client:
    """A client of one dispatcher.

    ``dispatcher`` and ``token`` default as the ``corral`` command finds them
    (``CORRAL_DISPATCHER``, ``CORRAL_TOKEN``, ``~/.config/corral/token``; see
    ``corral_client.discovery``). ``dispatcher`` may name several dispatchers of
    one farm (``farm1:9890,farm2:9890``, or a list): a call that cannot reach
    one tries the next within its timeout, and a standby's 307 is followed to
    the leader (``corral_client.addresses``); ``url`` is the address in use.
    ``timeout_s`` bounds connecting and each read of every call. ``ca_file`` (or ``CORRAL_TLS_CA``) verifies an https
    dispatcher against that CA. Proxies from the environment are not used.
    Every failure raises ``ClientError``.
    """

    def __init__(
        self,
        dispatcher: Union[None, str, List[str], Tuple[str, ...]] = None,
        token: Optional[str] = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        ca_file: Optional[str] = None,
        env: Optional[Mapping[str, str]] = None,
        home: Optional[str] = None,
    ) -> None:
        if timeout_s <= 0:
            raise ValueError("timeout_s must be more than 0, not %r" % (timeout_s,))
        environ = os.environ if env is None else env
        if isinstance(dispatcher, (list, tuple)):
            dispatcher = ",".join(dispatcher)
        self.addresses = Addresses(split_urls(discovery.find_dispatcher(dispatcher, environ)))
        self.token = discovery.find_token(token, environ, home)
        self.timeout_s = float(timeout_s)
        self._home = home
        ca = ca_file or environ.get(discovery.TLS_CA_ENV, "").strip() or None
        context = ssl.create_default_context(cafile=ca) if ca else None
        self._opener = build_opener(self.addresses.urls, context)

    @property
    def url(self) -> str:
        """The dispatcher address calls go to now (the one that answered last)."""
        return self.addresses.current

    @property
    def urls(self) -> List[str]:
        """Every dispatcher address this client was given, in order."""
        return list(self.addresses.urls)

    # -- the calls -----------------------------------------------------------
    def login(self, username: str, password: str, save: bool = False) -> str:
        """Log in with a password; the client uses the new token from now on.

        ``save`` also writes it to ``~/.config/corral/token`` for the next
        client and the ``corral`` command. Returns the token.
        """
        answer = self.request(
            "POST", API + "/login", {"username": username, "password": password}, auth=False
        )
        token = answer.get("token") if isinstance(answer, dict) else None
        if not isinstance(token, str) or not token:
            raise ClientError(0, "the login answer holds no token", method="POST", url=self.url)
        self.token = token
        if save:
            discovery.save_token(token, self._home)
        return token

    def submit(
        self,
        job: Union[Job, List[Job]],
        idempotency_key: Optional[str] = None,
        retries: int = 2,
    ) -> Any:
        """Submit one job (a dict) or several (a list); the created job(s) as the API shows them.

        The request carries an ``Idempotency-Key`` (``idempotency_key``, or a new
        one): when no answer comes (a broken connection, a timeout) it is sent
        again with the same key up to ``retries`` times, and the dispatcher
        answers the jobs of the first attempt instead of queuing them twice.
        """
        key = idempotency_key or new_idempotency_key()
        headers = {"Idempotency-Key": key}
        attempt = 0
        while True:
            try:
                return self.request("POST", API + "/jobs/", job, headers=headers)
            except ClientError as exc:
                if exc.status != 0 or attempt >= retries:
                    raise
            attempt += 1
            time.sleep(min(0.5 * attempt, 2.0))

    def job(self, job_id: Union[int, str]) -> Job:
        """One job, by id or title."""
        return self.request("GET", API + "/jobs/" + _segment(job_id))  # type: ignore[no-any-return]

    def jobs(self, where: Any = None, **filters: Any) -> List[Job]:
        """The jobs the filters (``state``, ``user``, ``parent``, ``template``, ``hidden``)
        and the Smedge query ``where`` match: a query list or a job id, sent as JSON (see
        ``corral_client.query``, docs/rest.md "Queries"); every job without either."""
        params = {name: value for name, value in filters.items() if value is not None}
        if where is not None:
            params["where"] = json.dumps(where, separators=(",", ":"))
        return self.request("GET", API + "/jobs/", query=params or None)  # type: ignore[no-any-return]

    def pools(self) -> List[Dict[str, Any]]:
        """Every pool: ``[{"id", "name", "description", "nodes", ...}]``."""
        return self.request("GET", API + "/pools/")  # type: ignore[no-any-return]

    def pool_names(self) -> List[str]:
        """The pools' names, sorted."""
        return sorted(str(pool["name"]) for pool in self.pools())

    def templates(self) -> Any:
        """The installed templates, as ``GET /api/v1/templates/`` answers them."""
        return self.request("GET", API + "/templates/")

    # -- the wire ------------------------------------------------------------
    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        headers: Optional[Mapping[str, str]] = None,
        query: Optional[Mapping[str, Any]] = None,
        auth: bool = True,
    ) -> Any:
        """One call: ``path`` under the dispatcher's URL, ``body`` sent as JSON (bytes are
        sent as they are, as ``text/plain``).

        Returns the parsed JSON answer (text for a text answer, None for none).
        """
        return self.exchange(method, path, body, headers, query, auth)[2]

    def exchange(
        self,
        method: str,
        path: str,
        body: Any = None,
        headers: Optional[Mapping[str, str]] = None,
        query: Optional[Mapping[str, Any]] = None,
        auth: bool = True,
    ) -> Tuple[int, Dict[str, str], Any]:
        """As ``request``, answering ``(status, headers, parsed body)``."""
        suffix = path
        if query:
            suffix += "?" + urllib.parse.urlencode(query, doseq=True)
        raw_body = isinstance(body, bytes)
        data = None  # type: Optional[bytes]
        if body is not None:
            data = body if raw_body else json.dumps(body).encode("utf-8")
        extra = dict(headers or {})

        def make_request(base: str) -> urllib.request.Request:
            request = urllib.request.Request(base + suffix, data=data, method=method)
            request.add_header("Accept", "application/json")
            request.add_header("User-Agent", USER_AGENT)
            if data is not None:
                kind = "text/plain; charset=utf-8" if raw_body else "application/json"
                request.add_header("Content-Type", kind)
            if auth and self.token:
                request.add_header("Authorization", "Bearer " + self.token)
            for name, value in extra.items():
                request.add_header(name, value)
            return request

        try:
            with open_any(self._opener, self.addresses, make_request, self.timeout_s) as response:
                status = response.status
                answer_headers = dict(response.headers.items())
                raw = _read(response)
                url = response.geturl() or self.url + suffix
        except urllib.error.HTTPError as exc:
            raise self._refused(method, self.url + suffix, exc) from None
        except (socket.timeout, TimeoutError) as exc:
            raise self._timed_out(method, self.url + suffix) from exc
        except urllib.error.URLError as exc:
            url = self.url + suffix
            if isinstance(exc.reason, (socket.timeout, TimeoutError)):
                raise self._timed_out(method, url) from exc
            raise ClientError(
                0,
                "cannot reach the dispatcher",
                "cannot reach the dispatcher at %s (%s)" % (self._where(), exc.reason),
                method=method,
                url=url,
            ) from exc
        except (OSError, ValueError) as exc:
            # A connection reset or a malformed answer after the request left.
            raise ClientError(
                0,
                "no answer from the dispatcher",
                "no answer from the dispatcher at %s (%s)" % (self.url, exc),
                method=method,
                url=self.url + suffix,
            ) from exc
        return status, answer_headers, _parse(raw, answer_headers, method, url)

    def _where(self) -> str:
        if len(self.addresses) == 1:
            return self.url
        return "any of " + ", ".join(self.addresses.urls)

    def _timed_out(self, method: str, url: str) -> ClientError:
        return ClientError(
            0,
            "the dispatcher did not answer",
            "the dispatcher at %s did not answer within %g s" % (self.url, self.timeout_s),
            method=method,
            url=url,
            timed_out=True,
        )

    def _refused(self, method: str, url: str, exc: urllib.error.HTTPError) -> ClientError:
        try:
            raw = _read(exc)
        except (OSError, ValueError):
            raw = b""
        problem = {}  # type: Dict[str, Any]
        try:
            parsed = json.loads(raw.decode("utf-8")) if raw else None
        except ValueError:
            parsed = None
        if isinstance(parsed, dict):
            problem = parsed
        title = str(problem.get("title") or exc.reason or "HTTP %d" % exc.code)
        detail = str(problem.get("detail") or "")
        if not problem and raw:
            detail = raw.decode("utf-8", "replace")[:500]
        if exc.code == 401 and not self.token:
            detail = (detail or title) + (
                "; no token was found: pass one, set %s, or log in (corral login)"
                % discovery.TOKEN_ENV
            )
        field = problem.get("field")
        return ClientError(
            exc.code,
            title,
            detail,
            field=str(field) if field is not None else None,
            problem=problem,
            method=method,
            url=url,
        )


def _segment(value: Union[int, str]) -> str:
    return urllib.parse.quote(str(value).strip(), safe="")


def _read(response: Any) -> bytes:
    raw = response.read(MAX_ANSWER_BYTES + 1)
    if len(raw) > MAX_ANSWER_BYTES:
        raise ValueError("the answer is over %d bytes" % MAX_ANSWER_BYTES)
    return raw  # type: ignore[no-any-return]


def _parse(raw: bytes, headers: Mapping[str, str], method: str, url: str) -> Any:
    if not raw:
        return None
    kind = ""
    for name, value in headers.items():
        if name.lower() == "content-type":
            kind = value
    text = raw.decode("utf-8", "replace")
    if "json" not in kind:
        return text
    try:
        return json.loads(text)
    except ValueError:
        raise ClientError(
            0, "the dispatcher's answer is not JSON", text[:200], method=method, url=url
        ) from None
