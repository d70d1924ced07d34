"""Console commands that drive render nodes and chunks.

`corral nodes kill|kill-pause|kill-restart|pause|resume|update|soft-restart|remove
NODE...`, `nodes priority|purge-exclusions|exclude|realtime-log|system-event|run-python|
notes|show|hosts|pools`, `corral chunks requeue|skip|complete JOB CHUNK...` and
`corral jobs kill-nodes JOB --then pause|redo|go-on`. They call the REST API
(`/api/v1/nodes/{node}/actions/{action}`); `install_node_commands` adds them to
the `corral` group's `nodes` and `jobs` groups and adds the `chunks` group.
"""

from __future__ import annotations

from typing import Any

import click

from console.auth import CliState
from console.clikit import for_each
from console.completion import complete_jobs, complete_nodes
from console.formatting import printable
from console.http import ConsoleError, DispatcherClient, job_ref

pass_state = click.make_pass_decorator(CliState, ensure=True)
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")

SYSTEM_EVENTS = ("shutdown", "reboot", "logoff")
THEN_CHOICES = ("pause", "redo", "go-on")
CHUNK_STATES = {"requeue": "queued", "skip": "skipped", "complete": "done"}


def node_ref(value: str) -> str:
    """A node id or name as one URL path segment."""
    return job_ref(value)


def node_action(
    client: DispatcherClient, node: str, action: str, body: dict[str, Any] | None = None
) -> dict[str, Any]:
    answer = client.request(
        "POST", f"/nodes/{node_ref(node)}/actions/{action}", body=body if body is not None else {}
    )
    return dict(answer or {})


_for_each = for_each  # a refusal is reported on one line and the rest go on


def _answer(answer: dict[str, Any], as_json: bool) -> None:
    """A node action's answer: the whole of it as JSON, or its output for people."""
    if as_json:
        _echo_json(answer)
    else:
        click.echo(printable(answer["output"], lines=True))


def _echo_json(value: Any) -> None:
    from console.formatting import to_json

    click.echo(to_json(value))


# -- nodes ---------------------------------------------------------------------

SIMPLE_ACTIONS = {
    "kill": "Kill the renders running on nodes; their chunks go back to the queue.",
    "kill-pause": "Kill the renders on nodes and pause the nodes.",
    "kill-restart": "Kill the renders on nodes and start the same chunks again there.",
    "pause": "Pause nodes: they take no new chunks; running ones finish.",
    "resume": "Resume paused nodes.",
    "update": "Ask nodes for a fresh status (resources, running chunks).",
    "soft-restart": "Restart the render client process of nodes (same node ids).",
    "remove": "Remove the registration of offline nodes.",
    "reset-key": "Reset nodes' keys: the next render client under each name gets a new one.",
}


def _simple_command(action: str, summary: str) -> click.Command:
    @click.argument("nodes", nargs=-1, required=True, metavar="NODE...",
                    shell_complete=complete_nodes)  # fmt: skip
    @json_option
    @pass_state
    def command(state: CliState, nodes: tuple[str, ...], as_json: bool) -> None:
        client = state.client()
        _for_each(nodes, "node", lambda node: node_action(client, node, action)["output"])

    command.__doc__ = summary
    return click.command(action)(command)


@click.command("show")
@click.argument("node", shell_complete=complete_nodes)
@json_option
@pass_state
def nodes_show(state: CliState, node: str, as_json: bool) -> None:
    """Show one node: state, resources, running chunks, exclusions."""
    found = dict(state.client().request("GET", f"/nodes/{node_ref(node)}"))
    if as_json:
        _echo_json(found)
        return
    for line in node_lines(found):
        click.echo(printable(line))


def _mb(value: Any) -> str:
    return "-" if value is None else f"{int(value) // (1024 * 1024)} MB"


