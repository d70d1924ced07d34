"""The connection to the dispatcher and the one error every call raises."""

import os
import uuid
from typing import Any, List, Mapping, Optional, Union

from corral_client import Client, ClientError
from corral_client.discovery import master_url

MASTER_ENV = "SMEDGE_MASTER"
PORT_ENV = "SMEDGE_MASTER_PORT"
TIMEOUT_ENV = "SMEDGE_CONNECT_TIMEOUT"
DEFAULT_TIMEOUT_S = 30.0

# Smedge names things by name or UUID, one or a list of them.
NameOrID = Union[str, uuid.UUID]
NameOrIDList = Union[NameOrID, List[NameOrID]]


class SmedgeComponentError(RuntimeError):
    """A call failed: the dispatcher refused it or could not be reached.

    ``status`` is the HTTP status (0 when no answer came); ``str()`` says why.
    """

    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


def client(env: Optional[Mapping[str, str]] = None) -> Client:
    """A client of the dispatcher the Smedge variables name (read at each call)."""
    environ = os.environ if env is None else env
    try:
        url = master_url(MASTER_ENV, PORT_ENV, environ)
        timeout = float(environ.get(TIMEOUT_ENV, "") or DEFAULT_TIMEOUT_S)
    except ValueError as exc:
        raise SmedgeComponentError(str(exc)) from None
    if not timeout > 0:
        raise SmedgeComponentError("%s must be more than 0 seconds" % TIMEOUT_ENV)
    return Client(dispatcher=url, timeout_s=timeout, env=environ)


def call(method: str, path: str, body: Any = None, **query: Any) -> Any:
    """One REST call (``path`` under /api/v1); a refusal raises SmedgeComponentError."""
    try:
        return client().request(method, "/api/v1" + path, body, query=query or None)
    except ClientError as exc:
        raise SmedgeComponentError(str(exc), exc.status) from None
