"""FFmpeg: encodes an image sequence into a movie.

The job's frames are the sequence's frame numbers. FFmpeg needs every image at
once, so a submitted FFmpeg job becomes one chunk (onSubmitJob sets its packet
size to the frame count) and its step must be 1. The input names its frame
number with Blender's `####` or printf's `%04d`. Progress comes from
`-progress`'s `frame=N` lines; the movie must exist when FFmpeg ends.
"""

# ruff: noqa: UP031  (frames formatted the Muster way, as %g / %.0f)

from __future__ import annotations

import os
import re
import shlex
from typing import TYPE_CHECKING, Any

import MTemplateAPI
from dispatcher.model import frame, frame_count
from hooks import templatekit
from hooks.templatekit import LogRule

if TYPE_CHECKING:
    from hooks.api.objects import MChunk, MJob

CODECS = ["libx264", "libx265", "libvpx-vp9", "prores_ks", "mjpeg", "ffv1"]
# Codecs whose quality is a constant rate factor (lower is better).
CRF_CODECS = {"libx264", "libx265", "libvpx-vp9"}

PROGRESS_FRAME = re.compile(r"^frame=\s*(\d+)\s*$", re.MULTILINE)

RULES = [
    LogRule.error(r"^(.*): No such file or directory$", "FFmpeg cannot find {1}", abort=True),
    LogRule.error(r"^(.*): Permission denied$", "FFmpeg may not open {1}", abort=True),
    LogRule.error(
        r"^(.*): Invalid data found when processing input$",
        "{1} is not an image sequence FFmpeg can read",
        abort=True,
    ),
    LogRule.error(r"Unknown encoder '(.*)'", "this FFmpeg has no encoder {1}", abort=True),
    LogRule.error(
        r"^Error (?:while opening encoder|initializing output stream).*",
        "FFmpeg cannot start the encoder: {0}",
        abort=True,
    ),
    LogRule.error(r"^Conversion failed!", "FFmpeg's conversion failed"),
    LogRule.warn(r"^\[.*\] (.*deprecated pixel format.*)", "{1}"),
]


def sequence_pattern(path: str) -> str:
    """`frame_####.png` as FFmpeg's `frame_%04d.png`; a printf pattern stays as it is."""
    if "%" in path:
        return path
    runs = list(re.finditer(r"#+", path))
    if not runs:
        raise ValueError(f"the input {path!r} has no frame number (#### or %04d)")
    last = runs[-1]
    return path[: last.start()] + f"%0{len(last.group(0))}d" + path[last.end() :]


