"""`corral pools ...` and `corral repositories ...`: list, show, create, set, delete.

Reading needs a token; changes need the administer permission (the dispatcher
checks it). A pool is named by its name (or id); a repository by its name.
"""

from __future__ import annotations

from typing import Any

import click

from console.auth import CliState
from console.clikit import (
    changes,
    delete_each,
    json_option,
    listing,
    names,
    non_empty,
    pass_state,
    print_sheet,
    segment,
    show,
    show_rows,
)
from console.completion import complete_nodes, complete_pools

POOL_COLUMNS = (("ID", "id"), ("NAME", "name"), ("NODES", "nodes"), ("DESCRIPTION", "description"))
REPOSITORY_COLUMNS = (
    ("NAME", "name"),
    ("WINDOWS", "windows"),
    ("MAC", "mac"),
    ("LINUX", "linux"),
    ("DESCRIPTION", "description"),
)
PLATFORMS = ("windows", "mac", "linux")


@click.group()
def pools() -> None:
    """Pools of render nodes: list, show, create, set, delete."""


@pools.command("list")
@json_option
@pass_state
def pools_list(state: CliState, as_json: bool) -> None:
    """List pools: id, name, member nodes, description.

    \b
    corral pools list --json
    """
    found = listing(state.client(), "/pools/")
    show_rows(as_json, found, POOL_COLUMNS, "no pools")


@pools.command("show")
@click.argument("pool", shell_complete=complete_pools)
@json_option
@pass_state
def pools_show(state: CliState, pool: str, as_json: bool) -> None:
    """Show one pool (name or id).

    \b
    corral pools show farm
    """
    found = dict(state.client().request("GET", f"/pools/{segment(pool)}"))
    show(as_json, found, lambda: print_sheet(found, ("id", "name", "description", "nodes")))


@pools.command("create")
@click.argument("name", callback=non_empty)
@click.option("--description", default="", help="What the pool is for.")
@click.option("--node", "nodes", multiple=True, shell_complete=complete_nodes,
              help="A member node's name (repeat).")  # fmt: skip
@json_option
@pass_state
def pools_create(
    state: CliState, name: str, description: str, nodes: tuple[str, ...], as_json: bool
) -> None:
    """Create a pool (administer).

    \b
    corral pools create gpu --description "nodes with a GPU" --node r1 --node r2
    """
    body = {"name": name, "description": description, "nodes": names(nodes)}
    created = dict(state.client().request("POST", "/pools/", body=body))
    show(as_json, created, f"created pool {created.get('name')}")


@pools.command("set")
@click.argument("pool", shell_complete=complete_pools)
@click.option("--description", help="A new description.")
@click.option("--node", "nodes", multiple=True, shell_complete=complete_nodes,
              help="Replace the members (repeat; --node '' empties the pool).")  # fmt: skip
@json_option
@pass_state
def pools_set(
    state: CliState, pool: str, description: str | None, nodes: tuple[str, ...], as_json: bool
) -> None:
    """Change a pool's description or members (administer).

    \b
    corral pools set gpu --node r1 --node r3
    """
    fields = changes({"description": description, "nodes": names(nodes) if nodes else None})
    changed = dict(state.client().request("PATCH", f"/pools/{segment(pool)}", body=fields))
    show(as_json, changed, f"updated pool {changed.get('name')}")


@pools.command("delete")
@click.argument("pool_names", nargs=-1, required=True, metavar="POOL...",
                shell_complete=complete_pools)  # fmt: skip
@json_option
@pass_state
def pools_delete(state: CliState, pool_names: tuple[str, ...], as_json: bool) -> None:
    """Delete pools (administer); their nodes leave them.

    \b
    corral pools delete gpu old
    """
    delete_each(state.client(), "/pools/", pool_names, "pool")


# -- repositories ------------------------------------------------------------------


@click.group()
def repositories() -> None:
    """Repositories: a root path per platform, for path translation."""


@repositories.command("list")
@json_option
@pass_state
def repositories_list(state: CliState, as_json: bool) -> None:
    """List repositories with their root path per platform.

    \b
    corral repositories list
    """
    found = listing(state.client(), "/repositories/")
    show_rows(as_json, found, REPOSITORY_COLUMNS, "no repositories")


@repositories.command("show")
@click.argument("name")
@json_option
@pass_state
def repositories_show(state: CliState, name: str, as_json: bool) -> None:
    """Show one repository.

    \b
    corral repositories show projects
    """
    found = dict(state.client().request("GET", f"/repositories/{segment(name)}"))
    show(as_json, found, lambda: print_sheet(found, ("name", "description", *PLATFORMS)))


def _platform_options(command: Any) -> Any:
    for platform in reversed(PLATFORMS):
        command = click.option(f"--{platform}", metavar="PATH",
                               help=f"The root path on {platform}.")(command)  # fmt: skip
    return command


@repositories.command("create")
@click.argument("name", callback=non_empty)
@click.option("--description", default="")
@_platform_options
@json_option
@pass_state
def repositories_create(state: CliState, /, name: str, as_json: bool, **fields: Any) -> None:
    """Create a repository (administer).

    \b
    corral repositories create projects --linux /mnt/projects --windows 'P:\\'
    """
    body = {"name": name, **{key: value or "" for key, value in fields.items()}}
    created = dict(state.client().request("POST", "/repositories/", body=body))
    show(as_json, created, f"created repository {created.get('name')}")


@repositories.command("set")
@click.argument("name")
@click.option("--description")
@_platform_options
@json_option
@pass_state
def repositories_set(state: CliState, /, name: str, as_json: bool, **fields: Any) -> None:
    """Change a repository's description or paths (administer).

    \b
    corral repositories set projects --mac /Volumes/projects
    """
    body = changes(fields)
    changed = dict(state.client().request("PATCH", f"/repositories/{segment(name)}", body=body))
    show(as_json, changed, f"updated repository {changed.get('name')}")


@repositories.command("delete")
@click.argument("repository_names", nargs=-1, required=True, metavar="NAME...")
@json_option
@pass_state
def repositories_delete(state: CliState, repository_names: tuple[str, ...], as_json: bool) -> None:
    """Delete repositories (administer).

    \b
    corral repositories delete old-projects
    """
    delete_each(
        state.client(), "/repositories/", repository_names, "repository", plural="repositories"
    )


COMMANDS: tuple[click.Command, ...] = (pools, repositories)
