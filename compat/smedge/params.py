"""A Smedge job dict and a Corral job, both ways.

``conform_job`` turns a job built in Python into Smedge's raw form (the
product's parameter names, every value a str); ``to_spec`` turns that into the
job Corral's ``POST /api/v1/jobs/`` takes. ``from_view`` reads a Corral job as
a raw Smedge dict, and ``pythonize_job`` gives the raw values Python types and
fills in the product's defaults. docs/compat.md has the table of what maps to what.
"""

import os
import re
import shlex
import uuid
from datetime import datetime
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

from corral_client.commands import shell_operator

from ._link import SmedgeComponentError
from .products import COMMAND_TEMPLATE, Parameter, Product, find_parameter, find_product, product_id
from .times import datetime_to_rtime, extract_datetime, utc_text_to_rtime

SMEDGE_KEY = "smedge"
# Job events Corral runs (as jobs of their own on render nodes); other *Evt are refused.
EVENTS = ("JobFinishedEvt", "JobCompletedEvt", "JobFailedEvt")
# Corral's job states as Smedge's Status numbers.
STATUS = {"paused": -1, "queued": 0, "running": 1, "done": 2, "failed": 3, "skipped": 2}
PAUSED, QUEUED = -1, 0
MAX_PRIORITY = 65535
LIST_SEPARATOR = ";"
# Parameters a Corral job holds in fields of its own (the rest go in data).
OWN_FIELDS = {"id", "name", "type", "range", "priority", "pool", "note", "packetsize",
              "waitforwholejob", "waitforjobid", "status", "paused", "creator", "created",
              "lasterror"}  # fmt: skip
READ_ONLY = {"creator", "created", "lasterror"}
_RANGE = re.compile(
    r"^\s*(-?\d+(?:\.\d+)?)\s*(?:-\s*(-?\d+(?:\.\d+)?)\s*(?:[x:]\s*(\d+(?:\.\d+)?))?)?\s*$"
)
FFMPEG_RATE_FLAGS = ("-r", "-framerate")

Job = Dict[str, Any]


class JobValueError(SmedgeComponentError, ValueError):
    """A job dict Corral cannot take (a ValueError, as Smedge raises, and a SmedgeComponentError)."""


class NotSupported(SmedgeComponentError):
    """Something Smedge does that Corral does not; the message says what (docs/compat.md)."""

    def __init__(self, message: str) -> None:
        super().__init__("not supported: " + message, 501)


def find_value(from_dict: Mapping[str, Any], name: str, default: Any = None) -> Any:
    """The value of key ``name`` in ``from_dict`` whatever its case; ``default`` if none."""
    if name in from_dict:
        return from_dict[name]
    wanted = str(name).lower()
    for key, value in from_dict.items():
        if str(key).lower() == wanted:
            return value
    return default


def text(value: Any) -> str:
    """A Python value as Smedge's raw text."""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, datetime):
        return datetime_to_rtime(value)
    if isinstance(value, (list, tuple, set)):
        return LIST_SEPARATOR.join(text(part) for part in value)
    if hasattr(value, "__fspath__"):
        return os.fspath(value)
    if isinstance(value, dict):
        raise JobValueError(
            "not supported: sub-parameter dicts as job values; give each value its own key", 501
        )
    return str(value)


def parse_range(value: Any) -> Tuple[str, str, str]:
    """(start, end, step) of a Smedge range: ``1001-1250``, ``5``, ``1-100x2``, or an int."""
    if isinstance(value, bool):
        raise JobValueError("Range: %r is not a frame range" % (value,))
    if isinstance(value, int):
        return str(value), str(value), "1"
    found = _RANGE.match(str(value))
    if found is None:
        if "," in str(value):
            raise NotSupported(
                "Range %r: a Corral job renders one range of frames; submit a job per range"
                % (str(value),)
            )
        raise JobValueError("Range: %r is not a frame range such as 1001-1250" % (str(value),))
    start, end, step = found.group(1), found.group(2) or found.group(1), found.group(3) or "1"
    if float(end) < float(start):
        raise JobValueError("Range: %r ends before it starts" % (str(value),))
    if float(step) <= 0:
        raise JobValueError("Range: the step of %r must be more than 0" % (str(value),))
    return start, end, step


