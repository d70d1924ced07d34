"""Muster's REST job, both ways: the `RequestData.job` object a Muster 9 pipeline submits
becomes Corral job specs (the job, and its post job action as a job of its own), and a
Corral job becomes the Muster-keyed object the queue listing answers.

Muster's numbers whose meaning its documentation does not give are decided here, once
(docs/api.md, "Muster REST API", has the table): `dependMode` 0 success, 1 failure,
2 always (the order of MJob's kJobDepend* constants); `dependLinkMode` 0 the whole job,
1 frame by frame; `emergencyQueue` puts the job at the top priority. Fields Corral has no
use for (`packetType`, `chunksInterleave`, `chunksPriority`, `chunksTimeoutValue`,
`startOn`, `platform`, `shot`, `camera`, `assignedInstances`) and the attributes asking
for path substitution are kept in the job's `data["muster"]`, so nothing sent is lost.
"""

from __future__ import annotations

import ast
import shlex
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, field_validator

from dispatcher import limits
from dispatcher.errors import ValidationError
from dispatcher.model import ROOT_PARENT, DependMode, frame, frame_text, parse_frame_range

TOP_PRIORITY = 65535
POST_ACTION_TEMPLATE = "cmdline"
MAX_ENVIRONMENT_CHARS = 1_048_576
DEPEND_MODES = (DependMode.SUCCESS, DependMode.FAILURE, DependMode.ALWAYS)
PER_FRAME_LINK = 1
# jobType: MClientAPI's MJob.kJobTypeJob and kJobTypeFolder.
JOB_TYPE_JOB = 0
JOB_TYPE_FOLDER = 1

# Attributes with a meaning of their own; every enabled attribute is also kept in `data`.
FRAMES_RANGE = "frames_range"
ENVIRONMENT = "environmental_variables"
MEMO = ("memo", "job_notes")
POST_JOB_ACTION = "post_job_action"
FRAME_ATTRIBUTES = ("start_frame", "end_frame", "by_frame")

Scalar = str | int | float | bool | None
ShortText = Annotated[str, Field(max_length=255)]


class MusterAttribute(BaseModel):
    """One job attribute: its value, whether it is enabled (`state`) and whether it asks
    for path substitution (`subst`)."""

    model_config = ConfigDict(extra="forbid")

    value: Scalar = ""
    state: StrictBool = True
    subst: StrictBool = False


class MusterJob(BaseModel):
    """A job as Muster's REST API submits it (RequestData.job)."""

    model_config = ConfigDict(extra="forbid")

    jobName: Annotated[str, Field(min_length=1, max_length=255)]
    # Required for a job, not for a folder (checked by the submit action).
    templateId: Annotated[str, Field(max_length=64)] = ""
    jobType: int = Field(JOB_TYPE_JOB, ge=JOB_TYPE_JOB, le=JOB_TYPE_FOLDER)
    jobId: int = -1
    parentId: int = ROOT_PARENT
    priority: int | None = Field(None, ge=0, le=TOP_PRIORITY)
    packetSize: int = Field(1, ge=1, le=1_000_000)
    packetType: int = 0
    includedPools: list[ShortText] = Field(default_factory=list, max_length=256)
    excludedPools: list[ShortText] = Field(default_factory=list, max_length=256)
    dependIds: list[ShortText] = Field(default_factory=list, max_length=1000)
    dependMode: int = Field(0, ge=0, lt=len(DEPEND_MODES))
    dependLinkMode: int = Field(0, ge=0, le=PER_FRAME_LINK)
    maximumInstances: int = Field(0, ge=0, le=1_000_000)
    assignedInstances: int = 0
    emergencyQueue: StrictBool = False
    startOn: int = 0
    chunksInterleave: int = 0
    chunksPriority: ShortText = "0"
    chunksTimeoutValue: float = 0.0
    project: ShortText = ""
    department: ShortText = ""
    shot: ShortText = ""
    camera: ShortText = ""
    attributes: dict[Annotated[str, Field(min_length=1, max_length=255)], MusterAttribute] = Field(
        default_factory=dict, max_length=1000
    )

    @field_validator("templateId", "chunksPriority", mode="before")
    @classmethod
    def _number_as_text(cls, value: Any) -> Any:
        # Muster sends ids and such as numbers or text ("templateId": 101, "chunksPriority": "0").
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value

    @field_validator("includedPools", "excludedPools", "dependIds", mode="before")
    @classmethod
    def _comma_list(cls, value: Any) -> Any:
        # MClientAPI's setters take "a,b"; the REST clients send lists.
        return value.split(",") if isinstance(value, str) else value

    @field_validator("dependIds", mode="before")
    @classmethod
    def _ids_as_text(cls, value: Any) -> Any:
        # Job ids come as text ("12", and "" for none) or as numbers.
        if isinstance(value, list):
            return [str(item) if isinstance(item, int) and not isinstance(item, bool) else item
                    for item in value]  # fmt: skip
        return value


