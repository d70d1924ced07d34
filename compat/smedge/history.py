"""Smedge's job history: each attempt of a job's work, as HistoryElement objects."""

import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Dict, List, Optional, Union

from ._link import call
from .params import STATUS

NameOrIDList = Union[str, uuid.UUID, List[Union[str, uuid.UUID]]]
RUNNING = STATUS["running"]
# How an attempt ended -> Smedge's status number (killed or lost work is queued again).
ENDINGS = {"done": STATUS["done"], "failed": STATUS["failed"], "killed": STATUS["queued"],
           "lost": STATUS["queued"]}  # fmt: skip


@dataclass(frozen=True)
class HistoryElement:
    """One event of a job's history: its work's name and ID, when, the status it reached,
    the engine that ran the work and a note (the error, if any)."""

    name: str
    work_id: uuid.UUID
    time: datetime
    status: int
    engine_id: Optional[uuid.UUID]
    note: str


JobHistoryType = List[HistoryElement]


def _when(seconds: Any) -> Optional[datetime]:
    if seconds is None:
        return None
    try:
        moment = datetime.fromtimestamp(float(seconds), tz=timezone.utc)
    except (TypeError, ValueError, OverflowError, OSError):
        return None
    return moment.astimezone().replace(tzinfo=None)


def _frames(task: Dict[str, Any]) -> str:
    start, end = task.get("start"), task.get("end")
    shown = [("%g" % float(value)) for value in (start, end) if value is not None]
    return shown[0] if len(set(shown)) == 1 else "-".join(shown)


def get_job_history(jobs: NameOrIDList) -> Dict[uuid.UUID, JobHistoryType]:
    """Each job's history, oldest first: a start and an end for every attempt of its work."""
    from .jobs import _existing, _job_ids

    engines = {
        node["id"]: uuid.UUID(node["uuid"])
        for node in call("GET", "/nodes/") or []
        if isinstance(node, dict) and node.get("uuid")
    }
    report = {}  # type: Dict[uuid.UUID, JobHistoryType]
    for job_id in _job_ids(jobs):
        view = _existing(job_id)
        job_uuid = uuid.UUID(str(view["uuid"]))
        elements = []  # type: JobHistoryType
        for task in call("GET", "/jobs/%s/tasks/" % job_id) or []:
            if not isinstance(task, dict) or not task.get("attempts"):
                continue
            detail = call("GET", "/jobs/%s/tasks/%s" % (job_id, task["id"]))
            name = "%s frames %s" % (view.get("title", ""), _frames(task))
            for run in (detail or {}).get("runs") or []:
                work = uuid.uuid5(job_uuid, "%s:%s" % (task.get("chunk"), run.get("attempt")))
                engine = engines.get(run.get("node_id"))
                started = _when(run.get("started"))
                if started is not None:
                    elements.append(HistoryElement(name, work, started, RUNNING, engine, ""))
                finished = _when(run.get("finished"))
                state = str(run.get("state") or "")
                if finished is not None and state in ENDINGS:
                    note = str(run.get("error") or state)
                    elements.append(
                        HistoryElement(name, work, finished, ENDINGS[state], engine, note)
                    )
        report[job_uuid] = sorted(elements, key=lambda element: element.time)
    return report
