"""The small parsers of the `corral NOUN VERB` commands: times, settings values, Link
headers, set options, and the exit code of a 404."""

from __future__ import annotations

import io
import json
from datetime import datetime

import click
import pytest
from click.testing import CliRunner
from rich.console import Console

from console import clikit, exit_codes
from console.clikit import changes, names, parse_pairs
from console.http import NothingThere, RequestRefused
from console.settings_cli import parse_values
from console.stats_cli import MOMENT, next_after


def test_times_are_epoch_seconds_or_iso() -> None:
    assert MOMENT.convert("1700000000.5", None, None) == 1700000000.5
    assert MOMENT.convert("2026-12-07T08:00", None, None) == datetime(2026, 12, 7, 8).timestamp()
    assert MOMENT.convert("2026-12-07T08:00+00:00", None, None) == 1796630400.0
    with pytest.raises(click.BadParameter, match="neither seconds"):
        MOMENT.convert("yesterday", None, None)


def test_settings_values_are_json_where_they_parse() -> None:
    parsed = parse_values(("a=2", "b=true", 'c=["x:1"]', "d=plain text", "e=a=b"))
    assert parsed == {"a": 2, "b": True, "c": ["x:1"], "d": "plain text", "e": "a=b"}
    with pytest.raises(click.BadParameter):
        parse_values(("novalue",))


def test_the_next_page_cursor_comes_from_the_link_header() -> None:
    link = '</api/v1/history/?start=0&limit=2&after=abc%3D>; rel="next"'
    assert next_after(link) == "abc="
    assert next_after(None) is None
    assert next_after('</x?after=1>; rel="prev"') is None


def test_set_options_name_what_changes() -> None:
    assert changes({"a": None, "b": [], "c": "x"}) == {"b": [], "c": "x"}
    with pytest.raises(click.UsageError, match="nothing to change"):
        changes({"a": None})
    assert names(("a", "", " ", "b")) == ["a", "b"]
    assert parse_pairs(["K=V"], "'X'") == {"K": "V"}


def test_a_404_exits_7_and_other_refusals_1() -> None:
    assert exit_codes.exit_code_for(NothingThere(404, "Not Found", "no job 9")) == 7
    assert exit_codes.exit_code_for(RequestRefused(409, "Conflict")) == 1


def test_a_bulk_action_shows_a_bar_on_a_terminal_and_keeps_stdout_clean(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    terminal = io.StringIO()
    bar_console = Console(file=terminal, force_terminal=True, width=80)
    real = clikit.bulk_progress
    monkeypatch.setattr(
        clikit, "bulk_progress", lambda total, label: real(total, label, bar_console)
    )

    def act(item: str) -> str:
        if item == "bad":
            raise RequestRefused(409, "Conflict", "busy")
        return f"done {item}"

    @click.command()
    @click.argument("items", nargs=-1)
    @clikit.json_option
    def bulk(items: tuple[str, ...], as_json: bool) -> None:
        clikit.for_each(items, "thing", act)

    result = CliRunner().invoke(bulk, ["a", "bad", "b"])
    assert result.exit_code == 1
    assert result.stdout == "done a\ndone b\n"  # a pipe: the lines as they are
    assert "things" in terminal.getvalue() and "thing bad: busy" in terminal.getvalue()
    assert "2 of the requested" not in result.stdout
    as_json = CliRunner().invoke(bulk, ["a", "b", "--json"])
    assert json.loads(as_json.stdout) == [
        {"item": "a", "ok": True, "message": "done a"},
        {"item": "b", "ok": True, "message": "done b"},
    ]
    assert real(1, "x", bar_console) is None  # one item: no bar
    assert real(5, "x", Console(file=io.StringIO())) is None  # not a terminal: no bar
