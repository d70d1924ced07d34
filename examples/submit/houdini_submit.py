"""Houdini shelf tool: submit the saved .hip file to Corral (the bundled `houdini` template).

Put this file and the `corral_client` folder on Houdini's Python path (e.g.
``$HOUDINI_USER_PREF_DIR/python3.Xlibs``, or ``PYTHONPATH`` in houdini.env),
then make a shelf tool whose script is::

    import houdini_submit; houdini_submit.main()

It renders the selected ROP (else /out/mantra1) over the playbar's frame
range, rendered by hython on the nodes. The dispatcher and the token come as
the ``corral`` command finds them (CORRAL_DISPATCHER, CORRAL_TOKEN,
~/.config/corral/token). Edit POOLS, CHUNK_SIZE and PRIORITY below, or call
``submit(...)`` with your own.
"""

import os
import time
from typing import Any, Dict, Iterable, Optional

import hou

import corral_client

POOLS = []  # e.g. ["fx"]; empty: any node
CHUNK_SIZE = 5
PRIORITY = None  # None: the template's default
DEFAULT_ROP = "/out/mantra1"


def chosen_rop() -> str:
    """The selected output driver's path, else DEFAULT_ROP."""
    for node in hou.selectedNodes():
        if node.type().category().name() == "Driver":
            return str(node.path())
    return DEFAULT_ROP


def submit(
    pools: Iterable[str] = (),
    chunk_size: int = CHUNK_SIZE,
    priority: Optional[int] = PRIORITY,
    title: str = "",
    client: Optional[corral_client.Client] = None,
) -> Dict[str, Any]:
    """Save the .hip file if it changed and submit it; the created job."""
    hip = hou.hipFile.path()
    if not hip or os.path.basename(hip).startswith("untitled"):
        raise ValueError("save the scene first: the farm renders the saved .hip file")
    if hou.hipFile.hasUnsavedChanges():
        hou.hipFile.save()
    first, last = hou.playbar.frameRange()
    job = corral_client.make_job(
        title or "%s %s" % (os.path.basename(hip), time.strftime("%Y-%m-%d %H:%M:%S")),
        "houdini",
        int(first),
        int(last),
        chunk_size=chunk_size,
        priority=priority,
        pools=pools,
        data={"job_file": hip, "render_node": chosen_rop()},
    )
    return (client or corral_client.Client()).submit(job)  # type: ignore[no-any-return]


def main() -> None:
    """The shelf entry: submit with the settings above and say what happened."""
    try:
        created = submit(POOLS)
    except (corral_client.ClientError, ValueError) as exc:
        hou.ui.displayMessage("The job was not submitted:\n%s" % exc, title="Corral")
        return
    hou.ui.displayMessage("Job %s queued (%s)" % (created["id"], created["title"]), title="Corral")
