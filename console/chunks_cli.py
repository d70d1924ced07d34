"""`corral chunks list|show|log|avoid|allow` (beside requeue, skip and complete in
nodes_cli.py): a job's chunks, counted from 0, over the REST API's tasks."""

from __future__ import annotations

from typing import Any

import click

from console.auth import CliState
from console.clikit import (
    json_option,
    pass_state,
    print_sheet,
    print_table,
    segment,
    show,
    show_rows,
)
from console.completion import complete_jobs, complete_nodes
from console.formatting import printable, tasks_table
from console.http import DispatcherClient
from console.watch_cli import stdout_console

LOG_READ_S = 30.0
FAILED_ON_COLUMNS = (("NODE", "hostname"), ("UUID", "id"))


def _task(client: DispatcherClient, job: str, chunk: int) -> tuple[int, int]:
    job_id = client.job_id(job)
    return job_id, client.task_id(job_id, chunk)


def _node_uuid(client: DispatcherClient, node: str) -> str:
    return str(client.request("GET", f"/nodes/{segment(node)}")["uuid"])


job_argument = click.argument("job", shell_complete=complete_jobs)
chunk_argument = click.argument("chunk", type=click.IntRange(min=0))


@click.command("list")
@job_argument
@click.option("--state", "chunk_state",
              type=click.Choice(("queued", "running", "done", "failed", "skipped")),
              help="Only chunks in this state.")  # fmt: skip
@json_option
@pass_state
def chunks_list(state: CliState, job: str, chunk_state: str | None, as_json: bool) -> None:
    """List a job's chunks: frames, state, node, attempts, exit code, error.

    \b
    corral chunks list shot010 --state failed
    """
    client = state.client()
    job_id = client.job_id(job)
    found = list(
        client.request("GET", f"/jobs/{job_id}/tasks/", query={"state": chunk_state}) or []
    )
    show(as_json, found, lambda: stdout_console().print(tasks_table(found)))


@click.command("show")
@job_argument
@chunk_argument
@json_option
@pass_state
def chunks_show(state: CliState, job: str, chunk: int, as_json: bool) -> None:
    """Show one chunk with every attempt it had.

    \b
    corral chunks show shot010 3
    """
    client = state.client()
    job_id, task = _task(client, job, chunk)
    found = dict(client.request("GET", f"/jobs/{job_id}/tasks/{task}"))
    runs = found.get("runs") or []

    def people() -> None:
        print_sheet({key: value for key, value in found.items() if key != "runs"})
        if runs:
            click.echo("attempts:")
            print_table(runs, [(key.upper(), key) for key in runs[0]])

    show(as_json, found, people)


@click.command("log")
@job_argument
@chunk_argument
@click.option("--attempt", type=click.IntRange(min=1), help="An earlier attempt's log.")
@click.option(
    "--follow", "-f", is_flag=True, help="Go on printing what the running attempt writes."
)
@click.option("--follow-s", type=click.FloatRange(min=1), default=600, show_default=True,
              help="With --follow: stop after this long.")  # fmt: skip
@json_option
@pass_state
def chunks_log(
    state: CliState, job: str, chunk: int, attempt: int | None, follow: bool, follow_s: float,
    as_json: bool,
) -> None:  # fmt: skip
    """Print a chunk's log (as `corral logs JOB CHUNK`), or follow it live.

    \b
    corral chunks log shot010 3
    corral chunks log shot010 3 --follow
    """
    client = state.client()
    job_id = client.job_id(job)
    if not follow:
        text = client.chunk_log(job_id, chunk, attempt)
        if as_json:
            show(True, {"job": job_id, "chunk": chunk, "attempt": attempt, "log": text}, "")
        else:
            click.echo(printable(text, lines=True), nl=not text.endswith("\n"))
        return
    if as_json:
        raise click.UsageError("--follow prints the log as it comes; --json cannot")
    client.task_id(job_id, chunk)  # not found before the stream opens
    query: dict[str, Any] = {"follow": "true", "follow_s": follow_s, "attempt": attempt}
    stream_text(client, f"/logs/chunks/{job_id}/{chunk}", query)


def stream_text(client: DispatcherClient, path: str, query: dict[str, Any]) -> None:
    """Print a followed text answer as it comes, until it ends or Ctrl-C."""
    with client.open_stream(path, query, LOG_READ_S) as answer:
        try:
            while True:
                data = answer.read1(65536)
                if not data:
                    return
                click.echo(printable(data.decode("utf-8", "replace"), lines=True), nl=False)
        except KeyboardInterrupt:
            return


@click.command("failed-on")
@job_argument
@chunk_argument
@json_option
@pass_state
def chunks_failed_on(state: CliState, job: str, chunk: int, as_json: bool) -> None:
    """The nodes a chunk failed on (its retries avoid them).

    \b
    corral chunks failed-on shot010 3
    """
    client = state.client()
    job_id, task = _task(client, job, chunk)
    found = list(client.request("GET", f"/jobs/{job_id}/tasks/{task}/failed_on_agents/") or [])
    show_rows(as_json, found, FAILED_ON_COLUMNS, "none")


@click.command("avoid")
@job_argument
@chunk_argument
@click.argument("node", shell_complete=complete_nodes)
@json_option
@pass_state
def chunks_avoid(state: CliState, job: str, chunk: int, node: str, as_json: bool) -> None:
    """Keep a chunk off a node (as if it had failed there) while another can run it.

    \b
    corral chunks avoid shot010 3 render7
    """
    client = state.client()
    job_id, task = _task(client, job, chunk)
    body = {"id": _node_uuid(client, node)}
    found = client.request("POST", f"/jobs/{job_id}/tasks/{task}/failed_on_agents/", body=body)
    show(as_json, found, f"job {job_id} chunk {chunk} avoids node {node}")


@click.command("allow")
@job_argument
@chunk_argument
@click.argument("node", shell_complete=complete_nodes)
@json_option
@pass_state
def chunks_allow(state: CliState, job: str, chunk: int, node: str, as_json: bool) -> None:
    """Let a chunk run on a node it failed on (or avoided) again.

    \b
    corral chunks allow shot010 3 render7
    """
    client = state.client()
    job_id, task = _task(client, job, chunk)
    uuid = _node_uuid(client, node)
    client.request("DELETE", f"/jobs/{job_id}/tasks/{task}/failed_on_agents/{segment(uuid)}")
    answer = {"job": job_id, "chunk": chunk, "node": node, "allowed": True}
    show(as_json, answer, f"job {job_id} chunk {chunk} may run on node {node} again")


CHUNK_COMMANDS = (
    chunks_list,
    chunks_show,
    chunks_log,
    chunks_failed_on,
    chunks_avoid,
    chunks_allow,
)
