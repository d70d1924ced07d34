"""Queue a Pydra task on Corral and follow it with Pydra's controller API.

A script written for Pydra's controller, run against Corral::

    corral compat pydra-key > master.key && chmod 600 master.key
    export PYTHONPATH="$(corral compat-path)"
    export PYDRA_HOST=farm              # or HOST in pydra_settings.py
    python3 pydra_example.py

It runs from the folder holding master.key. The task is Corral's command-line
template; the exit code is 0 when the task completed, 1 on a controller error,
2 when the task failed.
"""

import sys
import time

from pydra.cluster.controller import ControllerException
from pydra.cluster.controller.web.controller import WebController
from pydra.cluster.tasks import STATUS_COMPLETE
from pydra.config import load_settings

POLL_S = 0.5


def main():
    pydra_settings = load_settings()
    controller = WebController(pydra_settings.HOST, pydra_settings.CONTROLLER_PORT)
    try:
        print("tasks: " + ", ".join(controller.list_tasks()))
        for node in controller.node_status():
            print(f"node {node['host']}: {node['status']}, {len(node['workers'])} workers")
        task_id = controller.run_tasks(
            "cmdline", command=["echo", "hello from frame {frame}"], frames="1-3"
        )
        print(f"queued task instance {task_id}")
        while task_id in controller.task_statuses():
            time.sleep(POLL_S)
        detail = controller.task_history_detail(task_id)
    except ControllerException as exc:
        print(f"controller error {exc.code}: {exc.message}", file=sys.stderr)
        return 1
    print(f"task instance {task_id}: {detail['state']}")
    for unit in detail["workunits"]:
        print(f"  frames {unit['start']:g}-{unit['end']:g} on {unit['node']}: {unit['state']}")
    return 0 if detail["status"] == STATUS_COMPLETE else 2


if __name__ == "__main__":
    sys.exit(main())
