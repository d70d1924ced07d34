"""`corral system ...`: the dispatcher as a whole over the REST API.

status, engine, soft-restart, reset-counters, scan-nodes; the dispatcher's own logs
(`system logs`, `log-clear`, `log-remove`, `message`); the whole queue's
`export` and `import` with a progress bar. `corral logs JOB [CHUNK]` stays the
chunks' logs.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import click
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TransferSpeedColumn,
)

from console.auth import CliState
from console.chunks_cli import stream_text
from console.clikit import json_option, pass_state, print_sheet, segment, show
from console.formatting import printable
from console.http import ConsoleError

LOG_KINDS = ("activity", "action")
ENGINE_VERBS = ("run", "pause", "swap")
BLOCK_BYTES = 256 * 1024
MAX_IMPORT_BYTES = 1 << 30
READ_S = 300.0


@click.group()
def system() -> None:
    """The dispatcher as a whole: status, engine, logs, queue export and import."""


@system.command("status")
@json_option
@pass_state
def system_status(state: CliState, as_json: bool) -> None:
    """The dispatcher's counters: uptime, jobs, nodes, the store, memory.

    \b
    corral system status --json
    """
    found = dict(state.client().request("GET", "/status") or {})
    show(as_json, found, lambda: print_sheet(found))


@system.command("engine")
@click.argument("verb", type=click.Choice(ENGINE_VERBS), required=False)
@json_option
@pass_state
def system_engine(state: CliState, verb: str | None, as_json: bool) -> None:
    """Show whether the engine assigns work; run, pause or swap it (administer).

    A paused engine starts no new chunks; running ones finish.

    \b
    corral system engine
    corral system engine pause
    """
    client = state.client()
    if verb is None:
        answer = client.request("GET", "/system/engine")
    elif verb == "swap":
        answer = client.request("POST", "/system/engine/swap")
    else:
        answer = client.request("PUT", "/system/engine", body={"running": verb == "run"})
    found = dict(answer or {})
    show(as_json, found, "engine " + ("running" if found.get("running") else "paused"))


@system.command("soft-restart")
@json_option
@pass_state
def system_soft_restart(state: CliState, as_json: bool) -> None:
    """Reload templates and stored settings, restart the hook host (administer).

    Running work goes on.

    \b
    corral system soft-restart
    """
    state.client().request("POST", "/system/soft-restart")
    show(as_json, {"soft_restart": True}, "soft restart done")


@system.command("reset-counters")
@json_option
@pass_state
def system_reset_counters(state: CliState, as_json: bool) -> None:
    """Zero the statistics counters: results, assignments, hook faults, API calls (administer).

    \b
    corral system reset-counters
    """
    state.client().request("POST", "/system/counters/reset")
    show(as_json, {"counters_reset": True}, "counters reset")


@system.command("scan-nodes")
@json_option
@pass_state
def system_scan_nodes(state: CliState, as_json: bool) -> None:
    """Probe the discovery addresses; render clients that answer register (manage-nodes).

    \b
    corral system scan-nodes
    """
    found = dict(state.client().request("POST", "/system/nodes-scan") or {})
    show(as_json, found, f"{found.get('answered', 0)} render client(s) answered")


# -- logs ---------------------------------------------------------------------------


@system.command("logs")
@click.argument("kind", type=click.Choice(LOG_KINDS), required=False)
@click.argument("name", required=False)
@click.option("--follow", "-f", is_flag=True, help="Go on printing what is written to it.")
@click.option("--follow-s", type=click.FloatRange(min=1), default=600, show_default=True,
              help="With --follow: stop after this long.")  # fmt: skip
@json_option
@pass_state
def system_logs(
    state: CliState, kind: str | None, name: str | None, follow: bool, follow_s: float,
    as_json: bool,
) -> None:  # fmt: skip
    """The dispatcher's own log; `activity` or `action` lists those logs, with NAME reads one.

    \b
    corral system logs                  the dispatcher log
    corral system logs -f               follow it
    corral system logs action           the action logs' names
    corral system logs activity activity-2026-12-07.log
    """
    client = state.client()
    if kind is not None and name is None:
        if follow:
            raise click.UsageError("--follow needs a log NAME")
        found = [str(item) for item in client.request("GET", f"/logs/{kind}/") or []]
        show(as_json, found, lambda: _lines(found or [f"no {kind} logs"]))
        return
    path = "/logs/dispatcher" if kind is None else f"/logs/{kind}/{segment(name or '')}"
    if follow:
        if as_json:
            raise click.UsageError("--follow prints the log as it comes; --json cannot")
        stream_text(client, path, {"follow": "true", "follow_s": follow_s})
        return
    text = str(client.request("GET", path) or "")
    if as_json:
        show(True, {"log": path.removeprefix("/logs/"), "text": text}, "")
    else:
        click.echo(printable(text, lines=True), nl=bool(text) and not text.endswith("\n"))


def _lines(items: list[str]) -> None:
    for item in items:
        click.echo(printable(item))


@system.command("log-clear")
@json_option
@pass_state
def system_log_clear(state: CliState, as_json: bool) -> None:
    """Empty the dispatcher log (administer).

    \b
    corral system log-clear
    """
    state.client().request("DELETE", "/logs/dispatcher")
    show(as_json, {"cleared": "dispatcher"}, "dispatcher log cleared")


@system.command("log-remove")
@click.argument("kind", type=click.Choice(LOG_KINDS))
@click.argument("name")
@json_option
@pass_state
def system_log_remove(state: CliState, kind: str, name: str, as_json: bool) -> None:
    """Remove an activity or action log file (administer).

    \b
    corral system log-remove activity activity-2026-11-01.log
    """
    state.client().request("DELETE", f"/logs/{kind}/{segment(name)}")
    show(as_json, {"removed": {"kind": kind, "name": name}}, f"removed {kind} log {name}")


@system.command("message")
@click.argument("text")
@click.option("--internal", is_flag=True, help="Mark it as a debugging line.")
@json_option
@pass_state
def system_message(state: CliState, text: str, internal: bool, as_json: bool) -> None:
    """Add a line to the dispatcher log (submit).

    \b
    corral system message "maintenance at 18:00"
    """
    if not text.strip():
        raise click.BadParameter("must not be empty", param_hint="'TEXT'")
    state.client().request("POST", "/logs/dispatcher", body={"message": text, "internal": internal})
    show(as_json, {"message": text, "internal": internal}, "message added")


# -- export and import ----------------------------------------------------------------


def _transfer(label: str) -> Progress | None:
    """A bytes progress bar on stderr when it is a terminal."""
    console = Console(stderr=True)
    if not console.is_terminal:
        return None
    return Progress(TextColumn(f"[bold]{label}"), BarColumn(), DownloadColumn(),
                    TransferSpeedColumn(), console=console, transient=True,
                    redirect_stdout=False, redirect_stderr=False)  # fmt: skip


@system.command("export")
@click.argument("target", type=click.Path(dir_okay=False, allow_dash=True, path_type=Path),
                default="-", required=False)  # fmt: skip
@click.option("--force", is_flag=True, help="Replace TARGET if it exists.")
@json_option
@pass_state
def system_export(state: CliState, target: Path, force: bool, as_json: bool) -> None:
    """Write the whole queue in Corral's export format to TARGET (- or none: stdout).

    \b
    corral system export queue.sql
    """
    to_stdout = str(target) == "-"
    if to_stdout and as_json:
        raise click.UsageError("--json needs a TARGET file (the export itself goes to stdout)")
    if not to_stdout and target.exists() and not force:
        raise ConsoleError(f"{target} exists; give another name or --force")
    client = state.client()
    partial = target.with_name(target.name + ".part") if not to_stdout else None
    written = 0
    with client.open_stream("/queue/export", {}, READ_S) as answer:
        length = answer.headers.get("Content-Length")
        progress = None if to_stdout else _transfer("export")
        out: IO[bytes] = sys.stdout.buffer if partial is None else partial.open("wb")
        try:
            task = (
                progress.add_task("", total=int(length) if length else None) if progress else None
            )
            if progress is not None:
                progress.start()
            while block := answer.read1(BLOCK_BYTES):
                out.write(block)
                written += len(block)
                if progress is not None and task is not None:
                    progress.update(task, completed=written)
        except BaseException:
            if partial is not None:  # no half export left behind under the .part name
                out.close()
                partial.unlink(missing_ok=True)
            raise
        finally:
            if progress is not None:
                progress.stop()
            if partial is not None:
                out.close()
    if partial is not None:
        partial.replace(target)
        done = {"file": str(target), "bytes": written}
        show(as_json, done, f"exported the queue to {target} ({written} bytes)")
    else:
        sys.stdout.flush()


def _blocks(data: bytes, progress: Progress | None) -> Iterator[bytes]:
    task = progress.add_task("", total=len(data)) if progress is not None else None
    for first in range(0, len(data), BLOCK_BYTES):
        yield data[first : first + BLOCK_BYTES]
        if progress is not None and task is not None:
            progress.update(task, completed=min(len(data), first + BLOCK_BYTES))


@system.command("import")
@click.argument("source", type=click.File("rb"))
@click.option("--yes", is_flag=True, help="Replace the queue without asking.")
@json_option
@pass_state
def system_import(state: CliState, source: Any, yes: bool, as_json: bool) -> None:
    """Replace the WHOLE queue with an export (administer); checked whole first.

    \b
    corral system import queue.sql --yes
    """
    data = source.read(MAX_IMPORT_BYTES + 1)
    if len(data) > MAX_IMPORT_BYTES:
        raise click.BadParameter(f"over {MAX_IMPORT_BYTES} bytes", param_hint="'SOURCE'")
    if not yes:
        if not sys.stdin.isatty() or source is sys.stdin.buffer:
            raise click.UsageError("importing replaces the whole queue: give --yes")
        click.confirm("Replace the whole queue with this export?", abort=True, err=True)
    client = state.client()
    client.timeout_s = READ_S
    progress = _transfer("import")
    if progress is not None:
        progress.start()
    try:
        answer = client.request(
            "POST", "/queue/import", data=_blocks(data, progress),
            headers={"Content-Length": str(len(data))},
        )  # fmt: skip
    finally:
        if progress is not None:
            progress.stop()
    found = dict(answer or {})
    show(as_json, found, f"imported {found.get('jobs', 0)} jobs")


COMMANDS: tuple[click.Command, ...] = (system,)