class FFmpegTemplate(templatekit.BundledTemplate):
    APPLICATION_ITEM = "FFMPEGPATH"
    PROGRAM = "FFmpeg"

    def __init__(self) -> None:
        templatekit.BundledTemplate.__init__(self)
        self.setID(5)
        self.setKey("ffmpeg")
        self.setName("FFmpeg")
        self.setDescription("Encodes an image sequence into a movie with FFmpeg")
        self.setTemplateLogic(MTemplateAPI.kTemplateMultiframe)
        self.setDefaultPriority(50)

        items = [
            (MTemplateAPI.MTemplateItemFile("FFINPUT", "Image sequence",
                                            "The frames, e.g. /renders/shot/frame_####.png",
                                            "", 0, 1, 1, "*.*"), "job_file"),
            (MTemplateAPI.MTemplateItemFile("FFOUTPUT", "Movie", "The movie file to write",
                                            "", 0, 1, 1, "*.mp4;*.mov;*.mkv;*.webm"),
             "output_file"),
            (MTemplateAPI.MTemplateItemDouble("FFRATE", "Frame rate", "Frames per second",
                                              24.0, 0, 0, 1), "frame_rate"),
            (MTemplateAPI.MTemplateItemCombo("FFCODEC", "Video codec", "FFmpeg's encoder",
                                             "libx264", CODECS), "video_codec"),
            (MTemplateAPI.MTemplateItemInteger("FFQUALITY", "Quality (CRF)",
                                               "Constant rate factor of x264, x265 and VP9; "
                                               "lower is better", 18, 0, 0, 1), "quality"),
            (MTemplateAPI.MTemplateItemString("FFPIXFMT", "Pixel format",
                                              "yuv420p plays everywhere", "yuv420p", 1, 0, 1),
             "pixel_format"),
            (MTemplateAPI.MTemplateItemString("FFEXTRA", "Additional arguments",
                                              "Put before the output file", "", 1, 0, 1),
             "additional_flags"),
        ]  # fmt: skip
        templatekit.add_mapped_items(self, items)

        templatekit.enable_platforms(self)
        templatekit.add_application_item(
            self,
            "FFMPEGPATH",
            "FFmpeg executable",
            {
                MTemplateAPI.kPlatformLinux: "/usr/bin/ffmpeg",
                MTemplateAPI.kPlatformWindows: "C:\\ffmpeg\\bin\\ffmpeg.exe",
                MTemplateAPI.kPlatformMac: "/opt/homebrew/bin/ffmpeg",
            },
        )
        templatekit.add_threads_item(self, "FFTHREADS")

    def onSubmitJob(self, job: MJob) -> MTemplateAPI.MTemplateError:
        data = job.to_dict()
        start, end, by = frame(data["start"]), frame(data["end"]), frame(data.get("by", 1))
        if by != 1:
            return MTemplateAPI.MTemplateError(
                1, f"FFmpeg encodes every frame of the sequence: the step must be 1, not {by}"
            )
        job.setPacketSize(frame_count(start, end, by))
        return MTemplateAPI.MTemplateError()

    def onBuildCommandLine(
        self,
        platform: int,
        job: MJob,
        chunk: MChunk,
        clientTemplatePreferences: dict[str, Any],
        instanceNum: int,
    ) -> str:
        source = templatekit.field(self, job, "FFINPUT")
        movie = templatekit.field(self, job, "FFOUTPUT")
        if not source:
            raise ValueError("the job names no image sequence (FFINPUT)")
        if not movie:
            raise ValueError("the job names no movie file (FFOUTPUT)")
        frames = templatekit.chunk_frames(job, chunk)
        if job.attributeGetFloat("by_frame") not in (0.0, 1.0):
            raise ValueError("FFmpeg encodes every frame of the sequence: the step must be 1")
        rate = templatekit.field_number(self, job, "FFRATE") or 24.0
        if rate <= 0:
            raise ValueError(f"FFRATE must be positive, not {rate:g}")
        codec = templatekit.field(self, job, "FFCODEC") or "libx264"
        arguments = ["-hide_banner", "-nostdin", "-y", "-nostats", "-progress", "pipe:1"]
        threads = int(clientTemplatePreferences.get("FFTHREADS") or 0)
        if threads > 0:
            arguments += ["-threads", str(threads)]
        arguments += ["-framerate", f"{rate:g}", "-start_number", "%.0f" % chunk.getStartFrame()]
        arguments += ["-i", sequence_pattern(source), "-frames:v", str(len(frames))]
        arguments += ["-c:v", codec]
        if codec in CRF_CODECS:
            arguments += ["-crf", str(int(templatekit.field_number(self, job, "FFQUALITY")))]
            if codec == "libvpx-vp9":
                arguments += ["-b:v", "0"]
        pixel_format = templatekit.field(self, job, "FFPIXFMT")
        if pixel_format:
            arguments += ["-pix_fmt", pixel_format]
        arguments += shlex.split(templatekit.field(self, job, "FFEXTRA"))
        arguments.append(movie)
        return shlex.join(arguments)

    def onCheckLog(
        self, job: MJob, chunk: MChunk, clientTemplatePreferences: dict[str, Any], log: str
    ) -> MTemplateAPI.MTemplateError:
        found = templatekit.check_log(RULES, log)
        if found.getErrorCode() != 0 and found.getType() == MTemplateAPI.kTemplateErrorTypeError:
            return found
        if "progress=end" in log:
            movie = templatekit.field(self, job, "FFOUTPUT")
            if not os.path.isfile(movie) or os.path.getsize(movie) == 0:
                return MTemplateAPI.MTemplateError(
                    3,
                    f"FFmpeg ended but {movie} is missing or empty",
                    MTemplateAPI.kTemplateErrorTypeError,
                )
            encoded = [int(value) for value in PROGRESS_FRAME.findall(log)]
            expected = len(templatekit.chunk_frames(job, chunk))
            if encoded and encoded[-1] < expected:
                return MTemplateAPI.MTemplateError(
                    4,
                    f"FFmpeg encoded {encoded[-1]} of {expected} frames",
                    MTemplateAPI.kTemplateErrorTypeError,
                )
        return found

    def onCheckProgress(
        self, job: MJob, chunk: MChunk, clientTemplatePreferences: dict[str, Any], log: str
    ) -> float:
        """Percent of the sequence encoded, from the last `frame=N` progress line."""
        encoded = PROGRESS_FRAME.findall(log)
        if not encoded:
            return templatekit.UNKNOWN_PROGRESS
        total = len(templatekit.chunk_frames(job, chunk))
        return templatekit.progress_percent(int(encoded[-1]), total)


MTemplateAPI.MManager.getUniqueClass().installPyTemplate(FFmpegTemplate())
