"""aiohttp's log of malformed requests, one line each.

aiohttp answers a request it cannot parse (a bad request line, a header too
long, a broken chunked body) with 400 and logs the parser's exception with
its traceback on the `aiohttp.server` logger. That is the client's fault, and
anyone who can reach the port can fill the log with tracebacks; the filter
below turns each such record into one warning line naming the peer and what
was wrong.
"""

from __future__ import annotations

import logging

from aiohttp.http_exceptions import HttpProcessingError

SERVER_LOGGER = "aiohttp.server"


class OneLineBadRequests(logging.Filter):
    """Rewrites records whose exception is an HTTP parse error; lets the rest pass."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, HttpProcessingError):
            peer = record.args[0] if isinstance(record.args, tuple) and record.args else "?"
            record.msg = "action=bad_http_request peer=%s status=%s reason=%r"
            record.args = (peer, exc.code, exc.message)
            record.exc_info = None
            record.exc_text = None
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


def quiet_bad_requests() -> None:
    """Install the filter on aiohttp's server logger (once, however often called)."""
    logger = logging.getLogger(SERVER_LOGGER)
    if not any(isinstance(item, OneLineBadRequests) for item in logger.filters):
        logger.addFilter(OneLineBadRequests())
