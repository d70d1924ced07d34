"""`corral watch` and `corral jobs list --watch`: the farm followed through its live events.

Nothing here polls. A watch reads the job (or the list) once, then follows the
dispatcher's event stream (console/events.py) and updates what it shows from
the events: a progress event carries the job's state and chunk counts; any
other change to the job reads it again; a `missed` event (the stream broke
for longer than the dispatcher keeps events) reads everything again.
Ctrl-C ends a watch with exit status 0.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

import click
from rich.console import Console
from rich.live import Live

from console.auth import CliState
from console.events import StreamEvent
from console.formatting import (
    jobs_table,
    make_progress,
    printable,
    state_cell,
    status_line,
)
from console.http import ConsoleError, DispatcherClient

FINAL_STATES = ("done", "failed")
CONNECT_WAIT_S = 10.0
RELIST_EVERY_S = 0.5  # `jobs list --watch` reads the list at most this often

pass_state = click.make_pass_decorator(CliState, ensure=True)


def stdout_console() -> Console:
    return Console(highlight=False, soft_wrap=False)


def failure_message(job: Mapping[str, Any]) -> str:
    counts = job.get("chunks") or {}
    reason = job.get("failed_reason") or f"{counts.get('failed', 0)} chunk(s) failed"
    return f'job {job.get("id")} "{job.get("title", "")}" failed: {reason}'


def snapshot_line(**fields: Any) -> str:
    """The first line of `--json`: what the watch read before the events."""
    return json.dumps({"id": None, "type": "snapshot", **fields}, sort_keys=True)


def event_line(event: StreamEvent) -> str:
    return json.dumps(event.line(), sort_keys=True)


def event_text(event: StreamEvent) -> str:
    """One plain line per event for people: number, kind, action, actor, what it touched."""
    data = dict(event.data)
    for name in ("type", "action", "actor", "time"):
        data.pop(name, None)
    details = " ".join(f"{key}={json.dumps(value, sort_keys=True)}" for key, value in data.items())
    actor = event.data.get("actor", "")
    return printable(
        f"{event.id or '-'} {event.kind} {event.data.get('action', '')} by {actor}: {details}"
    )


def _applied(job: dict[str, Any], event: StreamEvent, client: DispatcherClient) -> dict[str, Any]:
    """The job after an event about it: from a progress event's counts, else read again."""
    data = event.data
    if event.kind == "progress":
        return {**job, "state": data.get("state", job.get("state")),
                "chunks": {**(job.get("chunks") or {}), **(data.get("chunks") or {})},
                "running_progress": data.get("running") or {}}  # fmt: skip
    if event.kind == "job" and data.get("action") == "delete":
        raise ConsoleError(f"job {job.get('id')} was deleted")
    return client.job(int(job["id"]))


def watch_job(
    client: DispatcherClient,
    job_id: int,
    *,
    as_json: bool = False,
    console: Console | None = None,
    check: Callable[[], None] | None = None,
) -> dict[str, Any]:
    """Follow a job through the event stream until it is done or failed; its last state.

    A terminal gets a progress bar; a pipe one status line per change; `as_json` a
    snapshot line, then one JSON event per line. `check` runs at every event and
    every second without one, and may raise to stop watching.
    """
    console = console or stdout_console()
    with client.follow(jobs=[job_id]) as events:
        events.wait_connected(CONNECT_WAIT_S)  # then the job is read: nothing falls between
        job = client.job(job_id)
        if as_json:
            console.out(snapshot_line(job=job["id"], state=job.get("state"), chunks=job.get("chunks")), highlight=False)  # fmt: skip
        bar = _progress_bar(console, job_id) if console.is_terminal and not as_json else None
        last = ""
        for event in _with_start(events):
            if check is not None:
                check()
            if event is not None:
                if as_json:
                    console.out(event_line(event), highlight=False)
                job = _applied(job, event, client)
            ended = job.get("state") in FINAL_STATES
            if bar is not None:
                bar(job, final=ended)
            elif not as_json and status_line(job) != last:
                last = status_line(job)
                console.out(last, highlight=False)
            if ended:
                return job
    raise AssertionError("the event stream ended")  # it only ends by raising


def _with_start(events: Iterable[StreamEvent | None]) -> Iterator[StreamEvent | None]:
    """The events after one first `None`: the job as read is shown before any event."""
    yield None
    yield from events


