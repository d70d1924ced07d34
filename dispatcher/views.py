"""The JSON shapes of jobs, chunks and nodes, shared by REST and the wire protocol."""

from __future__ import annotations

import datetime
import math
from typing import Any

from dispatcher.model import (
    CHUNK_DONE,
    CHUNK_FAILED,
    CHUNK_QUEUED,
    CHUNK_RUNNING,
    CHUNK_SKIPPED,
    CHUNK_STATUS,
    Job,
    Node,
)

_SECONDS: dict[int, str] = {}  # whole second -> its ISO text without the offset


def iso(timestamp: float | None) -> str | None:
    """`datetime.fromtimestamp(timestamp, UTC).isoformat()`, the same text, several times
    faster: the date and time of each whole second are formatted once (a chunk page
    formats two per chunk)."""
    if timestamp is None:
        return None
    fraction, whole = math.modf(timestamp)
    seconds, micros = int(whole), round(fraction * 1e6)  # as datetime rounds: half to even
    if micros >= 1_000_000:
        seconds, micros = seconds + 1, micros - 1_000_000
    elif micros < 0:
        seconds, micros = seconds - 1, micros + 1_000_000
    text = _SECONDS.get(seconds)
    if text is None:
        if len(_SECONDS) >= 65_536:
            _SECONDS.clear()
        text = datetime.datetime.fromtimestamp(seconds, datetime.UTC).isoformat()[:-6]
        _SECONDS[seconds] = text
    return f"{text}.{micros:06d}+00:00" if micros else f"{text}+00:00"


def _number(value: Any) -> float | int:
    as_float = float(value)
    return int(as_float) if as_float.is_integer() else as_float


def job_fields(job: Job) -> dict[str, Any]:
    """What a template sees of a job (the Assign message carries this)."""
    return {
        "id": job.id,
        "title": job.title,
        "user": job.user,
        "kind": job.kind.value,
        "parent": job.parent,
        "template": job.template,
        "priority": job.priority,
        "paused": job.paused,
        "start": _number(job.start),
        "end": _number(job.end),
        "by": _number(job.by),
        "batch": job.batch,
        "pools": job.pools,
        "excluded_pools": job.excluded_pools,
        "max_nodes": job.max_nodes,
        "depends_on": [{"job": dep.job_id, "mode": dep.mode.value} for dep in job.depends_on],
        "per_frame": job.per_frame,
        "requeue": job.requeue,
        "time_limit_s": job.time_limit_s,
        "memory_mb": job.memory_mb,
        "environ": job.environ,
        "notes": job.notes,
        "data": job.data,
        "command": job.command,
        "project": job.project,
        "department": job.department,
    }


def job_view(job: Job) -> dict[str, Any]:
    """The REST form of a job: its fields plus state, progress and times."""
    counts = job.counts
    view = job_fields(job)
    view.update(
        state=job.state.value,
        time_submitted=iso(job.time_submitted),
        time_started=iso(job.time_started),
        time_finished=iso(job.time_finished),
        chunks={
            "total": job.chunk_count,
            "queued": counts[CHUNK_QUEUED],
            "running": counts[CHUNK_RUNNING],
            "done": counts[CHUNK_DONE],
            "failed": counts[CHUNK_FAILED],
            "skipped": counts[CHUNK_SKIPPED],
        },
        progress=round(job.progress, 4),
        failed_reason=job.failed_reason,
        uuid=job.uuid,
    )
    return view


def chunk_view(job: Job, index: int, node_names: dict[int, str]) -> dict[str, Any]:
    first, last = job.chunk_frames(index)
    node_id = job.chunk_nodes[index]
    return {
        "id": index,
        "job_id": job.id,
        "state": CHUNK_STATUS[job.chunk_status[index]].value,
        "start": _number(first),
        "end": _number(last),
        "attempts": job.chunk_attempts[index],
        "failures": job.chunk_failures[index],
        "node_id": node_id if node_id >= 0 else None,
        "node": node_names.get(node_id),
    }


def node_view(node: Node, running: list[Any], connected: bool) -> dict[str, Any]:
    return {
        "id": node.id,
        "uuid": node.uuid,
        "name": node.label,
        "host_name": node.name,
        "instance": node.instance,
        "host": node.host,
        "online": connected and node.online,
        "paused": node.paused,
        "pools": node.pools,
        "notes": node.notes,
        "platform": node.platform,
        "address": node.address,
        "last_seen": iso(node.last_seen or None),
        "running": [
            {"job": ref.job, "chunk": ref.chunk, "attempt": ref.attempt} for ref in running
        ],
        "excluded_jobs": sorted(node.excluded_jobs),
    }
