"""`corral folders list|show|create|rename|move|delete`, and `corral jobs move`.

A folder is a job of kind `folder` holding jobs and other folders, named by its
id or title; `-1` (or `top`) is the top of the tree.
"""

from __future__ import annotations

import click

from console.auth import CliState
from console.clikit import (
    delete_each,
    for_each,
    json_option,
    non_empty,
    pass_state,
    segment,
    show,
    stdout_console,
)
from console.completion import complete_jobs
from console.formatting import job_details, jobs_table
from console.http import DispatcherClient

TOP = "-1"


def _folder_ref(value: str) -> str:
    return TOP if value.strip().lower() in ("top", "-1", "0") else value


def folder_id(client: DispatcherClient, value: str) -> int:
    """A folder's id from its id or title; -1 for the top."""
    ref = _folder_ref(value)
    if ref == TOP:
        return -1
    if ref.strip().isdecimal():
        return int(ref)
    return int(client.request("GET", f"/folders/{segment(ref)}")["id"])


@click.group()
def folders() -> None:
    """Folders of jobs: list what is in one, create, rename, move, delete."""


@folders.command("list")
@click.argument("folder", default=TOP, required=False, shell_complete=complete_jobs)
@json_option
@pass_state
def folders_list(state: CliState, folder: str, as_json: bool) -> None:
    """List the jobs and folders right inside FOLDER (default: the top).

    \b
    corral folders list
    corral folders list shots --json
    """
    ref = _folder_ref(folder)
    found = list(state.client().request("GET", f"/folders/{segment(ref)}/children") or [])
    show(
        as_json,
        found,
        lambda: stdout_console().print(jobs_table(found)) if found else click.echo("empty"),
    )


@folders.command("show")
@click.argument("folder", shell_complete=complete_jobs)
@json_option
@pass_state
def folders_show(state: CliState, folder: str, as_json: bool) -> None:
    """Show one folder (id or title).

    \b
    corral folders show shots
    """
    found = dict(state.client().request("GET", f"/folders/{segment(folder)}"))
    show(as_json, found, lambda: stdout_console().print(job_details(found)))


@folders.command("create")
@click.argument("title", callback=non_empty)
@click.option("--parent", default=TOP, show_default=True,
              help="The folder it goes in (id or title; -1 or top: the top).")  # fmt: skip
@json_option
@pass_state
def folders_create(state: CliState, title: str, parent: str, as_json: bool) -> None:
    """Create a folder (submit).

    \b
    corral folders create shots
    corral folders create shot010 --parent shots
    """
    client = state.client()
    body = {"title": title, "parent": folder_id(client, parent)}
    created = dict(client.request("POST", "/folders/", body=body))
    show(as_json, created, f'created folder {created.get("id")} "{created.get("title")}"')


@folders.command("rename")
@click.argument("folder", shell_complete=complete_jobs)
@click.argument("title", callback=non_empty)
@json_option
@pass_state
def folders_rename(state: CliState, folder: str, title: str, as_json: bool) -> None:
    """Rename a folder.

    \b
    corral folders rename shots shots-2026
    """
    changed = dict(
        state.client().request("PATCH", f"/folders/{segment(folder)}", body={"title": title})
    )
    show(as_json, changed, f'renamed folder {changed.get("id")} to "{changed.get("title")}"')


@folders.command("move")
@click.argument("folder", shell_complete=complete_jobs)
@click.argument("parent")
@json_option
@pass_state
def folders_move(state: CliState, folder: str, parent: str, as_json: bool) -> None:
    """Move a folder into PARENT (id or title; top: the top).

    \b
    corral folders move shot010 archive
    """
    client = state.client()
    body = {"parent": folder_id(client, parent)}
    changed = dict(client.request("PATCH", f"/folders/{segment(folder)}", body=body))
    show(as_json, changed, f"moved folder {changed.get('id')} into {changed.get('parent')}")


@folders.command("delete")
@click.argument("folder_refs", nargs=-1, required=True, metavar="FOLDER...",
                shell_complete=complete_jobs)  # fmt: skip
@json_option
@pass_state
def folders_delete(state: CliState, folder_refs: tuple[str, ...], as_json: bool) -> None:
    """Delete empty folders (one that holds anything is refused).

    \b
    corral folders delete old-shots
    """
    delete_each(state.client(), "/folders/", folder_refs, "folder")


@click.command("move")
@click.argument("job_refs", nargs=-1, required=True, metavar="JOB...", shell_complete=complete_jobs)
@click.option("--to", "parent", required=True, metavar="FOLDER",
              help="The folder (id or title; top: the top).")  # fmt: skip
@json_option
@pass_state
def jobs_move(state: CliState, job_refs: tuple[str, ...], parent: str, as_json: bool) -> None:
    """Move jobs into a folder.

    \b
    corral jobs move 12 13 --to shot010
    """
    client = state.client()
    target = folder_id(client, parent)

    def act(ref: str) -> str:
        job_id = client.job_id(ref)
        client.edit_job(job_id, {"parent": target})
        return f"moved job {job_id} into {'the top' if target == -1 else f'folder {target}'}"

    for_each(job_refs, "job", act)


COMMANDS: tuple[click.Command, ...] = (folders,)
