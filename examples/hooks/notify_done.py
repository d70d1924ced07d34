"""A notification on completion: onJobCompleted appends a line to a file.

The file is the job's `notify_file` attribute, else CORRAL_NOTIFY_FILE in the
dispatcher's environment. A real site would post to its chat or mail here.
"""

import datetime
import os
import shlex

import MDispatcherAPI
import MTemplateAPI


class NotifyDone(MTemplateAPI.MTemplate):
    def __init__(self):
        MTemplateAPI.MTemplate.__init__(self)
        self.setID(903)
        self.setKey("notify_done")
        self.setName("Command line, notify on completion")
        for platform in self.platforms():
            platform.setPlatformEnabled(1)

    def onBuildCommandLine(self, platform, job, chunk, clientTemplatePreferences, instanceNum):
        return shlex.join(job.getCommand())

    def onJobCompleted(self, job):
        target = job.attributeGetString("notify_file") or os.environ.get("CORRAL_NOTIFY_FILE", "")
        if not target:
            MDispatcherAPI.logAddMessage(f"job {job.getJobId()} done; no notify_file to tell")
            return MTemplateAPI.MTemplateError()
        err, chunks = MDispatcherAPI.chunkGetList(job.getJobId())
        count = len(chunks) if err.getErrorCode() == 0 else "?"
        stamp = datetime.datetime.now().isoformat(timespec="seconds")
        with open(target, "a", encoding="utf-8") as out:
            out.write(
                f"{stamp} job {job.getJobId()} '{job.getName()}' of {job.getOwner()} is done ({count} chunks)\n"
            )
        return MTemplateAPI.MTemplateError()


MTemplateAPI.MManager.getUniqueClass().installPyTemplate(NotifyDone())
