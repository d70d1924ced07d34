"""Path translation: a path under a repository's root, rewritten for another platform.

A repository names one storage root by its path on each platform
(`{"windows": "P:\\\\proj", "linux": "/mnt/proj", "mac": "/Volumes/proj"}`).
`translate` finds the repository root a path starts with (on any platform;
Windows roots match without regard to case or slash direction), puts the
target platform's root in its place and writes the rest with the target's
separator. The longest matching root wins; a path under no repository, or
under one with no root for the target platform, is left as it is.

The dispatcher translates when it assigns a chunk, for the node's platform
(the render client reports `sys.platform` in its handshake), so a repository
change applies to the next chunk started. The fields translated are those a
job marks: its `subst` list, plus the attributes a Muster REST submission
flagged `subst` (kept in `data["muster"]["subst"]`). A name is a template
attribute in `data`, or `command` for each argument of the job's command.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

WINDOWS, MAC, LINUX = "windows", "mac", "linux"
PLATFORMS = (WINDOWS, MAC, LINUX)

Repository = Mapping[str, Any]


def platform_of(reported: str) -> str:
    """The repository platform of a render client's `sys.platform` ("win32" -> windows)."""
    text = reported.lower()
    if text.startswith("win") or text in ("cygwin", "msys"):
        return WINDOWS
    if text.startswith("darwin") or text == MAC:
        return MAC
    return LINUX


def _parts(root: str, platform: str) -> tuple[str, ...]:
    cleaned = root.replace("\\", "/") if platform == WINDOWS else root
    return tuple(part for part in cleaned.split("/") if part) or ("/",)


def _split(path: str) -> tuple[str, ...]:
    return tuple(part for part in path.replace("\\", "/").split("/") if part)


def _matches(path: str, root: str, platform: str) -> int:
    """How many path components `root` (a `platform` root) covers of `path`; 0 if none."""
    if not root:
        return 0
    if platform == WINDOWS:
        want = tuple(part.lower() for part in _parts(root, platform))
        have = tuple(part.lower() for part in _split(path))
        unc = root.startswith(("\\\\", "//"))
        if unc != path.startswith(("\\\\", "//")):
            return 0
    else:
        if not path.startswith("/") or "\\" in root:
            return 0
        want = _parts(root, platform)
        have = tuple(part for part in path.split("/") if part)
        if want == ("/",):
            return 0  # a root of "/" would take every path
    if len(have) >= len(want) and have[: len(want)] == want:
        return len(want)
    return 0


def translate(path: str, repositories: Iterable[Repository], target: str) -> str:
    """`path` written for the `target` platform (see the module docstring)."""
    best: tuple[int, Repository, str] | None = None
    for repository in repositories:
        for platform in PLATFORMS:
            covered = _matches(path, str(repository.get(platform) or ""), platform)
            if covered and (best is None or covered > best[0]):
                best = (covered, repository, platform)
    if best is None:
        return path
    covered, repository, source = best
    root = str(repository.get(target) or "")
    if not root:
        return path
    rest = list(_split(path)[covered:]) if source == WINDOWS else _rest(path, covered)
    separator = "\\" if target == WINDOWS else "/"
    trailing = bool(rest) and path.endswith(("/", "\\"))
    if not rest:
        return root
    joined = separator.join(rest) + (separator if trailing else "")
    return root.rstrip("/\\") + separator + joined


def _rest(path: str, covered: int) -> list[str]:
    return [part for part in path.split("/") if part][covered:]


def marked(job: Mapping[str, Any]) -> list[str]:
    """The names of a job's fields marked for translation (wire form of the job)."""
    names = list(job.get("subst") or [])
    data = job.get("data")
    extras = data.get("muster") if isinstance(data, Mapping) else None
    if isinstance(extras, Mapping):
        names += [str(name) for name in extras.get("subst") or []]
    return list(dict.fromkeys(names))


def translate_job(
    job: Mapping[str, Any], repositories: list[Repository], target: str
) -> dict[str, Any]:
    """A copy of a job's wire form with its marked fields translated for `target`."""
    names = marked(job)
    out = dict(job)
    if not names or not repositories:
        return out
    data = dict(job.get("data") or {})
    for name in names:
        if name == "command":
            out["command"] = [
                translate(arg, repositories, target) if isinstance(arg, str) else arg
                for arg in job.get("command") or []
            ]
        elif isinstance(data.get(name), str):
            data[name] = translate(data[name], repositories, target)
    out["data"] = data
    return out
