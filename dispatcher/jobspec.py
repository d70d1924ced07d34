"""Validation of what a submitter sends: a job spec becomes a Job, or a ValidationError
naming the field. Used by REST, the CLI's file submits and the hook API alike."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Annotated, Any, Literal

import pydantic
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SerializerFunctionWrapHandler,
    field_validator,
    model_serializer,
    model_validator,
)

from dispatcher import limits, logic, notified
from dispatcher.errors import ValidationError
from dispatcher.model import (
    MAX_CHUNKS_PER_JOB,
    ROOT_PARENT,
    Dependency,
    DependMode,
    Job,
    JobKind,
    frame,
    frame_count,
    parse_frame_range,
    parse_uuid,
)

Name = Annotated[str, Field(min_length=1, max_length=255)]
ShortText = Annotated[str, Field(max_length=255)]


class DependencySpec(BaseModel):
    """A job to wait for: an existing job's id (`job`), or `submitted`, the position of
    an earlier job of the same submit (whose id nobody knows before it is queued)."""

    model_config = ConfigDict(extra="forbid")
    job: int | None = Field(None, ge=1)
    submitted: int | None = Field(None, ge=0)
    mode: DependMode = DependMode.SUCCESS

    @model_validator(mode="after")
    def _one_target(self) -> DependencySpec:
        if (self.job is None) == (self.submitted is None):
            raise ValueError("job: give either job (an id) or submitted (a position), not both")
        return self

    @model_serializer(mode="wrap")
    def _dump(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # Only the target given, so hooks and views see {"job": 12, "mode": ...} as before.
        data: dict[str, Any] = handler(self)
        for name in ("job", "submitted"):
            if data.get(name) is None:
                data.pop(name, None)
        return data


Version = Annotated[str, Field(min_length=1, max_length=64)]


class SoftwareRequirementSpec(BaseModel):
    """PyFarm's software requirement: a software, optionally within min..max versions."""

    model_config = ConfigDict(extra="forbid")
    software: Name
    min_version: Version | None = None
    max_version: Version | None = None
    # A job's answer shows these ids; a client may send a requirement back as it got it.
    # They are looked up again from the names, never taken from here.
    software_id: int | None = None
    min_version_id: int | None = None
    max_version_id: int | None = None


class TagRequirementSpec(BaseModel):
    """PyFarm's tag requirement: the node must have the tag (must not, with `negate`)."""

    model_config = ConfigDict(extra="forbid")
    tag: Name
    negate: bool = False


