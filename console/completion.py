"""Shell completion: `corral completion bash|zsh|fish` prints click's script, and job
ids, node names and pool names complete from the dispatcher when it answers quickly.

A completion asks the dispatcher with the same global options and environment
as the command would (--dispatcher, --token, --data-dir), with a short time
limit; when it cannot answer, there is simply nothing to offer.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from click.shell_completion import CompletionItem, get_completion_class

from console.auth import CliState
from console.http import ConsoleError

SHELLS = ("bash", "zsh", "fish")
COMPLETE_TIMEOUT_S = 2.0
COMPLETE_LIMIT = 500  # jobs offered at most (in id order)


def _client(ctx: click.Context) -> Any:
    root = ctx.find_root()
    params = root.params
    try:
        home: Path | None = Path.home()
    except RuntimeError:
        home = None
    state = CliState(
        dispatcher=params.get("dispatcher"),
        token=params.get("token"),
        data_dir=params.get("data_dir"),
        env=dict(os.environ),
        home=home,
        tls_ca=params.get("tls_ca"),
    )
    client = state.client()
    client.timeout_s = COMPLETE_TIMEOUT_S
    return client


def _offer(
    ctx: click.Context, incomplete: str, read: Callable[[Any], list[tuple[str, str]]]
) -> list[CompletionItem]:
    try:
        found = read(_client(ctx))
    except (ConsoleError, OSError, ValueError, KeyError, TypeError):
        return []
    return [
        CompletionItem(value, help=help_text or None)
        for value, help_text in found
        if value.startswith(incomplete)
    ]


def complete_jobs(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[Any]:
    """Job ids, with their titles as help (the first COMPLETE_LIMIT jobs)."""

    def read(client: Any) -> list[tuple[str, str]]:
        jobs = client.request("GET", "/jobs/", query={"limit": COMPLETE_LIMIT}) or []
        return [(str(job["id"]), str(job.get("title", ""))) for job in jobs]

    return _offer(ctx, incomplete, read)


def complete_nodes(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[Any]:
    """Node names."""

    def read(client: Any) -> list[tuple[str, str]]:
        nodes = client.request("GET", "/nodes/") or []
        return [
            (str(node["name"]), "online" if node.get("online") else "offline") for node in nodes
        ]

    return _offer(ctx, incomplete, read)


def complete_pools(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[Any]:
    """Pool names."""

    def read(client: Any) -> list[tuple[str, str]]:
        pools = client.request("GET", "/pools/") or []
        return [(str(pool["name"]), str(pool.get("description") or "")) for pool in pools]

    return _offer(ctx, incomplete, read)


@click.command("completion")
@click.argument("shell", type=click.Choice(SHELLS))
@click.pass_context
def completion(ctx: click.Context, shell: str) -> None:
    """Print the shell completion script for bash, zsh or fish.

    Job ids, node names and pool names complete from the dispatcher.

    \b
    corral completion bash > ~/.local/share/bash-completion/completions/corral
    corral completion zsh > "${fpath[1]}/_corral"
    corral completion fish > ~/.config/fish/completions/corral.fish
    """
    root = ctx.find_root()
    kind = get_completion_class(shell)
    if kind is None:  # click knows every shell of the choice
        raise click.UsageError(f"no completion for {shell}")
    script = kind(root.command, {}, "corral", "_CORRAL_COMPLETE").source()
    click.echo(script)
