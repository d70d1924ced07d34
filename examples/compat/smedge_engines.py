"""Smedge engine control against Corral: a wrangler's morning script.

Run it with the folder ``corral compat-path`` prints on PYTHONPATH, and
SMEDGE_MASTER (and CORRAL_TOKEN, a token with the manage-nodes permission) set::

    export PYTHONPATH="$(corral compat-path)"
    export SMEDGE_MASTER=dispatcher.studio:9890
    python3 smedge_engines.py 'RENDER_\\d{4}' /sw/pipeline/work_finished.py

It prints the farm's ID, enables the engines whose names match the pattern,
gives them 4 GPUs and an event command that runs the script after each chunk
they finish (on the engine, with the work's ID, the job's ID, type and scene
file), makes sure a "GPU" pool exists, and prints each engine's settings and
dispatch report. Standard library only; Python 3.7 and newer.
"""

import sys
import uuid

import smedge


def main(pattern: str, script: str) -> int:
    master = smedge.get_master_id()
    if master is None:
        print("the dispatcher cannot be reached; check SMEDGE_MASTER and CORRAL_TOKEN")
        return 1
    print("farm", master)
    smedge.enable_engines(regex=pattern)
    events = {
        "WorkFinishedSuccessfulEvt": f"python3 {script} success $(ID) $(Parent) $(Type) "
        "$(Scene.File.Enquote)",
        "WorkFinishedUnsuccessfulEvt": f"python3 {script} failed $(ID) $(Parent) $(Type) "
        "$(Note.Enquote)",
    }
    smedge.set_engines(dict(events, UseGPUs=4), regex=pattern)
    if "GPU" not in smedge.get_pools():
        smedge.create_pools("GPU")
    reports = smedge.get_engine_dispatch_log(regex=pattern)
    for engine in smedge.get_engines(regex=pattern):
        pools = engine["PoolNames"] or "-"
        print(f"{engine['Name']:<20} {engine['Status']:<8} UseGPUs={engine.get('UseGPUs')} {pools}")
        for line in reports[uuid.UUID(engine["ID"])].splitlines()[1:]:
            print("    " + line)
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        print("usage: smedge_engines.py NAME_PATTERN EVENT_SCRIPT")
        sys.exit(2)
    sys.exit(main(sys.argv[1], sys.argv[2]))
