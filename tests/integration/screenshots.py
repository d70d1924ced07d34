"""`python -m tests.integration.screenshots`: the web console's pictures for
docs/web-console.md, taken by the browser tests marked `screenshots` with
CORRAL_SCREENSHOTS pointing at docs/images (files docs/images/web-console-<page>.png).

Without it the same tests save their pictures in the temporary folder, so `make test`
never changes the documentation's images.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
IMAGES = ROOT / "docs" / "images"


def main() -> int:
    files = sorted(
        str(path) for path in (ROOT / "tests" / "integration").glob("test_web_console_*.py")
    )
    env = {**os.environ, "CORRAL_SCREENSHOTS": str(IMAGES)}
    command = [sys.executable, "-m", "pytest", "-p", "no:xdist", "-p", "no:cacheprovider",
               "-m", "screenshots", "-q", *files]  # fmt: skip
    return subprocess.run(command, cwd=ROOT, env=env, check=False).returncode


if __name__ == "__main__":
    sys.exit(main())