class JobSpec(BaseModel):
    """A submission. Unknown fields are refused so that typos do not pass silently."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)

    title: Name
    kind: JobKind = JobKind.JOB
    parent: int = ROOT_PARENT
    template: Annotated[str, Field(min_length=1, max_length=64)] = "cmdline"
    command: list[Annotated[str, Field(max_length=65536)]] = Field(
        default_factory=list, max_length=4096
    )
    frames: str | None = None
    start: Decimal | None = None
    end: Decimal | None = None
    by: Decimal = Decimal(1)
    batch: int = Field(1, ge=1, le=1_000_000)
    priority: int = Field(50, ge=0, le=65535)
    pools: list[ShortText] = Field(default_factory=list, max_length=256)
    excluded_pools: list[ShortText] = Field(default_factory=list, max_length=256)
    max_nodes: int = Field(0, ge=0, le=1_000_000)
    depends_on: list[DependencySpec | int] = Field(default_factory=list, max_length=1000)
    per_frame: bool = False
    requeue: int = Field(3, ge=0, le=1000)
    time_limit_s: float = Field(0.0, ge=0.0, le=30 * 86400)
    memory_mb: int = Field(0, ge=0, le=64 * 1024 * 1024)
    environ: dict[ShortText, Annotated[str, Field(max_length=65536)]] = Field(default_factory=dict)
    notes: Annotated[str, Field(max_length=65536)] = ""
    data: dict[ShortText, Any] = Field(default_factory=dict)
    paused: bool = False
    project: ShortText = ""
    department: ShortText = ""
    user: ShortText | None = None
    # PyFarm's fields (docs/api.md, "Jobs (PyFarm API)").
    jobtype: Annotated[str, Field(min_length=1, max_length=255)] | None = None
    jobtype_version: int = Field(1, ge=1, le=1_000_000)
    software_requirements: list[SoftwareRequirementSpec] = Field(
        default_factory=list, max_length=64
    )
    tag_requirements: list[TagRequirementSpec] = Field(default_factory=list, max_length=64)
    ram: int | None = Field(None, ge=0, le=64 * 1024 * 1024)
    ram_warning: int | None = Field(None, ge=0, le=64 * 1024 * 1024)
    ram_max: int | None = Field(None, ge=0, le=64 * 1024 * 1024)
    cpus: int = Field(1, ge=1, le=65536)
    hidden: bool = False
    tags: list[ShortText] = Field(default_factory=list, max_length=256)
    project_id: int | None = Field(None, ge=0, le=2**63 - 1)
    parents: list[Annotated[int, Field(ge=1)]] = Field(default_factory=list, max_length=1000)
    children: list[Annotated[int, Field(ge=1)]] = Field(default_factory=list, max_length=1000)
    notified_users: list[Any] = Field(default_factory=list, max_length=1000)
    jobqueue: ShortText | None = None
    # Template logic (dispatcher/logic.py; None: the template's) and path translation.
    logic: Literal["multiframe", "image_slicing", "broadcast", "target_host"] | None = None
    hosts: list[ShortText] = Field(default_factory=list, max_length=10_000)
    slices: int = Field(0, ge=0, le=10_000)
    subst: list[ShortText] = Field(default_factory=list, max_length=256)
    uuid: str | None = Field(
        None, description="the job's stable UUID (Smedge's job id); absent: a new one"
    )
    # The software requirements resolved against the registry (ids), set by the operation.
    _software: list[dict[str, Any]] | None = PrivateAttr(default=None)
    # The fields the submitter sent (validators set some others): template defaults
    # fill only the rest (dispatcher/submission_items.py).
    _given: frozenset[str] = PrivateAttr(default=frozenset())

    @model_validator(mode="before")
    @classmethod
    def _storable(cls, payload: Any) -> Any:
        # Every string anywhere in the spec, keys included, before any field rule:
        # NUL would be cut short at run time and a lone surrogate cannot be stored.
        if isinstance(payload, dict):
            for name, value in payload.items():
                found = limits.unstorable_text(value, str(name))
                if found is not None:
                    raise ValueError(f"{found[0]}: {found[1]}")
        return payload

    @field_validator("title", "project", "department", "user", "template")
    @classmethod
    def _one_line(cls, value: str | None) -> str | None:
        if value is not None and (reason := limits.name_error(value)) is not None:
            raise ValueError(reason)
        return value

    @field_validator("notified_users")
    @classmethod
    def _notified_users(cls, value: list[Any]) -> list[Any]:
        """PyFarm's notified users: entries as POST .../notified_users/ takes them, or a
        user name alone (notified on success and failure); kept numbered, one per user.
        Whether each user exists is the operation's check."""
        wanted = [{"username": item} if isinstance(item, str) else item for item in value]
        try:
            return notified.to_stored(wanted, field="")
        except ValidationError as exc:
            raise ValueError(str(exc).removeprefix(".")) from None

    @field_validator("pools", "excluded_pools")
    @classmethod
    def _pool_names(cls, value: list[str]) -> list[str]:
        for name in value:
            if (reason := limits.name_error(name)) is not None:
                raise ValueError(f"{name!a} {reason}")
        return value

    @field_validator("uuid", mode="before")
    @classmethod
    def _uuid(cls, value: Any) -> Any:
        if value is None:
            return None
        canonical = parse_uuid(value)
        if canonical is None:
            raise ValueError("not a UUID (32 hex digits as 8-4-4-4-12, not all zero)")
        return canonical

    @field_validator("environ")
    @classmethod
    def _environ_names(cls, value: dict[str, str]) -> dict[str, str]:
        for name in value:
            if not limits.ENV_NAME.fullmatch(name):
                raise ValueError(
                    f"{name!a} is not a variable name (letters, digits and _, not first a digit)"
                )
        return value

    @field_validator("environ", mode="before")
    @classmethod
    def _no_environ(cls, value: Any) -> Any:
        return {} if value is None else value  # PyFarm's unset environ is null

    @field_validator("tags")
    @classmethod
    def _tag_names(cls, value: list[str]) -> list[str]:
        for name in value:
            if (reason := limits.name_error(name)) is not None:
                raise ValueError(f"{name!a} {reason}")
        return value

    @model_validator(mode="after")
    def _pyfarm(self) -> JobSpec:
        # PyFarm's names for fields Corral has: each agrees with Corral's when both are given.
        if self.ram is not None:
            if "memory_mb" in self.model_fields_set and self.memory_mb != self.ram:
                raise ValueError("ram: differs from memory_mb; give one of them")
            self.memory_mb = self.ram
        if self.jobqueue is not None:
            if self.pools and self.pools != [self.jobqueue]:
                raise ValueError("jobqueue: differs from pools; give one of them")
            self.pools = [self.jobqueue]
        warning, most = self.ram_warning, self.ram_max
        if warning is not None and most is not None and warning > most:
            raise ValueError("ram_warning: above ram_max")
        known = {item if isinstance(item, int) else item.job for item in self.depends_on}
        self.depends_on += [parent for parent in dict.fromkeys(self.parents) if parent not in known]
        return self

    @field_validator("start", "end", "by", mode="before")
    @classmethod
    def _frame(cls, value: Any) -> Any:
        return None if value is None else frame(value)

    @field_validator("template", mode="before")
    @classmethod
    def _template(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value

    @field_validator("parent")
    @classmethod
    def _parent(cls, value: int) -> int:
        return ROOT_PARENT if value == 0 else value

    @model_validator(mode="after")
    def _frames(self) -> JobSpec:
        if self.frames is not None:
            if self.start is not None or self.end is not None:
                raise ValueError("frames: give either frames or start/end, not both")
            try:
                self.start, self.end = parse_frame_range(self.frames)
            except ValueError as exc:
                raise ValueError(f"frames: {exc}") from None
        if self.start is None:
            self.start = Decimal(1) if self.end is None else self.end
        if self.end is None:
            self.end = self.start
        if self.by <= 0:
            raise ValueError("by: must be positive")
        if self.end < self.start:
            raise ValueError("end: the end frame is before the start frame")
        return self

    def chunk_count(self) -> int:
        """How many chunks the job will have (a folder has none)."""
        if self.kind is not JobKind.JOB:
            return 0
        assert self.start is not None and self.end is not None
        frames = frame_count(self.start, self.end, self.by)
        return logic.chunk_count(self.logic, frames, self.batch, len(self.hosts), self.slices)

    def dependencies(self, earlier: Sequence[int] = ()) -> list[Dependency]:
        """The jobs to wait for; `earlier` are the ids given to the jobs before this one in
        the same submit, which `submitted` positions name (ValidationError past them)."""
        deps = []
        for item in self.depends_on:
            if isinstance(item, int):
                deps.append(Dependency(item))
            elif item.job is not None:
                deps.append(Dependency(item.job, item.mode))
            else:
                assert item.submitted is not None
                if item.submitted >= len(earlier):
                    raise ValidationError(
                        f"depends_on: submitted {item.submitted} is not an earlier job of this "
                        "submit (a job may wait only for those before it)",
                        field="depends_on",
                    )
                deps.append(Dependency(earlier[item.submitted], item.mode))
        return deps


def parse_spec(payload: Any) -> JobSpec:
    """Validate one job object; ValidationError names the first bad field."""
    if not isinstance(payload, dict):
        raise ValidationError("a job must be a JSON object", field=None)
    try:
        spec = JobSpec.model_validate(payload)
    except pydantic.ValidationError as exc:
        raise _wrap(exc) from None
    spec._given = frozenset(payload)
    # The model's own bound; the configurable limits (dispatcher/limits.py) are
    # checked where jobs are admitted.
    limits.check_chunks([spec.chunk_count()], limits.ChunkLimits(per_job=MAX_CHUNKS_PER_JOB), 0)
    return spec


def _wrap(exc: pydantic.ValidationError) -> ValidationError:
    first = exc.errors()[0]
    where = ".".join(str(part) for part in first["loc"]) or None
    message = first["msg"].removeprefix("Value error, ")
    if where is None and ": " in message:  # a whole-spec rule names its field first
        where, message = message.split(": ", 1)
    return ValidationError(f"{where}: {message}" if where else message, field=where)


# Templates whose command line is the job's own `command` (templates/cmdline.py):
# a job of theirs without one would fail on every node it is given to.
COMMAND_TEMPLATES = frozenset({"cmdline"})


def check_command(
    spec: JobSpec | Job, position: int | None = None, command: list[str] | None = None
) -> None:
    """Refuse a job whose template (its key, resolved) runs a command it does not give;
    `command` is an edit's new command for the job `spec`."""
    command = spec.command if command is None else command
    if spec.kind is JobKind.JOB and spec.template in COMMAND_TEMPLATES and not command:
        where = f"job #{position}: " if position is not None else ""
        raise ValidationError(
            f"{where}command: the {spec.template} template runs the job's command; give one",
            field="command",
        )


def build_job(spec: JobSpec, job_id: int, seq: int, user: str, earlier: Sequence[int] = ()) -> Job:
    """A new Job from a validated spec, with every chunk queued; `earlier` as in
    `JobSpec.dependencies`."""
    assert spec.start is not None and spec.end is not None
    job = Job(
        id=job_id,
        title=spec.title,
        user=spec.user or user,
        kind=spec.kind,
        parent=spec.parent,
        template=spec.template,
        priority=spec.priority,
        paused=spec.paused,
        start=spec.start,
        end=spec.end,
        by=spec.by,
        batch=spec.batch,
        pools=list(spec.pools),
        excluded_pools=list(spec.excluded_pools),
        max_nodes=spec.max_nodes,
        depends_on=spec.dependencies(earlier),
        per_frame=spec.per_frame,
        requeue=spec.requeue,
        time_limit_s=spec.time_limit_s,
        memory_mb=spec.memory_mb,
        environ=dict(spec.environ),
        notes=spec.notes,
        data=dict(spec.data),
        command=list(spec.command),
        project=spec.project,
        department=spec.department,
        seq=seq,
        jobtype=spec.jobtype,
        jobtype_version=spec.jobtype_version,
        software_requirements=software_requirements(spec),
        tag_requirements=[tag.model_dump() for tag in spec.tag_requirements],
        ram_warning=spec.ram_warning,
        ram_max=spec.ram_max,
        cpus=spec.cpus,
        hidden=spec.hidden,
        tags=list(spec.tags),
        project_id=spec.project_id,
        notified_users=list(spec.notified_users),
        logic=spec.logic or "multiframe",
        hosts=list(spec.hosts),
        slices=spec.slices,
        subst=list(spec.subst),
    )
    if spec.uuid is not None:
        job.uuid = spec.uuid
    job.init_chunks()
    return job


def software_requirements(spec: JobSpec) -> list[dict[str, Any]]:
    """The spec's software requirements as stored: resolved (with ids) when the operation
    resolved them, else as given with no ids."""
    if spec._software is not None:
        return spec._software
    return unresolved(spec.software_requirements)


def unresolved(items: list[SoftwareRequirementSpec]) -> list[dict[str, Any]]:
    return [
        {"software": item.software, "min_version": item.min_version,
         "max_version": item.max_version, "software_id": None, "min_version_id": None,
         "max_version_id": None}
        for item in items
    ]  # fmt: skip


EDITABLE = {
    "title", "priority", "pools", "excluded_pools", "max_nodes", "requeue", "time_limit_s",
    "memory_mb", "environ", "notes", "data", "paused", "project", "department", "parent", "command",
    "start", "end", "by", "jobtype_version", "software_requirements", "tag_requirements", "ram",
    "ram_warning", "ram_max", "cpus", "hidden", "tags", "project_id", "notified_users",
    "subst",
}  # fmt: skip
FRAME_RANGE = ("start", "end", "by")


def parse_edit(payload: Any) -> dict[str, Any]:
    """Validate a partial edit against the same rules as a submission."""
    if not isinstance(payload, dict) or not payload:
        raise ValidationError("an edit must be a non-empty JSON object")
    unknown = sorted(set(payload) - EDITABLE)
    if unknown:
        raise ValidationError(f"{unknown[0]}: cannot be edited", field=unknown[0])
    probe = {"title": "x", **payload}
    try:
        checked = JobSpec.model_validate(probe)
    except pydantic.ValidationError as exc:
        raise _wrap(exc) from None
    changes = {name: getattr(checked, name) for name in payload}
    # PyFarm's `ram` is memory_mb (the spec's rule refused one that differs from it).
    if "ram" in changes and changes.pop("ram") is not None:
        changes["memory_mb"] = checked.memory_mb
    if "software_requirements" in changes:
        changes["software_requirements"] = unresolved(changes["software_requirements"])
    if "tag_requirements" in changes:
        changes["tag_requirements"] = [tag.model_dump() for tag in changes["tag_requirements"]]
    return changes


def edit_model() -> type[BaseModel]:
    """The body of an edit as a model, for the API document: the editable fields of a
    submission, each optional (`parse_edit` checks an edit with the submission's rules)."""
    fields: dict[str, Any] = {}
    for name, info in JobSpec.model_fields.items():
        if name in EDITABLE:
            kind = (
                Annotated[(info.annotation, *info.metadata)] if info.metadata else info.annotation
            )
            fields[name] = (kind | None, pydantic.Field(None, description=info.description))
    return pydantic.create_model(
        "JobEdit",
        __config__=ConfigDict(extra="forbid"),
        __doc__="A job's fields to change.",
        **fields,
    )
