"""The software and job types the farm knows, and what a job requires of a node.

A *software* (blender, nuke) exists once an administrator registered it or a
render node reported it in its handshake; each has an integer id and known
versions, each version with its own id (PyFarm's `software_id`,
`min_version_id`, `max_version_id`). A job's `software_requirements` name
existing software and versions, and a node satisfies one when it reports that
software in a version within [min_version, max_version]. A *job type* is a
name registered for a template (PyFarm's `jobtype`); a template's key works as
a job type without registration.

Both live in the named records (kinds "software" and "jobtype"), so they are
committed with the loop tick's batch and survive restarts.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from dispatcher.errors import NotFound, ValidationError
from dispatcher.model import Job, Node
from dispatcher.records import Records, check_name

SOFTWARE = "software"
JOBTYPE = "jobtype"
MAX_VERSION_CHARS = 64
_PARTS = re.compile(r"\d+|[^\W\d_]+")


def version_key(text: str) -> tuple[tuple[int, int, str], ...]:
    """A version's sort key: runs of digits compare as numbers, runs of letters as text,
    and a letter run sorts below a number in the same place (2.0 < 2.0b < 2.0.1 < 2.1 < 10,
    as Blender's 2.79b follows 2.79)."""
    return tuple(
        (1, int(part), "") if part.isdecimal() else (0, 0, part)
        for part in _PARTS.findall(text.lower())
    )


def check_version(text: object, what: str) -> str:
    if not isinstance(text, str) or not text.strip() or len(text) > MAX_VERSION_CHARS:
        raise ValidationError(f"{what}: a version of 1-{MAX_VERSION_CHARS} characters", field=what)
    if any(ord(char) < 32 for char in text) or not _PARTS.search(text):
        raise ValidationError(f"{what}: {text[:40]!r} is not a version", field=what)
    return text.strip()


class Registry:
    """Software and job types, over the named records."""

    def __init__(self, records: Records) -> None:
        self.records = records

    # -- software ------------------------------------------------------------------------
    def software(self) -> list[dict[str, Any]]:
        return [_software_view(name, info) for name, info in self.records.all(SOFTWARE)]

    def get(self, name: str) -> dict[str, Any]:
        info = self.records.find(SOFTWARE, name)
        if info is None:
            raise NotFound(f"no software named {name[:64]!r}")
        return _software_view(name, info)

    def register(self, name: str, versions: Iterable[str]) -> bool:
        """Add a software and versions of it (known ones are kept); True when anything
        was new."""
        check_name(SOFTWARE, name)
        info = self.records.find(SOFTWARE, name)
        changed = info is None
        if info is None:
            info = {"id": self._next_software_id(), "versions": {}}
        known: dict[str, int] = info["versions"]
        next_version = self._next_version_id()
        for version in versions:
            if version not in known:
                known[version] = next_version
                next_version += 1
                changed = True
        if changed:
            self.records.put(SOFTWARE, name, info)
        return changed

    def remove(self, name: str) -> None:
        self.records.remove(SOFTWARE, name)

    def reported(self, node: Node) -> bool:
        """Register what a node reported; True when the registry changed."""
        by_name: dict[str, list[str]] = {}
        for name, version in node.software:
            by_name.setdefault(name, []).append(version)
        changed = False
        for name, versions in by_name.items():
            changed = self.register(name, versions) or changed
        return changed

    def resolve(self, requirement: dict[str, Any]) -> dict[str, Any]:
        """A requirement {software, min_version, max_version} in its stored form, with the
        ids; NotFound when the software or a version is not known."""
        name = requirement["software"]
        info = self.records.find(SOFTWARE, name)
        if info is None:
            raise NotFound(
                f"software_requirements: no software named {name[:64]!r} (register it with "
                "POST /api/v1/software/, or a render node reports it)"
            )
        resolved: dict[str, Any] = {"software": name, "software_id": info["id"]}
        for end in ("min_version", "max_version"):
            version = requirement.get(end)
            if version is not None and version not in info["versions"]:
                raise NotFound(f"software_requirements: {name} has no version {version[:64]!r}")
            resolved[end] = version
            resolved[f"{end}_id"] = None if version is None else info["versions"][version]
        low, high = resolved["min_version"], resolved["max_version"]
        if low is not None and high is not None and version_key(high) < version_key(low):
            raise ValidationError(
                f"software_requirements: {name}: max_version {high} is below min_version {low}",
                field="software_requirements",
            )
        return resolved

    def _next_software_id(self) -> int:
        return 1 + max((info["id"] for _, info in self.records.all(SOFTWARE)), default=0)

    def _next_version_id(self) -> int:
        ids = [v for _, info in self.records.all(SOFTWARE) for v in info["versions"].values()]
        return 1 + max(ids, default=0)

    # -- job types -----------------------------------------------------------------------
    def jobtypes(self) -> list[dict[str, Any]]:
        return [{"name": name, **info} for name, info in self.records.all(JOBTYPE)]

    def jobtype(self, name: str) -> dict[str, Any] | None:
        return self.records.find(JOBTYPE, name)

    def register_jobtype(self, name: str, template: str, version: int) -> None:
        check_name(JOBTYPE, name)
        self.records.put(JOBTYPE, name, {"template": template, "version": version})

    def remove_jobtype(self, name: str) -> None:
        self.records.remove(JOBTYPE, name)


def _software_view(name: str, info: dict[str, Any]) -> dict[str, Any]:
    versions = sorted(info["versions"].items(), key=lambda item: version_key(item[0]))
    return {
        "id": info["id"],
        "software": name,
        "versions": [{"id": number, "version": version} for version, number in versions],
    }


# -- matching ----------------------------------------------------------------------------
def satisfies(node: Node, requirement: dict[str, Any]) -> bool:
    """Whether the node reports the software in a version within the requirement's range."""
    name, low, high = (
        requirement["software"],
        requirement["min_version"],
        requirement["max_version"],
    )
    for software, version in node.software:
        if software != name:
            continue
        key = version_key(version)
        if (low is None or key >= version_key(low)) and (high is None or key <= version_key(high)):
            return True
    return False


def refusal(job: Job, node: Node) -> str | None:
    """Why the node does not meet the job's cpus, software or tag requirements, or None.
    Cheap: a job has a few requirements and a node a few software and tags."""
    if job.cpus > 1 and node.cpus and node.cpus < job.cpus:
        return f"the job needs {job.cpus} CPUs; the node has {node.cpus}"
    for requirement in job.software_requirements:
        if not satisfies(node, requirement):
            return f"the node lacks software {describe(requirement)}"
    if job.tag_requirements:
        tags = set(node.tags)
        for tag in job.tag_requirements:
            if bool(tag["negate"]) == (tag["tag"] in tags):
                has = "has" if tag["negate"] else "lacks"
                return f"the node {has} tag {tag['tag']}"
    return None


def describe(requirement: dict[str, Any]) -> str:
    low, high = requirement["min_version"], requirement["max_version"]
    text = str(requirement["software"])
    if low is not None and high is not None:
        return f"{text} {low}-{high}"
    if low is not None:
        return f"{text} >= {low}"
    if high is not None:
        return f"{text} <= {high}"
    return text
