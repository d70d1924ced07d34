"""More `corral jobs` verbs: `wait` for several jobs with progress bars, `schema`, and
`notify list|add|remove` (the users told when a job ends). `jobs move` is in
folders_cli.py."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import click
from rich.console import Console

from console.auth import CliState
from console.clikit import (
    for_each,
    json_option,
    listing,
    pass_state,
    print_table,
    segment,
    show,
    show_rows,
)
from console.completion import complete_jobs
from console.formatting import make_progress, printable, state_cell
from console.http import ConsoleError, DispatcherClient

FINAL_STATES = ("done", "failed")
CONNECT_WAIT_S = 10.0


class WaitFailed(ConsoleError):
    """A job waited for failed, was deleted, or the wait timed out."""


def _done_chunks(job: Mapping[str, Any]) -> int:
    counts = job.get("chunks") or {}
    return int(counts.get("done") or 0) + int(counts.get("skipped") or 0)


def wait_jobs(
    client: DispatcherClient, job_ids: list[int], timeout_s: float | None, console: Console
) -> dict[int, dict[str, Any]]:
    """Follow the jobs' events until each is done or failed; their last views. A terminal
    shows a progress bar per job, a pipe one line per job as it ends. WaitFailed on a
    timeout or a deleted job."""
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    with client.follow(jobs=job_ids, kinds=("job", "progress")) as events:
        events.wait_connected(CONNECT_WAIT_S)
        jobs = {job_id: client.job(job_id) for job_id in job_ids}
        progress = make_progress(console) if console.is_terminal else None
        tasks = {}
        if progress is not None:
            for job_id in job_ids:
                tasks[job_id] = progress.add_task(f"job {job_id}", total=1, running=0, state="")
            progress.start()
        told: set[int] = set()
        try:
            for event in _first(events):
                for job_id in _touched(event, jobs):
                    if event.kind == "job" and event.data.get("action") == "delete":
                        raise WaitFailed(f"job {job_id} was deleted")
                    if jobs[job_id].get("state") not in FINAL_STATES:
                        jobs[job_id] = client.job(job_id)
                for job_id, job in jobs.items():
                    ended = job.get("state") in FINAL_STATES
                    if progress is not None:
                        counts = job.get("chunks") or {}
                        progress.update(tasks[job_id], total=max(1, int(counts.get("total") or 0)),
                                        completed=_done_chunks(job),
                                        running=int(counts.get("running") or 0),
                                        state=state_cell(job.get("state")))  # fmt: skip
                    elif ended and job_id not in told:
                        console.out(printable(f"job {job_id} {job.get('state')}"), highlight=False)
                    if ended:
                        told.add(job_id)
                if len(told) == len(jobs):
                    return jobs
                if deadline is not None and time.monotonic() > deadline:
                    left = ", ".join(str(job_id) for job_id in jobs if job_id not in told)
                    raise WaitFailed(f"timed out after {timeout_s:g} s; still running: {left}")
        finally:
            if progress is not None:
                progress.stop()
    raise AssertionError("the event stream ended")  # it only ends by raising


def _touched(event: Any, jobs: Mapping[int, Any]) -> list[int]:
    """The jobs waited for that an event is about (job events name `jobs`, the others
    `job`)."""
    if event is None:
        return []
    named = [event.data.get("job"), *(event.data.get("jobs") or [])]
    return [job_id for job_id in named if isinstance(job_id, int) and job_id in jobs]


def _first(events: Any) -> Any:
    yield None
    yield from events


@click.command("wait")
@click.argument("job_refs", nargs=-1, required=True, metavar="JOB...", shell_complete=complete_jobs)
@click.option("--timeout", "timeout_s", type=click.FloatRange(min=0), metavar="SECONDS",
              help="Give up after this long (exit 1).")  # fmt: skip
@json_option
@pass_state
def jobs_wait(
    state: CliState, job_refs: tuple[str, ...], timeout_s: float | None, as_json: bool
) -> None:
    """Wait until every JOB is done or failed: exit 0 when all are done, 1 otherwise.

    A terminal shows a progress bar per job; a pipe one line per job as it ends.

    \b
    corral jobs wait sim render --timeout 3600
    """
    client = state.client()
    job_ids = list(dict.fromkeys(client.job_id(ref) for ref in job_refs))
    console = Console(highlight=False, soft_wrap=False, stderr=as_json)
    try:
        jobs = wait_jobs(client, job_ids, timeout_s, console)
    except KeyboardInterrupt:
        raise click.Abort() from None
    if as_json:
        show(True, [jobs[job_id] for job_id in job_ids], "")
    failed = [str(job_id) for job_id, job in jobs.items() if job.get("state") != "done"]
    if failed:
        raise WaitFailed(f"job {', '.join(failed)} failed")


@click.command("schema")
@json_option
@pass_state
def jobs_schema(state: CliState, as_json: bool) -> None:
    """The job fields the REST API takes, with their types (PyFarm's schema).

    \b
    corral jobs schema
    """
    found = dict(state.client().request("GET", "/jobs/schema") or {})
    rows = [{"field": key, "type": value} for key, value in sorted(found.items())]
    show(as_json, found, lambda: print_table(rows, (("FIELD", "field"), ("TYPE", "type"))))


# -- notified users ------------------------------------------------------------------


@click.group("notify")
def notify() -> None:
    """The users told (e-mail, webhook) when a job succeeds, fails or is deleted."""


NOTIFY_COLUMNS = (("USER", "username"), ("E-MAIL", "email"), ("SUCCESS", "on_success"),
                  ("FAILURE", "on_failure"), ("DELETION", "on_deletion"), ("WEBHOOK", "webhook"))  # fmt: skip


@notify.command("list")
@click.argument("job", shell_complete=complete_jobs)
@json_option
@pass_state
def notify_list(state: CliState, job: str, as_json: bool) -> None:
    """The users told about JOB.

    \b
    corral jobs notify list shot010
    """
    client = state.client()
    found = listing(client, f"/jobs/{client.job_id(job)}/notified_users/")
    show_rows(as_json, found, NOTIFY_COLUMNS, "nobody")


@notify.command("add")
@click.argument("job", shell_complete=complete_jobs)
@click.argument("user")
@click.option("--on-success/--no-on-success", default=True, show_default=True)
@click.option("--on-failure/--no-on-failure", default=True, show_default=True)
@click.option("--on-deletion/--no-on-deletion", default=False, show_default=True)
@click.option("--webhook", metavar="URL", help="Also call this http(s) URL.")
@json_option
@pass_state
def notify_add(
    state: CliState, job: str, user: str, on_success: bool, on_failure: bool,
    on_deletion: bool, webhook: str | None, as_json: bool,
) -> None:  # fmt: skip
    """Tell USER when JOB ends (or change what they are told).

    \b
    corral jobs notify add shot010 bob --on-deletion --webhook https://chat.example/hook
    """
    client = state.client()
    body: dict[str, Any] = {"username": user, "on_success": on_success,
                            "on_failure": on_failure, "on_deletion": on_deletion}  # fmt: skip
    if webhook is not None:
        body["webhook"] = webhook
    job_id = client.job_id(job)
    found = dict(client.request("POST", f"/jobs/{job_id}/notified_users/", body=body) or {})
    show(as_json, found, f"job {job_id} tells {user}")


@notify.command("remove")
@click.argument("job", shell_complete=complete_jobs)
@click.argument("users", nargs=-1, required=True, metavar="USER...")
@json_option
@pass_state
def notify_remove(state: CliState, job: str, users: tuple[str, ...], as_json: bool) -> None:
    """Stop telling users about JOB.

    \b
    corral jobs notify remove shot010 bob
    """
    client = state.client()
    job_id = client.job_id(job)

    def act(user: str) -> str:
        client.request("DELETE", f"/jobs/{job_id}/notified_users/{segment(user)}")
        return f"job {job_id} no longer tells {user}"

    for_each(users, "user", act)


JOB_COMMANDS = (jobs_wait, jobs_schema, notify)
