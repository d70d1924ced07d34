"""The JSON shapes of jobs, chunks and nodes, shared by REST and the wire protocol."""

from __future__ import annotations

import datetime
import math
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from dispatcher.model import (
    CHUNK_DONE,
    CHUNK_SKIPPED,
    CHUNK_STATUS,
    DependMode,
    Job,
    JobKind,
    Node,
    Status,
)

# Frame numbers below this size, with six decimals, are exact in Decimal's 28 digits.
_EXACT_FRAMES = 10**15
_SECONDS: dict[int, str] = {}  # whole second -> its ISO text without the offset
_MIN_TIMESTAMP = -62_135_596_800.0  # 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z: the
_MAX_TIMESTAMP = 253_402_300_799.0  # first and last seconds a datetime can show


def iso(timestamp: float | None) -> str | None:
    """`datetime.fromtimestamp(timestamp, UTC).isoformat()`, the same text, several times
    faster: the date and time of each whole second are formatted once (a chunk page
    formats two per chunk). None for None, and for a time no datetime can show (a value
    stored before render clients' times were checked must not break a listing)."""
    if timestamp is None or not _MIN_TIMESTAMP <= timestamp <= _MAX_TIMESTAMP:
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


# The texts of the enums a job view shows, looked up rather than read through the enum's
# `value` descriptor (a listing's page reads them a hundred times).
KIND_TEXT: dict[JobKind, str] = {kind: kind.value for kind in JobKind}
MODE_TEXT: dict[DependMode, str] = {mode: mode.value for mode in DependMode}
STATUS_TEXT: dict[Status, str] = {status: status.value for status in Status}


def job_fields(job: Job) -> dict[str, Any]:
    """What a template sees of a job (the Assign message carries this)."""
    return {
        "id": job.id,
        "title": job.title,
        "user": job.user,
        "kind": KIND_TEXT[job.kind],
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
        "depends_on": [{"job": dep.job_id, "mode": MODE_TEXT[dep.mode]} for dep in job.depends_on],
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
        "logic": job.logic,
        "hosts": job.hosts,
        "slices": job.slices,
        "subst": job.subst,
    }


def chunk_counts(job: Job) -> dict[str, int]:
    """How many of a job's chunks are in each state, and the total."""
    queued, running, done, failed, skipped = job.counts
    return {
        "total": len(job.chunk_status),
        "queued": queued,
        "running": running,
        "done": done,
        "failed": failed,
        "skipped": skipped,
    }


def job_progress(job: Job) -> float:
    """`round(job.progress, 4)`: the share of chunks done or skipped, from the counters."""
    total = len(job.chunk_status)
    if not total:
        return 1.0
    counts = job.counts
    return round((counts[CHUNK_DONE] + counts[CHUNK_SKIPPED]) / total, 4)


def job_view(job: Job) -> dict[str, Any]:
    """The REST form of a job: its fields plus state, progress and times (built in one
    step: a listing's page builds a hundred)."""
    return {
        **job_fields(job),
        "state": STATUS_TEXT[job.state],
        "time_submitted": iso(job.time_submitted),
        "time_started": iso(job.time_started),
        "time_finished": iso(job.time_finished),
        "chunks": chunk_counts(job),
        "progress": job_progress(job),
        "failed_reason": job.failed_reason,
        "uuid": job.uuid,
    }


_STATE_NAMES = {code: status.value for code, status in CHUNK_STATUS.items()}


def chunk_views(
    job: Job, indexes: Iterable[int], node_names: dict[int, str]
) -> list[dict[str, Any]]:
    """The views of some of a job's chunks (indexes past its last chunk are left out): the
    same as `chunk_view` for each, several times faster for a listing's page. Frame ranges
    of whole numbers (the usual case) are computed with integers, others with Decimal."""
    if job.whole_range or job.start != int(job.start) or job.by != int(job.by):
        return [chunk_view(job, index, node_names) for index in indexes if index < job.chunk_count]
    start, by, batch = int(job.start), int(job.by), job.batch
    last_chunk, last_frame = len(job.chunk_status) - 1, job.frames - 1
    status, attempts, failures, nodes = (
        job.chunk_status, job.chunk_attempts, job.chunk_failures, job.chunk_nodes
    )  # fmt: skip
    views = []
    for index in indexes:
        if index >= job.chunk_count:
            continue
        first = index * batch
        last = first + batch - 1
        if index >= last_chunk:
            last = min(last, last_frame)
        node_id = nodes[index]
        views.append({
            "id": index, "job_id": job.id, "state": _STATE_NAMES[status[index]],
            "start": start + first * by, "end": start + last * by, "attempts": attempts[index],
            "failures": failures[index], "node_id": node_id if node_id >= 0 else None,
            "node": node_names.get(node_id),
        })  # fmt: skip
    return views


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


