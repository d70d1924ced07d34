"""``WebController(host, port)``: Pydra's controller over Corral's REST API.

Functions are called as members (``controller.list_tasks()``); authentication
with the key file ``master.key`` in the working folder happens on each call.
Every failure raises ``ControllerException`` with one of the codes of
``pydra.cluster.controller``.
"""

import inspect
import os
import time
from typing import Any, Callable, List, Mapping, Optional

from corral_client import Client, ClientError, new_idempotency_key

from .. import (
    CONTROLLER_ERROR_AUTH_FAIL,
    CONTROLLER_ERROR_DISCONNECTED,
    CONTROLLER_ERROR_FUNCTION_ERROR,
    CONTROLLER_ERROR_FUNCTION_NOT_FOUND,
    CONTROLLER_ERROR_NO_RSA_KEY,
    CONTROLLER_ERROR_UNKNOWN,
    ControllerException,
)
from ..functions import FUNCTIONS, PAGE_SIZE

KEY_FILE = "master.key"
MAX_KEY_BYTES = 4096
DEFAULT_TIMEOUT_S = 30.0
API = "/api/v1"

__all__ = ["KEY_FILE", "PAGE_SIZE", "ControllerException", "WebController"]


class WebController:
    """A controller of the master at ``host``:``port`` (Corral's HTTP port, 9890).

    ``host`` may also be a URL (``https://farm:9890``). ``timeout_s`` bounds each call.
    """

    def __init__(self, host: str, port: Any = 9890, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        if not isinstance(host, str) or not host.strip() or any(c.isspace() for c in host.strip()):
            raise ValueError("host must be a host name, not %r" % (host,))
        text = str(port).strip()
        if isinstance(port, bool) or not text.isdigit() or not 0 < int(text) < 65536:
            raise ValueError("port must be a number from 1 to 65535, not %r" % (port,))
        if not timeout_s > 0:
            raise ValueError("timeout_s must be more than 0, not %r" % (timeout_s,))
        host = host.strip()
        if "://" in host:
            self.url = host.rstrip("/")
        else:
            if ":" in host and not host.startswith("["):
                host = "[%s]" % host  # an IPv6 address
            self.url = "http://%s:%d" % (host, int(text))
        self.host, self.port, self.timeout_s = host, int(text), float(timeout_s)

    def __repr__(self) -> str:
        return "<WebController %s>" % self.url

    def __dir__(self) -> List[str]:
        return sorted(set(super().__dir__()) | set(FUNCTIONS))

    def __getattr__(self, name: str) -> Callable[..., Any]:
        if name.startswith("_"):
            raise AttributeError(name)
        function = FUNCTIONS.get(name)
        if function is None:

            def missing(*args: Any, **kwargs: Any) -> Any:
                raise ControllerException(
                    CONTROLLER_ERROR_FUNCTION_NOT_FOUND,
                    "the master has no function %r (docs/compat.md lists them)" % name,
                )

            return missing

        def call(*args: Any, **kwargs: Any) -> Any:
            try:
                inspect.signature(function).bind(self, *args, **kwargs)
            except TypeError as exc:
                raise ControllerException(
                    CONTROLLER_ERROR_FUNCTION_ERROR, "%s: %s" % (name, exc)
                ) from None
            try:
                return function(self, *args, **kwargs)
            except ControllerException:
                raise
            except (KeyError, TypeError, ValueError, AttributeError) as exc:
                raise ControllerException(
                    CONTROLLER_ERROR_UNKNOWN, "%s: an answer the controller did not expect (%r)"
                    % (name, exc)
                ) from None  # fmt: skip

        call.__name__ = name
        call.__doc__ = function.__doc__
        return call

    # -- the wire (used by pydra.cluster.controller.functions) -----------------
    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        query: Optional[Mapping[str, Any]] = None,
        retries: int = 0,
    ) -> Any:
        """One REST call under /api/v1 with the key's token; failures as ControllerException.

        With ``retries``, a POST carries an Idempotency-Key and is sent again with it when
        no answer came (a submit is never queued twice).
        """
        client = Client(dispatcher=self.url, token=read_key(), timeout_s=self.timeout_s)
        headers = {"Idempotency-Key": new_idempotency_key()} if retries else None
        attempt = 0
        while True:
            try:
                return client.request(method, API + path, body, headers=headers, query=query)
            except ClientError as exc:
                if exc.status != 0 or attempt >= retries:
                    raise _translate(exc) from None
            except (TypeError, ValueError) as exc:  # a value JSON cannot carry
                raise ControllerException(
                    CONTROLLER_ERROR_FUNCTION_ERROR, "the arguments cannot be sent: %s" % exc
                ) from None
            attempt += 1
            time.sleep(min(0.5 * attempt, 2.0))


def read_key(folder: Optional[str] = None) -> str:
    """The token in ``master.key`` of ``folder`` (the working folder); -4 without one."""
    path = os.path.join(folder or os.getcwd(), KEY_FILE)
    try:
        with open(path, "rb") as handle:
            raw = handle.read(MAX_KEY_BYTES + 1)
    except OSError as exc:
        raise ControllerException(
            CONTROLLER_ERROR_NO_RSA_KEY,
            "cannot read the key file %s (%s): export one with "
            "`corral compat pydra-key > %s`" % (path, exc.strerror or exc, KEY_FILE),
        ) from None
    try:
        key = raw.decode("ascii").strip()
    except UnicodeDecodeError:
        key = ""
    if len(raw) > MAX_KEY_BYTES or not key or not all(33 <= ord(ch) < 127 for ch in key):
        raise ControllerException(
            CONTROLLER_ERROR_NO_RSA_KEY,
            "%s holds no key: export one with `corral compat pydra-key > %s`" % (path, KEY_FILE),
        )
    return key


def _translate(exc: ClientError) -> ControllerException:
    message = str(exc)
    if exc.status in (401, 403):
        return ControllerException(CONTROLLER_ERROR_AUTH_FAIL, message, exc.status)
    if exc.status == 0 and "not JSON" not in exc.title:
        return ControllerException(CONTROLLER_ERROR_DISCONNECTED, message)
    if 400 <= exc.status < 500:
        return ControllerException(CONTROLLER_ERROR_FUNCTION_ERROR, message, exc.status)
    return ControllerException(CONTROLLER_ERROR_UNKNOWN, message, exc.status)
