"""Bundled templates driving the real programs the way a render client does: the
template builds the processes, they run, and the template judges the exit code and
the log. Python always; Debian's blender and ffmpeg when installed (else skipped,
saying why)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from hooks.api.template import MTemplate
from hooks.runtime import TemplateSet, bundled_templates_dir
from renderclient.invocation import build_invocations, check_result
from renderclient.template_config import NodeTemplateConfig

pytestmark = pytest.mark.integration

BLENDER = shutil.which("blender")
FFMPEG = shutil.which("ffmpeg")
needs_blender = pytest.mark.skipif(BLENDER is None, reason="blender is not installed")
needs_ffmpeg = pytest.mark.skipif(FFMPEG is None, reason="ffmpeg is not installed")


@pytest.fixture(scope="module")
def bundled() -> TemplateSet:
    return TemplateSet.load([bundled_templates_dir()])


def run_chunk(
    bundled: TemplateSet, key: str, data: dict[str, Any], start: str, end: str, **own: Any
) -> tuple[bool, str, str, int]:
    """Build, run and judge one chunk: (ok, why, log, last exit code)."""
    template = bundled.get(key)
    assert isinstance(template, MTemplate)
    job = {"id": 1, "title": key, "template": key, "start": start, "end": end, "by": "1",
           "batch": 10, "environ": {}, "data": data}  # fmt: skip
    prefs = NodeTemplateConfig({key: own}).preferences(template)
    invocation = build_invocations(template, job, start, end, 0, prefs)
    output, code = [], 0
    for argv in invocation.argvs:
        done = subprocess.run(
            argv, env=invocation.env, cwd=invocation.cwd, capture_output=True, text=True,
            timeout=300,
        )  # fmt: skip
        output.append(done.stdout + done.stderr)
        code = done.returncode
        if code != 0:
            break
    log = "".join(output)
    ok, why = check_result(template, job, start, end, code, log, prefs)
    return ok, why, log, code


def test_python_script_runs_per_frame_and_a_raised_error_fails_it(
    bundled: TemplateSet, tmp_path: Path
) -> None:
    script = tmp_path / "bake.py"
    script.write_text(
        "import os, sys\n"
        "frame = int(sys.argv[1])\n"
        "open(os.path.join(sys.argv[2], 'baked_%d' % frame), 'w').write(os.environ['CORRAL_START_FRAME'])\n"
        "print('CORRAL_PROGRESS 100')\n"
        "if frame == 13:\n"
        "    raise KeyError('cache for frame 13')\n"
    )
    own = {"PYTHONEXE": sys.executable}
    data = {"job_file": str(script), "script_args": f"{{frame}} {tmp_path}"}
    ok, why, log, _ = run_chunk(bundled, "python", data, "10", "12", **own)
    assert ok, why + log
    assert sorted(path.name for path in tmp_path.glob("baked_*")) == [
        "baked_10", "baked_11", "baked_12",
    ]  # fmt: skip
    assert (tmp_path / "baked_11").read_text() == "10"
    ok, why, log, code = run_chunk(bundled, "python", data, "13", "13", **own)
    assert not ok and code == 1
    assert "KeyError" in why and "cache for frame 13" in why


@needs_blender
def test_blender_on_a_missing_scene_fails_saying_why(bundled: TemplateSet, tmp_path: Path) -> None:
    data = {"job_file": str(tmp_path / "missing.blend"), "output_folder": str(tmp_path)}
    ok, why, log, code = run_chunk(bundled, "blender", data, "1", "1", BLENDERPATH=BLENDER)
    assert not ok and code != 0
    # The log check says what the exit code does not.
    assert "cannot read" in why and "missing.blend" in why


@needs_ffmpeg
def test_ffmpeg_encodes_a_sequence_and_fails_on_a_missing_one(
    bundled: TemplateSet, tmp_path: Path
) -> None:
    frames = tmp_path / "frames"
    frames.mkdir()
    made = subprocess.run(
        [str(FFMPEG), "-hide_banner", "-nostdin", "-v", "error", "-f", "lavfi", "-i",
         "testsrc=size=64x48:rate=12", "-frames:v", "5", "-start_number", "21",
         str(frames / "img_%04d.png")],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    movie = tmp_path / "out.mp4"
    data = {"job_file": str(frames / "img_####.png"), "output_file": str(movie), "frame_rate": 12}
    ok, why, log, _ = run_chunk(bundled, "ffmpeg", data, "21", "25", FFMPEGPATH=FFMPEG)
    assert ok, why + log
    assert movie.stat().st_size > 0 and "progress=end" in log
    missing = {**data, "job_file": str(tmp_path / "nothing_####.png")}
    ok, why, _, code = run_chunk(bundled, "ffmpeg", missing, "1", "5", FFMPEGPATH=FFMPEG)
    assert not ok and code != 0
    assert "nothing_%04d.png" in why
