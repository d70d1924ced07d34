"""The console commands of `corral`: submit, jobs, nodes, logs, why (watch: watch_cli.py).

They talk to the dispatcher's REST API through `DispatcherClient`; the group in
`console.cli` puts a `console.auth.CliState` (the global options) on the context.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from decimal import Decimal
from typing import IO, Any

import click

from console import jobfile
from console.auth import CliState
from console.clikit import for_each
from console.completion import complete_jobs, complete_pools
from console.formatting import (
    job_details,
    jobs_table,
    nodes_table,
    printable,
    submitted_line,
    tasks_table,
    to_json,
    why_lines,
)
from console.http import DispatcherClient
from console.watch_cli import stdout_console, watch, watch_jobs_list
from corral_client import query
from dispatcher.model import frame, parse_frame_range

JOB_STATES = ("queued", "running", "done", "failed", "paused")
DEPEND_MODES = ("success", "failure", "always")
FINAL_STATES = ("done", "failed")


pass_state = click.make_pass_decorator(CliState, ensure=True)
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")


def echo_json(value: Any) -> None:
    click.echo(to_json(value))


# -- parsing -------------------------------------------------------------------


def _number(value: Decimal) -> int | float:
    return int(value) if value == value.to_integral_value() else float(value)


def parse_frames(text: str) -> tuple[int | float, int | float]:
    """'1-100' -> (1, 100); '-10--1' -> (-10, -1); '1.5-3' -> (1.5, 3)."""
    try:
        start, end = parse_frame_range(text)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="'--frames'") from None
    if end < start:
        raise click.BadParameter(
            f"{text!r}: the last frame is before the first", param_hint="'--frames'"
        )
    return _number(start), _number(end)


def parse_step(text: str) -> int | float:
    try:
        value = frame(text)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="'--by'") from None
    if value <= 0:
        raise click.BadParameter("must be positive", param_hint="'--by'")
    return _number(value)


def parse_pairs(values: Iterable[str], option: str) -> dict[str, str]:
    """['K=V', 'A=b=c'] -> {'K': 'V', 'A': 'b=c'}; the last of a repeated key wins."""
    result: dict[str, str] = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"{item!r} is not KEY=VALUE", param_hint=f"'{option}'")
        result[key.strip()] = value
    return result


def job_body(
    options: Mapping[str, Any], command: Sequence[str], depends_on: Sequence[int] = ()
) -> dict[str, Any]:
    """The POST /jobs/ body from `corral submit`'s options (click's names); click errors."""
    name, template = options["name"] or "", options["template"] or "cmdline"
    if not name.strip():
        raise click.BadParameter("must not be empty", param_hint="'--name'")
    if template == "cmdline" and not command:
        raise click.UsageError(
            "the cmdline template needs a command: corral submit ... -- COMMAND ARGS..."
        )
    body: dict[str, Any] = {"title": name, "template": template}
    # Frames only when given: a template's frame items (--set KATSTARTFRAME=...) or
    # the dispatcher's default (1) decide otherwise.
    if options.get("frames"):
        body["start"], body["end"] = parse_frames(options["frames"])
    if options.get("by"):
        body["by"] = parse_step(options["by"])
    body["batch"] = options["packet"] or 1
    if command:
        body["command"] = list(command)
    renamed = {"priority": "priority", "max_nodes": "max_nodes", "requeue": "requeue",
               "time_limit": "time_limit_s", "notes": "notes"}  # fmt: skip
    for option, key in renamed.items():
        if options.get(option) is not None:
            body[key] = options[option]
    if pools := [pool for pool in options.get("pools", ()) if pool]:
        body["pools"] = pools
    if excluded := [pool for pool in options.get("exclude_pools", ()) if pool]:
        body["excluded_pools"] = excluded
    if depends_on:
        mode = options.get("depend_mode") or "success"
        body["depends_on"] = [{"job": job_id, "mode": mode} for job_id in depends_on]
    if options.get("per_frame"):
        body["per_frame"] = True
    if environ := parse_pairs(options.get("env", ()), "--env"):
        body["environ"] = environ
    if data := parse_pairs(options.get("attrs", ()), "--attr"):
        body["data"] = data
    if options.get("paused"):
        body["paused"] = True
    return body


def read_job_file(stream: IO[str]) -> dict[str, Any] | list[dict[str, Any]]:
    """The POST /jobs/ body of a job file (console/jobfile.py): JSON, or TOML for a
    `.toml` name (standard input: JSON, else TOML). One job object stays one object;
    several are put in dependency order with their names resolved."""
    name = str(getattr(stream, "name", ""))
    text = stream.read(jobfile.MAX_FILE_BYTES + 1)
    try:
        if len(text) > jobfile.MAX_FILE_BYTES:
            raise jobfile.JobFileError(f"the file is over {jobfile.MAX_FILE_BYTES} bytes")
        if name.endswith(".toml"):
            jobs, single = jobfile.parse_text(text, toml=True)
        elif name.endswith(".json"):
            jobs, single = jobfile.parse_text(text, toml=False)
        else:
            jobs, single = jobfile.parse_either(text)
        body = jobfile.order(jobs)
    except jobfile.JobFileError as exc:
        raise click.BadParameter(str(exc), param_hint="'--file'") from None
    return body[0] if single else body


# -- submit --------------------------------------------------------------------


@click.command(context_settings={"allow_interspersed_args": True})
@click.option(
    "--file",
    "job_file",
    type=click.File("r"),
    help="Submit jobs from a JSON or TOML file (- is stdin); dependencies by name.",
)
@click.option("--template", help="Template key or id.  [default: cmdline]")
@click.option("--name", help="The job's title.")
@click.option("--frames", help="First-last frame, e.g. 1-100, -10--1, 1.5-3.  [default: 1]")
@click.option("--by", help="Frame step.  [default: 1]")
@click.option(
    "--packet", type=click.IntRange(min=1), default=1, show_default=True, help="Frames per chunk."
)
@click.option("--priority", type=click.IntRange(0, 65535), help="Higher runs first.  [default: 50]")
@click.option("--pool", "pools", multiple=True, shell_complete=complete_pools,
              help="Run only on nodes of this pool (repeat).")  # fmt: skip
@click.option(
    "--exclude-pool",
    "exclude_pools",
    multiple=True,
    shell_complete=complete_pools,
    help="Never run on nodes of this pool.",
)
@click.option(
    "--max-nodes", type=click.IntRange(min=0), help="At most N nodes at once (0: no limit)."
)
@click.option(
    "--depends-on",
    multiple=True,
    metavar="JOB",
    shell_complete=complete_jobs,
    help="Wait for this job (id or title; repeat).",
)
@click.option("--per-frame", is_flag=True, help="Wait per frame, not for the whole job.")
@click.option(
    "--depend-mode", type=click.Choice(DEPEND_MODES), default="success", show_default=True
)
@click.option(
    "--requeue", type=click.IntRange(min=0), help="Retries of a failed chunk.  [default: 3]"
)
@click.option(
    "--time-limit",
    type=click.FloatRange(min=0),
    metavar="SECONDS",
    help="Kill a chunk after this long.",
)
@click.option("--env", multiple=True, metavar="K=V", help="Environment variable for the command.")
@click.option(
    "--set",
    "--attr",
    "attrs",
    multiple=True,
    metavar="K=V",
    help="A template field (submission item, e.g. KATFILENAME=...) or attribute (job data).",
)
@click.option("--notes", help="Free text shown with the job.")
@click.option("--paused", is_flag=True, help="Submit paused.")
@click.option(
    "--idempotency-key",
    metavar="KEY",
    help="Send this Idempotency-Key: running the same submit again answers its first jobs.",
)
@json_option
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
@pass_state
def submit(state: CliState, /, job_file: IO[str] | None, as_json: bool, **options: Any) -> None:
    """Submit a job: options and `-- COMMAND ARGS...`, or jobs from --file.

    A file (JSON, or TOML named *.toml) holds one job or many with the REST
    fields; a job's `depends_on = ["sim"]` names another job of the file (its
    `name`, else its `title`). The jobs go in dependency order in one request;
    an unknown name or a cycle refuses the whole file (exit 2).

    \b
    corral submit --name shot010 --frames 1-100 --packet 10 -- render -f {start} -l {end}
    corral submit --file jobs.toml
    """
    command = options.pop("command")
    idempotency_key = options.pop("idempotency_key")
    ctx = click.get_current_context()
    if job_file is not None:
        given = [
            name
            for name in options
            if ctx.get_parameter_source(name) is not click.core.ParameterSource.DEFAULT
        ]
        if given or command:
            raise click.UsageError("--file cannot be combined with job options or a command")
        body: Any = read_job_file(job_file)
    else:
        if not options["name"]:
            raise click.UsageError("missing option '--name' (or give --file)")
        refs = options["depends_on"]
        depends = [state.client().job_id(ref) for ref in refs] if refs else []
        body = job_body(options, command, depends)
    created = state.client().submit(body, idempotency_key=idempotency_key)
    if as_json:
        echo_json(created)
        return
    for job in created if isinstance(created, list) else [created]:
        click.echo(submitted_line(job))


# -- jobs ----------------------------------------------------------------------


@click.group()
def jobs() -> None:
    """List, inspect and change jobs."""


@jobs.command("list")
@click.option(
    "--state", "job_state", type=click.Choice(JOB_STATES), help="Only jobs in this state."
)
@click.option("--all", "show_all", is_flag=True, help="Hidden jobs too.")
@click.option(
    "--where",
    "wheres",
    multiple=True,
    metavar="QUERY",
    help='Only jobs a Smedge query matches: JSON (\'["Priority", "<", 50]\') or one term '
    "FIELD OP VALUE ('Priority<50', 'Creator contains joe'); repeat: all must hold.",
)
@click.option("--watch", "watching", is_flag=True, help="Keep following changes (live events).")
@json_option
@pass_state
def jobs_list(
    state: CliState,
    job_state: str | None,
    show_all: bool,
    wheres: tuple[str, ...],
    as_json: bool,
    watching: bool,
) -> None:
    """List jobs: id, title, state, progress, chunks, priority, user, template.

    Jobs submitted as hidden are left out unless --all.
    With --watch the table is kept current from the live events until Ctrl-C
    (with --json: a snapshot line, then one JSON event per line).
    --where filters with Smedge's query grammar (docs/cli.md, "Queries").
    """
    where = where_query(wheres)
    if watching:
        if where is not None:
            raise click.UsageError("--where does not go with --watch")
        with contextlib.suppress(KeyboardInterrupt):
            watch_jobs_list(state.client(), job_state, as_json, stdout_console(), show_all=show_all)
        return
    found = state.client().jobs(job_state, hidden=None if show_all else False, where=where)
    if as_json:
        echo_json(found)
    elif found:
        stdout_console().print(jobs_table(found))
    else:
        click.echo(
            "no jobs"
            + (f" in state {job_state}" if job_state else "")
            + (" matching the query" if where is not None else "")
        )


def where_query(wheres: Sequence[str]) -> str | None:
    """The --where options as one query's JSON text (None without any); a query that is
    neither JSON nor a shorthand term is a usage error (exit 2)."""
    if not wheres:
        return None
    try:
        return query.to_json(query.combine([query.parse_where(text) for text in wheres]))
    except query.QueryError as exc:
        raise click.BadParameter(str(exc), param_hint="'--where'") from None


@jobs.command("show")
@click.argument("job", shell_complete=complete_jobs)
@json_option
@pass_state
def jobs_show(state: CliState, job: str, as_json: bool) -> None:
    """Show one job (id or title)."""
    found = state.client().job(job)
    if as_json:
        echo_json(found)
    else:
        stdout_console().print(job_details(found))


def _for_each(refs: Iterable[str], act: Callable[[int], str], client: DispatcherClient) -> None:
    """Apply `act` to every job; report refusals one line each and go on with the rest
    (a progress bar on a terminal for several jobs)."""
    for_each(refs, "job", lambda ref: act(client.job_id(ref)))


def _action_command(action: str, past: str, summary: str) -> click.Command:
    @click.argument("job_refs", nargs=-1, required=True, metavar="JOB...",
                    shell_complete=complete_jobs)  # fmt: skip
    @json_option
    @pass_state
    def command(state: CliState, job_refs: tuple[str, ...], as_json: bool) -> None:
        client = state.client()

        def act(job_id: int) -> str:
            job = client.job_action(job_id, action)
            return f'{past} job {job_id} "{job.get("title", "")}"'

        _for_each(job_refs, act, client)

    command.__doc__ = summary
    return jobs.command(action)(command)


_action_command("pause", "paused", "Pause jobs: no new chunks start; running ones finish.")
_action_command("resume", "resumed", "Resume paused jobs.")
_action_command("reinit", "reinitialized", "Requeue every chunk of jobs, as if new.")


@jobs.command("delete")
@click.argument("job_refs", nargs=-1, required=True, metavar="JOB...", shell_complete=complete_jobs)
@json_option
@pass_state
def jobs_delete(state: CliState, job_refs: tuple[str, ...], as_json: bool) -> None:
    """Delete jobs; their running chunks are killed."""
    client = state.client()

    def act(job_id: int) -> str:
        client.delete_job(job_id)
        return f"deleted job {job_id}"

    _for_each(job_refs, act, client)


@jobs.command("set")
@click.argument("job", shell_complete=complete_jobs)
@click.option("--priority", type=click.IntRange(0, 65535))
@click.option("--name", help="New title.")
@click.option("--max-nodes", type=click.IntRange(min=0))
@click.option(
    "--pool",
    "pools",
    multiple=True,
    shell_complete=complete_pools,
    help="Replace the pools (repeat; --pool '' clears).",
)
@click.option("--requeue", type=click.IntRange(min=0))
@click.option("--time-limit", type=click.FloatRange(min=0), metavar="SECONDS")
@click.option("--notes")
@click.option("--paused/--not-paused", default=None)
@json_option
@pass_state
def jobs_set(state: CliState, /, job: str, as_json: bool, **options: Any) -> None:
    """Change a job's settings."""
    names = {"name": "title", "time_limit": "time_limit_s", "pools": "pools"}
    fields: dict[str, Any] = {}
    for key, value in options.items():
        if value is None or (key == "pools" and not value):
            continue
        fields[names.get(key, key)] = value
    if "pools" in fields:
        fields["pools"] = [pool for pool in fields["pools"] if pool]
    if not fields:
        raise click.UsageError("nothing to change: give at least one option")
    client = state.client()
    changed = client.edit_job(client.job_id(job), fields)
    if as_json:
        echo_json(changed)
    else:
        click.echo(printable(f'updated job {changed.get("id")} "{changed.get("title", "")}"'))


