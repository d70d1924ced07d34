"""The connection to the dispatcher and the one error every call raises."""

import uuid
from typing import List, Union

from corral_client.farm_link import FarmLink

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


_LINK = FarmLink(MASTER_ENV, PORT_ENV, TIMEOUT_ENV, SmedgeComponentError, DEFAULT_TIMEOUT_S)
client = _LINK.client
call = _LINK.call
