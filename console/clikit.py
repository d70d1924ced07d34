"""What the `corral NOUN VERB` commands share: the state decorator, `--json`, tables,
name arguments with shell completion, and bulk actions with a progress bar.

Every command reads and changes the farm through the REST API only
(`CliState.client()`); nothing here touches the store.
"""

from __future__ import annotations

import sys
import urllib.parse
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from console.auth import CliState
from console.formatting import cell, printable, to_json
from console.http import AuthFailed, ConsoleError, RequestRefused

pass_state = click.make_pass_decorator(CliState, ensure=True)
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")


class PartialFailure(ConsoleError):
    """Some of several requested actions were refused; each was reported already."""


def segment(value: object) -> str:
    """A name or id as one URL path segment."""
    return urllib.parse.quote(str(value).strip(), safe="")


def echo_json(value: Any) -> None:
    click.echo(to_json(value))


def stdout_console() -> Console:
    return Console(highlight=False, soft_wrap=False)


def print_table(rows: Sequence[dict[str, Any]], columns: Sequence[tuple[str, str]]) -> None:
    """A table of `rows`, one column per (TITLE, key); lists show comma-separated."""
    table = Table(box=None, header_style="bold", pad_edge=False)
    for title, _ in columns:
        table.add_column(title, overflow="fold")
    for row in rows:
        table.add_row(*(cell(_text(row.get(key))) for _, key in columns))
    stdout_console().print(table)


def print_sheet(item: dict[str, Any], keys: Sequence[str] | None = None) -> None:
    """One object as `name  value` lines (every key, sorted, unless `keys`)."""
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    for key in keys or sorted(item):
        table.add_row(cell(key), cell(_text(item.get(key)), lines=True))
    stdout_console().print(table)


def _text(value: Any) -> str:
    if value is None or value == "":
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | tuple):
        return ", ".join(_text(item) for item in value) or "-"
    if isinstance(value, dict):
        return ", ".join(f"{key}={_text(item)}" for key, item in value.items()) or "-"
    return str(value)


def show(as_json: bool, value: Any, text: str | Callable[[], None]) -> None:
    """`value` as JSON, or for people `text` (a line, or a function that prints)."""
    if as_json:
        echo_json(value)
    elif callable(text):
        text()
    else:
        click.echo(printable(text))


def show_rows(
    as_json: bool,
    rows: Sequence[dict[str, Any]],
    columns: Sequence[tuple[str, str]],
    empty: str,
    value: Any = None,
) -> None:
    """`value` (default: `rows`) as JSON, or for people a table of `rows`; `empty` when
    there are none."""
    show(
        as_json,
        rows if value is None else value,
        lambda: print_table(rows, columns) if rows else click.echo(empty),
    )


def bulk_progress(total: int, label: str, console: Console | None = None) -> Progress | None:
    """A progress bar on stderr (or `console`) for `total` steps, when that is a terminal
    and there is more than one step; None otherwise (pipes and scripts see no bar). It
    never takes over stdout: what a command prints still goes there."""
    console = console or Console(stderr=True)
    if total < 2 or not console.is_terminal:
        return None
    return Progress(
        TextColumn(f"[bold]{label}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        redirect_stdout=False,
        redirect_stderr=False,
    )


def for_each(items: Iterable[str], what: str, act: Callable[[str], str], plural: str = "") -> None:
    """Apply `act` to each item, printing its line; a refusal is one line on stderr and the
    rest go on (exit 1 at the end). A token refused stops at once. A progress bar shows
    on a terminal when there are several items. When the command was given --json, stdout
    gets one JSON list instead: `{"item", "ok", "message"}` per item."""
    todo = list(items)
    plural = plural or what + "s"
    as_json = bool(click.get_current_context().params.get("as_json"))
    results: list[dict[str, Any]] = []
    progress = bulk_progress(len(todo), plural)
    task = progress.add_task("", total=len(todo)) if progress is not None else None
    # Lines for the terminal the bar is on go above the bar; to a pipe, as they are.
    above = progress is not None and sys.stdout.isatty()
    if progress is not None:
        progress.start()
    try:
        for item in todo:
            try:
                line = act(item)
                results.append({"item": item, "ok": True, "message": line})
                if not as_json:
                    _say(printable(line), progress if above else None)
            except AuthFailed:
                raise
            except RequestRefused as exc:
                results.append({"item": item, "ok": False, "message": str(exc)})
                _say(printable(f"corral: error: {what} {item}: {exc}"), progress, err=True)
            if progress is not None and task is not None:
                progress.advance(task)
    finally:
        if progress is not None:
            progress.stop()
    if as_json:
        echo_json(results)
    refused = sum(1 for result in results if not result["ok"])
    if refused:
        raise PartialFailure(f"{refused} of the requested {plural} refused the action")


def delete_each(
    client: Any, collection: str, items: Iterable[str], what: str, plural: str = ""
) -> None:
    """DELETE `collection` + each item (one path segment) with `for_each`: a line per
    item (`deleted WHAT ITEM`), refusals on stderr and exit 1 at the end."""

    def act(item: str) -> str:
        client.request("DELETE", collection + segment(item))
        return f"deleted {what} {item}"

    for_each(items, what, act, plural)


def _say(line: str, progress: Progress | None, err: bool = False) -> None:
    """A line above the progress bar when there is one, else to stdout (or stderr)."""
    if progress is not None:
        progress.console.print(line, markup=False, highlight=False, soft_wrap=True)
    else:
        click.echo(line, err=err)


def parse_pairs(values: Iterable[str], hint: str) -> dict[str, str]:
    """['K=V', 'A=b=c'] -> {'K': 'V', 'A': 'b=c'}; a pair without '=' is a usage error."""
    result: dict[str, str] = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"{item!r} is not KEY=VALUE", param_hint=hint)
        result[key.strip()] = value
    return result


def non_empty(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    """A click callback refusing an empty or blank name."""
    if isinstance(value, str) and not value.strip():
        raise click.BadParameter("must not be empty")
    return value


def changes(fields: dict[str, Any]) -> dict[str, Any]:
    """The options a `set` command was given (None: not given); UsageError when none."""
    given = {key: value for key, value in fields.items() if value is not None}
    if not given:
        raise click.UsageError("nothing to change: give at least one option")
    return given


def listing(client: Any, path: str, query: dict[str, Any] | None = None) -> list[Any]:
    """A whole REST listing as a list (an empty answer is an empty list)."""
    return list(client.request("GET", path, query=query) or [])


def names(values: Sequence[str]) -> list[str]:
    """Repeated options' values without blanks ('' clears a list)."""
    return [value for value in values if value.strip()]
