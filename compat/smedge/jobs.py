"""Smedge's job calls over Corral's REST API: submit, query, update, pause, resume,
delete, preempt, usurp, reset failures and the dispatch log."""

import heapq
import json
import time
import uuid
from datetime import datetime
from typing import Any, Dict, List, Mapping, Optional, Sequence, Union

from corral_client import ClientError

from ._link import NameOrIDList, SmedgeComponentError, call, client
from .params import (
    EVENTS,
    PAUSED,
    QUEUED,
    Job,
    JobValueError,
    NotSupported,
    canonical_name,
    conform_job,
    from_view,
    parse_range,
    pythonize_job,
    to_spec,
    view_uuids,
    wait_ids,
)
from .products import Product, all_products, find_parameter, find_product, product_id
from .times import datetime_to_rtime

JobType = Dict[str, Any]
SUBMIT_TRIES = 3  # a submit whose answer was lost is sent again, with its Idempotency-Key


class JobTypeError(SmedgeComponentError, TypeError):
    """A value of the wrong type where a job ID belongs (a TypeError, as Smedge raises)."""


# -- ids ---------------------------------------------------------------------------
def _job_id(value: Any) -> str:
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, str):
        try:
            return str(uuid.UUID(value.strip()))
        except ValueError:
            pass
    raise JobTypeError("%r is not a job ID (a UUID or its text)" % (value,))


def _job_ids(jobs: Any) -> List[str]:
    items = list(jobs) if isinstance(jobs, (list, tuple, set)) else [jobs]
    if not items:
        raise JobValueError("no job IDs were given")
    return [_job_id(item) for item in items]


def ids_to_query(job_ids: NameOrIDList) -> list:
    """A query for the jobs with these IDs: ``["ID", "=", id]``, or ``["any", ...]`` of them.

    ValueError when the list is empty, TypeError when an element is no job UUID.
    """
    ids = _job_ids(job_ids)
    terms = [["ID", "=", job_id] for job_id in ids]
    return terms[0] if len(terms) == 1 else ["any", *terms]


def _view(job_id: str) -> Optional[Dict[str, Any]]:
    try:
        answer = call("GET", "/jobs/%s" % job_id)
    except SmedgeComponentError as exc:
        if exc.status == 404:
            return None
        raise
    return answer if isinstance(answer, dict) else None


def _existing(job_id: str) -> Dict[str, Any]:
    view = _view(job_id)
    if view is None:
        raise SmedgeComponentError("no job %s" % job_id, 404)
    return view


# -- submitting --------------------------------------------------------------------
def submit_jobs(jobs: Union[JobType, List[JobType]], paused: bool = False) -> List[uuid.UUID]:
    """Submit one job (a dict) or several (a list) in one request: all are queued or none.

    Returns each job's ID in the order given, generated where a job has no ``ID``.
    ``WaitForJobID`` may name jobs of the same list; ``WaitForWholeJob`` 0 waits frame by
    frame, 1 (the default) for the whole job. ``paused`` submits every job paused.
    ValueError (a JobValueError) for a bad job dict, ID or duplicate ID.
    """
    items = jobs if isinstance(jobs, list) else [jobs]
    if not items:
        raise JobValueError("no jobs to submit")
    products = all_products()
    raws = [conform_job(job, products) for job in items]
    for raw in raws:
        raw.setdefault("ID", str(uuid.uuid4()))
    ids = [raw["ID"] for raw in raws]
    if len(set(ids)) < len(ids):
        raise JobValueError("two jobs of the list have the same ID")
    pools = _Pools()
    specs = []
    for raw in raws:
        product = find_product(products, raw["Type"])
        assert product is not None  # conform_job found it
        specs.append(to_spec(raw, product, pools.name, paused))
    order = _order(raws, ids)
    index_of = {job_id: index for index, job_id in enumerate(ids)}
    position = {index: place for place, index in enumerate(order)}
    ordered = []
    for index in order:
        spec, raw = specs[index], raws[index]
        whole = raw.get("WaitForWholeJob", "1").strip() not in ("0", "false", "False")
        depends = []
        for wanted in wait_ids(raw):
            if wanted in index_of:
                depends.append({"submitted": position[index_of[wanted]]})
            else:
                depends.append({"job": int(_existing(wanted)["id"])})
        if depends:
            spec["depends_on"] = depends
            spec["per_frame"] = not whole
        ordered.append(spec)
    _post_once(ordered)
    return [uuid.UUID(job_id) for job_id in ids]


