"""Muster's job-side API objects: MJob, MChunk and MStringRef.

An `MJob` wraps a job in its wire form, the dict the REST API and the render
client protocol carry (keys: id, title, user, template, priority, start, end,
by, batch, pools, excluded_pools, max_nodes, depends_on, requeue,
time_limit_s, environ, notes, data, command, project, department, parent,
kind, state). Its Muster-named getters and setters read and change that dict;
`to_dict()` gives it back. Template attributes (Muster's job_file,
output_folder, ...) live in `data`.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from dispatcher.model import ROOT_PARENT, DependMode, Status, frame, frame_text

__all__ = ["MChunk", "MJob", "MStringRef"]

# Muster keeps the frame range in float attributes; Corral keeps it in the job itself.
_FRAME_ATTRIBUTES = {"start_frame": "start", "end_frame": "end", "by_frame": "by"}


def _new_job() -> dict[str, Any]:
    """The wire form of a job not yet submitted (id -1, as Muster's REST API sends)."""
    return {
        "id": -1,
        "title": "",
        "user": "",
        "template": "cmdline",
        "priority": 50,
        "start": "1",
        "end": "1",
        "by": "1",
        "batch": 1,
        "pools": [],
        "excluded_pools": [],
        "max_nodes": 0,
        "depends_on": [],
        "requeue": 3,
        "time_limit_s": 0.0,
        "environ": {},
        "notes": "",
        "data": {},
        "command": [],
        "project": "",
        "department": "",
        "parent": ROOT_PARENT,
        "kind": "job",
        "state": Status.QUEUED.value,
    }


_DEFAULTS = _new_job()


def _split_list(text: str) -> list[str]:
    return [part.strip() for part in str(text).split(",") if part.strip()]


def _dependency_id(entry: object) -> int | None:
    """The job id of one `depends_on` entry: an int, {"job": n, "mode": m} or [n, mode]."""
    if isinstance(entry, Mapping):
        value = entry.get("job", entry.get("job_id"))
    elif isinstance(entry, list | tuple):
        value = entry[0] if entry else None
    else:
        value = entry
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


class MStringRef:
    """A string passed by reference: override hooks write their answer into it."""

    def __init__(self, value: str = "") -> None:
        self._value = str(value)

    def setString(self, value: str) -> None:
        self._value = str(value)

    def getString(self) -> str:
        return self._value

    def __str__(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return f"MStringRef({self._value!r})"


class MJob:
    """A job as hooks and templates see it; `MJob(job_dict)` or `MJob()` for a new one."""

    def __init__(self, data: Mapping[str, Any] | None = None) -> None:
        self._data: dict[str, Any] = _new_job() if data is None else copy.deepcopy(dict(data))

    def _get(self, key: str) -> Any:
        if key in self._data:
            return self._data[key]
        return copy.deepcopy(_DEFAULTS[key])

    def _attributes(self) -> dict[str, Any]:
        attributes = self._data.get("data")
        if not isinstance(attributes, dict):
            attributes = {}
            self._data["data"] = attributes
        return attributes

    def to_dict(self) -> dict[str, Any]:
        """A copy of the job's wire form, with every change made through the setters."""
        return copy.deepcopy(self._data)

    def __repr__(self) -> str:
        return f"MJob(id={self.getJobId()}, name={self.getName()!r})"

    # Identity and ownership.

    def getJobId(self) -> int:
        return int(self._get("id"))

    def getOwner(self) -> str:
        return str(self._get("user"))

    def getStatus(self) -> Status | str:
        """The job's status (a str enum: "queued", "running", "done", ...)."""
        state = self._get("state")
        try:
            return Status(state)
        except ValueError:
            return str(state)

    def setName(self, name: str) -> None:
        self._data["title"] = str(name)

    def getName(self) -> str:
        return str(self._get("title"))

    def setParentId(self, parent_id: int) -> None:
        # 0 means the top of the folder tree, as -1 does.
        parent = int(parent_id)
        self._data["parent"] = ROOT_PARENT if parent == 0 else parent

    def getParentId(self) -> int:
        return int(self._get("parent"))

    def setProject(self, project: str) -> None:
        self._data["project"] = str(project)

    def getProject(self) -> str:
        return str(self._get("project"))

    def setDepartment(self, department: str) -> None:
        self._data["department"] = str(department)

    def getDepartment(self) -> str:
        return str(self._get("department"))

    # Scheduling.

    def setPriority(self, priority: int) -> None:
        self._data["priority"] = int(priority)

    def getPriority(self) -> int:
        return int(self._get("priority"))

    def setTemplateID(self, template_id: int | str) -> None:
        """Name the job's template by id (Muster) or key (Corral); both resolve later."""
        self._data["template"] = str(template_id)

    def getTemplateID(self) -> int:
        """The template's integer id; -1 when the job names a template not installed here."""
        value = str(self._get("template"))
        if value.lstrip("-").isdigit():
            return int(value)
        from hooks.api.template import MManager  # the template module imports this one

        template = MManager.getUniqueClass().get_template(value)
        return template.getID() if template is not None else -1

    def setIncludedPools(self, pools: str) -> None:
        """Pools as a comma-separated string: "common,gpu"."""
        self._data["pools"] = _split_list(pools)

    def getIncludedPools(self) -> str:
        return ",".join(str(pool) for pool in self._get("pools"))

    def setExcludedPools(self, pools: str) -> None:
        self._data["excluded_pools"] = _split_list(pools)

    def getExcludedPools(self) -> str:
        return ",".join(str(pool) for pool in self._get("excluded_pools"))

    def setPacketSize(self, size: int) -> None:
        """Frames per chunk (Muster's packet)."""
        size = int(size)
        if size < 1:
            raise ValueError(f"packet size must be at least 1, not {size}")
        self._data["batch"] = size

    def getPacketSize(self) -> int:
        return int(self._get("batch"))

    def setMaximumNodes(self, count: int) -> None:
        """How many nodes may work on the job at once; 0 means no limit."""
        self._data["max_nodes"] = max(0, int(count))

    def getMaximumNodes(self) -> int:
        return int(self._get("max_nodes"))

    def setDepends(self, job_ids: str) -> None:
        """The jobs this one waits for, as a comma-separated string of ids: "12,13"."""
        modes: dict[int, str] = {}
        for entry in self._get("depends_on"):
            job_id = _dependency_id(entry)
            if job_id is not None and isinstance(entry, Mapping) and "mode" in entry:
                modes[job_id] = str(entry["mode"])
        depends: list[dict[str, Any]] = []
        for part in _split_list(job_ids):
            try:
                job_id = int(part)
            except ValueError as exc:
                raise ValueError(f"not a job id: {part!r}") from exc
            depends.append({"job": job_id, "mode": modes.get(job_id, DependMode.SUCCESS.value)})
        self._data["depends_on"] = depends

    def getDepends(self) -> str:
        ids = (_dependency_id(entry) for entry in self._get("depends_on"))
        return ",".join(str(job_id) for job_id in ids if job_id is not None)

    # Template attributes.

    def attributeSetString(self, key: str, value: str) -> None:
        self._set_attribute(key, str(value))

    def attributeGetString(self, key: str) -> str:
        value = self._attribute(key)
        return "" if value is None else str(value)

    def attributeSetFloat(self, key: str, value: float) -> None:
        self._set_attribute(key, float(value))

    def attributeGetFloat(self, key: str) -> float:
        try:
            return float(self._attribute(key))
        except (TypeError, ValueError):
            return 0.0

    def attributeSetInt(self, key: str, value: int) -> None:
        self._set_attribute(key, int(value))

    def attributeGetInt(self, key: str) -> int:
        try:
            return int(float(self._attribute(key)))
        except (TypeError, ValueError, OverflowError):
            return 0

    def _attribute(self, key: str) -> Any:
        if key in _FRAME_ATTRIBUTES:
            return self._get(_FRAME_ATTRIBUTES[key])
        return self._attributes().get(key)

    def _set_attribute(self, key: str, value: Any) -> None:
        if key in _FRAME_ATTRIBUTES:
            self._data[_FRAME_ATTRIBUTES[key]] = frame_text(frame(value))
        else:
            self._attributes()[key] = value


class MChunk:
    """One chunk of a job: frames `start`..`end` of attempt `attempt`."""

    def __init__(
        self,
        job_id: int,
        chunk_id: int,
        start: Decimal | str | float,
        end: Decimal | str | float,
        attempt: int = 0,
    ) -> None:
        self.job_id = int(job_id)
        self.chunk_id = int(chunk_id)
        self.start: Decimal = frame(start)
        self.end: Decimal = frame(end)
        self.attempt = int(attempt)

    def getJobId(self) -> int:
        return self.job_id

    def getChunkId(self) -> int:
        return self.chunk_id

    def getStartFrame(self) -> float:
        return float(self.start)

    def getEndFrame(self) -> float:
        return float(self.end)

    def getAttempt(self) -> int:
        return self.attempt

    def __repr__(self) -> str:
        return (
            f"MChunk(job={self.job_id}, chunk={self.chunk_id}, "
            f"frames={frame_text(self.start)}-{frame_text(self.end)}, attempt={self.attempt})"
        )
