"""Console commands for templates and scripts: `corral templates list|reload` and
`corral run-script FILE [--target dispatcher|console]`.

A dispatcher-target script runs in the dispatcher's hook host with
MDispatcherAPI (the administer permission is required); a console-target
script runs here, in the console context.
"""

from __future__ import annotations

import runpy
import sys
import traceback
from pathlib import Path
from typing import Any

import click

from console.auth import TLS_CA_ENV, CliState
from console.formatting import printable, to_json
from console.http import ConsoleError

pass_state = click.make_pass_decorator(CliState, ensure=True)
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
MAX_SCRIPT_BYTES = 4 * 1024 * 1024


class ScriptFailed(ConsoleError):
    """The script raised or its host failed; its traceback was printed."""


@click.group()
def templates() -> None:
    """Templates: list, show, reload; the software registry and job types."""


def _print_templates(answer: dict[str, Any]) -> None:
    for template in answer.get("templates", []):
        hooks = ", ".join(template.get("hooks", [])) or "no dispatcher hooks"
        click.echo(
            printable(f"{template['id']:>5}  {template['key']:<20} {template['name']}  [{hooks}]")
        )
    for error in answer.get("errors", []):
        click.echo(printable(f"corral: template error: {error}"), err=True)


@templates.command("list")
@json_option
@pass_state
def templates_list(state: CliState, as_json: bool) -> None:
    """Show installed templates and the dispatcher hooks each overrides."""
    answer = dict(state.client().request("GET", "/templates/") or {})
    if as_json:
        click.echo(to_json(answer))
    else:
        _print_templates(answer)


@templates.command("reload")
@json_option
@pass_state
def templates_reload(state: CliState, as_json: bool) -> None:
    """Reload the template files without restarting the dispatcher (administer)."""
    answer = dict(state.client().request("POST", "/templates/reload") or {})
    if as_json:
        click.echo(to_json(answer))
        return
    _print_templates(answer)
    click.echo(f"reloaded {len(answer.get('templates', []))} templates")


def _read_script(path: Path) -> str:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise click.BadParameter(
            f"cannot read {path}: {exc.strerror or exc}", param_hint="'FILE'"
        ) from None
    if len(data) > MAX_SCRIPT_BYTES:
        raise click.BadParameter(f"{path} is over {MAX_SCRIPT_BYTES} bytes", param_hint="'FILE'")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise click.BadParameter(f"{path} is not UTF-8 text", param_hint="'FILE'") from None


@click.command("run-script")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--target",
    type=click.Choice(["dispatcher", "console"]),
    default="dispatcher",
    show_default=True,
    help="dispatcher: in the hook host with MDispatcherAPI (admin); console: here.",
)
@json_option
@pass_state
def run_script(state: CliState, file: Path, target: str, as_json: bool) -> None:
    """Run a Python script in the dispatcher context (or the console context).

    Prints what the script printed, then any MDispatcherAPI call that returned
    an error; exits 1 when the script raised.
    """
    code = _read_script(file)
    if target == "console":
        _run_locally(state, file)
        return
    answer = dict(
        state.client().request("POST", "/scripts/run", body={"name": file.name, "code": code}) or {}
    )
    if as_json:
        click.echo(to_json(answer))
    else:
        click.echo(answer.get("output", ""), nl=False)
        for failure in answer.get("api_errors", []):
            click.echo(f"MUSTERERR {failure}", err=True)
        if answer.get("error"):
            click.echo(answer["error"].rstrip(), err=True)
    if not answer.get("ok", False):
        raise ScriptFailed(f"the script {file.name} failed in the dispatcher context")


def _run_locally(state: CliState, file: Path) -> None:
    """Run the script here in the console context, MConsoleAPI talking to the dispatcher
    the other commands would (the same --dispatcher, --token and their fallbacks); then
    print every MConsoleAPI call that returned an error, as the dispatcher target does."""
    from console.consoleapi import transport
    from hooks.api.context import set_context

    client = state.client()
    ca_file = state.tls_ca or state.env.get(TLS_CA_ENV, "").strip() or None
    transport.configure(",".join(client.urls), client.token, ca_file=ca_file)
    transport.api_errors.clear()
    set_context("console")
    saved_argv, saved_path = sys.argv, list(sys.path)
    sys.argv = [str(file)]
    sys.path.insert(0, str(file.resolve().parent))
    try:
        runpy.run_path(str(file), run_name="__main__")
    except (SystemExit, KeyboardInterrupt):
        raise
    except BaseException:
        traceback.print_exc()
        raise ScriptFailed(f"the script {file.name} failed in the console context") from None
    finally:
        sys.argv, sys.path[:] = saved_argv, saved_path
        set_context("")
        sys.stdout.flush()
        for failure in transport.api_errors:  # as the dispatcher target reports them
            click.echo(f"MUSTERERR {failure}", err=True)


COMMANDS: tuple[click.Command, ...] = (templates, run_script)