def node_lines(node: dict[str, Any]) -> list[str]:
    state = "online" if node.get("online") else "offline"
    if node.get("paused"):
        state += ", paused"
    lines = [
        f"node {node.get('id')} {node.get('name')} ({state}) host {node.get('host') or '-'}",
        f"  pools: {', '.join(node.get('pools') or []) or '-'}",
    ]
    resources = node.get("resources") or {}
    if resources:
        lines.append(
            f"  cpu: {resources.get('cpu_percent', '-')}% of {resources.get('cpus', '-')}"
            f"  memory available: {_mb(resources.get('memory_available_bytes'))}"
            f" of {_mb(resources.get('memory_total_bytes'))}"
        )
        gpus = resources.get("gpus")
        lines.append(f"  gpus: {'none found' if gpus is None else len(gpus)}")
    for run in node.get("running") or []:
        lines.append(f"  running: job {run['job']} chunk {run['chunk']} attempt {run['attempt']}")
    excluded_jobs = node.get("excluded_jobs") or []
    excluded_templates = node.get("excluded_templates") or []
    lines.append(f"  excluded jobs: {', '.join(map(str, excluded_jobs)) or '-'}")
    lines.append(f"  excluded templates: {', '.join(map(str, excluded_templates)) or '-'}")
    if node.get("notes"):
        lines.append(f"  notes: {node['notes']}")
    return lines


@click.command("hosts")
@json_option
@pass_state
def nodes_hosts(state: CliState, as_json: bool) -> None:
    """Per host: its instances, CPU, memory and GPUs."""
    hosts = list(state.client().request("GET", "/hosts/") or [])
    if as_json:
        _echo_json(hosts)
        return
    if not hosts:
        click.echo("no hosts")
    for host in hosts:
        resources = host.get("resources") or {}
        names = ", ".join(node["name"] for node in host.get("nodes", []))
        click.echo(
            printable(
                f"{host.get('host') or '?'}: nodes {names}; cpu {resources.get('cpu_percent', '-')}%"
                f"; memory available {_mb(resources.get('memory_available_bytes'))}"
                f" of {_mb(resources.get('memory_total_bytes'))}; renders {host.get('renders', 0)}"
            )
        )


@click.command("priority", context_settings={"ignore_unknown_options": True})
@click.argument("node", shell_complete=complete_nodes)
@click.argument("priority", type=click.IntRange(-20, 19), metavar="N")
@json_option
@pass_state
def nodes_priority(state: CliState, node: str, priority: int, as_json: bool) -> None:
    """Set the process priority (nice -20..19) of a node's renders, running ones too."""
    _answer(node_action(state.client(), node, "priority", {"priority": priority}), as_json)


@click.command("purge-exclusions")
@click.argument("node", shell_complete=complete_nodes)
@click.option("--template", help="Only this template's exclusion (key or id).")
@click.option("--job", "job", help="Only this job's exclusion (id or title).")
@json_option
@pass_state
def nodes_purge(
    state: CliState, node: str, template: str | None, job: str | None, as_json: bool
) -> None:
    """Forget a node's exclusions (all of them without options)."""
    client = state.client()
    body: dict[str, Any] = {}
    if template is not None:
        body["template"] = template
    if job is not None:
        body["job"] = client.job_id(job)
    _answer(node_action(client, node, "purge-exclusions", body), as_json)


@click.command("realtime-log")
@click.argument("node", shell_complete=complete_nodes)
@click.argument("switch", type=click.Choice(["on", "off"]), metavar="on|off")
@json_option
@pass_state
def nodes_realtime_log(state: CliState, node: str, switch: str, as_json: bool) -> None:
    """Stream render output while it runs (on) or send it when the chunk ends (off)."""
    _answer(node_action(state.client(), node, "realtime-log", {"on": switch == "on"}), as_json)


@click.command("system-event")
@click.argument("node", shell_complete=complete_nodes)
@click.argument("event", type=click.Choice(SYSTEM_EVENTS), metavar="EVENT")
@json_option
@pass_state
def nodes_system_event(state: CliState, node: str, event: str, as_json: bool) -> None:
    """Send shutdown, reboot or logoff to a node's event handler (refused without one)."""
    answer = node_action(state.client(), node, "system-event", {"event": event})
    _answer(answer, as_json)
    if not answer.get("ok"):
        raise ConsoleError(f"node {node} did not carry out {event}")


@click.command("run-python")
@click.argument("node", shell_complete=complete_nodes)
@click.argument("file", type=click.File("r"))
@json_option
@pass_state
def nodes_run_python(state: CliState, node: str, file: Any, as_json: bool) -> None:
    """Run a Python file on a node in the render-client context (administer only).

    FILE '-' reads the code from standard input. Prints what the code printed.
    """
    answer = node_action(state.client(), node, "run-python", {"code": file.read()})
    output = str(answer.get("output", ""))
    if as_json:
        _echo_json(answer)
    else:
        click.echo(output, nl=not output.endswith("\n"))
    if not answer.get("ok"):
        raise ConsoleError(f"the code failed on node {node}")


