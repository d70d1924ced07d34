"""The names a query may test: Smedge's job parameter names and Corral's own field names,
each read from a job, and the dotted parts that turn a value into a part of it.

Names are case-insensitive. `Scene.Path.File` is the field `Scene`, then its folder
(`.Path`), then that folder's last name (`.File`): the parent folder's name of the scene.
`Data.KEY` reads `data[KEY]` (the template's fields, Muster's attributes), and the name
of any installed template's submission item or attribute reads the same (`MAYAFILE`,
`job_file`).
"""

from __future__ import annotations

import enum
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from dispatcher.model import Job
from dispatcher.views import iso


class Kind(enum.Enum):
    """What a field holds, which decides the operators it takes."""

    TEXT = "text"
    NUMBER = "number"
    TIME = "time"
    FLAG = "true or false"
    LIST = "list of text"
    DATA = "data"  # a template field: text, number, flag or list, as the job holds it


@dataclass(frozen=True, slots=True)
class Catalog:
    """What a query's values resolve against besides the job itself: template keys by
    key, name or id; pool names by id or UUID; data keys by submission item or attribute
    name. Keys of the mappings are casefolded."""

    templates: Mapping[str, str] = field(default_factory=dict)
    pools: Mapping[str, str] = field(default_factory=dict)
    data_names: Mapping[str, str] = field(default_factory=dict)


Resolve = Callable[[str, Catalog], str]


@dataclass(frozen=True, slots=True)
class Field:
    """One name of the grammar: its kind, how a job's value is read, and (for `=` and
    `!=`) how a given value is put in the form the job holds."""

    name: str
    kind: Kind
    get: Callable[[Job], Any]
    resolve: Resolve | None = None


# -- resolving given values ---------------------------------------------------------
STATE_ALIASES = {
    "queued": "queued", "waiting": "queued", "running": "running", "active": "running",
    "done": "done", "finished": "done", "complete": "done", "completed": "done",
    "failed": "failed", "error": "failed", "paused": "paused",
    "-1": "paused", "0": "queued", "1": "running", "2": "done", "3": "failed",
}  # fmt: skip
"""Smedge's and Corral's words for a job's state, and the Status numbers the smedge
package shows (-1 paused, 0 queued, 1 running, 2 done, 3 failed)."""


class ValueProblem(ValueError):
    """A given value a field cannot hold; the message says why."""


def _state(value: str, catalog: Catalog) -> str:
    state = STATE_ALIASES.get(value.strip().casefold())
    if state is None:
        known = ", ".join(sorted(set(STATE_ALIASES.values())))
        raise ValueProblem(f"{value[:64]!r} is no job state; one of {known}")
    return state


def _template(value: str, catalog: Catalog) -> str:
    return catalog.templates.get(value.strip().casefold(), value)


def _pool(value: str, catalog: Catalog) -> str:
    return catalog.pools.get(value.strip().casefold(), value)


# -- reading a job --------------------------------------------------------------------
def _number(value: Decimal) -> int | float:
    return int(value) if value == value.to_integral_value() else float(value)


def _range(job: Job) -> str:
    start, end = _number(job.start), _number(job.end)
    text = f"{start}-{end}" if start != end else f"{start}"
    return text if job.by == 1 else f"{text}x{_number(job.by)}"


def _data(key: str) -> Callable[[Job], Any]:
    def get(job: Job) -> Any:
        return job.data.get(key)

    return get


def _data_text(key: str) -> Callable[[Job], str]:
    def get(job: Job) -> str:
        return text_of(job.data.get(key))

    return get


