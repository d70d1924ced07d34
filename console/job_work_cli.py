"""`corral jobs preempt|usurp|reset-failures`: act on the work of several jobs at once,
all or none (POST /api/v1/jobs/actions/{action})."""

from __future__ import annotations

from typing import Any

import click

from console.auth import CliState
from console.clikit import json_option, pass_state, show
from console.completion import complete_jobs
from console.http import DispatcherClient

JOBS_ARGUMENT = click.argument(
    "job_refs", nargs=-1, required=True, metavar="JOB...", shell_complete=complete_jobs
)


def work(
    client: DispatcherClient, action: str, refs: tuple[str, ...], **options: Any
) -> dict[str, Any]:
    """Send one action over the jobs `refs` (ids or titles) and answer the dispatcher's reply."""
    body: dict[str, Any] = {"jobs": [client.job_id(ref) for ref in refs], **options}
    return dict(client.request("POST", f"/jobs/actions/{action}", body=body) or {})


def _summary(answer: dict[str, Any], verb: str) -> str:
    counts = answer.get("chunks") or {}
    if not counts:
        return f"no job {verb}"
    return "\n".join(f"job {job}: {count} chunk(s) {verb}" for job, count in counts.items())


@click.command("preempt")
@JOBS_ARGUMENT
@json_option
@pass_state
def jobs_preempt(state: CliState, job_refs: tuple[str, ...], as_json: bool) -> None:
    """Stop the running chunks of JOB...: killed on their nodes and queued again; the jobs
    stay queued.

    \b
    corral jobs preempt sim render
    """
    answer = work(state.client(), "preempt", job_refs)
    show(as_json, answer, _summary(answer, "requeued"))


@click.command("usurp")
@JOBS_ARGUMENT
@click.option("--minimum-priority", type=int, metavar="N",
              help="Preempt jobs below N (default: the lowest priority of JOB...).")  # fmt: skip
@json_option
@pass_state
def jobs_usurp(
    state: CliState, job_refs: tuple[str, ...], minimum_priority: int | None, as_json: bool
) -> None:
    """Preempt every other job running below JOB...'s priority, so that the farm turns to
    JOB....

    \b
    corral jobs usurp hero-shot --minimum-priority 80
    """
    options = {} if minimum_priority is None else {"minimum_priority": minimum_priority}
    answer = work(state.client(), "usurp", job_refs, **options)
    show(as_json, answer, _summary(answer, "requeued"))


@click.command("reset-failures")
@JOBS_ARGUMENT
@json_option
@pass_state
def jobs_reset_failures(state: CliState, job_refs: tuple[str, ...], as_json: bool) -> None:
    """Queue the failed chunks of JOB... again with their retries, and let nodes that
    excluded the jobs run them again (manage-nodes).

    \b
    corral jobs reset-failures shot010
    """
    answer = work(state.client(), "reset-failures", job_refs)
    show(as_json, answer, _summary(answer, "queued again"))


JOB_WORK_COMMANDS = (jobs_preempt, jobs_usurp, jobs_reset_failures)
