"""`corral templates software list|add|remove` and `corral templates jobtypes
list|add|remove`: the software registry jobs' requirements name, and PyFarm's job types
(a name for a template)."""

from __future__ import annotations

import click

from console.auth import CliState
from console.clikit import (
    json_option,
    listing,
    non_empty,
    pass_state,
    print_sheet,
    segment,
    show,
    show_rows,
)


@click.group("software")
def software() -> None:
    """Known software and its versions (for jobs' software_requirements)."""


@software.command("list")
@json_option
@pass_state
def software_list(state: CliState, as_json: bool) -> None:
    """Every known software with its versions (registered, or reported by nodes).

    \b
    corral templates software list
    """
    found = listing(state.client(), "/software/")
    rows = [{"software": item.get("software"),
             "versions": [version.get("version", version) if isinstance(version, dict) else version
                          for version in item.get("versions") or []]}
            for item in found]  # fmt: skip
    show_rows(as_json, rows, (("SOFTWARE", "software"), ("VERSIONS", "versions")), "no software",
              value=found)  # fmt: skip


@software.command("show")
@click.argument("name")
@json_option
@pass_state
def software_show(state: CliState, name: str, as_json: bool) -> None:
    """One software with its versions.

    \b
    corral templates software show blender
    """
    found = dict(state.client().request("GET", f"/software/{segment(name)}") or {})
    show(as_json, found, lambda: print_sheet(found))


@software.command("add")
@click.argument("name", callback=non_empty)
@click.argument("versions", nargs=-1, metavar="[VERSION]...")
@json_option
@pass_state
def software_add(state: CliState, name: str, versions: tuple[str, ...], as_json: bool) -> None:
    """Register a software and versions of it (administer).

    \b
    corral templates software add blender 4.0 4.1
    """
    body = {"software": name, "versions": list(versions)}
    found = dict(state.client().request("POST", "/software/", body=body) or {})
    show(as_json, found, f"registered {name} {' '.join(versions)}".rstrip())


@software.command("remove")
@click.argument("name")
@json_option
@pass_state
def software_remove(state: CliState, name: str, as_json: bool) -> None:
    """Forget a software (administer); jobs keep their requirements.

    \b
    corral templates software remove maya
    """
    state.client().request("DELETE", f"/software/{segment(name)}")
    show(as_json, {"removed": name}, f"removed software {name}")


@click.group("jobtypes")
def jobtypes() -> None:
    """PyFarm job types: a name for a template."""


@jobtypes.command("list")
@json_option
@pass_state
def jobtypes_list(state: CliState, as_json: bool) -> None:
    """Every job type with its template and version.

    \b
    corral templates jobtypes list
    """
    found = listing(state.client(), "/jobtypes/")
    columns = (("NAME", "name"), ("TEMPLATE", "template"), ("VERSION", "version"))
    show_rows(as_json, found, columns, "no job types")


@jobtypes.command("add")
@click.argument("name", callback=non_empty)
@click.argument("template")
@click.option("--version", type=click.IntRange(1, 1_000_000), default=1, show_default=True)
@json_option
@pass_state
def jobtypes_add(state: CliState, name: str, template: str, version: int, as_json: bool) -> None:
    """Register job type NAME for TEMPLATE (key or id; administer).

    \b
    corral templates jobtypes add BlenderRender blender
    """
    body = {"name": name, "template": template, "version": version}
    found = dict(state.client().request("POST", "/jobtypes/", body=body) or {})
    show(as_json, found, f"registered job type {name} for {found.get('template', template)}")


@jobtypes.command("remove")
@click.argument("name")
@json_option
@pass_state
def jobtypes_remove(state: CliState, name: str, as_json: bool) -> None:
    """Remove a job type (administer).

    \b
    corral templates jobtypes remove BlenderRender
    """
    state.client().request("DELETE", f"/jobtypes/{segment(name)}")
    show(as_json, {"removed": name}, f"removed job type {name}")


def install_software_commands(main: click.Group) -> None:
    """Add `software` and `jobtypes` to the `templates` group."""
    templates = main.commands.get("templates")
    if not isinstance(templates, click.Group):
        raise RuntimeError("the corral group has no templates group to extend")
    templates.add_command(software)
    templates.add_command(jobtypes)