class RequestData(BaseModel):
    """What the queue actions read from a body: the job to submit, or the jobs to act on."""

    model_config = ConfigDict(extra="forbid")

    platform: int = 0
    job: MusterJob | None = None
    jobId: int | None = None
    jobIds: list[int] | None = Field(None, max_length=1000)


class ActionBody(BaseModel):
    """The body of /api/queue/actions: `{"RequestData": {...}}`."""

    model_config = ConfigDict(extra="forbid")

    RequestData: RequestData


# -- Muster -> Corral -------------------------------------------------------------------
def parse_environment(text: str) -> dict[str, str]:
    """`K='v', K2="v 2", K3=plain` (Python string literals, as pipelines write them with
    `{!r}`, or bare text up to the next comma) as a dict; ValidationError otherwise."""
    field = f"attributes.{ENVIRONMENT}"
    if len(text) > MAX_ENVIRONMENT_CHARS:
        raise ValidationError(f"{field}: at most {MAX_ENVIRONMENT_CHARS} characters", field=field)
    out: dict[str, str] = {}
    position, size = 0, len(text)
    while True:
        while position < size and text[position] in " \t\r\n":
            position += 1
        if position >= size:
            return out
        equals = text.find("=", position)
        if equals < 0:
            raise ValidationError(f"{field}: {text[position:][:40]!r} has no '='", field=field)
        name = text[position:equals].strip()
        if not limits.ENV_NAME.fullmatch(name):
            raise ValidationError(f"{field}: {name[:40]!r} is not a variable name", field=field)
        position = equals + 1
        while position < size and text[position] in " \t":
            position += 1
        if position < size and text[position] in "'\"":
            end = _literal_end(text, position)
            if end is None:
                raise ValidationError(f"{field}: the value of {name} has no closing quote", field)
            try:
                value = ast.literal_eval(text[position:end])
            except (ValueError, SyntaxError):
                value = None
            if not isinstance(value, str):
                raise ValidationError(f"{field}: the value of {name} is not a string", field)
            position = end
        else:
            comma = text.find(",", position)
            end = size if comma < 0 else comma
            value = text[position:end].strip()
            position = end
        out[name] = value
        while position < size and text[position] in " \t\r\n":
            position += 1
        if position < size:
            if text[position] != ",":
                raise ValidationError(f"{field}: expected ',' after the value of {name}", field)
            position += 1


def _literal_end(text: str, start: int) -> int | None:
    """The index after the closing quote of the string literal opening at `start`."""
    quote, index = text[start], start + 1
    while index < len(text):
        char = text[index]
        if char == "\\":
            index += 2
            continue
        if char == quote:
            return index + 1
        index += 1
    return None


def _names(items: list[str]) -> list[str]:
    """The names given; Muster's clients send [""] for none."""
    return [item.strip() for item in items if item.strip()]


def _depend_ids(items: list[str]) -> list[int]:
    ids: list[int] = []
    for item in items:
        text = item.strip()
        if not text:
            continue  # Muster pipelines send [""] for no dependency
        if not text.isascii() or not text.isdecimal() or len(text) > 18 or int(text) < 1:
            raise ValidationError(f"dependIds: {text[:32]!r} is not a job id", field="dependIds")
        ids.append(int(text))
    return ids


def _text(name: str, value: Scalar) -> str:
    """An attribute's value as text (numbers as written: 1, 2.5); refused for true/false
    and null."""
    if isinstance(value, bool) or value is None:
        field = f"attributes.{name}.value"
        raise ValidationError(f"{field}: text is required", field=field)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _number(value: float) -> float | int:
    return int(value) if float(value).is_integer() else value


