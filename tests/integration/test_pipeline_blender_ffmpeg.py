"""The Blender-render-then-FFmpeg-encode pipeline of examples/blender_ffmpeg, end to end:
a real dispatcher, two real render clients, Debian's real `blender` and `ffmpeg`.

The example's script builds a tiny Cycles scene (64x48, 4 samples, no denoising)
and submits the two jobs; the encode job waits frame by frame for the render and
becomes one chunk (the FFmpeg template's onSubmitJob). The movie must exist and
ffprobe must count every frame in it. Skips, saying why, where the programs are
missing (`make test` installs them as root).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.farm import Farm
from tests.integration.hookfarm import start_farm

pytestmark = pytest.mark.integration

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "blender_ffmpeg"
FRAMES = 6
PROGRAMS = {name: shutil.which(name) for name in ("blender", "ffmpeg", "ffprobe")}
MISSING = [name for name, path in PROGRAMS.items() if path is None]

if MISSING:
    pytest.skip(
        f"{', '.join(MISSING)} not installed (`make test` installs the Debian packages "
        "blender and ffmpeg when run as root)",
        allow_module_level=True,
    )


def make_scene(folder: Path) -> Path:
    """A tiny animated .blend made by Blender itself with the example's script."""
    scene = folder / "scene.blend"
    done = subprocess.run(
        [str(PROGRAMS["blender"]), "-b", "--factory-startup", "--python",
         str(EXAMPLE / "make_scene.py"), "--", str(scene), str(FRAMES)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0 and scene.is_file(), done.stdout + done.stderr
    return scene


def frame_count(movie: Path) -> int:
    """The frames ffprobe counts by decoding the movie's video stream."""
    done = subprocess.run(
        [str(PROGRAMS["ffprobe"]), "-v", "error", "-count_frames", "-select_streams", "v:0",
         "-show_entries", "stream=nb_read_frames,width,height", "-of", "json", str(movie)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    stream = json.loads(done.stdout)["streams"][0]
    assert (stream["width"], stream["height"]) == (64, 48), stream
    return int(stream["nb_read_frames"])


@pytest.fixture(scope="module")
def farm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Farm]:
    root = tmp_path_factory.mktemp("pipeline")
    farm = start_farm(root / "farm")
    for name in ("render1", "render2"):
        farm.client(
            name,
            "--template-config", f"blender:BLENDERPATH={PROGRAMS['blender']}",
            "--template-config", f"ffmpeg:FFMPEGPATH={PROGRAMS['ffmpeg']}",
        )  # fmt: skip
    farm.wait_nodes(2)
    yield farm
    farm.close()


def test_blender_render_then_ffmpeg_encode(farm: Farm, tmp_path: Path) -> None:
    began = time.monotonic()
    scene = make_scene(tmp_path)
    output, movie = tmp_path / "frames", tmp_path / "shot.mp4"
    submitted = subprocess.run(
        [sys.executable, str(EXAMPLE / "pipeline.py"), "--dispatcher", farm.url,
         "--token", farm.token, "--scene", str(scene), "--frames", f"1-{FRAMES}",
         "--output", str(output), "--movie", str(movie), "--chunk", "2",
         "--samples", "4", "--no-denoise", "--fps", "12"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert submitted.returncode == 0, submitted.stderr
    ids = json.loads(submitted.stdout)

    encode = farm.job(ids["encode"])
    # The FFmpeg template made the encode one chunk; it waits frame by frame.
    assert (encode["batch"], encode["per_frame"]) == (FRAMES, True), encode
    assert farm.job(ids["render"])["batch"] == 2

    render = farm.wait_state(ids["render"], "done", "failed", timeout_s=600)
    assert render["state"] == "done", render
    encoded = farm.wait_state(ids["encode"], "done", "failed", timeout_s=300)
    assert encoded["state"] == "done", encoded
    wall_s = time.monotonic() - began

    frames = sorted(path.name for path in output.iterdir())
    assert frames == [f"frame_{number:04d}.png" for number in range(1, FRAMES + 1)]
    assert movie.is_file() and movie.stat().st_size > 0
    assert frame_count(movie) == FRAMES
    assert len(farm.chunks(ids["render"])) == FRAMES // 2
    assert len(farm.chunks(ids["encode"])) == 1
    print(f"\nBlender + FFmpeg pipeline: {FRAMES} frames rendered and encoded in {wall_s:.1f} s")
