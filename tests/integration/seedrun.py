"""Running a compat package's script as a user would: the system `python3` (not the
test's virtual environment), PYTHONPATH set to what `corral compat-path` prints."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from functools import cache
from pathlib import Path

from tests.integration.farm import CORRAL

VENV_BIN = str(Path(sys.executable).parent)


@cache
def system_python() -> str:
    """The first `python3` on PATH outside the virtual environment."""
    path = os.pathsep.join(
        part for part in os.environ.get("PATH", "").split(os.pathsep) if part != VENV_BIN
    )
    found = shutil.which("python3", path=path) or "/usr/bin/python3"
    return found


@cache
def old_python(version: str = "3.7") -> str | None:
    """A working `python3.7` (on PATH or in pyenv's versions), or None when there is none."""
    root = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv")
    candidates = [shutil.which(f"python{version}"),
                  *sorted(str(p) for p in root.glob(f"versions/{version}.*/bin/python{version}"))]  # fmt: skip
    for candidate in candidates:
        if candidate and subprocess.run([candidate, "-c", "pass"], capture_output=True,
                                        timeout=60).returncode == 0:  # fmt: skip
            return candidate
    return None


@cache
def compat_path() -> str:
    """What `corral compat-path` prints."""
    done = subprocess.run([CORRAL, "compat-path"], capture_output=True, text=True, check=True)
    return done.stdout.strip()


def base_env(home: Path, **extra: str) -> dict[str, str]:
    """The environment of a script: HOME at `home` (no token file unless a test writes
    one), no Corral or farm variables but those in `extra`."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("CORRAL_", "DRQUEUE_", "PYDRA_", "SMEDGE_", "PYTHON"))
    }
    env["PYTHONPATH"] = compat_path()
    env["HOME"] = str(home)
    env.update(extra)
    return env


def run_python(
    code: str,
    env: dict[str, str],
    cwd: Path | None = None,
    timeout_s: float = 120.0,
    python: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run `code` (dedented) with `python` (the system Python); the finished process."""
    return subprocess.run(
        [python or system_python(), "-c", textwrap.dedent(code)],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout_s,
    )


def run_ok(
    code: str, env: dict[str, str], cwd: Path | None = None, python: str | None = None
) -> list[str]:
    """Run `code`, which must exit 0; its stdout lines."""
    done = run_python(code, env, cwd, python=python)
    assert done.returncode == 0, f"exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done.stdout.splitlines()
