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
        "paused": False,
        "per_frame": False,
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


_DEPEND_MODES = (DependMode.SUCCESS, DependMode.FAILURE, DependMode.ALWAYS)


class MJob:
    """A job as hooks and templates see it; `MJob(job_dict)` or `MJob()` for a new one."""

    # Muster's constants (values are GUESS where no public source shows them).
    kJobDependSuccess = 0
    kJobDependFailure = 1
    kJobDependAlways = 2
    kJobTypeJob = 0
    kJobTypeFolder = 1
    kSkipNone = 0
    kSkipWarnings = 1
    kSkipErrors = 2
    kSkipAll = 3

    def __init__(self, data: Mapping[str, Any] | None = None) -> None:
        self._data: dict[str, Any] = _new_job() if data is None else copy.deepcopy(dict(data))
        self._depend_mode = DependMode.SUCCESS

    @classmethod
    def adopt(cls, data: dict[str, Any]) -> MJob:
        """An MJob over `data` itself, not a copy (for dicts fresh off the wire)."""
        job = cls.__new__(cls)
        job._data = data
        job._depend_mode = DependMode.SUCCESS
        return job

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
        if value.lstrip("-").isdecimal():
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
            depends.append({"job": job_id, "mode": modes.get(job_id, self._depend_mode.value)})
        self._data["depends_on"] = depends

    def getDepends(self) -> str:
        ids = (_dependency_id(entry) for entry in self._get("depends_on"))
        return ",".join(str(job_id) for job_id in ids if job_id is not None)

    def setDependMode(self, mode: int | str) -> None:
        """When the dependencies count as met: kJobDependSuccess (default), ...Failure, ...Always."""
        if isinstance(mode, str):
            chosen = DependMode(mode)
        elif 0 <= int(mode) < len(_DEPEND_MODES):
            chosen = _DEPEND_MODES[int(mode)]
        else:
            raise ValueError(f"unknown depend mode {mode!r}")
        self._depend_mode = chosen
        depends = []
        for entry in self._get("depends_on"):
            job_id = _dependency_id(entry)
            if job_id is not None:
                depends.append({"job": job_id, "mode": chosen.value})
        self._data["depends_on"] = depends

    def getDependMode(self) -> int:
        modes = {
            str(entry["mode"])
            for entry in self._get("depends_on")
            if isinstance(entry, Mapping) and "mode" in entry
        }
        mode = DependMode(modes.pop()) if len(modes) == 1 else self._depend_mode
        return _DEPEND_MODES.index(mode)

    def setJobType(self, kind: int) -> None:
        """kJobTypeJob or kJobTypeFolder."""
        if int(kind) not in (self.kJobTypeJob, self.kJobTypeFolder):
            raise ValueError(f"unknown job type {kind!r}")
        self._data["kind"] = "folder" if int(kind) == self.kJobTypeFolder else "job"

    def getJobType(self) -> int:
        return self.kJobTypeFolder if self._get("kind") == "folder" else self.kJobTypeJob

    def setPacketType(self, packet_type: int) -> None:
        """The template logic the job's packets follow (MTemplateAPI.kTemplateMultiframe, ...)."""
        self._attributes()["packet_type"] = int(packet_type)

    def getPacketType(self) -> int:
        return int(self._attributes().get("packet_type", 1))

    def setLogsErrorCheckType(self, check: int) -> None:
        """Which log findings fail a chunk: kSkipNone, kSkipWarnings, kSkipErrors, kSkipAll."""
        self._attributes()["logs_error_check"] = int(check)

    def getLogsErrorCheckType(self) -> int:
        return int(self._attributes().get("logs_error_check", self.kSkipNone))

    def setPaused(self, paused: bool | int) -> None:
        self._data["paused"] = bool(paused)

    def getPaused(self) -> bool:
        return bool(self._get("paused"))

    def setNotes(self, notes: str) -> None:
        self._data["notes"] = str(notes)

    def getNotes(self) -> str:
        return str(self._get("notes"))

    def setCommand(self, command: list[str] | str) -> None:
        """The command line the cmdline template runs (a Corral addition): a list, or a
        string split like a shell would (never run by one)."""
        import shlex

        args = shlex.split(command) if isinstance(command, str) else [str(arg) for arg in command]
        self._data["command"] = args

    def getCommand(self) -> list[str]:
        return [str(arg) for arg in self._get("command")]

    def setOwner(self, owner: str) -> None:
        """The job's owner; jobSubmit's owner argument sets it too."""
        self._data["user"] = str(owner)

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

    # Chunk status codes: the dispatcher's status bytes (Corral's values).
    kChunkQueued = 0
    kChunkRunning = 1
    kChunkDone = 2
    kChunkFailed = 3
    kChunkSkipped = 4
    _STATUS_NAMES = ("queued", "running", "done", "failed", "skipped")

    def __init__(
        self,
        job_id: int,
        chunk_id: int,
        start: Decimal | str | float,
        end: Decimal | str | float,
        attempt: int = 0,
        status: str = "queued",
        node_id: int | None = None,
        node_name: str = "",
        failures: int = 0,
    ) -> None:
        self.job_id = int(job_id)
        self.chunk_id = int(chunk_id)
        self.start: Decimal = frame(start)
        self.end: Decimal = frame(end)
        self.attempt = int(attempt)
        self.status = str(status)
        self.node_id = -1 if node_id is None else int(node_id)
        self.node_name = str(node_name or "")
        self.failures = int(failures)
        # Chunk attributes the render client sets (image slicing: "slice_index",
        # "slices_count"; the assembling chunk's index equals the count).
        self.attributes: dict[str, Any] = {}

    @classmethod
    def from_dict(cls, view: Mapping[str, Any]) -> MChunk:
        """An MChunk from the REST chunk form (id, job_id, state, start, end, attempts, ...)."""
        return cls(
            int(view["job_id"]), int(view["id"]), view["start"], view["end"],
            int(view.get("attempts", 0)), str(view.get("state", "queued")),
            view.get("node_id"), str(view.get("node") or ""), int(view.get("failures", 0)),
        )  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.chunk_id, "job_id": self.job_id, "state": self.status,
            "start": str(self.start), "end": str(self.end), "attempts": self.attempt,
            "node_id": None if self.node_id < 0 else self.node_id, "node": self.node_name or None,
            "failures": self.failures,
        }  # fmt: skip

    def getStatus(self) -> int:
        """One of the kChunk* constants."""
        try:
            return self._STATUS_NAMES.index(self.status)
        except ValueError:
            return self.kChunkQueued

    def getStatusName(self) -> str:
        return self.status

    def getNodeId(self) -> int:
        """The node of the latest attempt, -1 when it never ran."""
        return self.node_id

    def getNodeName(self) -> str:
        return self.node_name

    def getFailures(self) -> int:
        return self.failures

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

    def attributeGetString(self, key: str) -> str:
        """A chunk attribute as text ("" when the chunk has none by that name)."""
        value = self.attributes.get(key)
        return "" if value is None else str(value)

    def attributeGetInt(self, key: str) -> int:
        """A chunk attribute as an integer (0 when the chunk has none by that name)."""
        try:
            return int(self.attributes.get(key, 0))
        except (TypeError, ValueError):
            return 0

    def getSliceIndex(self) -> int:
        """Image slicing: this tile's index from 0 (the count for the assembling chunk);
        -1 when the job does not slice."""
        return int(self.attributes.get("slice_index", -1))

    def getSlicesCount(self) -> int:
        """Image slicing: how many tiles the frame is cut into (0 when it is not)."""
        return int(self.attributes.get("slices_count", 0))

    def isAssemblingChunk(self) -> bool:
        """Image slicing: True for the chunk that puts the tiles together."""
        count = self.getSlicesCount()
        return count > 0 and self.getSliceIndex() == count

    def __repr__(self) -> str:
        return (
            f"MChunk(job={self.job_id}, chunk={self.chunk_id}, "
            f"frames={frame_text(self.start)}-{frame_text(self.end)}, attempt={self.attempt})"
        )
