"""`corral compat-path` and `corral compat ...`: what scripts written for other farms need."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from console.auth import CliState
from console.http import ConsoleError

# The folder of the compatibility packages (smedge, drqueue, pydra, MClientAPI and the
# client library they share), beside the console package in a Corral checkout.
COMPAT_FOLDER = Path(__file__).resolve().parents[1] / "compat"


@click.command("compat-path")
def compat_path() -> None:
    """Print the folder to put on PYTHONPATH for `import smedge`, `import drqueue`,
    `import pydra` and `import MClientAPI` (standard library only, Python 3.7+).

    \b
    export PYTHONPATH="$(corral compat-path)"
    """
    if not (COMPAT_FOLDER / "smedge" / "__init__.py").is_file():
        raise click.ClickException(f"the compatibility packages are missing from {COMPAT_FOLDER}")
    click.echo(str(COMPAT_FOLDER))


@click.group()
def compat() -> None:
    """Helpers for scripts written for other farm managers (docs/compat.md)."""


@compat.command("pydra-key")
@click.option(
    "--user",
    "username",
    help="Log in as this user and print a new token; without it, the token this "
    "command already uses (--token, CORRAL_TOKEN, the corral login token file).",
)
@click.option("--password-stdin", is_flag=True, help="With --user: read the password from stdin.")
@click.pass_obj
def pydra_key(state: CliState, username: str | None, password_stdin: bool) -> None:
    """Print a Corral API token to keep as Pydra's master key file.

    \b
    corral compat pydra-key > master.key && chmod 600 master.key

    Pydra's controller (`import pydra` on `corral compat-path`) reads master.key in
    the folder it runs from. Whoever holds the file acts as the token's user; revoke
    it with `corral` or DELETE /api/v1/tokens/ID.
    """
    client = state.client()
    if username:
        if password_stdin:
            password = sys.stdin.readline().rstrip("\r\n")
        else:
            password = click.prompt("Password", hide_input=True, err=True)
        client.token = None  # the login needs none, and a stale one must not matter
        answer = client.request("POST", "/login", body={"username": username, "password": password})
        token, user, how = str(answer["token"]), str(answer["user"]), "a new token"
    else:
        if not client.token:
            raise ConsoleError("no token to export: log in (corral login) or pass --user")
        current = [t for t in client.request("GET", "/tokens/") if t.get("current")]
        token, how = client.token, "the token in use"
        user = str(current[0]["user"]) if current else "?"
    click.echo(token)
    click.echo(
        f"corral: pydra key for user {user} ({how}); keep the file readable by you only",
        err=True,
    )


COMMANDS = (compat_path, compat)
