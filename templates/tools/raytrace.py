"""Tiny pure-Python ray tracer used by the Corral demo job.

It renders an animated scene -- a swaying camera looking at a mirror sphere
and three bouncing, circling balls on a checkered floor, lit by a sun with
hard shadows and one reflection bounce -- and writes one PNG per frame using
only the standard library.

Usage::

    python raytrace.py --start 1 --end 24 [--by 1] --out DIR \
        [--width 160] [--height 90] [--total-frames 24]
"""

from __future__ import annotations

import argparse
import math
import os
import struct
import sys
import time
import zlib
from decimal import Decimal, InvalidOperation

INF = float("inf")
EPS = 1e-4
MAX_SIZE = 4096

# Direction towards the sun (normalised below) and the sky colours.
_lx, _ly, _lz = 0.6, 0.7, -0.45
_ln = math.sqrt(_lx * _lx + _ly * _ly + _lz * _lz)
LIGHT = (_lx / _ln, _ly / _ln, _lz / _ln)
GAMMA = 1.0 / 2.2


def _linear(r: float, g: float, b: float) -> tuple[float, float, float]:
    """Display colour to linear light, so shading happens in linear space."""
    return (r**2.2, g**2.2, b**2.2)


SKY_LOW = _linear(0.95, 0.88, 0.80)
SKY_HIGH = _linear(0.40, 0.60, 0.90)
CHECK_A = _linear(0.90, 0.88, 0.84)
CHECK_B = _linear(0.36, 0.38, 0.45)

# A sphere is (cx, cy, cz, radius**2, (r, g, b), reflectivity).
Sphere = tuple[float, float, float, float, tuple[float, float, float], float]


def build_scene(phase: float) -> list[Sphere]:
    """Return the spheres for an animation phase (0..1 is one full loop)."""
    spheres: list[Sphere] = [(0.0, 1.0, 0.0, 1.0, _linear(0.92, 0.94, 0.97), 0.75)]
    colours = [_linear(0.95, 0.35, 0.28), _linear(0.16, 0.72, 0.68), _linear(0.98, 0.76, 0.22)]
    for i, colour in enumerate(colours):
        angle = 2.0 * math.pi * (phase + i / 3.0)
        bounce = abs(math.sin(2.0 * math.pi * (2.0 * phase + i / 3.0)))
        x, y, z = 2.3 * math.cos(angle), 0.55 + 0.9 * bounce, 2.3 * math.sin(angle)
        spheres.append((x, y, z, 0.55**2, colour, 0.0))
    return spheres


def _nearest(o: tuple, d: tuple, spheres: list[Sphere]) -> tuple[float, int]:
    """Closest hit along a unit ray: (distance, sphere index, -1 floor, -2 none)."""
    ox, oy, oz = o
    dx, dy, dz = d
    best, hit = INF, -2
    for i, (cx, cy, cz, r2, _c, _k) in enumerate(spheres):
        px, py, pz = ox - cx, oy - cy, oz - cz
        b = px * dx + py * dy + pz * dz
        disc = b * b - (px * px + py * py + pz * pz - r2)
        if disc > 0.0:
            t = -b - math.sqrt(disc)
            if EPS < t < best:
                best, hit = t, i
    if dy < 0.0:
        t = -oy / dy
        if EPS < t < best:
            best, hit = t, -1
    return best, hit


def _in_shadow(px: float, py: float, pz: float, spheres: list[Sphere]) -> bool:
    """True when a sphere blocks the way from the point to the sun."""
    lx, ly, lz = LIGHT
    for cx, cy, cz, r2, _c, _k in spheres:
        qx, qy, qz = px - cx, py - cy, pz - cz
        b = qx * lx + qy * ly + qz * lz
        c = qx * qx + qy * qy + qz * qz - r2
        if b < 0.0 and b * b > c:
            return True
    return False


