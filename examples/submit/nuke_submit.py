"""Nuke shelf tool: submit the saved script to Corral (the bundled `nuke` template).

Put this file and the `corral_client` folder where Nuke imports from (e.g.
``~/.nuke``, or a folder added with ``nuke.pluginAddPath``), then make a
toolbar command::

    nuke.menu("Nuke").addCommand("Render/Submit to Corral",
                                 "import nuke_submit; nuke_submit.main()")

It renders the selected Write nodes (every enabled one when none is selected)
over the script's frame range. The dispatcher and the token come as the
``corral`` command finds them (CORRAL_DISPATCHER, CORRAL_TOKEN,
~/.config/corral/token). Edit POOLS, CHUNK_SIZE and PRIORITY below, or call
``submit(...)`` with your own.
"""

import os
import time
from typing import Any, Dict, Iterable, Optional

import nuke

import corral_client

POOLS = []  # e.g. ["comp"]; empty: any node
CHUNK_SIZE = 10
PRIORITY = None  # None: the template's default


def submit(
    pools: Iterable[str] = (),
    chunk_size: int = CHUNK_SIZE,
    priority: Optional[int] = PRIORITY,
    title: str = "",
    client: Optional[corral_client.Client] = None,
) -> Dict[str, Any]:
    """Save the script if it changed and submit it; the created job."""
    root = nuke.root()
    script = root.name()
    if not script or script == "Root":
        raise ValueError("save the script first: the farm renders the saved .nk file")
    if root.modified():
        nuke.scriptSave()
    first = int(root["first_frame"].value())
    last = int(root["last_frame"].value())
    writes = [node.name() for node in nuke.selectedNodes("Write")]
    job = corral_client.make_job(
        title or "%s %s" % (os.path.basename(script), time.strftime("%Y-%m-%d %H:%M:%S")),
        "nuke",
        first,
        last,
        chunk_size=chunk_size,
        priority=priority,
        pools=pools,
        data={"job_file": script, "render_node": ",".join(writes)},
    )
    return (client or corral_client.Client()).submit(job)  # type: ignore[no-any-return]


def main() -> None:
    """The shelf entry: submit with the settings above and say what happened."""
    try:
        created = submit(POOLS)
    except (corral_client.ClientError, ValueError) as exc:
        nuke.message("Corral: the job was not submitted:\n%s" % exc)
        return
    nuke.message("Corral: job %s queued (%s)" % (created["id"], created["title"]))
