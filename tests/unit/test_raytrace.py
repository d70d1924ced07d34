"""Tests for the demo ray tracer in templates/tools/raytrace.py."""

from __future__ import annotations

import importlib.util
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "templates" / "tools" / "raytrace.py"


def _load():
    spec = importlib.util.spec_from_file_location("corral_demo_raytrace", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


rt = _load()


def _chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    """Split a PNG into (type, payload) pairs, checking every CRC on the way."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, chunks = 8, []
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        tag = data[pos + 4 : pos + 8]
        payload = data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        assert crc == zlib.crc32(tag + payload), f"bad CRC in {tag!r}"
        chunks.append((tag, payload))
        pos += 12 + length
    assert pos == len(data)
    return chunks


def test_write_png_is_valid(tmp_path: Path) -> None:
    width, height = 7, 5
    rgb = bytes((x * 30) % 256 for x in range(width * height * 3))
    path = tmp_path / "out.png"
    rt.write_png(str(path), width, height, rgb)
    chunks = _chunks(path.read_bytes())
    tags = [tag for tag, _ in chunks]
    assert tags[0] == b"IHDR" and tags[-1] == b"IEND"
    w, h, depth, colour_type, _, _, interlace = struct.unpack(">IIBBBBB", chunks[0][1])
    assert (w, h, depth, colour_type, interlace) == (width, height, 8, 2, 0)
    raw = zlib.decompress(b"".join(p for tag, p in chunks if tag == b"IDAT"))
    assert len(raw) == height * (1 + width * 3)
    stride = width * 3
    rows = [raw[y * (stride + 1) : (y + 1) * (stride + 1)] for y in range(height)]
    assert all(row[0] == 0 for row in rows)
    assert b"".join(row[1:] for row in rows) == rgb


def test_write_png_rejects_wrong_length(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        rt.write_png(str(tmp_path / "bad.png"), 4, 4, b"\x00" * 10)


def test_render_frame_size_and_animation() -> None:
    first = rt.render_frame(1.0, 24.0, 32, 18)
    second = rt.render_frame(7.0, 24.0, 32, 18)
    assert len(first) == len(second) == 32 * 18 * 3
    assert first != second
    assert len(set(first)) > 20  # not a flat colour


def test_main_writes_range(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "new" / "dir"
    args = ["--start", "1", "--end", "3", "--out", str(out), "--width", "16", "--height", "9"]
    assert rt.main(args) == 0
    names = sorted(p.name for p in out.iterdir())
    assert names == ["frame_0001.png", "frame_0002.png", "frame_0003.png"]
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3
    assert lines[0].startswith("frame 1 written to ")
    assert lines[0].endswith(" s)") and "frame_0001.png" in lines[0]


def test_main_step_and_odd_frames(tmp_path: Path) -> None:
    small = ["--width", "8", "--height", "6", "--out", str(tmp_path)]
    assert rt.main(["--start", "1", "--end", "6", "--by", "2", *small]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "frame_0001.png",
        "frame_0003.png",
        "frame_0005.png",
    ]
    for p in tmp_path.iterdir():
        p.unlink()
    assert rt.main(["--start", "12", "--end", "13", "--by", "0.5", *small]) == 0
    assert rt.main(["--start", "-3", "--end", "-3", *small]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "frame_-003.png",
        "frame_0012.5.png",
        "frame_0012.png",
        "frame_0013.png",
    ]


@pytest.mark.parametrize(
    "extra",
    [
        ["--width", "0"],
        ["--width", "5000"],
        ["--height", "-1"],
        ["--width", "abc"],
        ["--by", "0"],
        ["--start", "nan"],
    ],
)
def test_main_bad_arguments_exit_2(tmp_path: Path, extra: list[str]) -> None:
    args = ["--start", "1", "--end", "2", "--out", str(tmp_path), *extra]
    with pytest.raises(SystemExit) as info:
        rt.main(args)
    assert info.value.code == 2
    assert not list(tmp_path.iterdir())


def test_command_line_bad_width(tmp_path: Path) -> None:
    cmd = [sys.executable, str(SCRIPT), "--start", "1", "--end", "1", "--out", str(tmp_path)]
    proc = subprocess.run([*cmd, "--width", "0"], capture_output=True, text=True)
    assert proc.returncode == 2
    assert "width" in proc.stderr
    proc = subprocess.run([*cmd, "--width", "4", "--height", "3"], capture_output=True, text=True)
    assert proc.returncode == 0
    assert (tmp_path / "frame_0001.png").is_file()
