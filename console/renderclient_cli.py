"""`corral renderclient`: a render node in this process until SIGTERM or SIGINT (its
logging, loop and signals as `corral dispatcher`'s: console/daemons_cli.py)."""

from __future__ import annotations

import logging
import os
import shlex
import socket
import sys
from pathlib import Path
from typing import Any

import click

from console.daemons_cli import (
    DirPath,
    close_on_signals,
    configure_logging,
    log_level_option,
    remove_signals,
    run_async,
)
from console.http import ConsoleError

DEFAULT_RENDER_PORT = 9681
EXIT_RESTART = 75  # renderclient.client.EXIT_RESTART: re-execute after a soft restart


def parse_address(text: str, default_port: int = DEFAULT_RENDER_PORT) -> tuple[str, int]:
    """'farm:9681' -> ('farm', 9681); 'farm' -> ('farm', default); '[::1]:9681' -> ('::1', 9681)."""
    from renderclient.dispatchers import parse_address as parse_one

    try:
        return parse_one(text, default_port)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="'--dispatcher'") from None


def parse_addresses(text: str, default_port: int = DEFAULT_RENDER_PORT) -> list[tuple[str, int]]:
    """'farm1:9681,farm2' -> both addresses, in the order given (a BadParameter if none)."""
    from renderclient.dispatchers import parse_addresses as parse_all

    try:
        return parse_all(text, default_port)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="'--dispatcher'") from None


async def serve_renderclient(options: Any) -> int:
    """Run a render client; SIGTERM/SIGINT close it. Returns its exit code."""
    from renderclient.client import RenderClient
    from renderclient.main import run

    client = RenderClient(options)
    installed, closing = close_on_signals(client.close, "the render client", "renderclient-close")
    try:
        code = await run(options, client=client)
        if closing:
            await closing[0]
        return code
    finally:
        remove_signals(installed)