# -- nodes, logs, why ----------------------------------------------------------


@click.group()
def nodes() -> None:
    """Render nodes."""


@nodes.command("list")
@json_option
@pass_state
def nodes_list(state: CliState, as_json: bool) -> None:
    """List render nodes: state, pools and what they run."""
    found = state.client().nodes()
    if as_json:
        echo_json(found)
    elif found:
        stdout_console().print(nodes_table(found))
    else:
        click.echo("no nodes")


@click.command()
@click.argument("job", shell_complete=complete_jobs)
@click.argument("chunk", type=click.IntRange(min=0), required=False)
@click.option("--attempt", type=click.IntRange(min=1), help="An earlier attempt's log.")
@json_option
@pass_state
def logs(state: CliState, job: str, chunk: int | None, attempt: int | None, as_json: bool) -> None:
    """Print a chunk's log; without CHUNK (0-based), list the job's chunks."""
    client = state.client()
    job_id = client.job_id(job)
    if chunk is None:
        if attempt is not None:
            raise click.UsageError("--attempt needs a CHUNK")
        tasks = client.tasks(job_id)
        if as_json:
            echo_json(tasks)
        else:
            stdout_console().print(tasks_table(tasks))
        return
    text = client.chunk_log(job_id, chunk, attempt)
    if as_json:
        echo_json({"job": job_id, "chunk": chunk, "attempt": attempt, "log": text})
    else:
        click.echo(printable(text, lines=True), nl=not text.endswith("\n"))


@click.command()
@click.argument("job", shell_complete=complete_jobs)
@json_option
@pass_state
def why(state: CliState, job: str, as_json: bool) -> None:
    """Explain why a job is not running."""
    client = state.client()
    job_id = client.job_id(job)
    answer = client.why(job_id)
    if as_json:
        echo_json(answer)
    else:
        title = "" if job.strip().isdecimal() else job.strip()
        for line in why_lines(answer, title):
            click.echo(line)


COMMANDS: tuple[click.Command, ...] = (submit, jobs, nodes, logs, why, watch)