def _post_once(specs: List[Job]) -> None:
    """Send the jobs with an Idempotency-Key; when no answer comes, send them again with
    the key, and the dispatcher answers the jobs of the first try instead of queuing twice."""
    headers = {"Idempotency-Key": str(uuid.uuid4())}
    link = client()
    for attempt in range(SUBMIT_TRIES):
        try:
            link.request(
                "POST", "/api/v1/jobs/", specs, headers=headers, query={"unique_titles": "false"}
            )
            return
        except ClientError as exc:
            if exc.status != 0 or attempt + 1 == SUBMIT_TRIES:
                raise SmedgeComponentError(str(exc), exc.status) from None
        time.sleep(0.5 * (attempt + 1))


def _order(raws: Sequence[Job], ids: Sequence[str]) -> List[int]:
    """The jobs' indexes with each after the jobs of the list it waits for (else as given)."""
    index_of = {job_id: index for index, job_id in enumerate(ids)}
    waits = [[index_of[w] for w in wait_ids(raw) if w in index_of] for raw in raws]
    waiting_on = [len(set(earlier)) for earlier in waits]
    dependants = [[] for _ in raws]  # type: List[List[int]]
    for index, earlier in enumerate(waits):
        if index in earlier:
            raise JobValueError("job %s waits for itself" % ids[index])
        for other in set(earlier):
            dependants[other].append(index)
    ready = [index for index, count in enumerate(waiting_on) if count == 0]
    heapq.heapify(ready)
    order = []  # type: List[int]
    while ready:
        index = heapq.heappop(ready)
        order.append(index)
        for later in dependants[index]:
            waiting_on[later] -= 1
            if waiting_on[later] == 0:
                heapq.heappush(ready, later)
    if len(order) < len(raws):
        raise JobValueError("the jobs' WaitForJobID make a circle")
    return order


class _Pools:
    """Pool names and Pool objects, with the pool list read once."""

    def __init__(self) -> None:
        self._pools = None  # type: Optional[List[Any]]

    def _all(self) -> List[Any]:
        if self._pools is None:
            try:
                from .pools import get_pools
            except ImportError:
                self._pools = []
            else:
                self._pools = get_pools()
        return self._pools

    def name(self, value: Any) -> str:
        """The Corral name of the pool a job names (a Pool's ID, a UUID text or a name)."""
        text = str(value).strip()
        for pool in self._all():
            if pool == text or pool.name.lower() == text.lower():
                return str(pool.name)
        try:
            uuid.UUID(text)
        except ValueError:
            return text
        raise SmedgeComponentError("no pool %s" % text, 404)

    def pool(self, name: str) -> Any:
        """The Pool called ``name`` (the name itself when there is none)."""
        for pool in self._all():
            if pool.name == name:
                return pool
        return name