@click.command()
@click.option(
    "--dispatcher",
    "address",
    required=True,
    metavar="HOST:PORT[,HOST:PORT...]",
    help="The dispatcher's render-client address (port 9681 if left out); several "
    "dispatchers of one farm separated by commas are tried in turn.",
)
@click.option("--name", help="Node name.  [default: this host's name]")
@click.option(
    "--secret-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="File holding the farm secret [else env CORRAL_SECRET].",
)
@click.option("--pool", "pools", multiple=True, help="Pool this node offers itself to (repeat).")
@click.option(
    "--software",
    multiple=True,
    metavar="NAME=VERSION",
    help="Software this node has, for jobs' software_requirements (repeat).",
)
@click.option("--tag", "tags", multiple=True, help="A tag for jobs' tag_requirements (repeat).")
@click.option(
    "--instances",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Chunks this node runs at once.",
)
@click.option(
    "--templates-dir",
    "templates_dirs",
    multiple=True,
    type=DirPath,
    help="Site template folder (repeat).",
)
@click.option(
    "--state-dir",
    type=DirPath,
    help="Where the node keys and received templates are kept "
    "[default: $XDG_STATE_HOME or ~/.local/state, then corral/renderclient].",
)
@click.option(
    "--tls-ca",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    metavar="FILE",
    help="Connect with TLS and verify the dispatcher's certificate against this CA file.",
)
@click.option(
    "--finish-on-shutdown",
    is_flag=True,
    help="On SIGTERM let running chunks finish instead of handing them back.",
)
@click.option(
    "--shutdown-grace-s",
    type=click.FloatRange(min=0),
    default=60.0,
    show_default=True,
    help="How long SIGTERM waits for running chunks (and their acknowledgements).",
)
@click.option(
    "--reconnect-max-s",
    type=click.FloatRange(min=0.05),
    default=5.0,
    show_default=True,
    help="The longest pause between reconnect attempts (backoff with jitter).",
)
@click.option(
    "--memory-limit-mb",
    type=click.IntRange(min=0),
    default=0,
    help="Run each instance's renders in a memory cgroup with this limit (0: none).",
)
@click.option(
    "--system-event-command",
    metavar="COMMAND",
    help="Command run for shutdown/reboot/logoff events, the event appended "
    "[default: refuse them].",
)
@click.option(
    "--discovery-port",
    type=click.IntRange(1, 65535),
    default=None,
    metavar="PORT",
    help="Answer a dispatcher's nodes network scan on this UDP port [default: do not].",
)
@click.option(
    "--template-config",
    "template_config",
    multiple=True,
    metavar="TEMPLATE:KEY=VALUE",
    help="This node's value of a template's client configuration item (repeat); "
    "over the state folder's template-config.json/.toml, under the dispatcher's.",
)
@click.option(
    "--hook-timeout-s",
    type=click.FloatRange(min=0.001),
    default=60.0,
    show_default=True,
    help="The longest a chunk's template callbacks (or onClientIdling) may take.",
)
@click.option(
    "--idle-interval-s",
    type=click.FloatRange(min=0.01),
    default=60.0,
    show_default=True,
    help="How often templates' onClientIdling runs while an instance is idle.",
)
@click.option(
    "--log-check-interval-s",
    type=click.FloatRange(min=0.05),
    default=1.0,
    show_default=True,
    help="How often a running chunk's new log lines go to its template's onCheckLog"
    " (and at most how often its onCheckProgress is asked).",
)
@log_level_option
def renderclient(
    address: str, name: str | None, secret_file: Path | None, log_level: str, **options: Any
) -> None:
    """Run a render node until SIGTERM or SIGINT."""
    from renderclient.main import ClientOptions, SecretError, read_secret

    (host, port), *more_dispatchers = parse_addresses(address)
    try:
        secret = read_secret(secret_file, os.environ)
    except SecretError as exc:
        raise ConsoleError(str(exc)) from None
    try:
        client_options = ClientOptions(
            host=host,
            port=port,
            name=name or socket.gethostname(),
            secret=secret,
            pools=tuple(options["pools"]),
            software=tuple(parse_software(text) for text in options["software"]),
            tags=tuple(options["tags"]),
            instances=options["instances"],
            templates_dirs=tuple(options["templates_dirs"]),
            state_dir=options["state_dir"],
            finish_on_shutdown=options["finish_on_shutdown"],
            shutdown_grace_s=options["shutdown_grace_s"],
            reconnect_max_s=options["reconnect_max_s"],
            memory_limit_mb=options["memory_limit_mb"],
            discovery_port=options["discovery_port"],
            system_event_command=tuple(shlex.split(options["system_event_command"] or "")),
            secret_file=secret_file,
            tls_ca=options["tls_ca"],
            template_config=tuple(options["template_config"]),
            hook_timeout_s=options["hook_timeout_s"],
            idle_interval_s=options["idle_interval_s"],
            log_check_interval_s=options["log_check_interval_s"],
            more_dispatchers=tuple(more_dispatchers),
        )
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    configure_logging(log_level)
    from hooks.api.context import set_context

    set_context("renderclient")  # this process is a render client from here on
    launch_env = dict(os.environ)  # the client removes its secrets from os.environ
    code = run_async(serve_renderclient(client_options))
    if code == EXIT_RESTART:
        restart_self(launch_env)
    if code:
        sys.exit(code)


def parse_software(text: str) -> tuple[str, str]:
    """NAME=VERSION from `--software` (a UsageError otherwise)."""
    name, sep, version = text.partition("=")
    if not sep or not name.strip() or not version.strip():
        raise click.UsageError(f"--software {text!r}: give NAME=VERSION, e.g. blender=4.0")
    return name.strip(), version.strip()


def restart_self(env: dict[str, str]) -> None:
    """Replace this process with a fresh copy of itself (a render client's soft restart),
    with the environment it was started with."""
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    argv = [sys.executable, *sys.orig_argv[1:]]
    os.execve(sys.executable, argv, env)
