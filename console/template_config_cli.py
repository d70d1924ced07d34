"""Console commands for client configuration: `corral nodes template-config` and
`corral templates show`.

    corral nodes template-config NODE TEMPLATE                      show the node's values
    corral nodes template-config NODE TEMPLATE KATAPP=/opt/katana   set them (replaces)
    corral nodes template-config --pool POOL TEMPLATE KEY=VALUE     a pool's values
    corral nodes template-config NODE TEMPLATE --clear              clear them
    corral templates show TEMPLATE                                  items and every node's values
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import click

from console.auth import CliState
from console.formatting import printable, to_json

pass_state = click.make_pass_decorator(CliState, ensure=True)
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")


def _segment(value: str) -> str:
    return quote(value, safe="")


def _values(pairs: tuple[str, ...]) -> dict[str, str]:
    values: dict[str, str] = {}
    for pair in pairs:
        key, equals, value = pair.partition("=")
        if not equals or not key.strip():
            raise click.BadParameter(f"{pair!r}: expected KEY=VALUE", param_hint="'KEY=VALUE'")
        values[key.strip()] = value
    return values


def _text(values: dict[str, Any] | None) -> str:
    if values is None:
        return "(unknown: offline)"
    return ", ".join(f"{key}={value}" for key, value in sorted(values.items())) or "-"


@click.command("template-config")
@click.argument("target", metavar="NODE")
@click.argument("template")
@click.argument("pairs", nargs=-1, metavar="[KEY=VALUE]...")
@click.option("--pool", is_flag=True, help="NODE names a pool: set or show the pool's values.")
@click.option("--clear", is_flag=True, help="Remove the values set at this level.")
@json_option
@pass_state
def nodes_template_config(
    state: CliState,
    target: str,
    template: str,
    pairs: tuple[str, ...],
    pool: bool,
    clear: bool,
    as_json: bool,
) -> None:
    """Show or set a node's (or a pool's) values of a template's client configuration.

    Values given replace those set before at that level (manage-nodes); the
    node's values win over its pools', which win over the render client's own
    (--template-config) and the items' defaults.
    """
    if clear and pairs:
        raise click.UsageError("give KEY=VALUE pairs or --clear, not both")
    kind = "pools" if pool else "nodes"
    path = f"/{kind}/{_segment(target)}/template-config/{_segment(template)}"
    client = state.client()
    if pairs or clear:
        answer = client.request("PUT", path, body={"values": {} if clear else _values(pairs)})
    else:
        answer = client.request("GET", path)
    view = dict(answer or {})
    if as_json:
        click.echo(to_json(view))
    elif pool:
        click.echo(
            printable(f"pool {view['pool']}, template {view['template']}: {_text(view['values'])}")
        )
        click.echo(printable(f"nodes: {', '.join(view['nodes']) or '-'}"))
    else:
        for line in _node_lines(view):
            click.echo(printable(line))


def _node_lines(view: dict[str, Any]) -> list[str]:
    pools = view.get("pool_values") or {}
    return [
        f"{view['node']} ({'online' if view['online'] else 'offline'}, {view['platform']})",
        f"  effective:   {_text(view['effective'])}",
        f"  node:        {_text(view['node_values'])}",
        *(f"  pool {name}: {_text(values)}" for name, values in sorted(pools.items())),
        f"  own:         {_text(view['own_values'])}",
    ]


@click.command("show")
@click.argument("template")
@json_option
@pass_state
def templates_show(state: CliState, template: str, as_json: bool) -> None:
    """A template's client configuration items and what each node has."""
    view = dict(
        state.client().request("GET", f"/templates/{_segment(template)}/client-config") or {}
    )
    if as_json:
        click.echo(to_json(view))
        return
    click.echo(printable(f"{view['id']}  {view['template']}  {view['name']}"))
    click.echo("client configuration items:")
    shown = False
    for platform, items in sorted((view.get("items") or {}).items()):
        for item in items:
            shown = True
            click.echo(
                printable(
                    f"  {platform:<8} {item['name']:<20} {item['type']:<8} "
                    f"default={item['default']!r}  {item['label']}"
                )
            )
    if not shown:
        click.echo("  (none)")
    for name, values in sorted((view.get("pools") or {}).items()):
        click.echo(printable(f"pool {name}: {_text(values)}"))
    click.echo("nodes:")
    for node in view.get("nodes") or []:
        for line in _node_lines({**node, "template": view["template"]}):
            click.echo(printable(f"  {line}"))


def install_template_config_commands(main: click.Group) -> None:
    """Add `template-config` to `nodes` and `show` to `templates`."""
    nodes, templates = main.commands.get("nodes"), main.commands.get("templates")
    if not isinstance(nodes, click.Group) or not isinstance(templates, click.Group):
        raise RuntimeError("the corral group has no nodes or templates group to extend")
    nodes.add_command(nodes_template_config)
    templates.add_command(templates_show)
