"""The one exception the client library raises."""

from typing import Any, Dict, Optional


class ClientError(Exception):
    """A call to the dispatcher failed.

    - ``status``: the HTTP status (``400``, ``401``, ``403``, ``404``, ``409`` ...),
      or ``0`` when no answer came (refused connection, unknown host, timeout);
    - ``title`` and ``detail``: the problem+json's, or what went wrong on the wire;
    - ``field``: the request field the dispatcher refused (``"priority"``,
      ``"Idempotency-Key"``), or ``None``;
    - ``timed_out``: the dispatcher did not answer within the call's timeout;
    - ``problem``: the whole problem+json object (``{}`` without one);
    - ``method`` and ``url``: the call that failed.

    ``str(error)`` is one line fit for a message box.
    """

    def __init__(
        self,
        status: int,
        title: str,
        detail: str = "",
        field: Optional[str] = None,
        problem: Optional[Dict[str, Any]] = None,
        method: str = "",
        url: str = "",
        timed_out: bool = False,
    ) -> None:
        self.status = status
        self.title = title
        self.detail = detail
        self.field = field
        self.problem = dict(problem or {})
        self.method = method
        self.url = url
        self.timed_out = timed_out
        super().__init__(self._message())

    def _message(self) -> str:
        text = self.detail or self.title or "HTTP %d" % self.status
        if self.field and self.field not in text:
            text = "%s: %s" % (self.field, text)
        if self.status:
            return "%s (HTTP %d)" % (text, self.status)
        return text
