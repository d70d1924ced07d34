"""Auto-priority by owner: onSubmitJob sets a job's priority from who owns it.

Jobs of this template run their `command` like the command-line template.
Owners not in the table keep the priority they asked for.
"""

import shlex

import MTemplateAPI

PRIORITY_BY_OWNER = {"director": 95, "lighting": 70, "intern": 10}


class AutoPriority(MTemplateAPI.MTemplate):
    def __init__(self):
        MTemplateAPI.MTemplate.__init__(self)
        self.setID(901)
        self.setKey("auto_priority")
        self.setName("Command line, priority by owner")
        for platform in self.platforms():
            platform.setPlatformEnabled(1)

    def onBuildCommandLine(self, platform, job, chunk, clientTemplatePreferences, instanceNum):
        return shlex.join(job.getCommand())

    def onSubmitJob(self, job):
        wanted = PRIORITY_BY_OWNER.get(job.getOwner())
        if wanted is not None:
            job.setPriority(wanted)
        return MTemplateAPI.MTemplateError()


MTemplateAPI.MManager.getUniqueClass().installPyTemplate(AutoPriority())
