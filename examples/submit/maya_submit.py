"""Maya shelf button: submit the saved scene to Corral (the bundled `maya` template).

Put this file and the `corral_client` folder on Maya's Python path (e.g. the
``scripts`` folder of your Maya preferences, or ``PYTHONPATH`` in Maya.env),
then make a shelf button running::

    import maya_submit; maya_submit.main()

It renders the render globals' frame range (start, end, step) with the
scene's renderer, into the project's images folder. The dispatcher and the
token come as the ``corral`` command finds them (CORRAL_DISPATCHER,
CORRAL_TOKEN, ~/.config/corral/token). Edit POOLS, CHUNK_SIZE and PRIORITY
below, or call ``submit(...)`` with your own.
"""

import os
import time
from typing import Any, Dict, Iterable, Optional

from maya import cmds

import corral_client

POOLS = []  # e.g. ["maya"]; empty: any node
CHUNK_SIZE = 5
PRIORITY = None  # None: the template's default


def submit(
    pools: Iterable[str] = (),
    chunk_size: int = CHUNK_SIZE,
    priority: Optional[int] = PRIORITY,
    title: str = "",
    client: Optional[corral_client.Client] = None,
) -> Dict[str, Any]:
    """Save the scene if it changed and submit it; the created job."""
    scene = cmds.file(query=True, sceneName=True)
    if not scene:
        raise ValueError("save the scene first: the farm renders the saved file")
    if cmds.file(query=True, modified=True):
        cmds.file(save=True)
    first = cmds.getAttr("defaultRenderGlobals.startFrame")
    last = cmds.getAttr("defaultRenderGlobals.endFrame")
    step = cmds.getAttr("defaultRenderGlobals.byFrameStep") or 1
    fields = {"by": step} if step != 1 else {}
    job = corral_client.make_job(
        title or "%s %s" % (os.path.basename(scene), time.strftime("%Y-%m-%d %H:%M:%S")),
        "maya",
        first,
        last,
        chunk_size=chunk_size,
        priority=priority,
        pools=pools,
        data={
            "job_file": scene,
            "job_project": cmds.workspace(query=True, rootDirectory=True),
            "renderer": "file",
        },
        **fields,
    )
    return (client or corral_client.Client()).submit(job)  # type: ignore[no-any-return]


def main() -> None:
    """The shelf entry: submit with the settings above and say what happened."""
    try:
        created = submit(POOLS)
    except (corral_client.ClientError, ValueError) as exc:
        cmds.confirmDialog(title="Corral", message="The job was not submitted:\n%s" % exc)
        return
    cmds.confirmDialog(
        title="Corral", message="Job %s queued (%s)" % (created["id"], created["title"])
    )
