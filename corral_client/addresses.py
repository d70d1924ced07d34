"""Several dispatcher addresses for one farm, and how a call moves along them.

A farm with standby dispatchers (docs/scaling.md) is named by a list,
``http://farm1:9890,http://farm2:9890``. A call goes to the address that
answered last. When that one cannot be reached it goes to the next, round after
round with a growing pause, until the call's deadline; with one address there is
one try, as before. A request that may have reached the dispatcher before the
connection broke is sent again elsewhere only when that is safe (a read, or a
write carrying an ``Idempotency-Key``).

A standby answers a write with ``307`` naming the leader: `KeepMethodRedirects`
follows it with the same method, headers and body (urllib by itself turns a
redirected POST into an error). Standard library only (Python 3.7+).
"""

import http.client
import time
import urllib.error
import urllib.request
from typing import Any, Callable, List, Optional, Sequence

# How long connecting to one address may take when there are others to try (a host
# that is down answers nothing at all); the call's own timeout still bounds reads.
CONNECT_TIMEOUT_S = 5.0
FIRST_PAUSE_S = 0.1
MAX_PAUSE_S = 2.0
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


def normalize_url(url: str) -> str:
    """``host:9890`` -> ``http://host:9890``, without a trailing slash."""
    cleaned = url.strip()
    if "://" not in cleaned:
        cleaned = "http://" + cleaned
    return cleaned.rstrip("/")


def split_urls(text: str) -> List[str]:
    """``farm1:9890, https://farm2`` -> each address as a URL, in order, no repeats.

    Raises ValueError for a list with no address in it.
    """
    urls = []  # type: List[str]
    for part in text.split(","):
        if part.strip():
            url = normalize_url(part)
            if url not in urls:
                urls.append(url)
    if not urls:
        raise ValueError("no dispatcher address in %r" % (text,))
    return urls


def normalize_urls(text: str) -> str:
    """A list of addresses as `split_urls` reads it, joined by commas again."""
    return ",".join(split_urls(text))


class Addresses:
    """A client's dispatcher URLs; `current` is the one that answered last."""

    def __init__(self, urls: Sequence[str]) -> None:
        if not urls:
            raise ValueError("no dispatcher address")
        self.urls = list(urls)
        self._index = 0

    @property
    def current(self) -> str:
        return self.urls[self._index]

    def advance(self) -> str:
        """Move on to the next address (after the last: the first); returns it."""
        self._index = (self._index + 1) % len(self.urls)
        return self.current

    def __len__(self) -> int:
        return len(self.urls)

    def joined(self) -> str:
        return ",".join(self.urls)


def delivered_maybe(error: BaseException) -> bool:
    """Whether a failed call may have reached the dispatcher.

    urllib wraps failures to connect and to send in URLError; a failure while
    waiting for the answer (a reset, a read timeout) comes as it is.
    """
    return not isinstance(error, urllib.error.URLError)


def open_any(
    opener: urllib.request.OpenerDirector,
    addresses: Addresses,
    make_request: Callable[[str], urllib.request.Request],
    timeout_s: float,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Any:
    """Open ``make_request(url)`` at the current address, moving along the others on failure.

    An HTTP answer (HTTPError included) ends the search. With one address the
    error of the one try is raised as urllib raised it; with several, the last
    error once ``timeout_s`` has passed or a request that may have been
    delivered must not be sent twice.
    """
    deadline = clock() + timeout_s
    pause_s = FIRST_PAUSE_S
    failed = 0
    while True:
        request = make_request(addresses.current)
        left_s = max(deadline - clock(), 0.001)
        try:
            return opener.open(request, timeout=left_s)
        except urllib.error.HTTPError:
            raise
        except (OSError, http.client.HTTPException) as exc:
            if len(addresses) == 1:
                raise
            if not _body_repeatable(request):
                raise  # a streamed body is spent
            if delivered_maybe(exc) and not _resendable(request):
                raise
            error = exc  # type: BaseException
        failed += 1
        addresses.advance()
        if failed % len(addresses) == 0:  # a whole round failed: wait before the next
            sleep(max(min(pause_s, deadline - clock()), 0.0))
            pause_s = min(pause_s * 2, MAX_PAUSE_S)
        if clock() >= deadline:
            raise error


def _body_repeatable(request: urllib.request.Request) -> bool:
    return request.data is None or isinstance(request.data, (bytes, bytearray))


def _resendable(request: urllib.request.Request) -> bool:
    if request.get_method() in SAFE_METHODS:
        return True
    return request.has_header("Idempotency-key")  # urllib capitalizes header names so


class KeepMethodRedirects(urllib.request.HTTPRedirectHandler):
    """Follow 307 and 308 with the request's method, headers and body (a standby
    dispatcher answers a write so, naming the leader); others as urllib does."""

    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: Any,
        code: int,
        msg: str,
        headers: Any,
        newurl: str,
    ) -> Optional[urllib.request.Request]:
        if code not in (307, 308):
            return super().redirect_request(req, fp, code, msg, headers, newurl)
        if not _body_repeatable(req):
            raise urllib.error.HTTPError(
                req.full_url, code, "a streamed body cannot be sent again", headers, fp
            )
        return urllib.request.Request(
            newurl,
            data=req.data,
            headers=dict(req.header_items()),
            origin_req_host=req.origin_req_host,
            unverifiable=True,
            method=req.get_method(),
        )


class _QuickConnection(http.client.HTTPConnection):
    def connect(self) -> None:
        _connect_quickly(self, http.client.HTTPConnection.connect)


class _QuickSecureConnection(http.client.HTTPSConnection):
    def connect(self) -> None:
        _connect_quickly(self, http.client.HTTPSConnection.connect)


def _connect_quickly(connection: Any, connect: Callable[[Any], None]) -> None:
    read_timeout = connection.timeout
    if isinstance(read_timeout, (int, float)):
        connection.timeout = min(read_timeout, CONNECT_TIMEOUT_S)
    try:
        connect(connection)
    finally:
        connection.timeout = read_timeout
    if connection.sock is not None and isinstance(read_timeout, (int, float)):
        connection.sock.settimeout(read_timeout)


class QuickConnectHTTP(urllib.request.HTTPHandler):
    """http:// with connecting bounded by CONNECT_TIMEOUT_S (for lists of addresses)."""

    def http_open(self, req: urllib.request.Request) -> Any:
        return self.do_open(_QuickConnection, req)


class QuickConnectHTTPS(urllib.request.HTTPSHandler):
    """https:// as QuickConnectHTTP; ``context`` verifies the dispatcher's certificate."""

    def __init__(self, context: Any = None) -> None:
        super().__init__(context=context)
        self._quick_context = context

    def https_open(self, req: urllib.request.Request) -> Any:
        return self.do_open(_QuickSecureConnection, req, context=self._quick_context)


def build_opener(urls: Sequence[str], context: Any = None) -> urllib.request.OpenerDirector:
    """An opener for these addresses: no proxies, 307/308 kept, quick connects with
    several addresses, ``context`` (an ssl.SSLContext) for https when given."""
    handlers = [urllib.request.ProxyHandler({}), KeepMethodRedirects()]  # type: List[Any]
    if len(urls) > 1:
        handlers.extend([QuickConnectHTTP(), QuickConnectHTTPS(context)])
    elif context is not None:
        handlers.append(urllib.request.HTTPSHandler(context=context))
    return urllib.request.build_opener(*handlers)