def outcome_fields(
    state: str, run: Sequence[Any] | None, live: tuple[float, int] | None
) -> dict[str, Any]:
    """A chunk's outcome for its view: `progress` (percent: 100 once done or skipped, what
    the render client last reported while it runs, else 0), `frames_done`, and the
    `warnings` and `errors` of its latest attempt. `run` is the latest attempt's row
    (store.runs), `live` the running attempt's (percent, frames done)."""
    recorded = run is not None and len(run) >= 12
    frames_done = int(run[9]) if recorded and run is not None else 0
    if state in ("done", "skipped"):
        progress = 100.0
    elif state == "running" and live is not None:
        progress, frames_done = round(live[0], 2), live[1]
    else:
        progress = 0.0
    return {
        "progress": progress,
        "frames_done": frames_done,
        "warnings": int(run[10]) if recorded and run is not None else 0,
        "errors": int(run[11]) if recorded and run is not None else 0,
    }


def run_view(run: Sequence[Any]) -> dict[str, Any]:
    """One attempt of a chunk (a store.runs row) as the chunk views list it."""
    view = {
        "attempt": run[2], "node_id": run[3], "state": run[4], "started": run[5],
        "finished": run[6], "exit_code": run[7], "error": run[8],
    }  # fmt: skip
    if len(run) >= 12:
        view.update(frames_done=run[9], warnings=run[10], errors=run[11])
    return view


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
        "software": [{"software": name, "version": version} for name, version in node.software],
        "tags": node.tags,
        "cpus": node.cpus,
    }


def frame_texts(job: Job) -> Callable[[int], tuple[str, str]]:
    """index -> a chunk's first and last frame as an Assign spells them (`str` of each of
    `job.chunk_frames(index)`), for the job's frames as they are now.

    Frames with at most six decimal places (nearly every job: a submitted range keeps
    four) come by integer arithmetic on the frames scaled to whole numbers: the same
    text in about half the time of Decimal's.
    """
    start, end, by = job.start, job.end, job.by
    places = -1  # (no fast path)
    if start.is_finite() and end.is_finite() and by.is_finite():
        places = -min(int(start.as_tuple().exponent), int(by.as_tuple().exponent))
    simple = (
        0 <= places <= 6
        and by > 0
        and max(abs(start), abs(end), by) < _EXACT_FRAMES
        and not (start == 0 and start.is_signed())  # (-0 + -0 stays -0 in Decimal)
    )
    if job.whole_range or not simple:

        def decimal_texts(index: int) -> tuple[str, str]:
            first, last = job.chunk_frames(index)
            return str(first), str(last)

        return decimal_texts
    scale = 10**places
    first_frame, step, batch = int(start * scale), int(by * scale), job.batch
    last_index, last_offset = job.chunk_count - 1, job.frames - 1
    if first_frame % scale == 0 and step % scale == 0:  # whole frames: zeros after the point
        first_frame, step = first_frame // scale, step // scale
        zeros = "." + "0" * places if places else ""

        def text(value: int) -> str:
            return f"{value}{zeros}"

    else:
        pattern = f"%d.%0{places}d"

        def text(value: int) -> str:  # (`value` counts 1 / scale steps)
            if value < 0:
                return "-" + pattern % divmod(-value, scale)
            return pattern % divmod(value, scale)

    def texts(index: int) -> tuple[str, str]:
        first = index * batch
        if batch == 1:  # (one frame: one text)
            frame = text(first_frame + first * step)
            return frame, frame
        last = first + batch - 1
        if index >= last_index:  # only the last chunk may be short
            last = min(last, last_offset)
        return text(first_frame + first * step), text(first_frame + last * step)

    return texts
