"""Submit a Maya scene's render layers and a Nuke comp of them with Smedge's Python API.

Each layer renders as a job of its own; the comp waits for the layers frame by
frame (``WaitForWholeJob`` 0) and, once it has ended, runs ``--on-finished``
(if given) on a render node with the comp's ID. Run it with the folder
``corral compat-path`` prints on PYTHONPATH::

    export PYTHONPATH="$(corral compat-path)" SMEDGE_MASTER=farm:9890 CORRAL_TOKEN=...
    python3 smedge_submit.py /shows/a/scene.mb /shows/a/comp.nk 1001-1100 \
        --layer beauty --layer shadow --on-finished "python3 /sw/notify.py $(ID)"

It prints one line per job: its ID and name.
"""

import argparse
import sys
from typing import List, Optional
from uuid import uuid4

import smedge


def layer_jobs(scene: str, frames: str, layers: List[str], priority: int) -> List[dict]:
    """One Maya job per render layer, each with an ID of its own to wait for."""
    jobs = []
    for layer in layers:
        jobs.append({
            "ID": uuid4(),
            "Name": "Render - %s" % layer,
            "Type": "Maya",
            "Scene": scene,
            "Range": frames,
            "Priority": priority,
            "Extra": "-rl %s" % layer,
        })  # fmt: skip
    return jobs


def comp_job(comp: str, frames: str, renders: List[dict], on_finished: Optional[str]) -> dict:
    """The Nuke comp: above the renders' priority, so each frame comps once it is rendered."""
    job = {
        "Name": "Comp layers",
        "Type": "Nuke",
        "Scene": comp,
        "Range": frames,
        "Priority": max(job["Priority"] for job in renders) + 5,
        "WaitForJobID": [job["ID"] for job in renders],
        "WaitForWholeJob": 0,
    }
    if on_finished:
        job["JobFinishedEvt"] = on_finished
    return job


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scene", help="the Maya scene (.ma or .mb)")
    parser.add_argument("comp", help="the Nuke script comping the layers")
    parser.add_argument("frames", help="the frame range, e.g. 1001-1100")
    parser.add_argument("--layer", action="append", default=[], help="a render layer")
    parser.add_argument("--priority", type=int, default=50)
    parser.add_argument("--paused", action="store_true", help="submit the jobs paused")
    parser.add_argument("--on-finished", help="a command to run when the comp has ended")
    args = parser.parse_args(argv)
    renders = layer_jobs(args.scene, args.frames, args.layer or ["masterLayer"], args.priority)
    jobs = renders + [comp_job(args.comp, args.frames, renders, args.on_finished)]
    try:
        ids = smedge.submit_jobs(jobs, paused=args.paused)
    except smedge.SmedgeComponentError as exc:
        print("submit failed: %s" % exc, file=sys.stderr)
        return 1
    for job_id, job in zip(ids, jobs):
        print("%s %s" % (job_id, job["Name"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