# -- reading -----------------------------------------------------------------------
def get_jobs(
    query: Optional[Union[str, uuid.UUID, list]] = None,
    get_all_parameters: bool = True,
) -> List[JobType]:
    """Jobs: every job (None), one job by ID (an empty list when it does not exist), or
    the jobs a query matches (evaluated by the dispatcher; see docs/compat.md).

    ``get_all_parameters`` gives Python values and the product's defaults; False the raw
    str values that differ from the defaults.
    """
    products = all_products()
    if query is None:
        views = call("GET", "/jobs/")
    elif isinstance(query, uuid.UUID) or (isinstance(query, str) and _is_uuid(query)):
        found = _view(str(query).strip())
        views = [found] if found is not None else []
    elif isinstance(query, (list, str)):
        where = json.dumps(product_keys(query, products), default=_query_value)
        views = call("GET", "/jobs/", where=where)
    else:
        raise JobTypeError("a query is None, a job ID or a list, not %s" % type(query).__name__)
    if not isinstance(views, list):
        raise SmedgeComponentError("the dispatcher's job list is not a list")
    views = [view for view in views if isinstance(view, dict) and view.get("kind", "job") == "job"]
    uuids = view_uuids(views)
    for view in views:
        for dep in view.get("depends_on") or []:
            if int(dep["job"]) not in uuids:
                other = _view(str(dep["job"]))
                uuids[int(dep["job"])] = str(other.get("uuid", "")) if other else ""
    raws = [from_view(view, products, uuids) for view in views]
    if not get_all_parameters:
        return raws
    pools = _Pools()
    return [pythonize_job(raw, products, pools.pool) for raw in raws]


def product_keys(query: Any, products: Sequence[Product]) -> Any:
    """``query`` with each ``Type`` term's product name or alias (``MayaBatch``) given as
    its template's key: the dispatcher knows templates by key, id and name only."""
    if not isinstance(query, list):
        return query
    if (
        len(query) == 3
        and all(isinstance(part, str) for part in query)
        and query[0].strip().lower() == "type"
        and query[1] in ("=", "!=")
    ):
        product = find_product(products, query[2])
        return query if product is None else [query[0], query[1], product.aliases[0]]
    return [product_keys(item, products) for item in query]


def _query_value(value: Any) -> Any:
    """A query's non-JSON value as the dispatcher reads it (a datetime as an rtime)."""
    if isinstance(value, datetime):
        return datetime_to_rtime(value)
    if isinstance(value, (set, tuple)):
        return list(value)
    return str(value)


def _is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text.strip())
    except ValueError:
        return False
    return True


def get_job_dispatch_log(jobs: NameOrIDList) -> Dict[uuid.UUID, str]:
    """Why each job is or is not running, as the dispatcher sees it (one line per reason)."""
    report = {}  # type: Dict[uuid.UUID, str]
    for job_id in _job_ids(jobs):
        answer = call("GET", "/jobs/%s/why" % job_id)
        reasons = answer.get("reasons") if isinstance(answer, dict) else None
        state = answer.get("state", "") if isinstance(answer, dict) else ""
        lines = [str(reason) for reason in reasons or []]
        report[uuid.UUID(job_id)] = "\n".join(lines) or "the job is %s; nothing holds it" % state
    return report


# -- changing ----------------------------------------------------------------------
def update_jobs(jobs: NameOrIDList, parameter: str, value: Any) -> None:
    """Set one parameter of one or more jobs (``"Status", -1`` pauses, 0 resumes)."""
    ids = _job_ids(jobs)
    if not isinstance(parameter, str) or not parameter.strip():
        raise JobValueError("parameter: a parameter name")
    name = parameter.strip().lower()
    if name in ("status", "paused"):
        if _pause_value(name, value):
            _work("pause", ids)
        else:
            for job_id in ids:
                call("POST", "/jobs/%s/actions/resume" % job_id)
        return
    products = all_products()
    pools = _Pools()
    for job_id in ids:
        view = _existing(job_id)
        call("PATCH", "/jobs/%s" % job_id, _edit(view, parameter, value, products, pools))


def _pause_value(name: str, value: Any) -> bool:
    if name == "paused":
        return bool(value) and str(value).strip().lower() not in ("0", "false", "no", "off")
    try:
        status = int(value)
    except (TypeError, ValueError):
        raise JobValueError("Status: %r is not a status number" % (value,)) from None
    if status not in (PAUSED, QUEUED):
        raise NotSupported(
            "setting Status to %d; Corral sets -1 (pause) and 0 (resume), the farm the rest"
            % status
        )
    return status == PAUSED


