"""A connection to the dispatcher named by another farm's variables, raising its error.

The compat packages (``smedge``, ``drqueue``) each hold one ``FarmLink``: which
variables name the master, the port and the timeout, and which exception a
failed call raises.
"""

import os
from typing import Any, Callable, Mapping, Optional

from .client import Client
from .discovery import master_url
from .errors import ClientError

API = "/api/v1"


class FarmLink:
    """The dispatcher ``host_var`` (and ``port_var``) name; failures raise ``error``.

    ``error`` is called as ``error(message)`` or ``error(message, status)``, where
    ``status`` is the HTTP status (0 when no answer came). The variables are read
    at each call, so a script may change them between calls.
    """

    def __init__(
        self,
        host_var: str,
        port_var: Optional[str],
        timeout_var: str,
        error: Callable[..., Exception],
        default_timeout_s: float = 30.0,
    ) -> None:
        self.host_var = host_var
        self.port_var = port_var
        self.timeout_var = timeout_var
        self.error = error
        self.default_timeout_s = default_timeout_s

    def client(self, env: Optional[Mapping[str, str]] = None) -> Client:
        """A client of the dispatcher the variables name; a bad setting raises ``error``."""
        environ = os.environ if env is None else env
        try:
            url = master_url(self.host_var, self.port_var, environ)
            timeout = float(environ.get(self.timeout_var, "") or self.default_timeout_s)
        except ValueError as exc:
            raise self.error(str(exc)) from None
        if not timeout > 0:
            raise self.error("%s must be more than 0 seconds" % self.timeout_var)
        return Client(dispatcher=url, timeout_s=timeout, env=environ)

    def call(self, method: str, path: str, body: Any = None, **query: Any) -> Any:
        """One REST call (``path`` under /api/v1); a refusal raises ``error``."""
        try:
            return self.client().request(method, API + path, body, query=query or None)
        except ClientError as exc:
            raise self.error(str(exc), exc.status) from None
