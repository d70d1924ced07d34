"""Blender: renders a .blend file's frames in background mode (Cycles, Eevee or the scene's engine).

One Blender process per chunk renders the chunk's frames with `-s -e -j -a` and
writes `<output folder>/<prefix>####.<ext>`. Progress comes from the
`Fra:N ... Sample X/Y` (Cycles) and `Rendering X / Y samples` (Eevee) lines and
the `Saved:` line each finished frame prints; a chunk whose log does not show
every frame saved fails, since Blender exits with 0 after many errors.
"""

# ruff: noqa: UP031  (frames formatted the Muster way, as %g / %.0f)

from __future__ import annotations

import glob
import os
import re
import shlex
from typing import TYPE_CHECKING, Any

import MTemplateAPI
from hooks import templatekit
from hooks.templatekit import LogRule

if TYPE_CHECKING:
    from hooks.api.objects import MChunk, MJob

ENGINES = ["scene", "CYCLES", "BLENDER_EEVEE", "BLENDER_EEVEE_NEXT", "BLENDER_WORKBENCH"]
FORMATS = ["scene", "PNG", "OPEN_EXR", "OPEN_EXR_MULTILAYER", "JPEG", "TIFF"]

SAVED = re.compile(r"^Saved: '(.*)'", re.MULTILINE)
SAVED_FRAME = re.compile(r"(\d+)(?:\.\w+)?$")
# Cycles: "Fra:3 Mem:... | Sample 2/4"; Eevee: "Fra:3 Mem:... | Rendering 5 / 64 samples".
SAMPLES = re.compile(r"^Fra:(\d+) .*?(?:Sample (\d+)/(\d+)|Rendering (\d+) / (\d+) samples)")

RULES = [
    LogRule.error(
        r"^Error: Cannot read file '(.*?)': (.*)", "Blender cannot read {1}: {2}", abort=True
    ),
    LogRule.error(
        r"^Error: File format is not supported in file '(.*?)'",
        "{1} is not a .blend file Blender can read",
        abort=True,
    ),
    LogRule.error(r"Unable to open a display", "Eevee needs a display or GPU on this node"),
    LogRule.error(
        r"^Error: engine not found '(.*)'", "Blender has no render engine {1}", abort=True
    ),
    LogRule.error(
        r"^Error: Not freed memory blocks|^Segmentation fault|^Writing: .*\.crash\.txt",
        "Blender crashed: {0}",
        abort=True,
    ),
    LogRule.error(r"^Error: Render error \((.*)\)", "render error: {1}"),
    LogRule.error(
        r"^Unable to open '(.*)' for writing|^Error: Cannot create directory",
        "cannot write the image: {0}",
        abort=True,
    ),
    LogRule.warn(r"^Warning: (.*) not found|^Warning: Path '(.*)' not found", "missing file: {0}"),
    LogRule.warn(r"^Traceback \(most recent call last\)", "a Python script raised an error"),
]


