"""Jobs from a file for `corral submit --file`: JSON or TOML, one job or many, with
dependencies between the jobs of the file by name.

A file holds one job object, a list of them (JSON), or a `job` (or `jobs`) array of
tables (TOML `[[job]]`). Each job has the REST API's fields (docs/api.md) and may
have a `name`, which its fellows' `depends_on` use:

    [[job]]
    name = "sim"
    title = "shot010 sim"
    command = ["sim.sh", "{start}", "{end}"]
    start = 1
    end = 50

    [[job]]
    name = "render"
    title = "shot010 render"
    depends_on = ["sim"]            # or [{job = "sim", mode = "always"}]

A job without `name` is named by its `title`. A dependency given as a string (or
`{"job": "NAME", "mode": ...}`) names a job of the same file; a number (or
`{"job": ID}`) an existing job. The jobs are ordered so that each comes after those
it waits for and sent in one request, the names turned into the API's
`{"submitted": POSITION}`. A name that is not in the file, two jobs of one name,
or a cycle refuses the whole file and nothing is submitted.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping
from typing import Any

MAX_JOBS = 10_000
MAX_FILE_BYTES = 64 * 1024 * 1024


class JobFileError(ValueError):
    """The file cannot be submitted as it is; the message says why."""


def parse_either(text: str) -> tuple[list[dict[str, Any]], bool]:
    """`parse_text` of a file whose name says neither JSON nor TOML: JSON when it
    decodes as JSON, else TOML."""
    try:
        json.loads(text)
    except (ValueError, RecursionError) as exc:
        try:
            tomllib.loads(text)
        except (tomllib.TOMLDecodeError, RecursionError):
            raise JobFileError(f"neither JSON nor TOML: {exc}") from None
        return parse_text(text, toml=True)
    return parse_text(text, toml=False)


def parse_text(text: str, *, toml: bool) -> tuple[list[dict[str, Any]], bool]:
    """The job objects of a file's text (TOML or JSON), as written, and whether the
    file held one job object rather than a list of them."""
    try:
        payload: Any = tomllib.loads(text) if toml else json.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise JobFileError(f"not valid TOML: {exc}") from None
    except ValueError as exc:
        raise JobFileError(f"not valid JSON: {exc}") from None
    except RecursionError:
        raise JobFileError("the file nests too deeply") from None
    if isinstance(payload, dict):
        many = [key for key in ("job", "jobs") if key in payload]
        if len(many) > 1:
            raise JobFileError("give the jobs as `job` or as `jobs`, not both")
        if many:
            payload = payload[many[0]]
            if not isinstance(payload, list):
                raise JobFileError(f"`{many[0]}` must be a list of job objects")
    single = not isinstance(payload, list)
    jobs = [payload] if single else payload
    if not jobs or not all(isinstance(job, dict) for job in jobs):
        raise JobFileError("the file must hold a job object or a non-empty list of job objects")
    if len(jobs) > MAX_JOBS:
        raise JobFileError(f"the file holds {len(jobs)} jobs; at most {MAX_JOBS} per submit")
    return [dict(job) for job in jobs], single


def _name(job: Mapping[str, Any], position: int) -> str | None:
    name = job.get("name", job.get("title"))
    if name is None:
        return None
    if not isinstance(name, str) or not name.strip():
        raise JobFileError(f"job {position + 1}: `name` must be a non-empty string")
    return name


def _target(item: Any, position: int) -> tuple[str | None, Any]:
    """(the file name it waits for, or None for an existing job id; the item as is)."""
    if isinstance(item, str):
        return item, None
    if isinstance(item, dict) and isinstance(item.get("job"), str):
        return str(item["job"]), item
    return None, item


def order(jobs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The jobs in dependency order, names resolved to `submitted` positions, `name`
    removed: the body of one POST /api/v1/jobs/. JobFileError on a bad name or a cycle."""
    names: dict[str, int] = {}
    for position, job in enumerate(jobs):
        name = _name(job, position)
        if name is None:
            continue
        if name in names:
            raise JobFileError(
                f"two jobs are named {name!r} (jobs {names[name] + 1} and {position + 1})"
            )
        names[name] = position
    waits: list[list[int]] = []
    for position, job in enumerate(jobs):
        depends = job.get("depends_on", [])
        if not isinstance(depends, list):
            raise JobFileError(f"job {position + 1}: `depends_on` must be a list")
        found = []
        for item in depends:
            target, _ = _target(item, position)
            if target is None:
                continue
            if target not in names:
                label = _name(job, position) or f"job {position + 1}"
                raise JobFileError(
                    f"{label!s} depends on {target!r}, which no job of the file is named"
                )
            found.append(names[target])
        waits.append(found)
    ordered = _topological(jobs, waits)
    where = {old: new for new, old in enumerate(ordered)}
    body = []
    for old in ordered:
        job = {key: value for key, value in jobs[old].items() if key != "name"}
        if "depends_on" in job:
            job["depends_on"] = [_resolved(item, names, where) for item in job["depends_on"]]
        body.append(job)
    return body


def _resolved(item: Any, names: Mapping[str, int], where: Mapping[int, int]) -> Any:
    target, original = _target(item, 0)
    if target is None:
        return original
    resolved: dict[str, Any] = {"submitted": where[names[target]]}
    if isinstance(original, dict):
        resolved.update({key: value for key, value in original.items() if key != "job"})
    return resolved


def _topological(jobs: list[dict[str, Any]], waits: list[list[int]]) -> list[int]:
    """Positions with every job after those it waits for, else in file order."""
    done: list[int] = []
    state = [0] * len(jobs)  # 0 new, 1 on the path, 2 placed
    for first in range(len(jobs)):
        if state[first]:
            continue
        path: list[tuple[int, int]] = [(first, 0)]
        state[first] = 1
        while path:
            node, next_wait = path[-1]
            if next_wait < len(waits[node]):
                path[-1] = (node, next_wait + 1)
                target = waits[node][next_wait]
                if state[target] == 1:
                    cycle = [position for position, _ in path]
                    cycle = cycle[cycle.index(target) :] + [target]
                    raise JobFileError(
                        "the dependencies make a cycle: "
                        + " -> ".join(repr(_name(jobs[p], p)) for p in cycle)
                    )
                if state[target] == 0:
                    state[target] = 1
                    path.append((target, 0))
                continue
            state[node] = 2
            done.append(node)
            path.pop()
    return done
