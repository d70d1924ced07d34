"""How `corral dispatcher` builds its settings, and `corral config show`.

The settings come from the defaults, the TOML file, CORRAL_<SETTING> variables,
the settings stored through the API, and the options given on the command
line, in that rising order (dispatcher/config_sources.py). `corral config show`
takes the same options as `corral dispatcher` and prints what a dispatcher
started with them would run with, and where each value comes from; it reads
the stored settings from the data directory's database (read-only, safe while
the dispatcher runs) and needs no token.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import click
import msgspec
from click.core import ParameterSource

from dispatcher import config_sources
from dispatcher.config import LIVE_SETTINGS, Settings
from dispatcher.config_sources import Layer, Origin, Resolved
from dispatcher.errors import ValidationError

log = logging.getLogger("corral")

config_option = click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="FILE",
    help="TOML settings file [env CORRAL_CONFIG; default DATA_DIR/corral.toml when present].",
)


class SettingsError(click.ClickException):
    """A setting that cannot be used: one line naming it and its source, exit 2."""

    exit_code = 2


def option_layer(ctx: click.Context, options: Mapping[str, Any]) -> Layer:
    """The settings given as options on the command line (not the options' defaults)."""
    flags = {
        param.name: param.opts[0] for param in ctx.command.params if isinstance(param, click.Option)
    }
    layer = Layer()
    for name, value in options.items():
        if name not in Settings.model_fields:
            continue
        if ctx.get_parameter_source(name) is not ParameterSource.COMMANDLINE:
            continue
        given = tuple(value) if isinstance(value, list | tuple) else value
        layer.add(name, given, Origin("option", flags.get(name) or name))
    return layer


def resolve_settings(
    ctx: click.Context, options: Mapping[str, Any], config: Path | None, env: Mapping[str, str]
) -> Resolved:
    """The settings of a `corral dispatcher` command line; SettingsError (exit 2) names
    the first bad value and where it came from."""
    try:
        return config_sources.resolve(options=option_layer(ctx, options), env=env, config=config)
    except ValidationError as exc:
        raise SettingsError(str(exc)) from None


def stored_settings(data_dir: Path, store: str = "") -> dict[str, Any]:
    """The settings an administrator stored through the API, read from the database
    (the data directory's SQLite file, or the PostgreSQL database `store` names)."""
    from dispatcher.store.urls import is_postgres

    if is_postgres(store):
        import asyncio

        from dispatcher.store.pg_schema import read_record as read_postgres

        raw = asyncio.run(read_postgres(store, "config", "settings"))
    else:
        from dispatcher.store.maintenance import read_record

        raw = read_record(data_dir / "corral.db", "config", "settings")
    if raw is None:
        return {}
    found = msgspec.json.decode(raw)
    return found if isinstance(found, dict) else {}


def _text(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, list):
        return ",".join(str(item) for item in value) or "-"
    return str(value)


@click.group("config")
def config_group() -> None:
    """The dispatcher's settings and where each comes from."""


@config_group.command("show")
@config_option
@click.option("--json", "as_json", is_flag=True, help="One JSON object instead of text.")
@click.pass_context
def config_show(
    ctx: click.Context, config_file: Path | None, as_json: bool, **options: Any
) -> None:
    """What `corral dispatcher` with these options would run with, and where each value
    comes from: default, file, env, stored (through the API) or option.

    Takes the options of `corral dispatcher`. A stored setting needs the data
    directory's database; one that a command-line option overrides shows the option.
    """
    env = dict(os.environ)
    resolved = resolve_settings(ctx, options, config_file, env)
    for name in config_sources.unknown_env(env):
        click.echo(f"corral: warning: {name} is not a setting; ignored", err=True)
    try:
        stored = stored_settings(resolved.settings.data_dir, resolved.settings.store)
    except Exception as exc:  # an unreadable database: say so, show the rest
        click.echo(f"corral: warning: cannot read the stored settings: {exc}", err=True)
        stored = {}
    resolved, _ = config_sources.with_stored(resolved, stored, LIVE_SETTINGS)
    report = resolved.report(LIVE_SETTINGS)
    if as_json:
        file = str(resolved.file) if resolved.file else None
        click.echo(json.dumps({"file": file, "settings": report}, indent=2))
        return
    click.echo(f"file: {resolved.file or '(none)'}")
    width = max(len(name) for name in report)
    values = {name: _text(row["value"]) for name, row in report.items()}
    value_width = min(40, max(len(text) for text in values.values()))
    for name, row in report.items():
        where = f"{row['origin']} {row['where']}".strip()
        live = "  (live)" if row["live"] else ""
        click.echo(f"{name:<{width}}  {values[name]:<{value_width}}  {where}{live}")


def install_config_commands(main: click.Group, dispatcher: click.Command) -> None:
    """Add `config show`, with every settings option of `corral dispatcher`."""
    config_show.params.extend(
        param
        for param in dispatcher.params
        if isinstance(param, click.Option) and param.name in Settings.model_fields
    )
    main.add_command(config_group)
