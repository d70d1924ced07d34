"""Houdini: renders a ROP of a .hip file with hython and Houdini's `hrender.py`.

One hython process per chunk (`hrender.py -e -f start end -i by -d ROP`).
Progress comes from the `Rendering frame N` lines and, within a frame, the
renderer's `ALF_PROGRESS N%` lines; a missing licence stops the render at once.
"""

# ruff: noqa: UP031  (frames formatted the Muster way, as %g / %.0f)

from __future__ import annotations

import ntpath
import posixpath
import re
import shlex
from typing import TYPE_CHECKING, Any

import MTemplateAPI
from hooks import templatekit
from hooks.templatekit import LogRule

if TYPE_CHECKING:
    from hooks.api.objects import MChunk, MJob

FRAME = re.compile(r"^Rendering frame (-?\d+(?:\.\d+)?)", re.MULTILINE)
ALF = re.compile(r"ALF_PROGRESS\s+(\d{1,3})%")

RULES = [
    LogRule.error(r"No licenses could be found|(?i:\blicen[cs]e\b.*\b(?:failed|not available))",
                  "no Houdini licence: {0}", abort=True),
    LogRule.error(r"^(?:Error: )?(?:Unable to|Could not|Cannot) (?:open|load) .*\.hip",
                  "hython cannot open the scene: {0}", abort=True),
    LogRule.error(r"(?:Invalid|Cannot find|No such) (?:ROP|output driver|node)\b.*",
                  "the ROP is missing: {0}", abort=True),
    LogRule.error(r"^(hou\.\w+|\w+Error): (.*)", "{1}: {2}"),
    LogRule.error(r"^(?:Error|ERROR): (.*)", "Houdini: {1}"),
    LogRule.error(r"^Traceback \(most recent call last\)", "hython raised an error"),
    LogRule.warn(r"^(?:Warning|WARNING): (.*)", "Houdini: {1}"),
]  # fmt: skip


class HoudiniTemplate(templatekit.BundledTemplate):
    APPLICATION_ITEM = "HYTHON"
    PROGRAM = "hython"
    RULES = RULES

    def __init__(self) -> None:
        templatekit.BundledTemplate.__init__(self)
        self.setID(8)
        self.setKey("houdini")
        self.setName("Houdini")
        self.setDescription("Renders a Houdini ROP with hython (Mantra, Karma, caches)")
        self.setTemplateLogic(MTemplateAPI.kTemplateMultiframe)
        self.setDefaultPriority(50)
        self.setLicensesGroup("houdini")

        items = [
            (MTemplateAPI.MTemplateItemFile("HIPFILE", "Scene", "The .hip file", "",
                                            0, 1, 1, "*.hip;*.hiplc;*.hipnc"), "job_file"),
            (MTemplateAPI.MTemplateItemString("HOUROP", "ROP", "The output driver to render",
                                              "/out/mantra1", 0, 1, 1), "render_node"),
            (MTemplateAPI.MTemplateItemString("HOUEXTRA", "Additional arguments",
                                              "Given to hrender.py before the scene", "", 1, 0, 1),
             "additional_flags"),
        ]  # fmt: skip
        templatekit.add_mapped_items(self, items)

        templatekit.enable_platforms(self)
        templatekit.add_application_item(
            self,
            "HYTHON",
            "hython executable",
            {
                MTemplateAPI.kPlatformLinux: "/opt/hfs20.5/bin/hython",
                MTemplateAPI.kPlatformWindows: (
                    "C:\\Program Files\\Side Effects Software\\Houdini 20.5.370\\bin\\hython.exe"
                ),
                MTemplateAPI.kPlatformMac: (
                    "/Applications/Houdini/Houdini20.5.370/Frameworks/Houdini.framework/"
                    "Versions/Current/Resources/bin/hython"
                ),
            },
        )
        for platform in self.platforms():
            platform.addClientConfigurationItem(
                MTemplateAPI.MTemplateItemFile(
                    "HRENDER", "hrender.py", "Empty: hrender.py beside hython", "", 0, 0, 1, "*.py"
                )
            )
        templatekit.add_environment_item(
            self,
            "HOULICENSE",
            "Licence server",
            "SESI_LMHOST for this node; empty keeps the node's",
        )

    def onBuildCommandLine(
        self,
        platform: int,
        job: MJob,
        chunk: MChunk,
        clientTemplatePreferences: dict[str, Any],
        instanceNum: int,
    ) -> str:
        scene = templatekit.field(self, job, "HIPFILE")
        rop = templatekit.field(self, job, "HOUROP")
        if not scene:
            raise ValueError("the job names no Houdini scene (HIPFILE)")
        if not rop:
            raise ValueError("the job names no ROP to render (HOUROP)")
        script = str(clientTemplatePreferences.get("HRENDER") or "")
        if not script:
            hython = templatekit.application(self, clientTemplatePreferences, "HYTHON")
            paths = ntpath if platform == MTemplateAPI.kPlatformWindows else posixpath
            script = paths.join(paths.dirname(hython), "hrender.py")
        arguments = [script, "-e", "-f", "%g" % chunk.getStartFrame(), "%g" % chunk.getEndFrame()]
        arguments += ["-i", "%g" % (job.attributeGetFloat("by_frame") or 1), "-v", "-d", rop]
        arguments += shlex.split(templatekit.field(self, job, "HOUEXTRA"))
        arguments.append(scene)
        return shlex.join(arguments)

    def onBuildEnvironment(
        self,
        job: MJob,
        chunk: MChunk,
        clientTemplatePreferences: dict[str, Any],
        existingEnvironment: MTemplateAPI.MEnvironment,
    ) -> MTemplateAPI.MEnvironment:
        templatekit.set_environment(
            existingEnvironment, clientTemplatePreferences, {"HOULICENSE": "SESI_LMHOST"}
        )
        # Mantra's ALF_PROGRESS lines and hython's prints reach the log as they happen.
        existingEnvironment.setValue("PYTHONUNBUFFERED", "1")
        return existingEnvironment

    def onCheckProgress(
        self, job: MJob, chunk: MChunk, clientTemplatePreferences: dict[str, Any], log: str
    ) -> float:
        """Percent of the chunk: frames started before the current one, plus its ALF_PROGRESS."""
        started = list(FRAME.finditer(log))
        if not started:
            return templatekit.UNKNOWN_PROGRESS
        total = len(templatekit.chunk_frames(job, chunk))
        percents = ALF.findall(log[started[-1].end() :])
        current = int(percents[-1]) / 100 if percents else 0.0
        return templatekit.progress_percent(len(started) - 1 + current, total)


MTemplateAPI.MManager.getUniqueClass().installPyTemplate(HoudiniTemplate())
