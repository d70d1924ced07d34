"""The controller's error codes and the one exception it raises.

| code | name | when |
|---|---|---|
| -1 | CONTROLLER_ERROR_AUTH_FAIL | the master refused the key (401: unknown, revoked or expired token) or the key's user may not do this (403) |
| -2 | CONTROLLER_ERROR_DISCONNECTED | the master could not be reached or did not answer in time |
| -3 | CONTROLLER_ERROR_FUNCTION_ERROR | the function ran and refused: bad arguments, an unknown task, node or task instance, or what Corral does not support |
| -4 | CONTROLLER_ERROR_NO_RSA_KEY | no usable key file (``master.key``) in the working folder |
| -5 | CONTROLLER_ERROR_UNKNOWN | anything else: a server error, an answer that is not the API's |
| -6 | CONTROLLER_ERROR_FUNCTION_NOT_FOUND | the controller has no function of that name |
"""

CONTROLLER_ERROR_AUTH_FAIL = -1
CONTROLLER_ERROR_DISCONNECTED = -2
CONTROLLER_ERROR_FUNCTION_ERROR = -3
CONTROLLER_ERROR_NO_RSA_KEY = -4
CONTROLLER_ERROR_UNKNOWN = -5
CONTROLLER_ERROR_FUNCTION_NOT_FOUND = -6

ERROR_NAMES = {
    CONTROLLER_ERROR_AUTH_FAIL: "authentication failure",
    CONTROLLER_ERROR_DISCONNECTED: "disconnected",
    CONTROLLER_ERROR_FUNCTION_ERROR: "error in remote function",
    CONTROLLER_ERROR_NO_RSA_KEY: "no key",
    CONTROLLER_ERROR_UNKNOWN: "unknown error",
    CONTROLLER_ERROR_FUNCTION_NOT_FOUND: "remote function not found",
}


class ControllerException(Exception):
    """A controller call failed: ``code`` is one of the CONTROLLER_ERROR_* values,
    ``message`` says why, ``status`` is the master's HTTP status (0 for none)."""

    def __init__(self, code: int, message: str = "", status: int = 0) -> None:
        self.code = code
        self.message = message
        self.status = status
        name = ERROR_NAMES.get(code, "error")
        super().__init__("%s (%d): %s" % (name, code, message) if message else name)


class NotSupported(ControllerException):
    """What Pydra does and Corral cannot: an error in the remote function (-3)."""

    def __init__(self, message: str) -> None:
        super().__init__(CONTROLLER_ERROR_FUNCTION_ERROR, "not supported: " + message)