def _frames(enabled: dict[str, Scalar]) -> dict[str, Any]:
    """The spec's frame fields from frames_range ("1-100") or start/end/by_frame."""
    out: dict[str, Any] = {}
    if FRAMES_RANGE in enabled:
        field = f"attributes.{FRAMES_RANGE}.value"
        try:
            start, end = parse_frame_range(_text(FRAMES_RANGE, enabled[FRAMES_RANGE]))
        except ValueError as exc:
            raise ValidationError(f"{field}: {exc} (write it as 1-100)", field=field) from None
        if end < start:
            raise ValidationError(f"{field}: the end frame is before the start frame", field)
        out.update(start=frame_text(start), end=frame_text(end))
    for name, key in zip(FRAME_ATTRIBUTES, ("start", "end", "by"), strict=True):
        if name not in enabled or (key in out and name != "by_frame"):
            continue
        try:
            value: Decimal = frame(enabled[name])
        except ValueError as exc:
            field = f"attributes.{name}.value"
            raise ValidationError(f"{field}: {exc}", field=field) from None
        out[key] = frame_text(value)
    return out


def job_specs(job: MusterJob, template: dict[str, Any]) -> list[dict[str, Any]]:
    """The Corral job specs of a Muster job: the job itself, then its post job action's
    one-chunk command job (when it has one), which waits for the job to end however it
    ends. `template` is the template's view (id, key, default priority, mappings)."""
    if job.jobId != -1:
        raise ValidationError(
            "jobId: must be -1 (a new job); edit jobs with the REST v1 API", field="jobId"
        )
    if job.jobType == JOB_TYPE_FOLDER:
        return [folder_spec(job)]
    if "muster" in job.attributes:
        raise ValidationError(
            "attributes.muster: the name is reserved for Muster's own fields", "attributes.muster"
        )
    enabled = {name: item.value for name, item in job.attributes.items() if item.state}
    data: dict[str, Any] = dict(enabled)
    # A template item mapped to a job attribute (DEMOWIDTH -> width) fills that attribute.
    for item, attribute in (template.get("mappings") or {}).items():
        if item in enabled and attribute not in enabled:
            data[attribute] = enabled[item]
    data["muster"] = {
        "packetType": job.packetType,
        "chunksInterleave": job.chunksInterleave,
        "chunksPriority": job.chunksPriority,
        "chunksTimeoutValue": _number(job.chunksTimeoutValue),
        "startOn": job.startOn,
        "assignedInstances": job.assignedInstances,
        "shot": job.shot,
        "camera": job.camera,
        "subst": sorted(name for name, item in job.attributes.items() if item.state and item.subst),
    }
    environ = (
        parse_environment(_text(ENVIRONMENT, enabled[ENVIRONMENT]))
        if ENVIRONMENT in enabled
        else {}
    )
    notes = next((_text(name, enabled[name]) for name in MEMO if name in enabled), "")
    priority = job.priority if job.priority is not None else template.get("default_priority", 50)
    mode = DEPEND_MODES[job.dependMode]
    spec: dict[str, Any] = {
        "title": job.jobName,
        "template": template["key"],
        "parent": job.parentId,
        "priority": TOP_PRIORITY if job.emergencyQueue else priority,
        "batch": job.packetSize,
        "depends_on": [
            {"job": job_id, "mode": mode.value} for job_id in _depend_ids(job.dependIds)
        ],
        "per_frame": job.dependLinkMode == PER_FRAME_LINK,
        "environ": environ,
        "notes": notes,
        "project": job.project,
        "department": job.department,
        "data": data,
        **_frames(enabled),
    }
    # Left out when not set, so that the template's defaults apply (dispatcher/submission_items.py).
    if pools := _names(job.includedPools):
        spec["pools"] = pools
    if excluded := _names(job.excludedPools):
        spec["excluded_pools"] = excluded
    if job.maximumInstances:
        spec["max_nodes"] = job.maximumInstances
    specs = [spec]
    action = (
        _text(POST_JOB_ACTION, enabled[POST_JOB_ACTION]).strip()
        if POST_JOB_ACTION in enabled
        else ""
    )
    if action:
        specs.append(post_action_spec(spec, action))
    return specs


def folder_spec(job: MusterJob) -> dict[str, Any]:
    """The Corral spec of a Muster folder (jobType 1): its name, parent and text fields;
    a folder has no template, frames or attributes."""
    if job.attributes:
        raise ValidationError("attributes: a folder has none", field="attributes")
    spec: dict[str, Any] = {"title": job.jobName, "kind": "folder", "parent": job.parentId}
    if job.project:
        spec["project"] = job.project
    if job.department:
        spec["department"] = job.department
    return spec


