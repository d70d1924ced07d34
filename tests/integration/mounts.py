"""Real file systems for storage tests: a small tmpfs that fills up, a read-only bind mount.

Mounting needs root (the machines that run `make test` are). Where mounting is
impossible a test skips with the reason, except under CI (CI=true), where a
skip of these tests would hide a broken guarantee: there it fails.
"""

from __future__ import annotations

import contextlib
import errno
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest


def cannot_mount(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"storage tests must run under CI, but mounting is impossible: {reason}")
    pytest.skip(f"mounting is impossible here: {reason}")


def _mount(*args: str) -> None:
    try:
        result = subprocess.run(["mount", *args], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        cannot_mount(f"mount {' '.join(args)}: {exc}")
        return
    if result.returncode != 0:
        cannot_mount(f"mount {' '.join(args)}: {result.stderr.strip()}")


def _umount(path: Path) -> None:
    result = subprocess.run(["umount", str(path)], capture_output=True, text=True, timeout=30)
    if result.returncode != 0:  # something still holds it: detach it anyway
        subprocess.run(["umount", "-l", str(path)], capture_output=True, timeout=30)


@contextlib.contextmanager
def tmpfs(path: Path, size_bytes: int) -> Iterator[Path]:
    """A tmpfs of `size_bytes` mounted at `path` for the duration."""
    path.mkdir(parents=True, exist_ok=True)
    _mount("-t", "tmpfs", "-o", f"size={size_bytes}", "tmpfs", str(path))
    try:
        yield path
    finally:
        _umount(path)


@contextlib.contextmanager
def read_only(source: Path, path: Path) -> Iterator[Path]:
    """`source` seen read-only at `path` (root ignores file modes: only a mount stops it)."""
    path.mkdir(parents=True, exist_ok=True)
    _mount("--bind", str(source), str(path))
    try:
        _mount("-o", "remount,bind,ro", str(path))
        yield path
    finally:
        _umount(path)


def fill(folder: Path) -> Path:
    """Write a file in `folder` until its file system is full, to the last byte."""
    filler = folder / "filler"
    with filler.open("wb", buffering=0) as out:
        for size in (1 << 20, 64 << 10, 4096, 512, 1):
            block = b"\0" * size
            try:
                while True:
                    out.write(block)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC, exc
    return filler