def _range_text(start: Any, end: Any, step: Any) -> str:
    first, last, by = (_number(start), _number(end), _number(step))
    shown = first if first == last else "%s-%s" % (first, last)
    return shown if by in ("1", "0") or first == last else "%sx%s" % (shown, by)


def _number(value: Any) -> str:
    number = float(value)
    return str(int(number)) if number == int(number) else repr(number)


def _uuid_text(value: Any, what: str) -> str:
    try:
        return str(value if isinstance(value, uuid.UUID) else uuid.UUID(str(value).strip()))
    except (ValueError, AttributeError):
        raise JobValueError("%s: %r is not a UUID" % (what, str(value))) from None


def canonical_name(product: Product, name: str) -> str:
    """The product's name for parameter ``name``: its own, or the one of the item or job
    attribute it names (MAYACAMERA, camera -> Camera); ``name`` itself when unknown."""
    found = find_parameter(product.parameters, name)
    if found is not None:
        return found.name
    wanted = str(name).lower()
    for parameter in product.parameters:
        others = (parameter.settings.get("Item", ""), parameter.settings.get("Attribute", ""))
        if wanted in (other.lower() for other in others if other):
            return parameter.name
    return str(name)


def conform_job(job: Mapping[str, Any], products: Optional[Sequence[Product]] = None) -> Job:
    """``job`` in Smedge's raw form for its product: the product's parameter names, every
    value a str (lists joined with ``;``). JobValueError (a ValueError) when it is no dict,
    has no Type, names no known product, lacks a required parameter or holds a bad value."""
    if not isinstance(job, Mapping):
        raise JobValueError("a job is a dict, not %s" % type(job).__name__)
    if products is None:
        from .products import all_products

        products = all_products()
    kind = find_value(job, "Type")
    if kind is None or str(kind).strip() == "":
        raise JobValueError("the job has no Type (its product: Maya, Nuke, ffmpeg, ...)")
    product = find_product(products, kind)
    if product is None:
        known = ", ".join(sorted(p.name for p in products))
        raise JobValueError("Type: unknown product %r (known: %s)" % (str(kind), known))
    out = {}  # type: Job
    for key, value in job.items():
        if not isinstance(key, str) or not key.strip():
            raise JobValueError("parameter names are non-empty str, not %r" % (key,))
        if value is None:
            continue
        name = canonical_name(product, key)
        if name in out:
            raise JobValueError("%s is given twice (as %s)" % (name, key))
        lowered = name.lower()
        if lowered.endswith("evt") and name not in EVENTS:
            raise NotSupported(
                "the job event %s; Corral runs %s as jobs on render nodes"
                % (name, ", ".join(EVENTS))
            )
        if lowered in READ_ONLY:
            continue  # set by the farm; a job copied from get_jobs may hold them
        if lowered == "id":
            out[name] = _uuid_text(value, "ID")
        elif lowered == "type":
            out[name] = str(product.type)
        elif lowered == "range":
            out[name] = _range_text(*parse_range(value))
        elif lowered == "waitforjobid":
            ids = value if isinstance(value, (list, tuple)) else [value]
            if isinstance(value, str) and LIST_SEPARATOR in value:
                ids = [part for part in value.split(LIST_SEPARATOR) if part.strip()]
            out[name] = LIST_SEPARATOR.join(_uuid_text(item, "WaitForJobID") for item in ids)
        elif lowered == "pool":
            out[name] = str(value)
        else:
            out[name] = text(value)
    for parameter in product.required_parameters:
        if parameter.name.lower() == "type":
            continue
        if str(out.get(parameter.name, "")).strip() == "":
            raise JobValueError(
                "%s (%s) is required by product %s"
                % (parameter.name, parameter.settings.get("Label") or parameter.type, product.name)
            )
    return out


def _typed(parameter: Optional[Parameter], raw: str) -> Any:
    kind = parameter.type if parameter is not None else "String"
    if kind == "Integer":
        return int(float(raw)) if raw.strip() else 0
    if kind == "Float":
        return float(raw) if raw.strip() else 0.0
    if kind == "Bool":
        return raw.strip().lower() in ("1", "true", "yes", "on")
    return raw


