"""Maya: renders a scene with Maya's command-line renderer `Render`.

One `Render` process per chunk (`-s -e -b`), with the renderer, project,
output folder, camera and render layer of the job. Progress comes from
Arnold's `N% done` lines and the frames each renderer reports finished;
licence failures and Arnold watermarks stop the render at once.
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

RENDERERS = ["file", "arnold", "sw", "hw2", "redshift", "renderman", "vray"]

# Arnold (MtoA) and Maya's own renderers, in their own words.
PERCENT = re.compile(r"\|\s+(\d{1,3})% done")
FRAME_DONE = re.compile(r"(?:^|\|\s+)render done in |^Finished Rendering ", re.MULTILINE)

WATERMARK = LogRule.error(r"rendering with watermarks", "Arnold has no licence: {0}", abort=True)
RULES = [
    LogRule.error(r"(?i)\blicen[cs]e\b.*\b(?:fail|failed|not available|unable|could not)\b",
                  "no licence: {0}", abort=True),  # fmt: skip
    LogRule.error(r"^(?://\s*)?Error: .*(?:Cannot open|Could not open|File not found|"
                  r"Cannot load scene).*", "Maya cannot open the scene: {0}", abort=True),
    LogRule.error(r"\bERROR\s+\|\s+(.*)", "Arnold: {1}"),
    LogRule.error(r"^(?://\s*)?Error: (.*)", "Maya: {1}"),
    LogRule.warn(r"^(?://\s*)?Warning: (.*)", "Maya: {1}"),
    LogRule.warn(r"\bWARNING\s+\|\s+(.*)", "Arnold: {1}"),
]  # fmt: skip


class MayaTemplate(templatekit.BundledTemplate):
    APPLICATION_ITEM = "MAYARENDER"
    PROGRAM = "Maya's Render"

    def __init__(self) -> None:
        templatekit.BundledTemplate.__init__(self)
        self.setID(6)
        self.setKey("maya")
        self.setName("Maya")
        self.setDescription("Renders a Maya scene with Render (Arnold, Maya software, ...)")
        self.setTemplateLogic(MTemplateAPI.kTemplateMultiframe)
        self.setDefaultPriority(50)
        self.setLicensesGroup("maya")

        items = [
            (MTemplateAPI.MTemplateItemFile("MAYAFILE", "Scene", "The .ma or .mb file", "",
                                            0, 1, 1, "*.ma;*.mb"), "job_file"),
            (MTemplateAPI.MTemplateItemFolder("MAYAPROJECT", "Project", "Maya's project folder",
                                              "", 0, 0, 1), "job_project"),
            (MTemplateAPI.MTemplateItemFolder("MAYAOUTPUT", "Output folder",
                                              "Empty: the project's images folder", "", 0, 0, 1),
             "output_folder"),
            (MTemplateAPI.MTemplateItemCombo("MAYARENDERER", "Renderer",
                                             "file keeps the scene's", "file", RENDERERS),
             "renderer"),
            (MTemplateAPI.MTemplateItemString("MAYACAMERA", "Camera", "Empty: the scene's",
                                              "", 0, 0, 1), "camera"),
            (MTemplateAPI.MTemplateItemString("MAYALAYER", "Render layer",
                                              "Empty: every renderable layer", "", 0, 0, 1),
             "render_layer"),
            (MTemplateAPI.MTemplateItemBoolean("MAYAWATERMARK", "Fail on watermarks",
                                               "Stop a render Arnold watermarks for want of a "
                                               "licence", True, 1, 0, 1), "abort_on_watermark"),
            (MTemplateAPI.MTemplateItemString("MAYAEXTRA", "Additional arguments",
                                              "Put before the scene file", "", 1, 0, 1),
             "additional_flags"),
        ]  # fmt: skip
        templatekit.add_mapped_items(self, items)

        templatekit.enable_platforms(self)
        templatekit.add_application_item(
            self,
            "MAYARENDER",
            "Maya Render executable",
            {
                MTemplateAPI.kPlatformLinux: "/usr/autodesk/maya2025/bin/Render",
                MTemplateAPI.kPlatformWindows: (
                    "C:\\Program Files\\Autodesk\\Maya2025\\bin\\Render.exe"
                ),
                MTemplateAPI.kPlatformMac: (
                    "/Applications/Autodesk/maya2025/Maya.app/Contents/bin/Render"
                ),
            },
        )
        templatekit.add_threads_item(self, "MAYATHREADS")
        templatekit.add_environment_item(
            self,
            "MAYALICENSE",
            "Licence server",
            "ADSKFLEX_LICENSE_FILE for this node, e.g. 27000@licence; empty keeps the node's",
        )

    def onBuildCommandLine(
        self,
        platform: int,
        job: MJob,
        chunk: MChunk,
        clientTemplatePreferences: dict[str, Any],
        instanceNum: int,
    ) -> str:
        scene = templatekit.field(self, job, "MAYAFILE")
        if not scene:
            raise ValueError("the job names no Maya scene (MAYAFILE)")
        renderer = templatekit.field(self, job, "MAYARENDERER") or "file"
        arguments = ["-r", renderer]
        arguments += ["-s", "%g" % chunk.getStartFrame(), "-e", "%g" % chunk.getEndFrame()]
        arguments += ["-b", "%g" % (job.attributeGetFloat("by_frame") or 1)]
        for name, flag in (("MAYAPROJECT", "-proj"), ("MAYAOUTPUT", "-rd"),
                           ("MAYACAMERA", "-cam"), ("MAYALAYER", "-rl")):  # fmt: skip
            value = templatekit.field(self, job, name)
            if value:
                arguments += [flag, value]
        threads = int(clientTemplatePreferences.get("MAYATHREADS") or 0)
        if threads > 0:
            arguments += ["-n", str(threads)]
        if renderer == "arnold":
            # Verbosity 2 prints the "% done" lines progress is read from.
            arguments += ["-ai:lve", "2"]
        arguments += shlex.split(templatekit.field(self, job, "MAYAEXTRA"))
        arguments.append(scene)
        return shlex.join(arguments)

    def onBuildEnvironment(
        self,
        job: MJob,
        chunk: MChunk,
        clientTemplatePreferences: dict[str, Any],
        existingEnvironment: MTemplateAPI.MEnvironment,
    ) -> MTemplateAPI.MEnvironment:
        # No usage reporting or crash dialog in a batch render: each would wait for a click.
        existingEnvironment.setValue("MAYA_DISABLE_CIP", "1")
        existingEnvironment.setValue("MAYA_DISABLE_CER", "1")
        templatekit.set_environment(
            existingEnvironment, clientTemplatePreferences, {"MAYALICENSE": "ADSKFLEX_LICENSE_FILE"}
        )
        return existingEnvironment

    def onCheckLog(
        self, job: MJob, chunk: MChunk, clientTemplatePreferences: dict[str, Any], log: str
    ) -> MTemplateAPI.MTemplateError:
        rules = list(RULES)
        if templatekit.field_flag(self, job, "MAYAWATERMARK"):
            rules.insert(0, WATERMARK)
        return templatekit.check_log(rules, log)

    def onCheckProgress(
        self, job: MJob, chunk: MChunk, clientTemplatePreferences: dict[str, Any], log: str
    ) -> float:
        """Percent of the chunk: frames finished plus the current frame's `% done`."""
        total = len(templatekit.chunk_frames(job, chunk))
        finished = list(FRAME_DONE.finditer(log))
        tail = log[finished[-1].end() :] if finished else log
        percents = PERCENT.findall(tail)
        if not finished and not percents:
            return templatekit.UNKNOWN_PROGRESS
        current = int(percents[-1]) / 100 if percents else 0.0
        return templatekit.progress_percent(len(finished) + current, total)


MTemplateAPI.MManager.getUniqueClass().installPyTemplate(MayaTemplate())