def _table() -> dict[str, Field]:
    T, N, W, F, L = Kind.TEXT, Kind.NUMBER, Kind.TIME, Kind.FLAG, Kind.LIST
    fields = [
        # Smedge's job parameters.
        (("ID",), L, lambda job: [job.uuid, str(job.id)], None),
        (("Name", "title"), T, lambda job: job.title, None),
        (("Type", "template"), T, lambda job: job.template, _template),
        (("Priority",), N, lambda job: job.priority, None),
        (("Creator", "owner", "user", "username"), T, lambda job: job.user, None),
        (("Created", "submitted", "time_submitted"), W, lambda job: job.time_submitted, None),
        (("Started", "time_started"), W, lambda job: job.time_started, None),
        (("Finished", "completed", "time_finished"), W, lambda job: job.time_finished, None),
        (("Note", "notes"), T, lambda job: job.notes, None),
        (("LastError", "failed_reason"), T, lambda job: job.failed_reason, None),
        (("Status", "state"), T, lambda job: job.state.value, _state),
        (("Pool", "pools", "jobqueue"), L, lambda job: job.pools, _pool),
        (("Scene", "job_file"), T, _data_text("job_file"), None),
        (("Range", "frames"), T, _range, None),
        (("Extra", "additional_flags"), T, _data_text("additional_flags"), None),
        (("OutputFile", "output_file"), T, _data_text("output_file"), None),
        (("Paused",), F, lambda job: job.paused, None),
        # Corral's own fields.
        (("uuid",), T, lambda job: job.uuid, None),
        (("kind",), T, lambda job: job.kind.value, None),
        (("parent",), N, lambda job: job.parent, None),
        (("jobtype",), T, lambda job: job.jobtype or job.template, None),
        (("logic",), T, lambda job: job.logic, None),
        (("project",), T, lambda job: job.project, None),
        (("department",), T, lambda job: job.department, None),
        (("excluded_pools",), L, lambda job: job.excluded_pools, _pool),
        (("tags",), L, lambda job: job.tags, None),
        (("command",), L, lambda job: job.command, None),
        (("hosts",), L, lambda job: job.hosts, None),
        (("start",), N, lambda job: _number(job.start), None),
        (("end",), N, lambda job: _number(job.end), None),
        (("by",), N, lambda job: _number(job.by), None),
        (("batch", "packet_size"), N, lambda job: job.batch, None),
        (("max_nodes",), N, lambda job: job.max_nodes, None),
        (("requeue",), N, lambda job: job.requeue, None),
        (("time_limit_s",), N, lambda job: job.time_limit_s, None),
        (("memory_mb", "ram"), N, lambda job: job.memory_mb, None),
        (("cpus",), N, lambda job: job.cpus, None),
        (("progress",), N, lambda job: round(job.progress, 4), None),
        (("chunks",), N, lambda job: job.chunk_count, None),
        (("hidden",), F, lambda job: job.hidden, None),
    ]
    table: dict[str, Field] = {}
    for names, kind, get, resolve in fields:
        entry = Field(names[0], kind, get, resolve)
        for name in names:
            table[name.casefold()] = entry
    return table


FIELDS = _table()
NAMES = sorted({entry.name for entry in FIELDS.values()}, key=str.casefold)
"""Every field's first name, for messages and the documentation."""


def data_field(key: str) -> Field:
    """The field reading `data[key]` (a template field)."""
    return Field(f"Data.{key}", Kind.DATA, _data(key))


# -- text forms and dotted parts ------------------------------------------------------
def text_of(value: Any) -> str:
    """A value as the text text operators and dotted parts see."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, Decimal):
        return str(_number(value))
    return json.dumps(value, sort_keys=True, default=str)


def time_text(value: float | None) -> str:
    return iso(value) or ""


_SEPARATORS = "/\\"


def _trimmed(text: str) -> str:
    stripped = text.rstrip(_SEPARATORS)
    return stripped if stripped else text[:1]


def _cut(text: str) -> int:
    return max(text.rfind("/"), text.rfind("\\"))


def folder_of(text: str) -> str:
    """`/a/b/c.mb` -> `/a/b`; a name without a folder -> ``; `/c` -> `/`."""
    text = _trimmed(text)
    at = _cut(text)
    if at < 0:
        return ""
    return text[:at] if at > 0 else text[:1]


def file_of(text: str) -> str:
    """`/a/b/c.mb` -> `c.mb`; `/a/b/` -> `b`."""
    text = _trimmed(text)
    return text[_cut(text) + 1 :]


def stem_of(text: str) -> str:
    """`/a/b/c.v2.mb` -> `c.v2` (a leading dot starts no extension: `.hidden`)."""
    name = file_of(text)
    at = name.rfind(".")
    return name[:at] if at > 0 else name


def extension_of(text: str) -> str:
    """`/a/b/c.v2.mb` -> `mb`."""
    name = file_of(text)
    at = name.rfind(".")
    return name[at + 1 :] if at > 0 else ""


PARTS: dict[str, Callable[[str], str]] = {
    "path": folder_of,
    "folder": folder_of,
    "file": file_of,
    "name": stem_of,
    "base": stem_of,
    "extension": extension_of,
    "ext": extension_of,
    "enquote": lambda text: f'"{text}"',
    "upper": str.upper,
    "lower": str.lower,
    "trim": str.strip,
    "unix": lambda text: text.replace("\\", "/"),
    "windows": lambda text: text.replace("/", "\\"),
}
PART_NAMES = ("Path", "Folder", "File", "Name", "Base", "Extension", "Ext", "Enquote",
              "Upper", "Lower", "Trim", "Unix", "Windows")  # fmt: skip
