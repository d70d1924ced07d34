"""`corral config get|set|ldap|ldap-set`: a running dispatcher's settings over the REST
API (beside `config show`, which resolves a start's settings from files and options).

Values on the command line are JSON where they parse as JSON (`5`, `true`,
`["a", "b"]`), else text.
"""

from __future__ import annotations

import json
from typing import Any

import click

from console.auth import CliState
from console.clikit import json_option, parse_pairs, pass_state, print_table, show


def parse_values(pairs: tuple[str, ...]) -> dict[str, Any]:
    """NAME=VALUE pairs with JSON values where they parse, else the text."""
    values: dict[str, Any] = {}
    for name, text in parse_pairs(pairs, "'NAME=VALUE'").items():
        try:
            values[name] = json.loads(text)
        except ValueError:
            values[name] = text
    return values


@click.command("get")
@click.argument("names", nargs=-1, metavar="[NAME]...")
@json_option
@pass_state
def config_get(state: CliState, names: tuple[str, ...], as_json: bool) -> None:
    """A running dispatcher's settings (all, or NAMEs) and which can change live.

    \b
    corral config get heartbeat_interval_s
    corral config get --json
    """
    found = dict(state.client().request("GET", "/system/configuration") or {})
    values, live = dict(found.get("values") or {}), set(found.get("live") or [])
    unknown = [name for name in names if name not in values]
    if unknown:
        raise click.BadParameter(f"no setting {unknown[0]!r}", param_hint="'NAME'")
    chosen = {name: values[name] for name in names} if names else values
    rows = [{"name": name, "value": json.dumps(value), "live": name in live}
            for name, value in chosen.items()]  # fmt: skip
    answer = {"values": chosen, "live": sorted(live & set(chosen))}
    show(
        as_json,
        answer,
        lambda: print_table(rows, (("NAME", "name"), ("VALUE", "value"), ("LIVE", "live"))),
    )


@click.command("set")
@click.argument("pairs", nargs=-1, required=True, metavar="NAME=VALUE...")
@click.option("--store", is_flag=True, help="Keep them for the next start too.")
@json_option
@pass_state
def config_set(state: CliState, pairs: tuple[str, ...], store: bool, as_json: bool) -> None:
    """Change live settings of the running dispatcher now (administer).

    \b
    corral config set heartbeat_interval_s=2 --store
    """
    body = {"values": parse_values(pairs), "store": store}
    answer = dict(state.client().request("PATCH", "/system/configuration", body=body) or {})
    changed = answer.get("changed") or []
    show(
        as_json,
        answer,
        f"changed {', '.join(changed) or 'nothing'}" + (" (stored)" if store else ""),
    )


@click.command("ldap")
@json_option
@pass_state
def config_ldap(state: CliState, as_json: bool) -> None:
    """The LDAP configuration (the bind password is never shown).

    \b
    corral config ldap --json
    """
    found = dict(state.client().request("GET", "/system/ldap") or {})
    rows = [{"name": key, "value": json.dumps(value)} for key, value in sorted(found.items())]
    show(as_json, found, lambda: print_table(rows, (("NAME", "name"), ("VALUE", "value"))))


@click.command("ldap-set")
@click.argument("pairs", nargs=-1, required=True, metavar="KEY=VALUE...")
@click.option("--store", is_flag=True, help="Keep it for the next start too.")
@json_option
@pass_state
def config_ldap_set(state: CliState, pairs: tuple[str, ...], store: bool, as_json: bool) -> None:
    """Replace the LDAP configuration (administer).

    \b
    corral config ldap-set enabled=true url=ldaps://dc.example.com base_dn=dc=example,dc=com
    """
    body = {"values": parse_values(pairs), "store": store}
    found = dict(state.client().request("PUT", "/system/ldap", body=body) or {})
    show(as_json, found, "LDAP configuration replaced" + (" (stored)" if store else ""))


def install_settings_commands(main: click.Group) -> None:
    """Add get, set, ldap and ldap-set to the `config` group."""
    config = main.commands.get("config")
    if not isinstance(config, click.Group):
        raise RuntimeError("the corral group has no config group to extend")
    for command in (config_get, config_set, config_ldap, config_ldap_set):
        config.add_command(command)
