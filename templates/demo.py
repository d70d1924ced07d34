"""Corral demo renderer: renders an animation with the bundled pure-Python ray tracer.

Needs nothing but Python, so a fresh farm can render real frames. Each chunk
runs `tools/raytrace.py` once with the render client's own Python interpreter
(there is nothing to install, so no per-platform path to configure) and writes
`frame_NNNN.png` files into the job's output folder. The tracer prints
`frame N written to PATH` per frame: progress, and a chunk whose log lacks a
frame fails.
"""

from __future__ import annotations

import re
import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import MTemplateAPI
from dispatcher.model import frame, frame_count, frame_text
from hooks import templatekit

if TYPE_CHECKING:
    from hooks.api.objects import MChunk, MJob

RAYTRACER = Path(__file__).resolve().parent / "tools" / "raytrace.py"
DEFAULT_WIDTH = 160
DEFAULT_HEIGHT = 90
WRITTEN = re.compile(r"^frame (\S+) written to ", re.MULTILINE)


def _size(attributes: dict[str, Any], name: str, default: int) -> int:
    value = attributes.get(name)
    size = default if value in (None, "") else int(float(str(value)))
    if size < 1:
        raise ValueError(f"the demo job's {name} must be at least 1, not {size}")
    return size


class DemoTemplate(templatekit.BundledTemplate):
    PROGRAM = "the ray tracer"

    def __init__(self) -> None:
        templatekit.BundledTemplate.__init__(self)
        self.setID(2)
        self.setKey("demo")
        self.setName("Corral demo renderer")
        self.setDescription("Renders frames with Corral's bundled pure-Python ray tracer")
        self.setTemplateLogic(MTemplateAPI.kTemplateMultiframe)
        self.setDefaultPriority(50)

        output = MTemplateAPI.MTemplateItemFolder(
            "DEMOOUTPUT", "Output folder", "Where frame_NNNN.png files are written", "", 0, 1, 1
        )
        width = MTemplateAPI.MTemplateItemInteger(
            "DEMOWIDTH", "Width", "Image width in pixels", DEFAULT_WIDTH, 0, 0, 1
        )
        height = MTemplateAPI.MTemplateItemInteger(
            "DEMOHEIGHT", "Height", "Image height in pixels", DEFAULT_HEIGHT, 0, 0, 1
        )
        for item, attribute in ((output, "output_folder"), (width, "width"), (height, "height")):
            self.addSubmissionItem(item)
            self.addMapping(item.getName(), attribute)

        for platform in self.platforms():
            platform.setPlatformEnabled(1)
            platform.setEnabledByDefault(1)
            platform.setEnableErrorCheck(1)
            platform.setDetectionLogic(MTemplateAPI.kProcessDirect)

    def onGetApplicationPath(
        self, job: MJob, clientTemplatePreferences: dict[str, Any], pathOut: MTemplateAPI.MStringRef
    ) -> MTemplateAPI.MTemplateError:
        pathOut.setString(sys.executable)
        return MTemplateAPI.MTemplateError()

    def onBuildCommandLine(
        self,
        platform: int,
        job: MJob,
        chunk: MChunk,
        clientTemplatePreferences: dict[str, Any],
        instanceNum: int,
    ) -> str:
        data = job.to_dict()
        attributes = data.get("data") or {}
        output = str(attributes.get("output_folder") or "")
        if not output:
            raise ValueError("the demo job has no output_folder attribute")
        start = frame(data.get("start", 1))
        end = frame(data.get("end", 1))
        by = frame(data.get("by", 1))
        total = frame_count(start, end, by)
        arguments = [str(RAYTRACER), "--start", "{start}", "--end", "{end}"]
        arguments += ["--by", frame_text(by), "--out", output]
        arguments += ["--width", str(_size(attributes, "width", DEFAULT_WIDTH))]
        arguments += ["--height", str(_size(attributes, "height", DEFAULT_HEIGHT))]
        arguments += ["--total-frames", str(total)]
        return shlex.join(arguments)

    def onBuildEnvironment(
        self,
        job: MJob,
        chunk: MChunk,
        clientTemplatePreferences: dict[str, Any],
        existingEnvironment: MTemplateAPI.MEnvironment,
    ) -> MTemplateAPI.MEnvironment:
        # One log line per frame as it finishes, not all of them at exit.
        existingEnvironment.setValue("PYTHONUNBUFFERED", "1")
        return existingEnvironment

    def onCheckLog(
        self, job: MJob, chunk: MChunk, clientTemplatePreferences: dict[str, Any], log: str
    ) -> MTemplateAPI.MTemplateError:
        if "Traceback (most recent call last)" in log:
            return MTemplateAPI.MTemplateError(
                1, "the ray tracer raised an error", MTemplateAPI.kTemplateErrorTypeError
            )
        expected = len(templatekit.chunk_frames(job, chunk))
        written = len(WRITTEN.findall(log))
        if written < expected:
            return MTemplateAPI.MTemplateError(
                2,
                f"the ray tracer wrote {written} of the chunk's {expected} frames",
                MTemplateAPI.kTemplateErrorTypeError,
            )
        return MTemplateAPI.MTemplateError()

    def onCheckProgress(
        self, job: MJob, chunk: MChunk, clientTemplatePreferences: dict[str, Any], log: str
    ) -> float:
        """Percent of the chunk's frames written."""
        written = len(WRITTEN.findall(log))
        if not written:
            return templatekit.UNKNOWN_PROGRESS
        return templatekit.progress_percent(written, len(templatekit.chunk_frames(job, chunk)))


MTemplateAPI.MManager.getUniqueClass().installPyTemplate(DemoTemplate())
