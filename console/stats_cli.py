"""`corral stats samples|history|bounds|clear|metrics`: the statistics samples, the job
history and the Prometheus metrics over the REST API."""

from __future__ import annotations

import urllib.parse
from datetime import datetime
from typing import Any

import click

from console.auth import CliState
from console.clikit import json_option, pass_state, show, show_rows
from console.formatting import printable, time_text
from console.http import DispatcherClient

TABLES = {"samples": "statistics", "history": "history"}
PAGE = 1000


class Moment(click.ParamType):
    """A time: seconds since the epoch, or an ISO 8601 date or date and time (local)."""

    name = "TIME"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> float:
        if isinstance(value, int | float):
            return float(value)
        text = str(value).strip()
        try:
            return float(text)
        except ValueError:
            pass
        try:
            return datetime.fromisoformat(text).timestamp()
        except ValueError:
            self.fail(
                f"{text!r} is neither seconds since the epoch nor an ISO 8601 time", param, ctx
            )


MOMENT = Moment()


def next_after(link: str | None) -> str | None:
    """The `after` cursor of a Link header's next page (None: no next page)."""
    if not link or 'rel="next"' not in link:
        return None
    url = link.split(">", 1)[0].lstrip("<")
    values = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query).get("after")
    return values[0] if values else None


def read_rows(
    client: DispatcherClient, table: str, start: float, end: float | None, limit: int | None
) -> list[dict[str, Any]]:
    """The rows of a time range, every page (at most `limit` rows)."""
    rows: list[dict[str, Any]] = []
    after: str | None = None
    while True:
        page = PAGE if limit is None else min(PAGE, limit - len(rows))
        query = {"start": start, "end": end, "limit": page, "after": after}
        rows.extend(client.request("GET", f"/{table}/", query=query) or [])
        after = next_after(client.last_link)
        if after is None or (limit is not None and len(rows) >= limit):
            return rows


@click.group()
def stats() -> None:
    """Statistics samples, the job history, and the metrics."""


def _rows_command(kind: str, summary: str) -> click.Command:
    @click.option("--from", "start", type=MOMENT, default=0.0, help="First time (epoch s or ISO).")
    @click.option("--to", "end", type=MOMENT, help="Last time (default: now).")
    @click.option("--limit", type=click.IntRange(min=1), help="At most this many rows.")
    @json_option
    @pass_state
    def command(
        state: CliState, start: float, end: float | None, limit: int | None, as_json: bool
    ) -> None:
        rows = read_rows(state.client(), TABLES[kind], start, end, limit)
        columns = [(key.upper(), key) for key in (rows[0] if rows else {})]
        show_rows(as_json, rows, columns, f"no {kind}")

    command.__doc__ = summary
    return stats.command(kind)(command)


_rows_command("samples", "The statistics samples of a time range, oldest first.\n\n"
              "\b\ncorral stats samples --from 2026-12-01 --json")  # fmt: skip
_rows_command("history", "The job history (submitted, started, completed ...) of a time range.\n\n"
              "\b\ncorral stats history --from 2026-12-07T08:00")  # fmt: skip


@stats.command("bounds")
@json_option
@pass_state
def stats_bounds(state: CliState, as_json: bool) -> None:
    """The first and last time, and the count, of the samples and of the history.

    \b
    corral stats bounds
    """
    client = state.client()
    found = {
        kind: dict(client.request("GET", f"/{table}/bounds")) for kind, table in TABLES.items()
    }

    def people() -> None:
        for kind, bounds in found.items():
            click.echo(printable(f"{kind}: {bounds.get('count', 0)} from "
                                 f"{time_text(bounds.get('start'))} to {time_text(bounds.get('end'))}"))  # fmt: skip

    show(as_json, found, people)


@stats.command("clear")
@click.argument("kind", type=click.Choice(tuple(TABLES)))
@click.option("--from", "start", type=MOMENT, required=True, help="First time (epoch s or ISO).")
@click.option("--to", "end", type=MOMENT, required=True, help="Last time (epoch s or ISO).")
@json_option
@pass_state
def stats_clear(state: CliState, kind: str, start: float, end: float, as_json: bool) -> None:
    """Delete the samples or history rows of a time range (administer).

    \b
    corral stats clear history --from 2026-01-01 --to 2026-06-30
    """
    if end < start:
        raise click.BadParameter("--to is before --from", param_hint="'--to'")
    state.client().request("DELETE", f"/{TABLES[kind]}/", query={"start": start, "end": end})
    answer = {"cleared": kind, "from": start, "to": end}
    show(as_json, answer, f"cleared {kind} from {time_text(start)} to {time_text(end)}")


@stats.command("metrics")
@pass_state
def stats_metrics(state: CliState) -> None:
    """The Prometheus metrics, as /metrics serves them.

    \b
    corral stats metrics | grep corral_chunks
    """
    text = str(state.client().request("GET", "/metrics", prefix="") or "")
    click.echo(printable(text, lines=True), nl=not text.endswith("\n"))


COMMANDS: tuple[click.Command, ...] = (stats,)
