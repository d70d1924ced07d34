"""Arnold kick: renders exported Arnold scenes (.ass), one file per frame.

Each frame has its own scene file (`shot.####.ass`), so a kick job runs one
frame per chunk (onSubmitJob sets the packet size to 1) and the chunk's frame
fills the `#` of the scene and image names. Progress comes from Arnold's
`N% done` lines; errors from its `ERROR |` lines; a render Arnold would
watermark for want of a licence stops at once.
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

PERCENT = re.compile(r"\|\s+(\d{1,3})% done")
RESOLUTION = re.compile(r"^\s*(\d+)\s*[xX ]\s*(\d+)\s*$")

RULES = [
    LogRule.error(r"rendering with watermarks", "Arnold has no licence: {0}", abort=True),
    LogRule.error(r"\bERROR\s+\|\s+(.*(?:can't open|cannot open|could not open|"
                  r"No such file).*)", "kick cannot read the scene: {1}", abort=True),
    LogRule.error(r"\bERROR\s+\|\s+(.*)", "Arnold: {1}"),
    LogRule.error(r"^Segmentation fault|\bsignal caught: (SIG\w+)", "kick crashed: {0}",
                  abort=True),
    LogRule.warn(r"\bWARNING\s+\|\s+(.*)", "Arnold: {1}"),
]  # fmt: skip


def fill_frame(path: str, value: float) -> str:
    """`shot.####.ass` for frame 7 as `shot.0007.ass`; a path without `#` stays as it is."""
    runs = list(re.finditer(r"#+", path))
    if not runs:
        return path
    last = runs[-1]
    return path[: last.start()] + "%0*d" % (len(last.group(0)), value) + path[last.end() :]


class KickTemplate(templatekit.BundledTemplate):
    APPLICATION_ITEM = "KICKPATH"
    PROGRAM = "kick"
    RULES = RULES

    def __init__(self) -> None:
        templatekit.BundledTemplate.__init__(self)
        self.setID(9)
        self.setKey("kick")
        self.setName("Arnold kick")
        self.setDescription("Renders Arnold scene files with kick, one frame per chunk")
        self.setTemplateLogic(MTemplateAPI.kTemplateMultiframe)
        self.setDefaultPriority(50)
        self.setLicensesGroup("arnold")

        items = [
            (MTemplateAPI.MTemplateItemFile("KICKSCENE", "Scene files",
                                            "One per frame: shot.####.ass", "", 0, 1, 1,
                                            "*.ass;*.ass.gz;*.usd;*.usda;*.usdc"), "job_file"),
            (MTemplateAPI.MTemplateItemFile("KICKOUTPUT", "Image",
                                            "Empty: the scene's outputs; else shot.####.exr",
                                            "", 0, 0, 1, "*.*"), "output_file"),
            (MTemplateAPI.MTemplateItemString("KICKRES", "Resolution",
                                              "WIDTHxHEIGHT; empty: the scene's", "", 0, 0, 1),
             "resolution"),
            (MTemplateAPI.MTemplateItemInteger("KICKAA", "Camera (AA) samples",
                                               "0: the scene's", 0, 0, 0, 1), "aa_samples"),
            (MTemplateAPI.MTemplateItemString("KICKEXTRA", "Additional arguments",
                                              "Put after the scene file", "", 1, 0, 1),
             "additional_flags"),
        ]  # fmt: skip
        templatekit.add_mapped_items(self, items)

        templatekit.enable_platforms(self)
        templatekit.add_application_item(
            self,
            "KICKPATH",
            "kick executable",
            {
                MTemplateAPI.kPlatformLinux: "/opt/arnold/bin/kick",
                MTemplateAPI.kPlatformWindows: "C:\\Program Files\\Arnold\\bin\\kick.exe",
                MTemplateAPI.kPlatformMac: "/Applications/Arnold/bin/kick",
            },
        )
        templatekit.add_threads_item(self, "KICKTHREADS")
        templatekit.add_environment_item(
            self,
            "KICKLICENSE",
            "Licence server",
            "ADSKFLEX_LICENSE_FILE for this node; empty keeps the node's",
        )
        templatekit.add_environment_item(
            self, "KICKPLUGINS", "Shader path", "ARNOLD_PLUGIN_PATH for this node", folder=True
        )

    def onSubmitJob(self, job: MJob) -> MTemplateAPI.MTemplateError:
        # A scene file holds one frame: one kick process, one chunk, per frame.
        job.setPacketSize(1)
        return MTemplateAPI.MTemplateError()

    def onBuildCommandLine(
        self,
        platform: int,
        job: MJob,
        chunk: MChunk,
        clientTemplatePreferences: dict[str, Any],
        instanceNum: int,
    ) -> str:
        scene = templatekit.field(self, job, "KICKSCENE")
        if not scene:
            raise ValueError("the job names no Arnold scene (KICKSCENE)")
        if chunk.getEndFrame() != chunk.getStartFrame() and "#" in scene:
            raise ValueError(
                "kick renders one scene file per chunk: give the job a packet size of 1"
            )
        current = chunk.getStartFrame()
        # -dw -dp: no render window, no progressive passes; -nstdin: never wait for a key.
        arguments = ["-i", fill_frame(scene, current), "-dw", "-dp", "-nstdin", "-v", "2"]
        output = templatekit.field(self, job, "KICKOUTPUT")
        if output:
            arguments += ["-o", fill_frame(output, current)]
        resolution = templatekit.field(self, job, "KICKRES")
        if resolution:
            match = RESOLUTION.match(resolution)
            if match is None:
                raise ValueError(f"KICKRES must be WIDTHxHEIGHT, not {resolution!r}")
            arguments += ["-r", match.group(1), match.group(2)]
        samples = int(templatekit.field_number(self, job, "KICKAA"))
        if samples > 0:
            arguments += ["-as", str(samples)]
        threads = int(clientTemplatePreferences.get("KICKTHREADS") or 0)
        if threads > 0:
            arguments += ["-t", str(threads)]
        arguments += shlex.split(templatekit.field(self, job, "KICKEXTRA"))
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
            {"KICKLICENSE": "ADSKFLEX_LICENSE_FILE", "KICKPLUGINS": "ARNOLD_PLUGIN_PATH"},
        )
        return existingEnvironment

    def onCheckProgress(
        self, job: MJob, chunk: MChunk, clientTemplatePreferences: dict[str, Any], log: str
    ) -> float:
        """The last `N% done` line's percent (a chunk is one frame)."""
        found = PERCENT.findall(log)
        if not found:
            return templatekit.UNKNOWN_PROGRESS
        return templatekit.progress_percent(int(found[-1]), 100)


MTemplateAPI.MManager.getUniqueClass().installPyTemplate(KickTemplate())
