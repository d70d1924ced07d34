"""Running `import smedge` scripts against a test farm, as a studio's Python would: a
separate interpreter (the system's python3 where there is one) with only the folder
`corral compat-path` prints on PYTHONPATH, and the Smedge variables naming the farm."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from tests.integration.farm import CORRAL, Farm

# Every example of the seed omits these (SEED-NOTES: add them); `from smedge import *` is
# how its examples call the methods bare.
PRELUDE = """\
import json
from datetime import datetime, timedelta
from uuid import UUID, uuid4
from smedge import *
"""
SYSTEM_PYTHON = "/usr/bin/python3"


def python() -> str:
    """The system's python3 (no Corral package installed in it), else this interpreter."""
    return (
        SYSTEM_PYTHON
        if os.access(SYSTEM_PYTHON, os.X_OK)
        else (shutil.which("python3") or sys.executable)
    )


def compat_path() -> str:
    return subprocess.run(
        [CORRAL, "compat-path"], check=True, capture_output=True, text=True
    ).stdout.strip()


def smedge_env(farm: Farm, token: str | None = None, **more: str) -> dict[str, str]:
    """The environment of a Smedge script aimed at `farm` (SMEDGE_MASTER host:port)."""
    address = urlsplit(farm.url)
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("CORRAL_", "SMEDGE", "PYTHON"))
    }
    env.update(
        PYTHONPATH=compat_path(),
        PYTHONDONTWRITEBYTECODE="1",
        SMEDGE_MASTER=f"{address.hostname}:{address.port}",
        CORRAL_TOKEN=farm.token if token is None else token,
        HOME=str(farm.data_dir.parent),  # no token file of the user running the tests
    )
    env.update(more)
    return env


def run(
    farm: Farm,
    code: str,
    *args: str,
    prelude: str = PRELUDE,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    check: bool = True,
    interpreter: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run `code` (dedented, after `prelude`) as a script; fail the test when it fails."""
    folder = cwd or farm.data_dir.parent
    script = folder / "smedge_script.py"
    script.write_text(prelude + textwrap.dedent(code), encoding="utf-8")
    done = subprocess.run(
        [interpreter or python(), str(script), *args],
        capture_output=True,
        text=True,
        env=env or smedge_env(farm),
        cwd=str(folder),
        timeout=120,
    )
    if check and done.returncode != 0:
        raise AssertionError(f"the script failed ({done.returncode}):\n{done.stderr}")
    return done


def answer(farm: Farm, code: str, *args: str, **kwargs: Any) -> Any:
    """The JSON the script prints on its last line."""
    out = run(farm, code, *args, **kwargs).stdout.strip().splitlines()
    return json.loads(out[-1])
