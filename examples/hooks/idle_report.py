"""A dispatcher-idling report: onDispatcherIdling writes who idles and what waits.

It runs every idle_hook_interval_s while a connected node runs nothing, and
rewrites the file named by CORRAL_IDLE_REPORT (no file: the dispatcher log).
"""

import os

import MDispatcherAPI
import MTemplateAPI


class IdleReport(MTemplateAPI.MTemplate):
    def __init__(self):
        MTemplateAPI.MTemplate.__init__(self)
        self.setID(904)
        self.setKey("idle_report")
        self.setName("Idle report")

    def onDispatcherIdling(self):
        err, nodes = MDispatcherAPI.nodeGetList()
        if err.getErrorCode() != 0:
            return MTemplateAPI.MTemplateError(1, err.getDescription())
        err, jobs = MDispatcherAPI.jobGetList()
        idle = sorted(node.getName() for node in nodes if node.getStatusName() == "idle")
        waiting = sorted(
            job.getName() for job in jobs if str(job.getStatus()) in ("queued", "paused")
        )
        text = f"idle nodes: {', '.join(idle) or '-'}\nwaiting jobs: {', '.join(waiting) or '-'}\n"
        target = os.environ.get("CORRAL_IDLE_REPORT")
        if target:
            with open(target + ".tmp", "w", encoding="utf-8") as out:
                out.write(text)
            os.replace(target + ".tmp", target)
        else:
            MDispatcherAPI.logAddMessage(text.replace("\n", "; "))
        return MTemplateAPI.MTemplateError()


MTemplateAPI.MManager.getUniqueClass().installPyTemplate(IdleReport())
