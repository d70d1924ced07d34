"""Smedge's job event commands (`JobFinishedEvt`, ...) as jobs of their own.

A job submitted through the Smedge API may carry event commands in
`data["smedge"]["events"]`: `{"JobFinishedEvt": "python finished.py $(ID) $(Note.Enquote)"}`.
They come from job data, which is untrusted, so Corral never runs them in the
dispatcher: each becomes a one-chunk job of the command-line template, queued in
the same submit as its job (both or neither), run on a render node as the job's
owner, and waiting for the job in the dependency mode the event names. This is
the post job action of Muster's REST API (dispatcher/muster_job.py) with Smedge's
variables.

The command is split as a shell would split it (`shlex`) before any variable is
filled in, and each `$(NAME)` is replaced inside its own argument: a value never
becomes a second argument, an option or a shell word, whatever it holds.
`$(NAME.Enquote)` is therefore the same as `$(NAME)`. `.Path` is the value's parent
folder, `.File` its last part, `.Name` that part without its extension,
`.Extension` the extension; they chain (`$(Scene.Path.File)`).
"""

from __future__ import annotations

import posixpath
import re
import shlex
import uuid
from collections.abc import Mapping
from typing import Any

from dispatcher.errors import ValidationError
from dispatcher.model import DependMode
from dispatcher.muster_job import post_action_spec

SMEDGE_KEY = "smedge"
# The job events Corral can run, and the dependency mode that makes each run when it should.
EVENTS: dict[str, DependMode] = {
    "JobFinishedEvt": DependMode.ALWAYS,  # the job ended, done or failed
    "JobCompletedEvt": DependMode.SUCCESS,  # every work unit finished
    "JobFailedEvt": DependMode.FAILURE,  # the job failed
}
MAX_COMMAND_CHARS = 65_536
VARIABLE = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_]*)((?:\.[A-Za-z]+)*)\)")
MODIFIERS = {"enquote", "path", "file", "name", "extension"}


def _path_part(modifier: str, value: str) -> str:
    text = value.replace("\\", "/").rstrip("/")
    if modifier == "path":
        return posixpath.dirname(text)
    base = posixpath.basename(text)
    if modifier == "file":
        return base
    stem, extension = posixpath.splitext(base)
    return stem if modifier == "name" else extension.lstrip(".")


def expand(items: list[Any], owner: str) -> list[Any]:
    """`items` (a submit's job specs as JSON) followed by one job per event command.

    An item with event commands and no `uuid` is given one here, so that `$(ID)` names
    it. ValidationError (naming the field) for an unknown event or variable, or a command
    that does not split.
    """
    extra: list[dict[str, Any]] = []
    for position, item in enumerate(items):
        events = _events(item)
        if not events:
            continue
        where = f"job #{position}: " if len(items) > 1 else ""
        if item.get("uuid") is None:
            item["uuid"] = str(uuid.uuid4())
        values = _values(item, owner)
        for name, command_line in events.items():
            field = f"data.{SMEDGE_KEY}.events.{name}"
            if name not in EVENTS:
                raise ValidationError(
                    f"{where}{field}: Corral runs the job events {', '.join(EVENTS)}; "
                    f"{name} is not supported",
                    field=field,
                )
            command = substitute(command_line, values, f"{where}{field}")
            extra.append(_event_spec(item, position, name, command))
    return items + extra if extra else items


def _events(item: Any) -> dict[str, Any]:
    if not isinstance(item, dict) or not isinstance(item.get("data"), dict):
        return {}
    smedge = item["data"].get(SMEDGE_KEY)
    if not isinstance(smedge, dict) or smedge.get("events") in (None, {}):
        return {}
    events = smedge["events"]
    field = f"data.{SMEDGE_KEY}.events"
    if not isinstance(events, dict):
        raise ValidationError(f"{field}: an object of event name -> command", field=field)
    for name, command in events.items():
        if not isinstance(command, str) or len(command) > MAX_COMMAND_CHARS:
            raise ValidationError(
                f"{field}.{name}: a command line of at most {MAX_COMMAND_CHARS} characters",
                field=f"{field}.{name}",
            )
    return {name: command for name, command in events.items() if command.strip()}


def _values(item: Mapping[str, Any], owner: str) -> dict[str, str]:
    """The variables of a job: its Smedge parameters, then what the dispatcher knows."""
    data = item.get("data") or {}
    params = data[SMEDGE_KEY].get("params")
    values = (
        {str(k).lower(): _text(v) for k, v in params.items()} if isinstance(params, dict) else {}
    )
    known = {
        "id": item.get("uuid"),
        "name": item.get("title"),
        "note": item.get("notes", ""),
        "creator": owner,
        "priority": item.get("priority"),
        "scene": data.get("job_file"),
        "outputfile": data.get("output_file"),
        "extra": data.get("additional_flags"),
    }
    values.update({key: _text(value) for key, value in known.items() if value is not None})
    values.setdefault("note", "")
    return values


def _text(value: Any) -> str:
    if isinstance(value, list):
        return ";".join(_text(part) for part in value)
    if isinstance(value, bool):
        return "1" if value else "0"
    return "" if value is None else str(value)


def substitute(command_line: str, values: Mapping[str, str], field: str) -> list[str]:
    """The command's arguments with `$(NAME.Modifier...)` filled in, each inside its own
    argument (ValidationError naming `field` for an unknown variable or modifier)."""
    try:
        arguments = shlex.split(command_line)
    except ValueError as exc:
        raise ValidationError(f"{field}: {exc}", field=field) from None
    if not arguments:
        raise ValidationError(f"{field}: the command is empty", field=field)

    def fill(match: re.Match[str]) -> str:
        name = match.group(1).lower()
        if name not in values:
            raise ValidationError(
                f"{field}: $({match.group(1)}) is not a variable of this job", field=field
            )
        value = values[name]
        for modifier in match.group(2).lower().split(".")[1:]:
            if modifier not in MODIFIERS:
                raise ValidationError(
                    f"{field}: .{modifier} is not a modifier (known: "
                    f"{', '.join(sorted(MODIFIERS))})",
                    field=field,
                )
            if modifier != "enquote":
                value = _path_part(modifier, value)
        return value

    return [VARIABLE.sub(fill, argument) for argument in arguments]


def _event_spec(
    item: Mapping[str, Any], position: int, event: str, command: list[str]
) -> dict[str, Any]:
    base = {
        "title": str(item.get("title") or "job"),
        "parent": item.get("parent", -1),
        "priority": item.get("priority", 50),
        "pools": item.get("pools", []),
        "excluded_pools": item.get("excluded_pools", []),
        "environ": item.get("environ", {}),
        "project": item.get("project", ""),
        "department": item.get("department", ""),
    }
    spec = post_action_spec(base, shlex.join(command))
    spec["command"] = command
    spec["title"] = f"{base['title'][:200]} ({event})"
    spec["notes"] = f"{event} of {base['title'][:200]}"
    spec["depends_on"] = [{"submitted": position, "mode": EVENTS[event].value}]
    spec["data"] = {SMEDGE_KEY: {"eventOf": item.get("uuid"), "event": event}}
    return spec