@click.command("exclude")
@click.argument("node", shell_complete=complete_nodes)
@click.argument("template")
@json_option
@pass_state
def nodes_exclude(state: CliState, node: str, template: str, as_json: bool) -> None:
    """Keep a template's jobs off a node (purge-exclusions --template lifts it).

    \b
    corral nodes exclude render7 katana
    """
    _answer(node_action(state.client(), node, "exclude", {"template": template}), as_json)


@click.command("pools")
@click.argument("node", shell_complete=complete_nodes)
@json_option
@pass_state
def nodes_pools(state: CliState, node: str, as_json: bool) -> None:
    """The pools a node is in.

    \b
    corral nodes pools render7
    """
    found = list(state.client().request("GET", f"/nodes/{node_ref(node)}/pools") or [])
    if as_json:
        _echo_json(found)
        return
    for pool in found:
        click.echo(printable(f"{pool.get('name')}  {pool.get('description') or ''}".rstrip()))
    if not found:
        click.echo("in no pool")


@click.command("notes")
@click.argument("node", shell_complete=complete_nodes)
@click.argument("text")
@json_option
@pass_state
def nodes_notes(state: CliState, node: str, text: str, as_json: bool) -> None:
    """Set a node's notes ('' clears them)."""
    _answer(node_action(state.client(), node, "notes", {"notes": text}), as_json)


# -- jobs and chunks -----------------------------------------------------------


@click.command("kill-nodes")
@click.argument("job", shell_complete=complete_jobs)
@click.option(
    "--then",
    "then",
    type=click.Choice(THEN_CHOICES),
    required=True,
    help="pause the nodes, redo the killed chunks there, or go on with other work.",
)
@json_option
@pass_state
def jobs_kill_nodes(state: CliState, job: str, then: str, as_json: bool) -> None:
    """Kill the renders of every node working on a job."""
    client = state.client()
    job_id = client.job_id(job)
    answer = client.request("POST", f"/jobs/{job_id}/kill-nodes", body={"then": then})
    _answer({"output": "", **dict(answer or {})}, as_json)


@click.group("chunks")
def chunks() -> None:
    """A job's chunks (0-based): list, show, log, requeue, skip, complete, avoid a node."""


def _chunk_command(verb: str, state_name: str) -> click.Command:
    @click.argument("job", shell_complete=complete_jobs)
    @click.argument("chunk_numbers", nargs=-1, required=True, type=int, metavar="CHUNK...")
    @json_option
    @pass_state
    def command(state: CliState, job: str, chunk_numbers: tuple[int, ...], as_json: bool) -> None:
        client = state.client()
        job_id = client.job_id(job)

        def act(chunk: str) -> str:
            task = client.task_id(job_id, int(chunk))
            answer = client.request(
                "POST", f"/jobs/{job_id}/tasks/{task}", body={"state": state_name}
            )
            return f"job {job_id} chunk {chunk}: {dict(answer or {}).get('state', state_name)}"

        _for_each([str(number) for number in chunk_numbers], "chunk", act)
        if not as_json:
            click.echo(f"job {job_id} is {client.job(job_id).get('state')}")

    command.__doc__ = {
        "requeue": "Queue chunks again (a running one is killed first).",
        "skip": "Mark chunks skipped: they count as finished without running.",
        "complete": "Mark chunks done without (re)running them.",
    }[verb]
    return click.command(verb)(command)


for _verb, _state in CHUNK_STATES.items():
    chunks.add_command(_chunk_command(_verb, _state))


NODE_COMMANDS: list[click.Command] = [
    *(_simple_command(action, summary) for action, summary in SIMPLE_ACTIONS.items()),
    nodes_show,
    nodes_hosts,
    nodes_priority,
    nodes_purge,
    nodes_realtime_log,
    nodes_system_event,
    nodes_run_python,
    nodes_notes,
    nodes_exclude,
    nodes_pools,
]


def install_node_commands(main: click.Group) -> None:
    """Add the node commands to `nodes`, kill-nodes to `jobs`, and the `chunks` group."""
    nodes = main.commands.get("nodes")
    jobs = main.commands.get("jobs")
    if not isinstance(nodes, click.Group) or not isinstance(jobs, click.Group):
        raise RuntimeError("the corral group has no nodes or jobs group to extend")
    for command in NODE_COMMANDS:
        nodes.add_command(command)
    jobs.add_command(jobs_kill_nodes)
    main.add_command(chunks)