def _progress_bar(console: Console, job_id: int) -> Callable[..., None]:
    progress = make_progress(console)
    task = progress.add_task(f"job {job_id}", total=1, running=0, state="")
    progress.start()

    def show(job: Mapping[str, Any], final: bool = False) -> None:
        counts = job.get("chunks") or {}
        progress.update(
            task,
            total=max(1, int(counts.get("total") or 0)),
            completed=int(counts.get("done") or 0)
            + int(counts.get("skipped") or 0)
            + sum(float(value) for value in (job.get("running_progress") or {}).values()) / 100,
            running=int(counts.get("running") or 0),
            state=state_cell(job.get("state")),
        )
        if final:
            progress.stop()

    return show


def follow_events(
    client: DispatcherClient, jobs: tuple[int, ...], nodes: tuple[int, ...],
    kinds: tuple[str, ...], as_json: bool, console: Console,
) -> None:  # fmt: skip
    """Print every event that matches, one line each, until interrupted."""
    with client.follow(jobs=jobs, nodes=nodes, kinds=kinds) as events:
        for event in events:
            if event is not None:
                console.out(event_line(event) if as_json else event_text(event), highlight=False)


def watch_jobs_list(
    client: DispatcherClient,
    job_state: str | None,
    as_json: bool,
    console: Console,
    *,
    show_all: bool = False,
) -> None:
    """`jobs list --watch`: the table kept current (a terminal), or one line per event.
    Hidden jobs are left out of the table unless `show_all`."""
    kinds = ("job", "progress", "chunk")
    hidden = None if show_all else False
    with client.follow(kinds=kinds) as events:
        events.wait_connected(CONNECT_WAIT_S)
        found = client.jobs(job_state, hidden=hidden)
        if as_json:
            console.out(snapshot_line(jobs=found), highlight=False)
            for event in events:
                if event is not None:
                    console.out(event_line(event), highlight=False)
            return
        if not console.is_terminal:
            console.print(jobs_table(found))
            for event in events:
                if event is not None:
                    console.out(event_text(event), highlight=False)
            return
        stale, read_at = False, time.monotonic()
        with Live(jobs_table(found), console=console, auto_refresh=False) as live:
            for event in events:
                stale = stale or event is not None
                if stale and time.monotonic() - read_at >= RELIST_EVERY_S:
                    found, stale, read_at = (
                        client.jobs(job_state, hidden=hidden),
                        False,
                        time.monotonic(),
                    )
                    live.update(jobs_table(found), refresh=True)


@click.command()
@click.argument("job", required=False)
@click.option("--job", "job_ids", multiple=True, type=click.IntRange(min=1), metavar="ID",
              help="Without JOB: only events about this job (repeat).")  # fmt: skip
@click.option("--node", "node_ids", multiple=True, type=click.IntRange(min=1), metavar="ID",
              help="Without JOB: only events about this node (repeat).")  # fmt: skip
@click.option("--kind", "kinds", multiple=True, metavar="KIND",
              help="Without JOB: only these kinds or actions (job, progress, node_state, submit, ...).")  # fmt: skip
@click.option("--interval", type=float, hidden=True, help="Ignored: the watch follows events.")
@click.option("--json", "as_json", is_flag=True, help="One JSON event per line.")
@pass_state
def watch(
    state: CliState, job: str | None, job_ids: tuple[int, ...], node_ids: tuple[int, ...],
    kinds: tuple[str, ...], interval: float | None, as_json: bool,
) -> None:  # fmt: skip
    """Follow a job until it ends (exit 0 done, 1 failed), or without JOB the farm's events.

    \b
    corral watch 12                  a progress bar until job 12 ends
    corral watch --json 12           a snapshot, then one JSON event per line
    corral watch --kind node_state   nodes coming and going, until Ctrl-C
    """
    client = state.client()
    try:
        if job is None:
            follow_events(client, job_ids, node_ids, kinds, as_json, stdout_console())
            return
        if job_ids or node_ids or kinds:
            raise click.UsageError("--job, --node and --kind go without JOB")
        final = watch_job(client, client.job_id(job), as_json=as_json)
    except KeyboardInterrupt:
        return
    if final.get("state") == "failed":
        raise ConsoleError(failure_message(final))
