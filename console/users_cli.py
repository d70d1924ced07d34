"""`corral users passwd`, `corral logout` and `corral tokens list|revoke`: passwords and
tokens over the REST API (the dispatcher's account operations check who may do what)."""

from __future__ import annotations

import sys
import urllib.parse
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from console.auth import TOKEN_FILE, CliState
from console.formatting import cell, time_text, to_json
from console.http import ConsoleError, RequestRefused

json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")


def _segment(value: str) -> str:
    return urllib.parse.quote(value, safe="")


def _read_passwords(password_stdin: bool) -> tuple[str, str | None]:
    """The new password (and, from standard input, the current one if given)."""
    if password_stdin:
        lines = sys.stdin.read(8192).splitlines()
        if not lines or not lines[0]:
            raise click.UsageError("--password-stdin: the first line must hold the new password")
        return lines[0], (lines[1] if len(lines) > 1 and lines[1] else None)
    password = click.prompt("New password", hide_input=True, err=True)
    again = click.prompt("New password again", hide_input=True, err=True)
    if password != again:
        raise ConsoleError("the two passwords differ; nothing was changed")
    return password, None


@click.group()
def users() -> None:
    """Users: list, show, create, set, delete, and their passwords."""


@users.command()
@click.argument("user")
@click.option(
    "--password-stdin",
    is_flag=True,
    help="Read the new password from the first line of standard input (and your current "
    "one from the second, when you set your own without administer).",
)
@json_option
@click.pass_obj
def passwd(state: CliState, user: str, password_stdin: bool, as_json: bool) -> None:
    """Set USER's password: an administrator sets anyone's, a user their own
    (the current password is asked for)."""
    password, old = _read_passwords(password_stdin)
    client = state.client()
    path = f"/users/{_segment(user)}/password"
    body: dict[str, Any] = {"password": password, **({"old_password": old} if old else {})}
    try:
        client.request("POST", path, body=body)
    except RequestRefused as exc:
        if exc.field != "old_password" or password_stdin:
            raise
        body["old_password"] = click.prompt("Current password", hide_input=True, err=True)
        client.request("POST", path, body=body)
    if as_json:
        click.echo(to_json({"user": user, "password_set": True}))
    else:
        click.echo(f"password of {user} set")


@click.command()
@json_option
@click.pass_obj
def logout(state: CliState, as_json: bool) -> None:
    """Revoke the token in use; forget it when it came from ~/.config/corral/token."""
    client = state.client()
    answer = client.request("POST", "/logout")
    forgotten = None
    if state.home is not None and client.token:
        path = state.home / TOKEN_FILE
        try:
            saved = path.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError):
            saved = ""
        if saved == client.token:
            path.unlink(missing_ok=True)
            forgotten = str(path)
    if as_json:
        click.echo(to_json({"revoked": answer["revoked"], "forgotten": forgotten}))
    else:
        click.echo(
            f"token {answer['revoked']} revoked" + (f"; {forgotten} removed" if forgotten else "")
        )


@click.group()
def tokens() -> None:
    """List and revoke tokens (everyone's with administer, else your own)."""


@tokens.command("list")
@click.option("--user", help="Only this user's tokens (another user's need administer).")
@json_option
@click.pass_obj
def list_tokens(state: CliState, user: str | None, as_json: bool) -> None:
    """Live tokens: id, user, kind, created, last used, expires."""
    found = state.client().request("GET", "/tokens/", query={"user": user})
    if as_json:
        click.echo(to_json(found))
        return
    table = Table(box=None, header_style="bold", pad_edge=False)
    for title in ("ID", "USER", "KIND", "CREATED", "LAST USED", "EXPIRES"):
        table.add_column(title)
    for token in found:
        mark = " *" if token.get("current") else ""
        table.add_row(
            cell(token["id"]) + mark,
            cell(token["user"]),
            cell(token["kind"]),
            time_text(token.get("created")),
            time_text(token.get("last_used")),
            time_text(token.get("expires")) if token.get("expires") else "never",
        )
    Console(highlight=False, soft_wrap=False).print(table)


@tokens.command("revoke")
@click.argument("token_id", metavar="ID")
@json_option
@click.pass_obj
def revoke_token(state: CliState, token_id: str, as_json: bool) -> None:
    """Revoke the token with this ID (as `corral tokens list` shows it)."""
    state.client().request("DELETE", f"/tokens/{_segment(token_id)}")
    if as_json:
        click.echo(to_json({"revoked": token_id}))
    else:
        click.echo(f"token {token_id} revoked")


COMMANDS: tuple[click.Command, ...] = (users, logout, tokens)
