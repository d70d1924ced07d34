"""Engine event commands: the command lines a node runs after its work, and their
`$(Name)` variables.

An engine event command (Smedge's `WorkFinishedSuccessfulEvt` and
`WorkFinishedUnsuccessfulEvt`) is a command line an administrator sets for a
node. It is split into arguments as a shell would (`shlex`, quotes removed)
but never handed to a shell; then each `$(Name)` in an argument is replaced by
that variable's value, which stays inside its argument whatever it holds. A
variable may carry modifiers after dots: `.File` (the last part of a path),
`.Path` (the folder above it), `.Ext` (the extension without its dot),
`.Enquote` (the value as one argument: always so here, since no shell reads
it). Unknown variables become empty. Pure functions: no I/O.
"""

from __future__ import annotations

import re
import shlex
import uuid
from collections.abc import Mapping
from typing import Any

from dispatcher.model import Job, Node, frame_text

SUCCESS = "WorkFinishedSuccessfulEvt"
FAILURE = "WorkFinishedUnsuccessfulEvt"
EVENTS = (SUCCESS, FAILURE)
MAX_COMMAND_CHARS = 4096
MAX_ARGUMENTS = 256
MAX_VALUE_CHARS = 8192
VARIABLE = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_]*)((?:\.[A-Za-z]+)*)\)")
MODIFIERS = ("file", "path", "ext", "enquote")
# Smedge's parameter names (lower case) -> the job attribute a template's item fills.
SMEDGE_NAMES = {
    "scene": "job_file", "extra": "additional_flags", "outputfile": "output_file",
    "outputfolder": "output_folder", "project": "job_project", "layer": "render_layer",
}  # fmt: skip


def split(command: str) -> list[str]:
    """The arguments of an event command; ValueError when it cannot be one."""
    if len(command) > MAX_COMMAND_CHARS:
        raise ValueError(f"an event command has at most {MAX_COMMAND_CHARS} characters")
    if any(ord(char) < 32 and char != "\t" for char in command):
        raise ValueError("an event command is one line without control characters")
    try:
        argv = shlex.split(command)
    except ValueError as exc:
        raise ValueError(f"cannot split the command line: {exc}") from None
    if len(argv) > MAX_ARGUMENTS:
        raise ValueError(f"an event command has at most {MAX_ARGUMENTS} arguments")
    for match in VARIABLE.finditer(command):
        for modifier in match.group(2).lower().split(".")[1:]:
            if modifier not in MODIFIERS:
                raise ValueError(
                    f"$({match.group(1)}{match.group(2)}): unknown modifier .{modifier} "
                    f"(known: {', '.join('.' + name.title() for name in MODIFIERS)})"
                )
    return argv


def work_uuid(job: Job, index: int) -> str:
    """A chunk's stable UUID (Smedge names a work unit by one): derived from its job's."""
    return str(uuid.uuid5(uuid.UUID(job.uuid), f"chunk:{index}"))


def variables(job: Job, index: int, node: Node, *, ok: bool, exit_code: int | None,
              error: str) -> dict[str, str]:  # fmt: skip
    """The values an event command may use, by lower-case name: the job's data first
    (its product parameters: those a Smedge submit keeps in `data["smedge"]["params"]`,
    and template attributes, `job_file` being Smedge's Scene), then what Corral knows of
    the work."""
    found: dict[str, str] = {}
    smedge = job.data.get("smedge")
    params = smedge.get("params") if isinstance(smedge, Mapping) else None
    for source in (job.data, smedge, params):
        if isinstance(source, Mapping):
            for key, value in source.items():
                if isinstance(value, str | int | float) and not isinstance(value, bool):
                    found[str(key).lower()] = str(value)[:MAX_VALUE_CHARS]
    for name, attribute in SMEDGE_NAMES.items():
        if name not in found and attribute in found:
            found[name] = found[attribute]
    first, last = job.chunk_frames(index)
    found.update({
        "id": work_uuid(job, index), "parent": job.uuid, "job": str(job.id),
        "chunk": str(index), "name": job.title, "note": job.notes, "creator": job.user,
        "priority": str(job.priority), "range": f"{frame_text(first)}-{frame_text(last)}",
        "engine": node.label, "enginename": node.label, "engineid": node.uuid,
        "status": "success" if ok else "failed",
        "exitcode": "" if exit_code is None else str(exit_code), "lasterror": error,
    })  # fmt: skip
    found.setdefault("type", job.template)
    return found


def _modified(value: str, modifiers: list[str]) -> str:
    for modifier in modifiers:
        trimmed = value.rstrip("/\\") or value
        cut = max(trimmed.rfind("/"), trimmed.rfind("\\"))
        if modifier == "file":
            value = trimmed[cut + 1 :]
        elif modifier == "path":
            value = trimmed[:cut] if cut > 0 else trimmed[: cut + 1]
        elif modifier == "ext":
            name = trimmed[cut + 1 :]
            value = name.rsplit(".", 1)[1] if "." in name.lstrip(".") else ""
    return value


def substitute(argument: str, values: Mapping[str, Any]) -> str:
    """One argument with every `$(Name.Modifiers)` replaced (unknown names: empty)."""

    def replace(match: re.Match[str]) -> str:
        value = str(values.get(match.group(1).lower(), ""))
        return _modified(value, match.group(2).lower().split(".")[1:])

    return VARIABLE.sub(replace, argument)


def command_line(command: str, values: Mapping[str, Any]) -> list[str]:
    """The arguments to run for `command` with `values` put in."""
    return [substitute(argument, values) for argument in split(command)]
