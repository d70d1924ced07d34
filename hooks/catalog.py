"""The dispatcher's view of its templates, loaded in a throwaway process.

Template files are Python a template author wrote: their top-level code may
loop, exit, crash the interpreter or eat memory. The dispatcher therefore
never executes them itself. `TemplateCatalog.load` runs
`python -m hooks.catalog DIR...` under a time and address-space limit; that
process loads the files with `TemplateSet` and prints what the dispatcher
needs (ids, keys, names, which hooks each overrides, load errors) as JSON.
The hooks themselves run in the hook host; the render clients run the
render-side methods.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dispatcher.model import parse_id
from hooks.api.template import MTemplate

if TYPE_CHECKING:
    from hooks.runtime import TemplateSet

log = logging.getLogger(__name__)

LOAD_TIMEOUT_S = 30.0
LOAD_MEMORY_BYTES = 1 << 30
MAX_FATAL_FILES = 8
STARTING = "corral-template-loader: running "


@dataclass(frozen=True)
class TemplateInfo:
    """What a loaded template told about itself, with MTemplate's getter names."""

    info: dict[str, Any]
    hooks: frozenset[str]

    def getID(self) -> int:
        return int(self.info["id"])

    def getKey(self) -> str:
        return str(self.info["key"])

    def getName(self) -> str:
        return str(self.info["name"])

    def overrides(self, method: str) -> bool:
        return method in self.hooks

    # The template's settings, for the submit path and the scheduler (a catalog
    # written before a setting existed answers MTemplate's default).
    def getDefaultPriority(self) -> int:
        return int(self.info.get("default_priority", 50))

    def getDefaultPools(self) -> str:
        return str(self.info.get("default_pools") or "")

    def getDefaultExcludedPools(self) -> str:
        return str(self.info.get("default_excluded_pools") or "")

    def getDefaultMaximumNodes(self) -> int:
        return int(self.info.get("default_maximum_nodes") or 0)

    def getMaximumLicenses(self) -> int:
        return int(self.info.get("maximum_licenses") or 0)

    def getLicensesGroup(self) -> str:
        return str(self.info.get("licenses_group") or "")

    def getDelayGroup(self) -> str:
        return str(self.info.get("delay_group") or "")

    def getDelay(self) -> int:
        return int(self.info.get("delay_s") or 0)

    def getSubmissionItems(self) -> list[dict[str, Any]]:
        """The submission items' descriptions (`MTemplateItem.to_dict()`), in form order."""
        return [dict(item) for item in self.info.get("items") or []]

    def getMappings(self) -> dict[str, str]:
        return {str(k): str(v) for k, v in (self.info.get("mappings") or {}).items()}

    def enabled_platforms(self) -> frozenset[str]:
        """The platforms ("linux", "windows", "mac") the template is enabled for; empty
        when it enables none, which Corral reads as every platform (a template written
        without platform settings runs anywhere)."""
        platforms = self.info.get("platforms") or {}
        return frozenset(
            name for name, switches in platforms.items() if (switches or {}).get("enabled")
        )

    def to_dict(self) -> dict[str, Any]:
        return dict(self.info)


@dataclass
class TemplateCatalog:
    """Templates by key and id, the sources render clients receive, and load errors."""

    dirs: list[Path]
    templates: list[TemplateInfo] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    origins: dict[str, str] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)
    digest: str = ""
    fatal: dict[str, str] = field(default_factory=dict)
    _platforms: dict[str, frozenset[str]] | None = field(default=None, repr=False)

    @classmethod
    def load(cls, dirs: Sequence[Path], timeout_s: float = LOAD_TIMEOUT_S) -> TemplateCatalog:
        """Load the folders' templates in a child process; never raises for a bad template."""
        from hooks.runtime import TemplateSet

        catalog = cls([Path(folder) for folder in dirs])
        catalog.sources = TemplateSet.collect_sources(catalog.dirs)
        catalog.digest = TemplateSet.compute_digest(catalog.sources)
        skip: dict[str, str] = {}
        for _ in range(MAX_FATAL_FILES + 1):
            report, culprit, problem = _run_loader(catalog.dirs, skip, timeout_s)
            if report is not None:
                break
            if culprit is None or culprit in skip:
                catalog.errors.append(problem)
                return catalog
            skip[culprit] = problem
            catalog.fatal[culprit] = problem
        else:
            catalog.errors.append(
                f"more than {MAX_FATAL_FILES} template files kill the loader; none were loaded"
            )
            return catalog
        catalog.templates = [
            TemplateInfo(item["info"], frozenset(item["hooks"])) for item in report["templates"]
        ]
        catalog.errors.extend(report["errors"])
        catalog.origins = dict(report["origins"])
        return catalog

    def get(self, key_or_id: str | int) -> TemplateInfo | None:
        text = str(key_or_id).strip()
        number = parse_id(text, signed=True)
        for template in self.templates:
            if template.getKey() == text or (number is not None and template.getID() == number):
                return template
        return None

    def keys(self) -> list[str]:
        return [template.getKey() for template in self.templates]

    def platforms_of(self, key: str) -> frozenset[str]:
        """The platforms the template `key` is enabled for (empty: every platform, or no
        such template), looked up once per catalog: the scheduler asks on every match."""
        if self._platforms is None:
            self._platforms = {t.getKey(): t.enabled_platforms() for t in self.templates}
        return self._platforms.get(key, frozenset())

    def __contains__(self, key_or_id: object) -> bool:
        return isinstance(key_or_id, str | int) and self.get(key_or_id) is not None


