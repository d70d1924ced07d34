"""Templates whose onCheckProgress reads a stand-in renderer's log (tests of progress
from the log). The job's `renderer` attribute is the script to run and `steps` a JSON
list of its arguments. `tiles` counts `tile N done` lines over the whole log, of the
job's `tile_count`; `tiles_broken` raises on every call.
"""

import json
import re
import shlex
import sys

import MTemplateAPI

TILE = re.compile(r"^tile \d+ done$", re.MULTILINE)


class TileProgressTemplate(MTemplateAPI.MTemplate):
    def __init__(self):
        MTemplateAPI.MTemplate.__init__(self)
        self.setID(980)
        self.setName("Tile progress")
        self.setKey("tiles")
        self.setTemplateLogic(MTemplateAPI.kTemplateMultiframe)
        self.platformLinux.setPlatformEnabled(1)

    def onGetApplicationPath(self, job, clientTemplatePreferences, pathOut):
        pathOut.setString(sys.executable)
        return MTemplateAPI.MTemplateError()

    def onBuildCommandLine(self, platform, job, chunk, clientTemplatePreferences, instanceNum):
        steps = json.loads(job.attributeGetString("steps") or "[]")
        return shlex.join([job.attributeGetString("renderer"), *steps])

    def onCheckProgress(self, job, chunk, clientTemplatePreferences, log):
        done = len(TILE.findall(log))
        if not done:
            return -1
        return 100.0 * done / int(job.attributeGetString("tile_count") or "1")


class BrokenProgressTemplate(TileProgressTemplate):
    def __init__(self):
        TileProgressTemplate.__init__(self)
        self.setID(981)
        self.setName("Broken tile progress")
        self.setKey("tiles_broken")

    def onCheckProgress(self, job, chunk, clientTemplatePreferences, log):
        raise RuntimeError("the tile counter is broken")


MTemplateAPI.MManager.getUniqueClass().installPyTemplate(TileProgressTemplate())
MTemplateAPI.MManager.getUniqueClass().installPyTemplate(BrokenProgressTemplate())
