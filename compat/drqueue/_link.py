"""The connection to the dispatcher, DrQueue's caller constants and its error."""

import calendar
import sys
import time
from typing import Any

from corral_client import ClientError, new_idempotency_key
from corral_client.farm_link import API, FarmLink

MASTER_ENV = "DRQUEUE_MASTER"
TIMEOUT_ENV = "DRQUEUE_TIMEOUT"
DEFAULT_TIMEOUT_S = 30.0

# Who is calling (libdrqueue's ``who`` argument); a script passes CLIENT.
CLIENT = 0
SLAVE = 1
MASTER = 2
_CALLERS = (CLIENT, SLAVE, MASTER)


class DrQueueError(IOError):
    """A call the bindings answer by raising failed: the master refused it or is unreachable.

    ``status`` is the dispatcher's HTTP status (0 when no answer came).
    """

    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


class NotSupported(DrQueueError):
    """What DrQueue does and Corral cannot (docs/compat.md lists each case)."""

    def __init__(self, message: str) -> None:
        super().__init__("not supported: " + message)


_LINK = FarmLink(MASTER_ENV, None, TIMEOUT_ENV, DrQueueError, DEFAULT_TIMEOUT_S)
client = _LINK.client
call = _LINK.call


def submit(spec: Any, retries: int = 2) -> Any:
    """Queue one job (POST /jobs/, titles need not be unique); the created job.

    The request carries an Idempotency-Key and is sent again with it when no answer
    came, so a broken connection never queues the job twice.
    """
    headers = {"Idempotency-Key": new_idempotency_key()}
    attempt = 0
    while True:
        try:
            return client().request(
                "POST", API + "/jobs/", spec, headers=headers, query={"unique_titles": "false"}
            )
        except ClientError as exc:
            if exc.status != 0 or attempt >= retries:
                raise DrQueueError(str(exc), exc.status) from None
        except (TypeError, ValueError) as exc:  # a value JSON cannot carry
            raise DrQueueError("the job cannot be sent: %s" % exc) from None
        attempt += 1
        time.sleep(min(0.5 * attempt, 2.0))


def check_who(who: Any) -> None:
    """Refuse a ``who`` that is none of CLIENT, SLAVE, MASTER."""
    if isinstance(who, bool) or who not in _CALLERS:
        raise ValueError(
            "who must be drqueue.CLIENT, drqueue.SLAVE or drqueue.MASTER, not %r" % (who,)
        )


def failed(what: str, error: Exception) -> int:
    """Say on stderr why ``what`` failed; the failure return code, 0."""
    sys.stderr.write("drqueue: %s: %s\n" % (what, error))
    sys.stderr.flush()
    return 0


def epoch(text: Any) -> int:
    """Seconds since 1970 (UTC) of an API time (``2026-01-05T10:31:02.114000``); 0 for none."""
    if not isinstance(text, str) or not text:
        return 0
    cleaned = text.replace("Z", "").split("+")[0].split(".")[0]
    try:
        return int(calendar.timegm(time.strptime(cleaned, "%Y-%m-%dT%H:%M:%S")))
    except ValueError:
        return 0