def _edit(
    view: Mapping[str, Any],
    parameter: str,
    value: Any,
    products: Sequence[Product],
    pools: "_Pools",
) -> Dict[str, Any]:
    """The PATCH body that sets ``parameter`` of the job ``view`` to ``value``."""
    name = parameter.strip().lower()
    if name in ("id", "type", "creator", "created", "lasterror"):
        raise NotSupported("changing %s, which the farm sets" % parameter)
    if name in ("waitforjobid", "waitforwholejob", "packetsize"):
        raise NotSupported("changing %s after submit; submit the job again" % parameter)
    if name in (event.lower() for event in EVENTS) or name.endswith("evt"):
        raise NotSupported("changing %s after submit; event commands are set at submit" % parameter)
    if value is None:
        raise JobValueError("%s: a value is required" % parameter)
    fields = {"name": "title", "note": "notes"}
    if name in fields:
        return {fields[name]: str(value)}
    if name == "priority":
        return {"priority": _int(parameter, value)}
    if name == "cpus":
        return {"cpus": max(1, _int(parameter, value))}
    if name == "pool":
        return {"pools": [pools.name(value)] if str(value).strip() else []}
    if name == "range":
        start, end, step = parse_range(value)
        return {"start": float(start), "end": float(end), "by": float(step)}
    product = find_product(products, str(product_id(str(view.get("template", "")))))
    data = dict(view.get("data") or {})
    canonical = canonical_name(product, parameter) if product is not None else parameter
    found = find_parameter(product.parameters, canonical) if product is not None else None
    attribute = found.settings.get("Attribute") if found is not None else None
    if attribute:
        data[attribute] = value
    else:
        smedge = dict(data.get("smedge") or {})
        params = dict(smedge.get("params") or {})
        params[canonical] = value if isinstance(value, (int, float, bool)) else str(value)
        smedge["params"] = params
        data["smedge"] = smedge
    return {"data": data}


def _int(parameter: str, value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise JobValueError("%s: %r is not a whole number" % (parameter, value)) from None


def pause_jobs(jobs: NameOrIDList, stop_work: bool = False) -> None:
    """Pause jobs, all or none; ``stop_work`` also stops their running work (it is queued
    again)."""
    _work("pause", jobs, stop_work=bool(stop_work))


def resume_jobs(jobs: NameOrIDList) -> None:
    """Resume paused jobs."""
    for job_id in _job_ids(jobs):
        call("POST", "/jobs/%s/actions/resume" % job_id)


def delete_jobs(jobs: NameOrIDList, stop_work: bool = False) -> None:
    """Delete jobs, all or none. Corral stops a deleted job's running work, so a job with
    work running is deleted only with ``stop_work`` True (otherwise nothing is deleted: not
    supported)."""
    try:
        _work("delete", jobs, stop_work=bool(stop_work))
    except SmedgeComponentError as exc:
        if exc.status != 409:
            raise
        raise NotSupported(
            "deleting a job whose running work goes on (%s); Corral stops it: pass "
            "stop_work=True, or pause the job and delete it when its work has ended" % exc
        ) from None


def _work(action: str, jobs: NameOrIDList, **options: Any) -> Any:
    """One request acting on every job at once: the dispatcher checks them all first."""
    body = {"jobs": _job_ids(jobs)}  # type: Dict[str, Any]
    body.update(options)
    return call("POST", "/jobs/actions/%s" % action, body)


def preempt(jobs: NameOrIDList) -> None:
    """Stop the jobs' running work without pausing them: it is queued again."""
    _work("preempt", jobs)


def usurp(jobs: NameOrIDList, minimum_priority: Optional[int] = None) -> None:
    """Stop the running work of every other job below the jobs' lowest priority (or below
    ``minimum_priority``), so that the farm turns to these jobs."""
    if minimum_priority is None:
        _work("usurp", jobs)
    else:
        _work("usurp", jobs, minimum_priority=_int("minimum_priority", minimum_priority))


def reset_job_failures(jobs: NameOrIDList) -> None:
    """Forget the jobs' failures: failed work is queued again with its retries restored, and
    engines that excluded a job after failing it may run it again (manage-nodes permission)."""
    _work("reset-failures", jobs)
