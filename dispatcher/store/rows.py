"""Conversion between the model's objects and the store's rows."""

from __future__ import annotations

from array import array
from decimal import Decimal
from typing import Any

import msgspec

from dispatcher.model import Dependency, DependMode, Job, JobKind, Node, legacy_uuid, parse_uuid

_json = msgspec.json.Encoder(decimal_format="string")

_SPEC_FIELDS = (
    "title", "user", "parent", "template", "priority", "paused", "batch", "pools",
    "excluded_pools", "max_nodes", "per_frame", "requeue", "time_limit_s", "memory_mb",
    "environ", "notes", "data", "command", "project", "department", "time_submitted", "time_started",
    "time_finished", "seq", "failed_reason", "uuid",
    "jobtype", "jobtype_version", "software_requirements", "tag_requirements", "ram_warning",
    "ram_max", "cpus", "hidden", "tags", "project_id", "notified_users", "task_ids", "idempotency",
    "logic", "hosts", "slices", "subst",
)  # fmt: skip


# Everything a job row holds: what a refused change's job gets back from the store.
STORED_FIELDS = (
    *_SPEC_FIELDS, "kind", "start", "end", "by", "depends_on",
    "chunk_status", "chunk_attempts", "chunk_nodes", "chunk_failures",
)  # fmt: skip
# What a node row holds besides its id, name and instance.
NODE_FIELDS = (
    "host", "pools", "paused", "notes", "platform", "excluded_jobs", "excluded_templates",
    "process_priority", "realtime_log", "software", "tags", "cpus",
)  # fmt: skip


def job_spec(job: Job) -> bytes:
    """The job's fields (not its chunk arrays) as JSON."""
    spec: dict[str, Any] = {name: getattr(job, name) for name in _SPEC_FIELDS}
    spec["kind"] = job.kind.value
    spec["start"], spec["end"], spec["by"] = str(job.start), str(job.end), str(job.by)
    spec["depends_on"] = [[dep.job_id, dep.mode.value] for dep in job.depends_on]
    return _json.encode(spec)


def job_chunks(job: Job) -> tuple[bytes, bytes, bytes, bytes]:
    """Copies of the chunk arrays, safe to hand to the store's thread."""
    return (
        bytes(job.chunk_status),
        job.chunk_attempts.tobytes(),
        job.chunk_nodes.tobytes(),
        bytes(job.chunk_failures),
    )


def job_from_row(row: tuple[Any, ...]) -> Job:
    job_id, spec_text, status, attempts, nodes, failures = row
    spec = msgspec.json.decode(spec_text)
    job = Job(id=job_id, title=spec.pop("title"))
    for name in _SPEC_FIELDS[1:]:
        if name in spec:
            setattr(job, name, spec[name])
    job.kind = JobKind(spec["kind"])
    job.start, job.end, job.by = Decimal(spec["start"]), Decimal(spec["end"]), Decimal(spec["by"])
    job.depends_on = [Dependency(int(dep), DependMode(mode)) for dep, mode in spec["depends_on"]]
    job.chunk_status = bytearray(status)
    job.chunk_attempts = array("I")
    job.chunk_attempts.frombytes(attempts)
    job.chunk_nodes = array("i")
    job.chunk_nodes.frombytes(nodes)
    job.chunk_failures = bytearray(failures)
    job.uuid = parse_uuid(spec.get("uuid")) or legacy_uuid("job", job.id, job.time_submitted)
    job.recount()
    return job


def with_job_uuid(job_id: int, spec_text: str | bytes) -> str | bytes | None:
    """A stored spec without a UUID with the one `job_from_row` gives it added (same
    type as given); None when the spec has its own (store migration 0005)."""
    spec = msgspec.json.decode(spec_text)
    if isinstance(spec.get("uuid"), str):
        return None
    spec["uuid"] = legacy_uuid("job", job_id, spec.get("time_submitted"))
    encoded = _json.encode(spec)
    return encoded if isinstance(spec_text, bytes) else encoded.decode("utf-8")


def node_row(node: Node) -> tuple[int, str, int, bytes]:
    info = {
        "host": node.host,
        "pools": node.pools,
        "paused": node.paused,
        "notes": node.notes,
        "platform": node.platform,
        "excluded_jobs": sorted(node.excluded_jobs),
        "excluded_templates": sorted(node.excluded_templates),
        "process_priority": node.process_priority,
        "realtime_log": node.realtime_log,
        "uuid": node.uuid,
        "key": node.key,
        "software": [list(item) for item in node.software],
        "tags": node.tags,
        "cpus": node.cpus,
    }
    return node.id, node.name, node.instance, _json.encode(info)


def node_from_row(row: tuple[Any, ...]) -> Node:
    node_id, name, instance, info_text = row
    info = msgspec.json.decode(info_text)
    node = Node(id=node_id, name=name, instance=instance)
    node.host = info.get("host", "")
    node.pools = list(info.get("pools", []))
    node.paused = bool(info.get("paused", False))
    node.notes = info.get("notes", "")
    node.platform = info.get("platform", "")
    node.excluded_jobs = set(info.get("excluded_jobs", []))
    node.excluded_templates = set(info.get("excluded_templates", []))
    node.process_priority = info.get("process_priority")
    node.realtime_log = bool(info.get("realtime_log", True))
    node.uuid = info.get("uuid") or legacy_uuid("node", node.id, name, instance)
    node.key = str(info.get("key", ""))
    node.software = [(str(name), str(version)) for name, version in info.get("software", [])]
    node.tags = [str(tag) for tag in info.get("tags", [])]
    node.cpus = int(info.get("cpus", 0))
    return node
