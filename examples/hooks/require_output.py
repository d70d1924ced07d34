"""Refuse jobs without an output folder: onValidateJobSubmission.

The submitter sees the reason (REST answers 422, `corral submit` exits 1).
"""

import shlex

import MTemplateAPI


class RequireOutput(MTemplateAPI.MTemplate):
    def __init__(self):
        MTemplateAPI.MTemplate.__init__(self)
        self.setID(902)
        self.setKey("require_output")
        self.setName("Command line, output folder required")
        for platform in self.platforms():
            platform.setPlatformEnabled(1)

    def onBuildCommandLine(self, platform, job, chunk, clientTemplatePreferences, instanceNum):
        return shlex.join(job.getCommand())

    def onValidateJobSubmission(self, job):
        if not job.attributeGetString("output_folder").strip():
            return MTemplateAPI.MTemplateError(
                1, "set the output_folder attribute: this template refuses jobs without one"
            )
        return MTemplateAPI.MTemplateError()


MTemplateAPI.MManager.getUniqueClass().installPyTemplate(RequireOutput())
