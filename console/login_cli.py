"""`corral login`: trade a user name and password for a token kept in
~/.config/corral/token, where every later command finds it."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click

from console.auth import TOKEN_FILE, CliState
from console.http import ConsoleError


def save_token(home: Path, token: str) -> Path:
    """Write the token where `find_token` looks, readable by its owner only."""
    path = home / TOKEN_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(token + "\n")
    os.chmod(path, 0o600)
    return path


@click.command()
@click.option("--user", "username", required=True, help="Your Corral user name.")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@click.option("--print-token", is_flag=True, help="Print the token instead of saving it.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@click.pass_obj
def login(
    state: CliState, username: str, password_stdin: bool, print_token: bool, as_json: bool
) -> None:
    """Log in with a password; the token goes to ~/.config/corral/token (mode 0600)."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, err=True)
    client = state.client()
    client.token = None  # the login call needs none, and a stale one must not matter
    answer = client.request("POST", "/login", body={"username": username, "password": password})
    token = str(answer["token"])
    saved = None
    if not print_token:
        if state.home is None:
            raise ConsoleError("no home folder to keep the token in; use --print-token")
        saved = save_token(state.home, token)
    if as_json:
        click.echo(json.dumps({"user": answer["user"], "token_file": str(saved) if saved else None,
                               **({"token": token} if print_token else {})}))  # fmt: skip
    elif print_token:
        click.echo(token)
    else:
        click.echo(f"logged in as {answer['user']}; token saved to {saved}")