class BlenderTemplate(templatekit.BundledTemplate):
    APPLICATION_ITEM = "BLENDERPATH"
    PROGRAM = "Blender"

    def __init__(self) -> None:
        templatekit.BundledTemplate.__init__(self)
        self.setID(4)
        self.setKey("blender")
        self.setName("Blender")
        self.setDescription("Renders a .blend file with Cycles, Eevee or the scene's engine")
        self.setTemplateLogic(MTemplateAPI.kTemplateMultiframe)
        self.setDefaultPriority(50)

        items = [
            (MTemplateAPI.MTemplateItemFile("BLENDFILE", "Blender scene", "The .blend file to render",
                                            "", 0, 1, 1, "*.blend"), "job_file"),
            (MTemplateAPI.MTemplateItemFolder("BLENDOUTPUT", "Output folder",
                                              "Where the frames are written", "", 0, 1, 1),
             "output_folder"),
            (MTemplateAPI.MTemplateItemString("BLENDPREFIX", "File name prefix",
                                              "Frames are named <prefix>0001.<ext>", "frame_",
                                              0, 0, 1), "output_prefix"),
            (MTemplateAPI.MTemplateItemCombo("BLENDENGINE", "Render engine",
                                             "scene keeps the .blend file's engine", "scene",
                                             ENGINES), "render_engine"),
            (MTemplateAPI.MTemplateItemCombo("BLENDFORMAT", "Image format",
                                             "scene keeps the .blend file's format", "PNG",
                                             FORMATS), "image_format"),
            (MTemplateAPI.MTemplateItemInteger("BLENDSAMPLES", "Samples",
                                               "Samples per pixel; 0 keeps the scene's", 0,
                                               0, 0, 1), "samples"),
            (MTemplateAPI.MTemplateItemCombo("BLENDDENOISE", "Denoising",
                                             "off turns Cycles denoising off (nodes without "
                                             "OpenImageDenoise need it)", "scene",
                                             ["scene", "off"]), "denoise"),
            (MTemplateAPI.MTemplateItemString("BLENDSCENE", "Scene",
                                              "The scene to render; empty for the active one",
                                              "", 1, 0, 1), "scene_name"),
            (MTemplateAPI.MTemplateItemString("BLENDEXTRA", "Additional arguments",
                                              "Put before the render arguments", "", 1, 0, 1),
             "additional_flags"),
        ]  # fmt: skip
        templatekit.add_mapped_items(self, items)

        templatekit.enable_platforms(self)
        templatekit.add_application_item(
            self,
            "BLENDERPATH",
            "Blender executable",
            {
                MTemplateAPI.kPlatformLinux: "/usr/bin/blender",
                MTemplateAPI.kPlatformWindows: (
                    "C:\\Program Files\\Blender Foundation\\Blender 4.1\\blender.exe"
                ),
                MTemplateAPI.kPlatformMac: "/Applications/Blender.app/Contents/MacOS/Blender",
            },
        )
        templatekit.add_threads_item(self, "BLENDTHREADS")

    def onBuildCommandLine(
        self,
        platform: int,
        job: MJob,
        chunk: MChunk,
        clientTemplatePreferences: dict[str, Any],
        instanceNum: int,
    ) -> str:
        scene_file = templatekit.field(self, job, "BLENDFILE")
        output = templatekit.field(self, job, "BLENDOUTPUT")
        if not scene_file:
            raise ValueError("the job names no Blender scene (BLENDFILE)")
        if not output:
            raise ValueError("the job names no output folder (BLENDOUTPUT)")
        step = job.attributeGetFloat("by_frame") or 1.0
        if step != int(step):
            raise ValueError(f"Blender renders whole frames: the frame step {step:g} is not")
        arguments = ["-b", scene_file]
        scene = templatekit.field(self, job, "BLENDSCENE")
        if scene:
            arguments += ["-S", scene]
        engine = templatekit.field(self, job, "BLENDENGINE")
        if engine and engine != "scene":
            arguments += ["-E", engine]
        threads = int(clientTemplatePreferences.get("BLENDTHREADS") or 0)
        if threads > 0:
            arguments += ["-t", str(threads)]
        expression = self.settings_expression(job)
        if expression:
            arguments += ["--python-exit-code", "1", "--python-expr", expression]
        arguments += shlex.split(templatekit.field(self, job, "BLENDEXTRA"))
        prefix = templatekit.field(self, job, "BLENDPREFIX")
        arguments += ["-o", join_path(output, prefix + "####", platform)]
        image_format = templatekit.field(self, job, "BLENDFORMAT")
        if image_format and image_format != "scene":
            arguments += ["-F", image_format]
        arguments += ["-x", "1"]
        arguments += ["-s", "%.0f" % chunk.getStartFrame(), "-e", "%.0f" % chunk.getEndFrame()]
        arguments += ["-j", "%.0f" % step, "-a"]
        return shlex.join(arguments)

    def settings_expression(self, job: MJob) -> str:
        """Python run inside Blender before rendering: the samples and denoising asked for."""
        samples = int(templatekit.field_number(self, job, "BLENDSAMPLES"))
        if samples < 0:
            raise ValueError(f"BLENDSAMPLES must be 0 or more, not {samples}")
        denoise_off = templatekit.field(self, job, "BLENDDENOISE") == "off"
        if not samples and not denoise_off:
            return ""
        lines = ["import bpy", "scene = bpy.context.scene"]
        if samples:
            lines += [
                "if scene.render.engine == 'CYCLES':",
                f"    scene.cycles.samples = {samples}",
                "elif scene.render.engine.startswith('BLENDER_EEVEE'):",
                f"    scene.eevee.taa_render_samples = {samples}",
            ]
        if denoise_off:
            lines += [
                "scene.cycles.use_denoising = False",
                "for layer in scene.view_layers:",
                "    layer.cycles.use_denoising = False",
            ]
        return "\n".join(lines)

    def onBuildEnvironment(
        self,
        job: MJob,
        chunk: MChunk,
        clientTemplatePreferences: dict[str, Any],
        existingEnvironment: MTemplateAPI.MEnvironment,
    ) -> MTemplateAPI.MEnvironment:
        # Blender prints its progress lines unbuffered only when it thinks it may.
        existingEnvironment.setValue("PYTHONUNBUFFERED", "1")
        return existingEnvironment

    def onCheckLog(
        self, job: MJob, chunk: MChunk, clientTemplatePreferences: dict[str, Any], log: str
    ) -> MTemplateAPI.MTemplateError:
        found = templatekit.check_log(RULES, log)
        if found.getErrorCode() != 0 and found.getType() == MTemplateAPI.kTemplateErrorTypeError:
            return found
        missing = self.missing_frames(job, chunk, log)
        if missing:
            shown = ", ".join("%g" % value for value in missing[:10])
            return MTemplateAPI.MTemplateError(
                3,
                f"Blender did not save frame(s) {shown} of the chunk",
                MTemplateAPI.kTemplateErrorTypeError,
            )
        return found

    def missing_frames(self, job: MJob, chunk: MChunk, log: str) -> list[float]:
        """The chunk's frames with neither a `Saved:` line in the log nor an image on disk.

        The disk is asked only for frames the log does not show (its start may
        have been cut off).
        """
        saved = set()
        for path in SAVED.findall(log):
            match = SAVED_FRAME.search(path)
            if match:
                saved.add(int(match.group(1)))
        folder = templatekit.field(self, job, "BLENDOUTPUT")
        prefix = templatekit.field(self, job, "BLENDPREFIX")
        missing = []
        for value in templatekit.chunk_frames(job, chunk):
            number = int(value)
            if number in saved:
                continue
            pattern = os.path.join(glob.escape(folder), glob.escape(prefix) + "%04d.*" % number)
            if not glob.glob(pattern):
                missing.append(float(value))
        return missing

    def onCheckProgress(
        self, job: MJob, chunk: MChunk, clientTemplatePreferences: dict[str, Any], log: str
    ) -> float:
        """Percent of the chunk done: frames saved, plus the samples of the frame rendering."""
        total = len(templatekit.chunk_frames(job, chunk))
        saved = list(SAVED.finditer(log))
        done = float(len(saved))
        tail = log[saved[-1].end() :] if saved else log
        current = None
        for line in tail.splitlines():
            match = SAMPLES.match(line)
            if match:
                current = match
        if current is not None:
            sample, samples = (current.group(2), current.group(3)) if current.group(2) else (
                current.group(4), current.group(5))  # fmt: skip
            if int(samples) > 0:
                done += min(1.0, int(sample) / int(samples))
        if not saved and current is None:
            return templatekit.UNKNOWN_PROGRESS
        return templatekit.progress_percent(done, total)


def join_path(folder: str, name: str, platform: int) -> str:
    """`folder` and `name` joined with the node's separator (a folder may end with one)."""
    separator = "\\" if platform == MTemplateAPI.kPlatformWindows else "/"
    if folder.endswith(("/", "\\")):
        return folder + name
    return folder + separator + name


MTemplateAPI.MManager.getUniqueClass().installPyTemplate(BlenderTemplate())