def _sky(dx: float, dy: float, dz: float) -> tuple[float, float, float]:
    """Vertical gradient plus a soft sun glow."""
    t = max(0.0, dy) ** 0.6
    glow = max(0.0, dx * LIGHT[0] + dy * LIGHT[1] + dz * LIGHT[2]) ** 48 * 0.8
    return tuple(lo + (hi - lo) * t + glow for lo, hi in zip(SKY_LOW, SKY_HIGH, strict=True))


def trace(o: tuple, d: tuple, spheres: list[Sphere], depth: int = 0) -> tuple[float, ...]:
    """Colour seen along the ray from o in unit direction d."""
    dx, dy, dz = d
    t, hit = _nearest(o, d, spheres)
    if hit == -2:
        return _sky(dx, dy, dz)
    px, py, pz = o[0] + dx * t, o[1] + dy * t, o[2] + dz * t
    lit = 0.0 if _in_shadow(px, py, pz, spheres) else 1.0
    lx, ly, lz = LIGHT
    if hit == -1:
        # Fade the checker contrast with distance: a cheap stand-in for filtering.
        mix = min(1.0, t / 40.0) * 0.5
        if (math.floor(px) + math.floor(pz)) % 2:
            mix = 1.0 - mix
        shade = 0.12 + 0.88 * ly * lit
        colour = tuple((a + (b - a) * mix) * shade for a, b in zip(CHECK_A, CHECK_B, strict=True))
        fog = math.exp(-0.03 * t)  # fade the floor into the horizon
        sky = _sky(dx, 0.0, dz)
        return tuple(c * fog + s * (1.0 - fog) for c, s in zip(colour, sky, strict=True))
    cx, cy, cz, r2, base, refl = spheres[hit]
    inv = 1.0 / math.sqrt(r2)
    nx, ny, nz = (px - cx) * inv, (py - cy) * inv, (pz - cz) * inv
    ndotd = nx * dx + ny * dy + nz * dz
    rx, ry, rz = dx - 2 * ndotd * nx, dy - 2 * ndotd * ny, dz - 2 * ndotd * nz
    diffuse = max(0.0, nx * lx + ny * ly + nz * lz) * lit
    spec = max(0.0, rx * lx + ry * ly + rz * lz) ** 40 * lit
    ambient = 0.10 + 0.06 * ny
    colour = tuple(c * (ambient + 0.8 * diffuse) + 0.7 * spec for c in base)
    if refl > 0.0 and depth < 1:
        bounce = trace((px, py, pz), (rx, ry, rz), spheres, depth + 1)
        colour = tuple(
            c * (1.0 - refl) + b * refl * k for c, b, k in zip(colour, bounce, base, strict=True)
        )
    return colour


def _gamma(c: float) -> int:
    """Linear light to an 8-bit display value."""
    return 255 if c >= 1.0 else int(255.0 * c**GAMMA) if c > 0.0 else 0


def render_frame(frame: float, total_frames: float, width: int, height: int) -> bytes:
    """Render one frame and return raw 8-bit RGB rows (top row first)."""
    phase = frame / total_frames
    spheres = build_scene(phase)
    # The camera sways around the scene and back, so the animation loops seamlessly.
    angle = 0.6 + 0.7 * math.sin(2.0 * math.pi * phase)
    eye = (
        7.5 * math.cos(angle),
        2.6 + 0.4 * math.cos(2.0 * math.pi * phase),
        7.5 * math.sin(angle),
    )
    fx, fy, fz = -eye[0], 0.8 - eye[1], -eye[2]
    n = math.sqrt(fx * fx + fy * fy + fz * fz)
    fx, fy, fz = fx / n, fy / n, fz / n
    rx, rz = -fz, fx  # right = forward x world-up (y component is zero)
    n = math.sqrt(rx * rx + rz * rz)
    rx, rz = rx / n, rz / n
    ux, uy, uz = -rz * fy, rz * fx - rx * fz, rx * fy  # up = right x forward
    half = math.tan(math.radians(42.0) / 2.0)
    aspect = width / height
    out = bytearray()
    for y in range(height):
        for x in range(width):
            r = g = b = 0.0
            for off in (0.25, 0.75):  # two diagonal samples per pixel soften jagged edges
                u = (2.0 * (x + off) / width - 1.0) * half * aspect
                v = (1.0 - 2.0 * (y + off) / height) * half
                dx, dy, dz = fx + u * rx + v * ux, fy + v * uy, fz + u * rz + v * uz
                n = 1.0 / math.sqrt(dx * dx + dy * dy + dz * dz)
                sr, sg, sb = trace(eye, (dx * n, dy * n, dz * n), spheres)
                r, g, b = r + sr, g + sg, b + sb
            out += bytes((_gamma(r * 0.5), _gamma(g * 0.5), _gamma(b * 0.5)))
    return bytes(out)