def to_spec(
    raw: Job,
    product: Product,
    pool_name: Callable[[str], str],
    paused: bool = False,
) -> Job:
    """The Corral job (``POST /api/v1/jobs/``) of a conformed Smedge job; its
    dependencies (WaitForJobID) are left to the caller, who knows the other jobs."""
    start, end, step = parse_range(raw.get("Range", "1"))
    scene = raw.get("Scene", "")
    title = raw.get("Name") or (os.path.basename(scene) if scene else "") or product.name + " job"
    spec = {
        "title": title,
        "template": product.key,
        "start": float(start),
        "end": float(end),
        "by": float(step),
        "notes": raw.get("Note", ""),
        "uuid": raw.get("ID") or str(uuid.uuid4()),
    }  # type: Job
    if "Priority" in raw:
        try:
            spec["priority"] = int(float(raw["Priority"]))
        except ValueError:
            raise JobValueError("Priority: %r is not a number" % raw["Priority"]) from None
        if not 0 <= spec["priority"] <= MAX_PRIORITY:
            raise JobValueError(
                "Priority: %s is not from 0 to %d" % (raw["Priority"], MAX_PRIORITY)
            )
    if raw.get("PacketSize", "").strip():
        spec["batch"] = int(float(raw["PacketSize"]))
    if raw.get("Pool", "").strip():
        spec["pools"] = [pool_name(raw["Pool"])]
    status = raw.get("Status", "").strip()
    if status and int(float(status)) not in (PAUSED, QUEUED):
        raise NotSupported("submitting a job with Status %s; give -1 (paused) or 0" % status)
    spec["paused"] = (
        bool(paused)
        or status == str(PAUSED)
        or _typed(find_parameter(product.parameters, "paused"), raw.get("paused", "0"))
    )
    cpus = raw.get("CPUs", "").strip()
    if cpus and int(float(cpus)) > 0:
        spec["cpus"] = int(float(cpus))
    data, params, events = {}, {}, {}  # type: Job, Job, Job
    for name, value in raw.items():
        lowered = name.lower()
        parameter = find_parameter(product.parameters, name)
        attribute = parameter.settings.get("Attribute") if parameter is not None else None
        if name in EVENTS:
            events[name] = value
        elif attribute:
            data[attribute] = _typed(parameter, value)
        elif lowered not in OWN_FIELDS:
            params[name] = value
    params["Type"] = product.name
    if product.key == "ffmpeg":
        _ffmpeg_options(raw, data)
    if product.key == COMMAND_TEMPLATE:
        try:
            spec["command"] = shlex.split(raw.get("Command", ""))
        except ValueError as exc:
            raise JobValueError("Command: %s" % exc) from None
        operator = shell_operator(raw.get("Command", ""))
        if operator:
            raise NotSupported(
                "Command: shell syntax (%r): the command runs without a shell; put pipes, "
                "redirections and command lists in a script and run that" % operator
            )
        params.pop("Command", None)
    data[SMEDGE_KEY] = {"params": params}
    if events:
        data[SMEDGE_KEY]["events"] = events
    spec["data"] = data
    return spec


def _ffmpeg_options(raw: Job, data: Job) -> None:
    """InfileOptions (its frame rate) and OutfileOptions (before the output) of an encode."""
    words = shlex.split(raw.get("InfileOptions", ""))
    position = 0
    while position < len(words):
        if words[position] in FFMPEG_RATE_FLAGS and position + 1 < len(words):
            try:
                data["frame_rate"] = float(words[position + 1])
            except ValueError:
                raise JobValueError(
                    "InfileOptions: %r is not a frame rate" % words[position + 1]
                ) from None
            position += 2
            continue
        raise NotSupported(
            "InfileOptions %r: Corral's ffmpeg template takes only the input frame rate "
            "(-r or -framerate) before -i" % raw["InfileOptions"]
        )
    extra = [raw.get(name, "") for name in ("Extra", "OutfileOptions")]
    data["additional_flags"] = " ".join(part for part in extra if part.strip())


