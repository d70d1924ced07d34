"""Python script: runs a script with the node's Python, once per chunk or once per frame.

The script gets the chunk's frames as `CORRAL_START_FRAME`, `CORRAL_END_FRAME`
and `CORRAL_BY_FRAME` in its environment, and its arguments may hold `{start}`,
`{end}` or `{frame}` (the last runs it once per frame). A line
`CORRAL_PROGRESS 40` (a percent of the chunk) reports progress; a Python
traceback fails the chunk even when the script hides its exit code.
"""

# ruff: noqa: UP031  (frames formatted the Muster way, as %g / %.0f)

from __future__ import annotations

import re
import shlex
from typing import TYPE_CHECKING, Any

import MTemplateAPI
from hooks import templatekit
from hooks.templatekit import LogRule

if TYPE_CHECKING:
    from hooks.api.objects import MChunk, MJob

PROGRESS = re.compile(r"^CORRAL_PROGRESS\s+(\d+(?:\.\d+)?)\s*%?\s*$", re.MULTILINE)

RULES = [
    LogRule.error(
        r"^(\w+(?:\.\w+)*(?:Error|Exception|Exit|Interrupt)): (.*)", "the script raised {1}: {2}"
    ),
    LogRule.error(r"^(\w+(?:\.\w+)*(?:Error|Exception))$", "the script raised {1}"),
    LogRule.warn(r"^(?:\S+:\d+: )?(\w*Warning): (.*)", "{1}: {2}"),
]


class PythonScriptTemplate(templatekit.BundledTemplate):
    APPLICATION_ITEM = "PYTHONEXE"
    PROGRAM = "the script"
    RULES = RULES

    def __init__(self) -> None:
        templatekit.BundledTemplate.__init__(self)
        self.setID(3)
        self.setKey("python")
        self.setName("Python script")
        self.setDescription("Runs a Python script with the chunk's frames")
        self.setTemplateLogic(MTemplateAPI.kTemplateMultiframe)
        self.setDefaultPriority(50)

        items = [
            (MTemplateAPI.MTemplateItemFile("PYSCRIPT", "Script", "The .py file to run", "",
                                            0, 1, 1, "*.py"), "job_file"),
            (MTemplateAPI.MTemplateItemString("PYARGS", "Arguments",
                                              "Given to the script; {start}, {end} and {frame} "
                                              "are the chunk's frames", "{start} {end}", 0, 0, 1),
             "script_args"),
            (MTemplateAPI.MTemplateItemFolder("PYFOLDER", "Working folder",
                                              "Where the script runs; empty for the node's",
                                              "", 1, 0, 1), "working_folder"),
        ]  # fmt: skip
        templatekit.add_mapped_items(self, items)

        templatekit.enable_platforms(self)
        templatekit.add_application_item(
            self,
            "PYTHONEXE",
            "Python interpreter",
            {
                MTemplateAPI.kPlatformLinux: "/usr/bin/python3",
                MTemplateAPI.kPlatformWindows: "C:\\Windows\\py.exe",
                MTemplateAPI.kPlatformMac: "/usr/bin/python3",
            },
        )

    def onGetApplicationStartingFolder(
        self, job: MJob, clientTemplatePreferences: dict[str, Any], pathOut: MTemplateAPI.MStringRef
    ) -> MTemplateAPI.MTemplateError:
        pathOut.setString(templatekit.field(self, job, "PYFOLDER"))
        return MTemplateAPI.MTemplateError()

    def onBuildCommandLine(
        self,
        platform: int,
        job: MJob,
        chunk: MChunk,
        clientTemplatePreferences: dict[str, Any],
        instanceNum: int,
    ) -> str:
        script = templatekit.field(self, job, "PYSCRIPT")
        if not script:
            raise ValueError("the job names no script (PYSCRIPT)")
        # -u: progress lines reach the log as they are printed.
        arguments = ["-u", script, *shlex.split(templatekit.field(self, job, "PYARGS"))]
        return shlex.join(arguments)

    def onBuildEnvironment(
        self,
        job: MJob,
        chunk: MChunk,
        clientTemplatePreferences: dict[str, Any],
        existingEnvironment: MTemplateAPI.MEnvironment,
    ) -> MTemplateAPI.MEnvironment:
        existingEnvironment.setValue("CORRAL_START_FRAME", "%g" % chunk.getStartFrame())
        existingEnvironment.setValue("CORRAL_END_FRAME", "%g" % chunk.getEndFrame())
        existingEnvironment.setValue(
            "CORRAL_BY_FRAME", "%g" % (job.attributeGetFloat("by_frame") or 1)
        )
        existingEnvironment.setValue("PYTHONUNBUFFERED", "1")
        return existingEnvironment

    def onCheckProgress(
        self, job: MJob, chunk: MChunk, clientTemplatePreferences: dict[str, Any], log: str
    ) -> float:
        """The last `CORRAL_PROGRESS N` line's percent."""
        found = PROGRESS.findall(log)
        if not found:
            return templatekit.UNKNOWN_PROGRESS
        return templatekit.progress_percent(float(found[-1]), 100.0)


MTemplateAPI.MManager.getUniqueClass().installPyTemplate(PythonScriptTemplate())