def load_vetted(dirs: Sequence[Path]) -> TemplateSet:
    """Load templates into this process, leaving out the files that kill a loader process.

    For the render client, which must call template methods itself: a file
    whose top-level code exits, crashes or hangs is found in a child process
    first and never run here.
    """
    from hooks.runtime import TemplateSet

    fatal = TemplateCatalog.load(dirs).fatal
    for path, problem in fatal.items():
        log.error("action=template_skipped file=%s reason=%r", path, problem)
    return TemplateSet.load(dirs, skip=fatal)


def _run_loader(
    dirs: list[Path], skip: dict[str, str], timeout_s: float
) -> tuple[dict[str, Any] | None, str | None, str]:
    """One loader run: (report, None, "") or (None, the file it died in or None, what happened)."""
    command = [
        sys.executable,
        "-m",
        "hooks.catalog",
        json.dumps({"dirs": [str(d) for d in dirs], "skip": skip}),
    ]
    try:
        done = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=timeout_s,
            preexec_fn=_limit_memory,
            env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
        )
        stdout, stderr, code = done.stdout, done.stderr, done.returncode
    except subprocess.TimeoutExpired as exc:
        stdout = exc.stdout.decode() if isinstance(exc.stdout, bytes) else exc.stdout or ""
        stderr, code = "", None
    lines = stdout.splitlines()
    if code == 0 and lines and lines[-1].startswith("{"):
        try:
            return json.loads(lines[-1]), None, ""
        except ValueError:
            return None, None, "the template loader printed something that is not its report"
    started = [line[len(STARTING) :] for line in lines if line.startswith(STARTING)]
    culprit = started[-1] if started else None
    if code is None:
        problem = f"loading took over {timeout_s:g} s; the file is skipped"
    else:
        tail = " ".join(stderr.strip().splitlines()[-2:])
        problem = f"the file stopped the template loader (exit code {code}) {tail}".strip()
    if culprit is None:
        problem = f"the template loader failed: {problem}"
    return None, culprit, problem


def _limit_memory() -> None:
    try:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (LOAD_MEMORY_BYTES, LOAD_MEMORY_BYTES))
    except (ImportError, ValueError, OSError):
        pass


def _hooks_of(template: MTemplate) -> list[str]:
    return sorted(
        name for name in dir(MTemplate) if name.startswith("on") and template.overrides(name)
    )


def main(argv: Sequence[str]) -> int:
    """Load the folders and print the report as one JSON line (the child process's job)."""
    from hooks.api.context import install_builtin
    from hooks.runtime import TemplateSet

    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    install_builtin()  # template files may name `muster` at their top level, as in Muster
    request = json.loads(argv[0])

    def announce(path: Path) -> None:
        sys.stdout.write(f"{STARTING}{path}\n")
        sys.stdout.flush()

    loaded = TemplateSet.load(
        [Path(d) for d in request["dirs"]], skip=request["skip"], before_file=announce
    )
    report = {
        "templates": [{"info": t.to_dict(), "hooks": _hooks_of(t)} for t in loaded.templates],
        "errors": loaded.errors,
        "origins": loaded.origins,
    }
    sys.stdout.write("\n" + json.dumps(report, default=str) + "\n")
    sys.stdout.flush()
    os._exit(0)  # a template's atexit handlers or threads must not change the verdict


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