def from_view(
    view: Mapping[str, Any],
    products: Sequence[Product],
    job_uuids: Mapping[int, str],
) -> Job:
    """A Corral job (its REST view) as a raw Smedge job: each value a str, defaults left out."""
    data = view.get("data") or {}
    smedge = data.get(SMEDGE_KEY) if isinstance(data.get(SMEDGE_KEY), dict) else {}
    params = smedge.get("params") if isinstance(smedge.get("params"), dict) else {}
    product = find_product(products, str(product_id(str(view.get("template", "")))))
    raw = {name: str(value) for name, value in params.items() if name != "Type"}  # type: Job
    waits = [job_uuids.get(int(dep["job"]), "") for dep in view.get("depends_on") or []]
    state = str(view.get("state", "queued"))
    raw.update({
        "ID": str(view.get("uuid", "")),
        "Name": str(view.get("title", "")),
        "Type": str(product.type if product else product_id(str(view.get("template", "")))),
        "Range": _range_text(view.get("start", 1), view.get("end", 1), view.get("by", 1)),
        "Priority": str(view.get("priority", 50)),
        "Pool": (view.get("pools") or [""])[0],
        "Note": str(view.get("notes") or ""),
        "PacketSize": str(view.get("batch", 1)),
        "WaitForJobID": LIST_SEPARATOR.join(wait for wait in waits if wait),
        "WaitForWholeJob": "0" if view.get("per_frame") else "1",
        "Status": str(PAUSED if view.get("paused") else STATUS.get(state, QUEUED)),
        "paused": "1" if view.get("paused") else "0",
        "Creator": str(view.get("user", "")),
        "Created": utc_text_to_rtime(view.get("time_submitted")),
        "LastError": str(view.get("failed_reason") or ""),
    })  # fmt: skip
    if "CPUs" not in params:
        raw["CPUs"] = str(view.get("cpus", 1))
    if view.get("command"):
        raw["Command"] = " ".join(shlex.quote(str(part)) for part in view["command"])
    for name, value in (smedge.get("events") or {}).items():
        raw[str(name)] = str(value)
    if product is not None:
        for parameter in product.parameters:
            attribute = parameter.settings.get("Attribute")
            if attribute and attribute in data and parameter.name not in params:
                raw[parameter.name] = text(data[attribute])
        defaults = {p.name: p.default for p in product.parameters}
        raw = {k: v for k, v in raw.items() if k in ("ID", "Type") or defaults.get(k) != v}
    return raw


def pythonize_job(
    job: Mapping[str, Any],
    products: Optional[Sequence[Product]] = None,
    pool: Optional[Callable[[str], Any]] = None,
) -> Job:
    """``job`` (raw) with Python values: UUIDs, numbers, bools, datetimes, lists (ImageFormat,
    WaitForJobID), Type the product's name, and the product's defaults for what it lacks."""
    if not isinstance(job, Mapping):
        raise JobValueError("a job is a dict, not %s" % type(job).__name__)
    if products is None:
        from .products import all_products

        products = all_products()
    kind = find_value(job, "Type")
    product = find_product(products, kind) if kind is not None else None
    parameters = product.parameters if product is not None else []
    out = {}  # type: Job
    for parameter in parameters:
        if parameter.type != "Command":
            out[parameter.name] = parameter.default
    for key, value in job.items():
        out[canonical_name(product, key) if product is not None else key] = value
    for name, value in list(out.items()):
        parameter = find_parameter(parameters, name)
        out[name] = _pythonic(parameter, name, value, product, pool)
    return out


def _pythonic(
    parameter: Optional[Parameter],
    name: str,
    value: Any,
    product: Optional[Product],
    pool: Optional[Callable[[str], Any]],
) -> Any:
    if not isinstance(value, str):
        return value
    kind = parameter.type if parameter is not None else "String"
    if kind == "Product":
        return product.name if product is not None else value
    if kind == "UUID":
        try:
            return uuid.UUID(value) if value else None
        except ValueError:
            return value
    if kind == "UUIDList":
        return [uuid.UUID(part) for part in value.split(LIST_SEPARATOR) if part.strip()]
    if kind == "StringList":
        return [part for part in value.split(LIST_SEPARATOR) if part.strip()]
    if kind == "Time":
        return extract_datetime(value)
    if kind == "Pool":
        return pool(value) if pool is not None and value else value
    if kind in ("Integer", "Float", "Bool"):
        try:
            return _typed(parameter, value)
        except ValueError:
            return value
    return value


def view_uuids(views: Sequence[Mapping[str, Any]]) -> Dict[int, str]:
    """Job id -> UUID of the views at hand."""
    return {int(view["id"]): str(view.get("uuid", "")) for view in views if "id" in view}


def wait_ids(raw: Job) -> List[str]:
    """The UUIDs a conformed job waits for."""
    return [part for part in raw.get("WaitForJobID", "").split(LIST_SEPARATOR) if part.strip()]
