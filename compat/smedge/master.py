"""The master: its ID, files from engines, and the network-wide exit.

``get_master_id`` is the dispatcher's stable UUID (made on its first start).
``download_file`` reads a file on an engine's machine through the node's
run-Python command, so it needs the administer permission and a connected
node; Corral has no shared-file IDs, so a file is named by its path.
``super_exit`` is not supported: Corral never stops its render clients from an
API call.
"""

import base64
import uuid
from typing import Optional, Union

from ._link import SmedgeComponentError, call
from .engines import select

MAX_DOWNLOAD_BYTES = 700 * 1024  # what fits in a node command's answer, encoded
# Runs on the node: the file, base64-encoded, or an error line starting with "!" (or "?"
# for a file too large to carry).
READ_CODE = """
import base64, os, sys
path = {path!r}
try:
    size = os.path.getsize(path)
    if size > {limit}:
        sys.stdout.write("?%s is %d bytes; download_file reads at most {limit}" % (path, size))
    else:
        with open(path, "rb") as source:
            sys.stdout.write(base64.b64encode(source.read()).decode("ascii"))
except OSError as exc:
    sys.stdout.write("!%s: %s" % (path, exc.strerror or exc))
"""


def get_master_id() -> Optional[uuid.UUID]:
    """The dispatcher's ID; None when it cannot be reached or asked. Never raises."""
    try:
        return uuid.UUID(call("GET", "/system/identity")["uuid"])
    except Exception:
        return None


def download_file(engine: Union[str, uuid.UUID], file: Union[str, uuid.UUID]) -> str:
    """The whole text of ``file`` (a path) on ``engine``'s machine (administer)."""
    if not isinstance(engine, (str, uuid.UUID)):
        raise TypeError("engine: a name or ID")
    if isinstance(file, uuid.UUID) or not isinstance(file, str):
        raise SmedgeComponentError(
            "download_file: shared file IDs are not supported by Corral; name the file by "
            "its path on the engine",
            501,
        )
    if not file or "\0" in file:
        raise ValueError("file: a path on the engine")
    nodes = select(engine)
    if len(nodes) != 1:
        raise SmedgeComponentError("engine %s names %d engines; use its ID" % (engine, len(nodes)))
    code = READ_CODE.format(path=file, limit=MAX_DOWNLOAD_BYTES)
    answer = call("POST", "/nodes/%d/actions/run-python" % nodes[0]["id"], {"code": code})
    output = str(answer.get("output", "")).strip()
    if answer.get("ok") and output.startswith("?"):
        raise SmedgeComponentError("not supported: download_file of " + output[1:], 501)
    if not answer.get("ok") or output.startswith("!"):
        raise SmedgeComponentError("download_file: " + (output.lstrip("!") or "the node failed"))
    return base64.b64decode(output).decode("utf-8", "replace")


def super_exit() -> None:
    """Not supported: raises SmedgeComponentError."""
    raise SmedgeComponentError(
        "super_exit is not supported by Corral: render clients and the dispatcher are "
        "stopped by their own service managers (corral nodes soft-restart restarts a node)",
        501,
    )