def _chunk(tag: bytes, data: bytes) -> bytes:
    """One PNG chunk: length, type, payload and CRC over type + payload."""
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))


def write_png(path: str, width: int, height: int, rgb: bytes) -> None:
    """Write raw RGB rows as an 8-bit truecolour, non-interlaced PNG file."""
    stride = width * 3
    if len(rgb) != stride * height:
        raise ValueError(f"expected {stride * height} bytes of RGB data, got {len(rgb)}")
    raw = b"".join(b"\x00" + rgb[y * stride : (y + 1) * stride] for y in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    png = b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header)
    png += _chunk(b"IDAT", zlib.compress(raw, 6)) + _chunk(b"IEND", b"")
    with open(path, "wb") as fh:
        fh.write(png)


def frame_label(frame: Decimal) -> str:
    """File-name part for a frame: 0001, -003, 0012.5."""
    sign = "-" if frame < 0 else ""
    whole = int(abs(frame))
    text = sign + str(whole).zfill(4 - len(sign))
    frac = abs(frame) - whole
    if frac:
        text += format(frac.normalize(), "f")[1:]  # "0.5" -> ".5"
    return text


def _decimal(text: str) -> Decimal:
    """argparse type for frame numbers given as decimal strings."""
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value.is_finite():
        raise argparse.ArgumentTypeError(f"not a finite number: {text!r}")
    return value


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns the process exit code."""
    parser = argparse.ArgumentParser(description="Render demo frames as PNG files.")
    parser.add_argument("--start", type=_decimal, required=True, help="first frame")
    parser.add_argument("--end", type=_decimal, required=True, help="last frame (inclusive)")
    parser.add_argument("--by", type=_decimal, default=Decimal(1), help="frame step")
    parser.add_argument("--out", required=True, help="output directory")
    parser.add_argument("--width", type=int, default=160)
    parser.add_argument("--height", type=int, default=90)
    parser.add_argument("--total-frames", type=_decimal, default=Decimal(24))
    args = parser.parse_args(argv)
    for name in ("width", "height"):
        if not 1 <= getattr(args, name) <= MAX_SIZE:
            parser.error(f"--{name} must be between 1 and {MAX_SIZE}")
    if args.by <= 0:
        parser.error("--by must be greater than zero")
    if args.total_frames <= 0:
        parser.error("--total-frames must be greater than zero")
    if args.end < args.start:
        parser.error("--end must not be less than --start")

    os.makedirs(args.out, exist_ok=True)
    frame = args.start
    while frame <= args.end:
        began = time.perf_counter()
        rgb = render_frame(float(frame), float(args.total_frames), args.width, args.height)
        path = os.path.join(args.out, f"frame_{frame_label(frame)}.png")
        write_png(path, args.width, args.height, rgb)
        elapsed = time.perf_counter() - began
        shown = format(frame.normalize(), "f")
        print(f"frame {shown} written to {path} ({elapsed:.2f} s)", flush=True)
        frame += args.by
    return 0


if __name__ == "__main__":
    sys.exit(main())
