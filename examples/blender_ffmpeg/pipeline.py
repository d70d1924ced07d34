"""Render a Blender scene on the farm, then encode the frames into a movie with FFmpeg.

    python pipeline.py --dispatcher http://farm:8080 --token TOKEN \\
        --scene /proj/shot.blend --frames 1-48 --output /proj/renders/shot \\
        --movie /proj/renders/shot.mp4

Submits two jobs over the HTTP API and prints their ids as JSON:

1. a `blender` job rendering the frames, `--chunk` frames per chunk, into
   `OUTPUT/frame_####.png`;
2. an `ffmpeg` job encoding `OUTPUT/frame_####.png` into MOVIE, with a
   per-frame dependency on the first.

FFmpeg reads the whole sequence, so the FFmpeg template makes its job one
chunk; with the per-frame dependency that chunk waits for exactly the frames
it reads. Over the full range that is every frame, as a whole-job dependency
would be; but `--encode-frames 1-24` makes a preview of the first second that
starts as soon as those frames are rendered, while the rest still render.

Standard library only: it runs with any Python 3.7 or newer, paths are the
farm's (the render nodes must see --scene, --output and --movie).
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.error
import urllib.request

TIMEOUT_S = 30


def submit(dispatcher: str, token: str, job: dict) -> dict:
    """POST one job to the dispatcher's /api/v1/jobs/; the created job."""
    request = urllib.request.Request(
        dispatcher.rstrip("/") + "/api/v1/jobs/",
        data=json.dumps(job).encode(),
        method="POST",
        headers={"Content-Type": "application/json", "Authorization": "Bearer " + token},
    )
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
            return json.loads(response.read().decode())
    except urllib.error.HTTPError as exc:
        raise SystemExit(
            f"the dispatcher refused {job['title']!r}: {exc.code} {exc.read().decode()}"
        ) from None


def pipeline_jobs(args: argparse.Namespace) -> tuple[dict, dict]:
    """The render job and the encode job (without the dependency, which needs the first id)."""
    render = {
        "title": args.name + " render",
        "template": "blender",
        "frames": args.frames,
        "batch": args.chunk,
        "priority": args.priority,
        "pools": args.pool,
        "data": {
            "job_file": args.scene,
            "output_folder": args.output,
            "output_prefix": "frame_",
            "image_format": "PNG",
            "render_engine": args.engine,
            "samples": args.samples,
            "denoise": "off" if args.no_denoise else "scene",
        },
    }
    encode = {
        "title": args.name + " encode",
        "template": "ffmpeg",
        "frames": args.encode_frames or args.frames,
        "priority": args.priority,
        "pools": args.pool,
        "per_frame": True,
        "data": {
            "job_file": args.output.rstrip("/\\") + "/frame_####.png",
            "output_file": args.movie,
            "frame_rate": args.fps,
        },
    }
    return render, encode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dispatcher", required=True, help="the dispatcher's HTTP address")
    parser.add_argument("--token", required=True, help="an API token (corral login)")
    parser.add_argument("--scene", required=True, help="the .blend file")
    parser.add_argument("--frames", required=True, help="frames to render, e.g. 1-48")
    parser.add_argument("--output", required=True, help="the folder the frames go to")
    parser.add_argument("--movie", required=True, help="the movie file to write")
    parser.add_argument("--name", default="pipeline", help="the jobs' title prefix")
    parser.add_argument("--chunk", type=int, default=4, help="frames per render chunk")
    parser.add_argument("--encode-frames", help="encode only these frames (default: all)")
    parser.add_argument("--engine", default="scene", help="CYCLES, BLENDER_EEVEE or scene")
    parser.add_argument("--samples", type=int, default=0, help="samples; 0 keeps the scene's")
    parser.add_argument("--no-denoise", action="store_true", help="turn Cycles denoising off")
    parser.add_argument("--fps", type=float, default=24.0, help="the movie's frame rate")
    parser.add_argument("--priority", type=int, default=50)
    parser.add_argument("--pool", action="append", default=[], help="a pool (repeatable)")
    args = parser.parse_args(argv)

    render, encode = pipeline_jobs(args)
    rendered = submit(args.dispatcher, args.token, render)
    encode["depends_on"] = [rendered["id"]]
    encoded = submit(args.dispatcher, args.token, encode)
    print(json.dumps({"render": rendered["id"], "encode": encoded["id"]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
