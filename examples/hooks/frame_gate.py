"""A per-chunk dependency rule: onValidateChunkDependancies.

A chunk runs only once every input frame it needs exists: the job's
`input_pattern` attribute names them, `{frame}` standing for the frame
number (e.g. /plates/sh010.{frame}.exr). Held chunks are asked again when the
job changes and every chunk_hold_recheck_s, so they start as frames arrive.
"""

import os
import shlex

import MTemplateAPI


class FrameGate(MTemplateAPI.MTemplate):
    def __init__(self):
        MTemplateAPI.MTemplate.__init__(self)
        self.setID(905)
        self.setKey("frame_gate")
        self.setName("Command line, waits for its input frames")
        for platform in self.platforms():
            platform.setPlatformEnabled(1)

    def onBuildCommandLine(self, platform, job, chunk, clientTemplatePreferences, instanceNum):
        return shlex.join(job.getCommand())

    def onValidateChunkDependancies(self, job, chunk):
        pattern = job.attributeGetString("input_pattern")
        if not pattern:
            return MTemplateAPI.MTemplateError()
        frame = int(chunk.getStartFrame())
        while frame <= int(chunk.getEndFrame()):
            path = pattern.replace("{frame}", str(frame))
            if not os.path.exists(path):
                return MTemplateAPI.MTemplateError(1, f"waiting for {path}")
            frame += 1
        return MTemplateAPI.MTemplateError()


MTemplateAPI.MManager.getUniqueClass().installPyTemplate(FrameGate())
