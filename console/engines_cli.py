"""`corral nodes engine-settings|reset-failures|dispatch-report`, `corral pools rename|notify`,
`corral repositories notify` and `corral system identity`: the routes the Smedge
compatibility added (engines are render nodes), reachable from the command line too."""

from __future__ import annotations

from typing import Any

import click

from console.auth import CliState
from console.clikit import (
    json_option,
    non_empty,
    parse_pairs,
    pass_state,
    print_sheet,
    segment,
    show,
)
from console.completion import complete_nodes, complete_pools


@click.command("engine-settings")
@click.argument("node", shell_complete=complete_nodes)
@click.argument("pairs", nargs=-1, metavar="[KEY=VALUE]...")
@json_option
@pass_state
def nodes_engine_settings(
    state: CliState, node: str, pairs: tuple[str, ...], as_json: bool
) -> None:
    """Show a node's engine settings and event commands, or change them (manage-nodes);
    KEY= with nothing after it removes KEY.

    \b
    corral nodes engine-settings r1 UseGPUs=2
    corral nodes engine-settings r1 'WorkFinishedSuccessfulEvt=notify.sh $(ID)'
    """
    path = f"/nodes/{segment(node)}/engine-settings"
    client = state.client()
    if pairs:
        wanted: dict[str, Any] = {
            key: (value if value else None)
            for key, value in parse_pairs(pairs, "KEY=VALUE").items()
        }
        found = dict(client.request("PATCH", path, body={"settings": wanted}))
    else:
        found = dict(client.request("GET", path))
    settings = found.get("settings") or {}
    show(
        as_json,
        found,
        lambda: click.echo(
            "\n".join(f"{key}={value}" for key, value in sorted(settings.items()))
            or f"{found.get('node')}: no engine settings"
        ),
    )


@click.command("reset-failures")
@click.argument("node", shell_complete=complete_nodes)
@json_option
@pass_state
def nodes_reset_failures(state: CliState, node: str, as_json: bool) -> None:
    """Forget a node's failure counts and the job exclusions they made (manage-nodes).

    \b
    corral nodes reset-failures r1
    """
    found = dict(state.client().request("POST", f"/nodes/{segment(node)}/reset-failures"))
    jobs = ", ".join(str(job) for job in found.get("jobs") or []) or "none"
    show(as_json, found, f"{found.get('node')}: failures forgotten (jobs: {jobs})")


@click.command("dispatch-report")
@click.argument("node", shell_complete=complete_nodes)
@json_option
@pass_state
def nodes_dispatch_report(state: CliState, node: str, as_json: bool) -> None:
    """Why a node takes work or not, what it runs, and its event commands' outcomes.

    \b
    corral nodes dispatch-report r1
    """
    found = dict(state.client().request("GET", f"/nodes/{segment(node)}/dispatch-report"))
    show(as_json, found, str(found.get("report", "")))


@click.command("rename")
@click.argument("pool", shell_complete=complete_pools)
@click.argument("new_name", callback=non_empty)
@json_option
@pass_state
def pools_rename(state: CliState, pool: str, new_name: str, as_json: bool) -> None:
    """Rename a pool (administer): its id stays; its nodes, the jobs naming it and its
    client configuration follow.

    \b
    corral pools rename gpu gpu-a100
    """
    body = {"name": new_name}
    renamed = dict(state.client().request("POST", f"/pools/{segment(pool)}/rename", body=body))
    show(as_json, renamed, f"renamed pool {pool} to {renamed.get('name')}")


def _notify(what: str) -> click.Command:
    plural = "pools" if what == "pool" else "repositories"

    @click.command("notify")
    @json_option
    @pass_state
    def notify(state: CliState, as_json: bool) -> None:
        answer = dict(state.client().request("POST", f"/{plural}/notify"))
        show(as_json, answer, f"{plural} change notice sent (revision {answer.get('revision')})")

    notify.help = (
        f"Tell following consoles the {plural} changed (administer; Muster's "
        f"{what}NotifyChanges).\n\n\b\ncorral {plural} notify"
    )
    return notify


@click.command("identity")
@json_option
@pass_state
def system_identity(state: CliState, as_json: bool) -> None:
    """The dispatcher's stable UUID (Smedge's master id), version and start time.

    \b
    corral system identity
    """
    found = dict(state.client().request("GET", "/system/identity"))
    show(as_json, found, lambda: print_sheet(found, ("uuid", "version", "started")))


def install_engine_commands(main: click.Group) -> None:
    """Add the commands to the `nodes`, `pools`, `repositories` and `system` groups."""
    groups = {name: main.commands[name] for name in ("nodes", "pools", "repositories", "system")}
    for name, commands in (
        ("nodes", (nodes_engine_settings, nodes_reset_failures, nodes_dispatch_report)),
        ("pools", (pools_rename, _notify("pool"))),
        ("repositories", (_notify("repository"),)),
        ("system", (system_identity,)),
    ):
        group = groups[name]
        assert isinstance(group, click.Group)
        for command in commands:
            group.add_command(command)