def post_action_spec(spec: dict[str, Any], command_line: str) -> dict[str, Any]:
    """The post job action of the job `spec` (the first of its submit): one chunk of the
    command template, the command split like a shell would (never run by one), waiting
    for the job to end however it ends, with the job's pools, environment and folder."""
    field = f"attributes.{POST_JOB_ACTION}.value"
    try:
        command = shlex.split(command_line)
    except ValueError as exc:
        raise ValidationError(f"{field}: {exc}", field=field) from None
    title = f"{spec['title'][:200]} (post job action)"
    return {
        "title": title,
        "template": POST_ACTION_TEMPLATE,
        "command": command,
        "parent": spec["parent"],
        "priority": spec["priority"],
        "pools": spec.get("pools", []),
        "excluded_pools": spec.get("excluded_pools", []),
        "depends_on": [{"submitted": 0, "mode": DependMode.ALWAYS.value}],
        "environ": spec["environ"],
        "project": spec["project"],
        "department": spec["department"],
        "notes": f"post job action of {spec['title'][:200]}",
        "data": {"muster": {"postJobActionOf": spec["title"]}},
    }


# -- Corral -> Muster -------------------------------------------------------------------
def job_summary(view: dict[str, Any], template_ids: dict[str, int]) -> dict[str, Any]:
    """A job's REST view (dispatcher/views.py) with Muster's keys, for the queue listing."""
    data = view.get("data") or {}
    extras = data.get("muster") if isinstance(data.get("muster"), dict) else {}
    subst = set(extras.get("subst") or [])
    modes = {dep["mode"] for dep in view["depends_on"]}
    mode = DependMode(modes.pop()) if len(modes) == 1 else DependMode.SUCCESS
    chunks = view.get("chunks") or {}
    return {
        "jobId": view["id"],
        "jobName": view["title"],
        "jobType": view["kind"],
        "templateId": template_ids.get(view["template"], -1),
        "templateKey": view["template"],
        "owner": view["user"],
        "status": view["state"],
        "progress": round(100 * float(view.get("progress", 0.0)), 2),
        "priority": view["priority"],
        "paused": view["paused"],
        "packetSize": view["batch"],
        "includedPools": view["pools"],
        "excludedPools": view["excluded_pools"],
        "maximumInstances": view["max_nodes"],
        "parentId": view["parent"],
        "dependIds": [str(dep["job"]) for dep in view["depends_on"]],
        "dependMode": DEPEND_MODES.index(mode),
        "dependLinkMode": PER_FRAME_LINK if view["per_frame"] else 0,
        "project": view["project"],
        "department": view["department"],
        "framesRange": f"{view['start']}-{view['end']}",
        "byFrame": view["by"],
        "chunks": chunks,
        "submissionTime": view.get("time_submitted"),
        "startTime": view.get("time_started"),
        "endTime": view.get("time_finished"),
        "attributes": {
            name: {"value": value, "state": True, "subst": name in subst}
            for name, value in data.items()
            if name != "muster"
        },
    }


def chunk_summary(view: dict[str, Any]) -> dict[str, Any]:
    """A chunk's REST view (with its last attempt's fields) with Muster-style keys."""
    return {
        "chunkId": view["id"],
        "jobId": view["job_id"],
        "status": view["state"],
        "startFrame": view["start"],
        "endFrame": view["end"],
        "attempts": view["attempts"],
        "failures": view["failures"],
        "node": view.get("node"),
        "nodeId": view.get("node_id"),
        "progress": round(100 * float(view.get("progress") or 0.0), 2),
        "framesDone": view.get("frames_done", 0),
        "warnings": view.get("warnings", 0),
        "errors": view.get("errors", 0),
        "exitCode": view.get("exit_code"),
        "error": view.get("error") or "",
        "startTime": view.get("time_started"),
        "endTime": view.get("time_finished"),
    }


def node_summary(view: dict[str, Any]) -> dict[str, Any]:
    """A render node's MNode view (dispatcher/operations/nodes.py `api_view`) with
    Muster-style keys."""
    return {
        "nodeId": view["id"],
        "name": view["name"],
        "hostName": view["host_name"],
        "instance": view["instance"],
        "address": view["address"],
        "status": view["status"],
        "online": view["online"],
        "paused": view["paused"],
        "pools": view["pools"],
        "platform": view["platform"],
        "cpus": view.get("cpus"),
        "running": [
            {"jobId": ref["job"], "chunkId": ref["chunk"], "attempt": ref["attempt"]}
            for ref in view["running"]
        ],
        "lastSeen": view.get("last_seen"),
    }
