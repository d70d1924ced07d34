"""The bundled templates as the render client uses them: command lines, environments,
per-platform application defaults and client configuration, exit-code rules, and the
log checks and progress read from recorded logs (tests/data/logs)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from hooks.api.objects import MChunk, MJob
from hooks.api.template import (
    MTemplate,
    MTemplateError,
    kPlatformLinux,
    kPlatformMac,
    kPlatformWindows,
    kTemplateErrorAbortRender,
    kTemplateErrorTypeError,
    kTemplateErrorTypeWarning,
)
from hooks.runtime import TemplateSet, bundled_templates_dir
from renderclient.invocation import build_invocations, check_result
from renderclient.template_config import NodeTemplateConfig

LOGS = Path(__file__).resolve().parents[1] / "data" / "logs"
KEYS = ["cmdline", "demo", "python", "blender", "ffmpeg", "maya", "nuke", "houdini", "kick"]
BASE_ENV = {"PATH": "/usr/bin"}


@pytest.fixture(scope="module")
def bundled() -> TemplateSet:
    templates = TemplateSet.load([bundled_templates_dir()])
    assert templates.errors == []
    return templates


def template(bundled: TemplateSet, key: str) -> MTemplate:
    found = bundled.get(key)
    assert found is not None, key
    return found


def job(key: str, start: str = "1", end: str = "4", by: str = "1", **data: Any) -> dict[str, Any]:
    return {"id": 7, "title": "shot", "template": key, "start": start, "end": end, "by": by,
            "batch": 2, "environ": {}, "data": data}  # fmt: skip


def prefs(bundled: TemplateSet, key: str, **values: Any) -> dict[str, Any]:
    """clientTemplatePreferences as a Linux node computes them, with `values` its own."""
    return NodeTemplateConfig({key: values}).preferences(template(bundled, key))


def argv(bundled: TemplateSet, key: str, data: dict[str, Any], start: str, end: str,
         **values: Any) -> list[list[str]]:  # fmt: skip
    invocation = build_invocations(
        template(bundled, key), data, start, end, 0, prefs(bundled, key, **values),
        base_env=BASE_ENV,
    )  # fmt: skip
    return invocation.argvs


def log(name: str) -> str:
    return (LOGS / name).read_text()


def check_log(bundled: TemplateSet, key: str, data: dict[str, Any], text: str,
              start: str = "1", end: str = "2") -> MTemplateError:  # fmt: skip
    found = template(bundled, key)
    chunk = MChunk(7, 0, start, end)
    result = found.onCheckLog(MJob(data), chunk, prefs(bundled, key), text)  # type: ignore[attr-defined]
    assert isinstance(result, MTemplateError)
    return result


def progress(bundled: TemplateSet, key: str, data: dict[str, Any], text: str,
             start: str = "1", end: str = "2") -> float:  # fmt: skip
    found = template(bundled, key)
    chunk = MChunk(7, 0, start, end)
    value = found.onCheckProgress(MJob(data), chunk, prefs(bundled, key), text)  # type: ignore[attr-defined]
    assert isinstance(value, float)
    return value


def is_error(error: MTemplateError, *, abort: bool) -> bool:
    return (
        error.getErrorCode() != 0
        and error.getType() == kTemplateErrorTypeError
        and (kTemplateErrorAbortRender in error.getErrorActions()) == abort
    )


def is_warning(error: MTemplateError) -> bool:
    return error.getErrorCode() != 0 and error.getType() == kTemplateErrorTypeWarning


# -- every template -----------------------------------------------------------


def test_every_bundled_template_loads_with_its_key_and_a_distinct_id(bundled: TemplateSet) -> None:
    assert [t.getKey() for t in bundled.templates] == KEYS
    assert len({t.getID() for t in bundled.templates}) == len(KEYS)
    for found in bundled.templates:
        assert found.getDescription()
        for platform in found.platforms():
            assert platform.getPlatformEnabled(), (found.getKey(), platform.getPlatform())


@pytest.mark.parametrize(
    ("key", "item", "linux", "windows", "mac"),
    [
        ("python", "PYTHONEXE", "/usr/bin/python3", "py.exe", "/usr/bin/python3"),
        ("blender", "BLENDERPATH", "/usr/bin/blender", "blender.exe", "Blender.app"),
        ("ffmpeg", "FFMPEGPATH", "/usr/bin/ffmpeg", "ffmpeg.exe", "/opt/homebrew/bin/ffmpeg"),
        ("maya", "MAYARENDER", "/usr/autodesk/", "Render.exe", "Maya.app"),
        ("nuke", "NUKEPATH", "/usr/local/Nuke", ".exe", "/Applications/Nuke"),
        ("houdini", "HYTHON", "/opt/hfs", "hython.exe", "/Applications/Houdini"),
        ("kick", "KICKPATH", "/opt/arnold/bin/kick", "kick.exe", "/Applications/Arnold"),
    ],
)
def test_the_application_path_is_a_client_configuration_item_per_platform(
    bundled: TemplateSet, key: str, item: str, linux: str, windows: str, mac: str
) -> None:
    found = template(bundled, key)
    defaults = {}
    for platform in (kPlatformLinux, kPlatformWindows, kPlatformMac):
        items = found.platform_settings(platform).getClientConfigurationItems()
        by_name = {entry.getName(): entry for entry in items}
        assert item in by_name, (key, platform)
        defaults[platform] = str(by_name[item].getDefaultValue())
    assert linux in defaults[kPlatformLinux]
    assert windows in defaults[kPlatformWindows] and "\\" in defaults[kPlatformWindows]
    assert mac in defaults[kPlatformMac]
    # The node's own value replaces the default; an empty one is refused by name.
    data = job(key, job_file="/x/f_####", output_folder="/o", output_file="/o/m.mp4")
    invocation = build_invocations(
        found, data, "1", "1", 0, prefs(bundled, key, **{item: "/site/bin/app"}), base_env=BASE_ENV
    )
    assert invocation.argvs[0][0] == "/site/bin/app"
    with pytest.raises(Exception, match=item):
        build_invocations(found, data, "1", "1", 0, prefs(bundled, key, **{item: " "}))


@pytest.mark.parametrize("key", ["python", "blender", "ffmpeg", "maya", "nuke", "houdini", "kick"])
def test_a_job_without_its_required_file_fails_naming_the_field(
    bundled: TemplateSet, key: str
) -> None:
    with pytest.raises(Exception, match=r"\([A-Z]+\)"):
        build_invocations(template(bundled, key), job(key), "1", "1", 0, prefs(bundled, key))


@pytest.mark.parametrize("key", ["python", "blender", "ffmpeg", "maya", "nuke", "houdini", "kick"])
def test_exit_codes_other_than_zero_fail_as_errors(bundled: TemplateSet, key: str) -> None:
    found = template(bundled, key)
    chunk = MChunk(7, 0, "1", "1")
    assert found.onCheckExitCode(MJob(job(key)), chunk, {}, 0).getErrorCode() == 0
    failed = found.onCheckExitCode(MJob(job(key)), chunk, {}, 3)
    assert failed.getErrorCode() == 3 and failed.getType() == kTemplateErrorTypeError
    assert "3" in failed.getDescription()


# -- command line -----------------------------------------------------------------


def test_cmdline_runs_the_command_and_accepts_the_jobs_success_codes(
    bundled: TemplateSet,
) -> None:
    data = {**job("cmdline"), "command": ["robocopy", "{start}", "{end}"]}
    assert argv(bundled, "cmdline", data, "3", "4") == [["robocopy", "3", "4"]]
    ok, why = check_result(template(bundled, "cmdline"), data, "3", "4", 1, "")
    assert not ok and "code 1" in why
    data["data"] = {"ok_exit_codes": "0, 1"}
    assert check_result(template(bundled, "cmdline"), data, "3", "4", 1, "") == (True, "")
    assert not check_result(template(bundled, "cmdline"), data, "3", "4", 2, "")[0]


# -- Python script ----------------------------------------------------------------


def test_python_runs_the_script_unbuffered_with_the_frames_in_args_and_environment(
    bundled: TemplateSet,
) -> None:
    data = job("python", by="2", job_file="/pipe/bake.py", script_args="--shot sh010 {frame}",
               working_folder="/pipe")  # fmt: skip
    invocation = build_invocations(
        template(bundled, "python"), data, "1", "5", 0, prefs(bundled, "python"), base_env=BASE_ENV
    )
    assert invocation.argvs == [
        ["/usr/bin/python3", "-u", "/pipe/bake.py", "--shot", "sh010", str(number)]
        for number in (1, 3, 5)
    ]
    assert invocation.cwd == "/pipe"
    env = invocation.env
    assert (env["CORRAL_START_FRAME"], env["CORRAL_END_FRAME"], env["CORRAL_BY_FRAME"]) == (
        "1", "5", "2",
    )  # fmt: skip
    # The default arguments are the chunk's first and last frame.
    default = argv(bundled, "python", job("python", job_file="/pipe/bake.py"), "2", "3")
    assert default == [["/usr/bin/python3", "-u", "/pipe/bake.py", "2", "3"]]


def test_python_log_tracebacks_fail_warnings_warn_and_progress_lines_count(
    bundled: TemplateSet,
) -> None:
    data = job("python", job_file="/pipe/bake.py")
    text = "baking\nCORRAL_PROGRESS 25\nCORRAL_PROGRESS 62.5%\n"
    assert check_log(bundled, "python", data, text).getErrorCode() == 0
    assert progress(bundled, "python", data, text) == 62.5
    assert progress(bundled, "python", data, "baking\n") == -1.0
    warned = check_log(bundled, "python", data, "bake.py:3: DeprecationWarning: old API\n")
    assert is_warning(warned) and "old API" in warned.getDescription()
    crashed = "Traceback (most recent call last):\n  File x\nKeyError: 'cache'\n"
    failed = check_log(bundled, "python", data, crashed)
    assert is_error(failed, abort=False) and "KeyError" in failed.getDescription()


# -- Blender ----------------------------------------------------------------------


def test_blender_command_line_for_cycles_with_samples_and_denoising_off(
    bundled: TemplateSet,
) -> None:
    data = job("blender", job_file="/proj/shot.blend", output_folder="/renders/shot",
               render_engine="CYCLES", samples=4, denoise="off", scene_name="Main")  # fmt: skip
    [command] = argv(bundled, "blender", data, "3", "4", BLENDTHREADS=6)
    assert command[:9] == ["/usr/bin/blender", "-b", "/proj/shot.blend", "-S", "Main",
                           "-E", "CYCLES", "-t", "6"]  # fmt: skip
    expression = command[command.index("--python-expr") + 1]
    assert "scene.cycles.samples = 4" in expression
    assert "use_denoising = False" in expression
    assert command[-13:] == ["-o", "/renders/shot/frame_####", "-F", "PNG", "-x", "1",
                             "-s", "3", "-e", "4", "-j", "1", "-a"]  # fmt: skip
    compile(expression, "<expr>", "exec")


def test_blender_command_line_for_eevee_and_the_scenes_settings(bundled: TemplateSet) -> None:
    data = job("blender", by="2", job_file="/proj/shot.blend", output_folder="/renders/shot/",
               output_prefix="beauty.", render_engine="BLENDER_EEVEE", image_format="scene")  # fmt: skip
    [command] = argv(bundled, "blender", data, "1", "5")
    assert command == ["/usr/bin/blender", "-b", "/proj/shot.blend", "-E", "BLENDER_EEVEE",
                       "-o", "/renders/shot/beauty.####", "-x", "1",
                       "-s", "1", "-e", "5", "-j", "2", "-a"]  # fmt: skip
    with pytest.raises(Exception, match="whole frames"):
        argv(bundled, "blender", job("blender", by="0.5", job_file="/a.blend",
                                     output_folder="/o"), "1", "2")  # fmt: skip


def test_blender_log_progress_from_cycles_and_eevee_sample_lines(
    bundled: TemplateSet, tmp_path: Path
) -> None:
    data = job("blender", job_file="/a.blend", output_folder=str(tmp_path))
    cycles = log("blender_cycles.log")
    second = cycles.index("Fra:2")
    # Frame 1 at sample 1 of 4, of a two-frame chunk: 12.5 %.
    assert progress(bundled, "blender", data, cycles[: cycles.index("Sample 1/4") + 10]) == 12.5
    assert progress(bundled, "blender", data, cycles[:second]) == 50.0
    assert progress(bundled, "blender", data, cycles) == 100.0
    assert progress(bundled, "blender", data, "Blender 3.4.1\n") == -1.0
    # Eevee: frame 1 saved, frame 2 at 12 of 16 samples.
    assert progress(bundled, "blender", data, log("blender_eevee.log")) == 87.5


def test_blender_log_check_needs_every_frame_saved(bundled: TemplateSet, tmp_path: Path) -> None:
    data = job("blender", job_file="/a.blend", output_folder=str(tmp_path))
    cycles = log("blender_cycles.log")
    assert check_log(bundled, "blender", data, cycles).getErrorCode() == 0
    cut = check_log(bundled, "blender", data, cycles[: cycles.index("Fra:2")])
    assert is_error(cut, abort=False) and "frame(s) 2" in cut.getDescription()
    # A log whose start was cut off: the image on disk counts as saved.
    (tmp_path / "frame_0001.png").write_bytes(b"png")
    tail = cycles[cycles.index("Fra:2") :]
    assert check_log(bundled, "blender", data, tail).getErrorCode() == 0


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("blender_missing_file.log", "cannot read /renders/shot/missing.blend"),
        ("blender_bad_engine.log", "no render engine OCTANE"),
    ],
)
def test_blender_fatal_lines_abort_the_render(bundled: TemplateSet, name: str, words: str) -> None:
    data = job("blender", job_file="/a.blend", output_folder="/nowhere")
    found = check_log(bundled, "blender", data, log(name))
    assert is_error(found, abort=True), found
    assert words in found.getDescription()


# -- FFmpeg -----------------------------------------------------------------------


def test_ffmpeg_command_line_encodes_the_chunks_sequence(bundled: TemplateSet) -> None:
    data = job("ffmpeg", start="1001", end="1048", job_file="/renders/sh010/frame_####.png",
               output_file="/renders/sh010.mp4", frame_rate=25)  # fmt: skip
    [command] = argv(bundled, "ffmpeg", data, "1001", "1048", FFTHREADS=4)
    assert command == [
        "/usr/bin/ffmpeg", "-hide_banner", "-nostdin", "-y", "-nostats", "-progress", "pipe:1",
        "-threads", "4", "-framerate", "25", "-start_number", "1001",
        "-i", "/renders/sh010/frame_%04d.png", "-frames:v", "48", "-c:v", "libx264",
        "-crf", "18", "-pix_fmt", "yuv420p", "/renders/sh010.mp4",
    ]  # fmt: skip
    prores = job("ffmpeg", job_file="/r/f.%05d.exr", output_file="/r/f.mov",
                 video_codec="prores_ks", pixel_format="yuv444p10le",
                 additional_flags="-profile:v 4")  # fmt: skip
    [command] = argv(bundled, "ffmpeg", prores, "1", "4")
    assert "-crf" not in command
    assert command[-7:] == ["-c:v", "prores_ks", "-pix_fmt", "yuv444p10le",
                            "-profile:v", "4", "/r/f.mov"]  # fmt: skip
    assert "/r/f.%05d.exr" in command


def test_ffmpeg_submission_makes_one_chunk_and_refuses_a_step(bundled: TemplateSet) -> None:
    found = template(bundled, "ffmpeg")
    mjob = MJob(job("ffmpeg", start="1", end="48"))
    assert found.onSubmitJob(mjob).getErrorCode() == 0
    assert mjob.getPacketSize() == 48
    refused = found.onSubmitJob(MJob(job("ffmpeg", by="2")))
    assert refused.getErrorCode() != 0 and "step" in refused.getDescription()


def test_ffmpeg_log_progress_and_the_movie_check(bundled: TemplateSet, tmp_path: Path) -> None:
    movie = tmp_path / "shot.mp4"
    data = job("ffmpeg", job_file="/r/frame_####.png", output_file=str(movie))
    text = log("ffmpeg_encode.log")
    assert progress(bundled, "ffmpeg", data, text[: text.index("progress=continue")]) == 50.0
    assert progress(bundled, "ffmpeg", data, text) == 100.0
    missing = check_log(bundled, "ffmpeg", data, text)
    assert is_error(missing, abort=False) and "missing" in missing.getDescription()
    movie.write_bytes(b"\0" * 64)
    assert check_log(bundled, "ffmpeg", data, text).getErrorCode() == 0
    # Fewer frames encoded than the chunk holds.
    short = check_log(bundled, "ffmpeg", data, text, "1", "3")
    assert is_error(short, abort=False) and "2 of 3" in short.getDescription()
    gone = check_log(bundled, "ffmpeg", data, log("ffmpeg_missing_input.log"))
    assert is_error(gone, abort=True) and "nothere/frame_%04d.png" in gone.getDescription()


# -- Maya -------------------------------------------------------------------------


def test_maya_command_line_and_batch_environment(bundled: TemplateSet) -> None:
    data = job("maya", job_file="/proj/sh010/scenes/light.ma", job_project="/proj/sh010",
               output_folder="/proj/sh010/images", renderer="arnold", camera="shotCam",
               render_layer="beauty", additional_flags="-x 1920 -y 1080")  # fmt: skip
    found = template(bundled, "maya")
    invocation = build_invocations(
        found, data, "1", "2", 0, prefs(bundled, "maya", MAYATHREADS=8,
                                        MAYALICENSE="27000@licence"), base_env=BASE_ENV,
    )  # fmt: skip
    assert invocation.argvs == [[
        "/usr/autodesk/maya2025/bin/Render", "-r", "arnold", "-s", "1", "-e", "2", "-b", "1",
        "-proj", "/proj/sh010", "-rd", "/proj/sh010/images", "-cam", "shotCam",
        "-rl", "beauty", "-n", "8", "-ai:lve", "2", "-x", "1920", "-y", "1080",
        "/proj/sh010/scenes/light.ma",
    ]]  # fmt: skip
    env = invocation.env
    assert env["MAYA_DISABLE_CIP"] == env["MAYA_DISABLE_CER"] == "1"
    assert env["ADSKFLEX_LICENSE_FILE"] == "27000@licence"
    plain = build_invocations(found, job("maya", job_file="/s.mb"), "1", "1", 0,
                              prefs(bundled, "maya"), base_env=BASE_ENV)  # fmt: skip
    assert plain.argvs == [["/usr/autodesk/maya2025/bin/Render", "-r", "file", "-s", "1",
                            "-e", "1", "-b", "1", "/s.mb"]]  # fmt: skip
    assert "ADSKFLEX_LICENSE_FILE" not in plain.env


def test_maya_logs(bundled: TemplateSet) -> None:
    data = job("maya", job_file="/s.ma")
    text = log("maya_arnold.log")
    warned = check_log(bundled, "maya", data, text)
    assert is_warning(warned) and "legacyLightRig" in warned.getDescription()
    assert progress(bundled, "maya", data, text[: text.index("40% done") + 8]) == 70.0
    assert progress(bundled, "maya", data, text) == 100.0
    assert is_error(check_log(bundled, "maya", data, log("maya_watermark.log")), abort=True)
    allowed = job("maya", job_file="/s.ma", abort_on_watermark="false")
    # Allowed, a watermark is only Arnold's warning.
    assert is_warning(check_log(bundled, "maya", allowed, log("maya_watermark.log")))
    missing = check_log(bundled, "maya", data, log("maya_missing_scene.log"))
    assert is_error(missing, abort=True) and "missing.ma" in missing.getDescription()
    licence = check_log(bundled, "maya", data, log("maya_license.log"))
    assert is_error(licence, abort=True) and "licence" in licence.getDescription()


# -- Nuke -------------------------------------------------------------------------


def test_nuke_command_line_and_environment(bundled: TemplateSet) -> None:
    data = job("nuke", by="2", job_file="/proj/comp.nk", render_node="WriteBeauty",
               nukex="true", interactive_license="1")  # fmt: skip
    invocation = build_invocations(
        template(bundled, "nuke"), data, "1", "9", 0,
        prefs(bundled, "nuke", NUKETHREADS=4, NUKELICENSE="4101@licence",
              NUKEPLUGINS="/studio/nuke"), base_env=BASE_ENV,
    )  # fmt: skip
    assert invocation.argvs == [["/usr/local/Nuke15.1v1/Nuke15.1", "-x", "--nukex", "-i",
                                 "-m", "4", "-F", "1-9x2", "-X", "WriteBeauty",
                                 "/proj/comp.nk"]]  # fmt: skip
    assert invocation.env["foundry_LICENSE"] == "4101@licence"
    assert invocation.env["NUKE_PATH"] == "/studio/nuke"


def test_nuke_logs(bundled: TemplateSet) -> None:
    data = job("nuke", job_file="/c.nk")
    text = log("nuke_render.log")
    warned = check_log(bundled, "nuke", data, text, "1", "3")
    assert is_warning(warned) and "Read2" in warned.getDescription()
    assert progress(bundled, "nuke", data, text[: text.index("Frame 2 (")], "1", "3") == 100 / 3
    assert progress(bundled, "nuke", data, text, "1", "3") == 100.0
    assert is_error(check_log(bundled, "nuke", data, log("nuke_license.log")), abort=True)
    write = check_log(bundled, "nuke", data, log("nuke_write_error.log"))
    assert is_error(write, abort=False) and "Write1" in write.getDescription()


# -- Houdini ----------------------------------------------------------------------


def test_houdini_runs_hrender_beside_hython(bundled: TemplateSet) -> None:
    data = job("houdini", start="11", end="20", job_file="/proj/fx/smoke.hip",
               render_node="/out/karma1", additional_flags="-o /proj/render/smoke.$F4.exr")  # fmt: skip
    invocation = build_invocations(
        template(bundled, "houdini"), data, "11", "12", 0,
        prefs(bundled, "houdini", HOULICENSE="licence.studio"), base_env=BASE_ENV,
    )  # fmt: skip
    assert invocation.argvs == [["/opt/hfs20.5/bin/hython", "/opt/hfs20.5/bin/hrender.py",
                                 "-e", "-f", "11", "12", "-i", "1", "-v", "-d", "/out/karma1",
                                 "-o", "/proj/render/smoke.$F4.exr", "/proj/fx/smoke.hip"]]  # fmt: skip
    assert invocation.env["SESI_LMHOST"] == "licence.studio"
    own = argv(bundled, "houdini", data, "11", "11", HRENDER="/studio/bin/hrender.py")
    assert own[0][1] == "/studio/bin/hrender.py"


def test_houdini_logs(bundled: TemplateSet) -> None:
    data = job("houdini", job_file="/a.hip")
    text = log("houdini_mantra.log")
    assert check_log(bundled, "houdini", data, text, "11", "12").getErrorCode() == 0
    partial = text[: text.index("ALF_PROGRESS 50%") + 16]
    assert progress(bundled, "houdini", data, partial, "11", "12") == 75.0
    assert progress(bundled, "houdini", data, text[:10], "11", "12") == -1.0
    assert is_error(check_log(bundled, "houdini", data, log("houdini_license.log")), abort=True)
    rop = check_log(bundled, "houdini", data, log("houdini_missing_rop.log"))
    assert is_error(rop, abort=True) and "/out/mantra9" in rop.getDescription()


# -- Arnold kick ------------------------------------------------------------------


def test_kick_renders_the_chunks_frame_file(bundled: TemplateSet) -> None:
    data = job("kick", job_file="/proj/ass/sh010.####.ass", output_file="/proj/img/sh010.####.exr",
               resolution="960x540", aa_samples=3)  # fmt: skip
    invocation = build_invocations(
        template(bundled, "kick"), data, "7", "7", 0,
        prefs(bundled, "kick", KICKTHREADS=12, KICKLICENSE="27000@licence",
              KICKPLUGINS="/studio/shaders"), base_env=BASE_ENV,
    )  # fmt: skip
    assert invocation.argvs == [["/opt/arnold/bin/kick", "-i", "/proj/ass/sh010.0007.ass",
                                 "-dw", "-dp", "-nstdin", "-v", "2",
                                 "-o", "/proj/img/sh010.0007.exr", "-r", "960", "540",
                                 "-as", "3", "-t", "12"]]  # fmt: skip
    assert invocation.env["ADSKFLEX_LICENSE_FILE"] == "27000@licence"
    assert invocation.env["ARNOLD_PLUGIN_PATH"] == "/studio/shaders"
    with pytest.raises(Exception, match="packet size of 1"):
        argv(bundled, "kick", data, "7", "8")
    with pytest.raises(Exception, match="WIDTHxHEIGHT"):
        argv(bundled, "kick", job("kick", job_file="/a.ass", resolution="big"), "1", "1")
    submitted = MJob(job("kick"))
    assert template(bundled, "kick").onSubmitJob(submitted).getErrorCode() == 0
    assert submitted.getPacketSize() == 1


def test_kick_logs(bundled: TemplateSet) -> None:
    data = job("kick", job_file="/a.ass")
    text = log("kick_render.log")
    warned = check_log(bundled, "kick", data, text, "7", "7")
    assert is_warning(warned) and "mipmapped" in warned.getDescription()
    assert progress(bundled, "kick", data, text[: text.index("50% done") + 8], "7", "7") == 50.0
    assert is_error(check_log(bundled, "kick", data, log("kick_watermark.log")), abort=True)
    missing = check_log(bundled, "kick", data, log("kick_missing_scene.log"))
    assert is_error(missing, abort=True) and "sh010.0099.ass" in missing.getDescription()


# -- demo -------------------------------------------------------------------------


def test_demo_progress_and_missing_frames(bundled: TemplateSet) -> None:
    data = job("demo", output_folder="/tmp/demo")
    text = "frame 1 written to /tmp/demo/frame_0001.png (0.20 s)\n"
    assert progress(bundled, "demo", data, text) == 50.0
    short = check_log(bundled, "demo", data, text)
    assert is_error(short, abort=False) and "1 of the chunk's 2" in short.getDescription()
    text += "frame 2 written to /tmp/demo/frame_0002.png (0.21 s)\n"
    assert check_log(bundled, "demo", data, text).getErrorCode() == 0
