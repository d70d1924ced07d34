"""Templates that judge a stand-in renderer's log the Muster way (tests of errors, log
checks and chunk outcomes). The job's `renderer` attribute is the script to run and
`steps` a JSON list of its arguments; `{start}`/`{end}` in a step are the chunk's frames.
`need_success` makes the log check require a success line anywhere in the log.
"""

import json
import shlex
import sys

import MTemplateAPI


class ErrorCheckTemplate(MTemplateAPI.MTemplate):
    def __init__(self):
        MTemplateAPI.MTemplate.__init__(self)
        self.setID(970)
        self.setName("Error check")
        self.setKey("errcheck")
        self.setTemplateLogic(MTemplateAPI.kTemplateMultiframe)
        self.setProgressPattern(r"PROGRESS (\d+(?:\.\d+)?)%")
        self.setFramePattern(r"^Saved frame \d+")
        self.platformLinux.setPlatformEnabled(1)
        self.platformLinux.setEnableErrorCheck(1)

    def onGetApplicationPath(self, job, clientTemplatePreferences, pathOut):
        pathOut.setString(sys.executable)
        return MTemplateAPI.MTemplateError()

    def onBuildCommandLine(self, platform, job, chunk, clientTemplatePreferences, instanceNum):
        steps = json.loads(job.attributeGetString("steps") or "[]")
        return shlex.join([job.attributeGetString("renderer"), *steps])

    def onCheckLog(self, job, chunk, clientTemplatePreferences, log):
        if "FATAL CRASH" in log:
            error = MTemplateAPI.MTemplateError(
                3, "the renderer crashed", MTemplateAPI.MTemplateError.kTemplateErrorTypeError
            )
            error.addErrorAction(MTemplateAPI.MTemplateError.kTemplateErrorAbortRender)
            return error
        if "ERROR:" in log:
            return MTemplateAPI.MTemplateError(
                4, "the renderer reported an error", MTemplateAPI.kTemplateErrorTypeError
            )
        if job.attributeGetString("need_success") and "RENDER SUCCESS" not in log:
            return MTemplateAPI.MTemplateError(5, "no success line in the log")
        if "WARNING:" in log:
            return MTemplateAPI.MTemplateError(
                1, "the renderer warned", MTemplateAPI.MTemplateError.kTemplateErrorTypeWarning
            )
        return MTemplateAPI.MTemplateError()


class OutputCheckTemplate(ErrorCheckTemplate):
    def __init__(self):
        ErrorCheckTemplate.__init__(self)
        self.setID(971)
        self.setName("Error check with outputs")
        self.setKey("errcheck_out")
        self.setOutputPattern("{output_folder}/frame_####.png")


MTemplateAPI.MManager.getUniqueClass().installPyTemplate(ErrorCheckTemplate())
MTemplateAPI.MManager.getUniqueClass().installPyTemplate(OutputCheckTemplate())
