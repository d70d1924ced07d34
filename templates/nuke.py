"""Nuke: renders a script's Write nodes in terminal mode (`nuke -x -F start-end`).

One Nuke process per chunk; the job may name the Write node to render (else
every enabled one). Progress comes from the `Frame N (i of M)` line Nuke prints as each frame is
written;
a licence failure stops the render at once.
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

FRAME = re.compile(r"^Frame (\d+) \((\d+) of (\d+)\)", re.MULTILINE)

RULES = [
    LogRule.error(r"(?i)\blicen[cs]e\b.*\b(?:fail|failed|not available|unable|could not|"
                  r"no license)\b", "no Nuke licence: {0}", abort=True),
    LogRule.error(r"^(?:ERROR|Error): (.*?(?:No such file|not a valid|cannot open|"
                  r"couldn't open|Could not open).*)", "Nuke cannot open the script: {1}",
                  abort=True),
    LogRule.error(r"^(\w+): (?:Can't|Cannot|Could not|Failed to) (.*)", "{1} failed: {2}"),
    LogRule.error(r"^(?:ERROR|Error): (.*)", "Nuke: {1}"),
    LogRule.error(r"^Traceback \(most recent call last\)", "a Python callback raised an error"),
    LogRule.warn(r"^(?:WARNING|Warning): (.*)", "Nuke: {1}"),
]  # fmt: skip


class NukeTemplate(templatekit.BundledTemplate):
    APPLICATION_ITEM = "NUKEPATH"
    PROGRAM = "Nuke"
    RULES = RULES

    def __init__(self) -> None:
        templatekit.BundledTemplate.__init__(self)
        self.setID(7)
        self.setKey("nuke")
        self.setName("Nuke")
        self.setDescription("Renders a Nuke script's Write nodes")
        self.setTemplateLogic(MTemplateAPI.kTemplateMultiframe)
        self.setDefaultPriority(50)
        self.setLicensesGroup("nuke")

        items = [
            (MTemplateAPI.MTemplateItemFile("NUKEFILE", "Script", "The .nk script", "",
                                            0, 1, 1, "*.nk"), "job_file"),
            (MTemplateAPI.MTemplateItemString("NUKEWRITE", "Write node",
                                              "Empty: every enabled Write node", "", 0, 0, 1),
             "render_node"),
            (MTemplateAPI.MTemplateItemBoolean("NUKEX", "NukeX", "Render with a NukeX licence",
                                               False, 1, 0, 1), "nukex"),
            (MTemplateAPI.MTemplateItemBoolean("NUKEINTERACTIVE", "Interactive licence",
                                               "Use an interactive licence, not a render one",
                                               False, 1, 0, 1), "interactive_license"),
            (MTemplateAPI.MTemplateItemString("NUKEEXTRA", "Additional arguments",
                                              "Put before the script", "", 1, 0, 1),
             "additional_flags"),
        ]  # fmt: skip
        templatekit.add_mapped_items(self, items)

        templatekit.enable_platforms(self)
        templatekit.add_application_item(
            self,
            "NUKEPATH",
            "Nuke executable",
            {
                MTemplateAPI.kPlatformLinux: "/usr/local/Nuke15.1v1/Nuke15.1",
                MTemplateAPI.kPlatformWindows: "C:\\Program Files\\Nuke15.1v1\\Nuke15.1.exe",
                MTemplateAPI.kPlatformMac: (
                    "/Applications/Nuke15.1v1/Nuke15.1v1.app/Contents/MacOS/Nuke15.1"
                ),
            },
        )
        templatekit.add_threads_item(self, "NUKETHREADS")
        templatekit.add_environment_item(
            self,
            "NUKELICENSE",
            "Licence server",
            "foundry_LICENSE for this node, e.g. 4101@licence; empty keeps the node's",
        )
        templatekit.add_environment_item(
            self, "NUKEPLUGINS", "Plug-in path", "NUKE_PATH for this node", folder=True
        )

    def onBuildCommandLine(
        self,
        platform: int,
        job: MJob,
        chunk: MChunk,
        clientTemplatePreferences: dict[str, Any],
        instanceNum: int,
    ) -> str:
        script = templatekit.field(self, job, "NUKEFILE")
        if not script:
            raise ValueError("the job names no Nuke script (NUKEFILE)")
        by = job.attributeGetFloat("by_frame") or 1
        frames = "%g-%g" % (chunk.getStartFrame(), chunk.getEndFrame())
        if by != 1:
            frames += "x%g" % by
        arguments = ["-x"]
        if templatekit.field_flag(self, job, "NUKEX"):
            arguments.append("--nukex")
        if templatekit.field_flag(self, job, "NUKEINTERACTIVE"):
            arguments.append("-i")
        threads = int(clientTemplatePreferences.get("NUKETHREADS") or 0)
        if threads > 0:
            arguments += ["-m", str(threads)]
        arguments += ["-F", frames]
        write = templatekit.field(self, job, "NUKEWRITE")
        if write:
            arguments += ["-X", write]
        arguments += shlex.split(templatekit.field(self, job, "NUKEEXTRA"))
        arguments.append(script)
        return shlex.join(arguments)

    def onBuildEnvironment(
        self,
        job: MJob,
        chunk: MChunk,
        clientTemplatePreferences: dict[str, Any],
        existingEnvironment: MTemplateAPI.MEnvironment,
    ) -> MTemplateAPI.MEnvironment:
        templatekit.set_environment(
            existingEnvironment,
            clientTemplatePreferences,
            {"NUKELICENSE": "foundry_LICENSE", "NUKEPLUGINS": "NUKE_PATH"},
        )
        return existingEnvironment

    def onCheckProgress(
        self, job: MJob, chunk: MChunk, clientTemplatePreferences: dict[str, Any], log: str
    ) -> float:
        """Percent of the chunk from the last `Frame N (i of M)` line: i of M frames written."""
        found = FRAME.findall(log)
        if not found:
            return templatekit.UNKNOWN_PROGRESS
        _, index, count = found[-1]
        return templatekit.progress_percent(int(index), int(count))


MTemplateAPI.MManager.getUniqueClass().installPyTemplate(NukeTemplate())
