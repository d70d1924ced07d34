"""Helpers for hook and MDispatcherAPI tests: scripts in the dispatcher context,
template folders, and the record of which API functions a test covers."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from hooks.api.dispatcher_api import EXTENSIONS, FUNCTION_NAMES
from tests.integration.farm import Farm

F = TypeVar("F", bound=Callable[..., Any])

# API function name -> the tests that call it in the dispatcher context and check its effect.
COVERED: dict[str, list[str]] = {}

FAST_HOOKS = ["--hook-timeout-s", "2", "--chunk-hold-recheck-s", "0.2", "--idle-hook-interval-s", "0.2",
              "--statistics-interval-s", "0.1"]  # fmt: skip


def covers(*names: str) -> Callable[[F], F]:
    """Mark a test as the check of these MDispatcherAPI functions (see test_api_coverage)."""
    unknown = [name for name in names if name not in FUNCTION_NAMES + EXTENSIONS]
    if unknown:
        raise AssertionError(f"not MDispatcherAPI functions: {unknown}")

    def mark(test: F) -> F:
        for name in names:
            COVERED.setdefault(name, []).append(f"{test.__module__}.{test.__name__}")
        return test

    return mark


def run_script(
    farm: Farm, code: str, name: str = "test_script.py", token: str | None = None
) -> dict[str, Any]:
    """Run `code` in the dispatcher context; the REST answer (ok, output, error, api_errors)."""
    result: dict[str, Any] = farm.request(
        "POST", "/api/v1/scripts/run", {"name": name, "code": textwrap.dedent(code)}, token=token
    )
    return result


def script_json(farm: Farm, code: str) -> Any:
    """Run a script that prints one JSON value last; fail the test with its error otherwise."""
    result = run_script(farm, code)
    assert result["ok"], result["error"] or result
    lines = result["output"].strip().splitlines()
    assert lines, f"the script printed nothing: {result}"
    return json.loads(lines[-1])


def write_template(folder: Path, name: str, source: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(textwrap.dedent(source))
    return path


# A template base every test template builds on: runs the job's command like cmdline.
TEMPLATE_HEAD = """
import json, shlex, time
import MTemplateAPI, MDispatcherAPI

class Base(MTemplateAPI.MTemplate):
    def setup(self, template_id, key):
        MTemplateAPI.MTemplate.__init__(self)
        self.setID(template_id)
        self.setKey(key)
        self.setName(key)
        for platform in self.platforms():
            platform.setPlatformEnabled(1)

    def onBuildCommandLine(self, platform, job, chunk, prefs, instance):
        return shlex.join(job.to_dict()["command"])

def note(path, *parts):
    with open(path, "a") as out:
        out.write(" ".join(str(part) for part in parts) + "\\n")
"""


def start_farm(data_dir: Path, *args: str) -> Farm:
    return Farm(data_dir, [*FAST_HOOKS, *args]).start()
