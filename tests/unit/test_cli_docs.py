"""Every `corral` command is documented in docs/cli.md, and every one has a --help
with an example or a usage line."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import click
from click.testing import CliRunner

from console.cli import main

DOCS = Path(__file__).resolve().parents[2] / "docs" / "cli.md"


def command_paths(group: click.Group, prefix: str = "corral") -> Iterator[str]:
    """'corral jobs list', ... for every command; a group with no commands counts too."""
    for name, command in sorted(group.commands.items()):
        path = f"{prefix} {name}"
        if isinstance(command, click.Group) and command.commands:
            yield from command_paths(command, path)
        else:
            yield path


PATHS = list(command_paths(main))


def documented_paths(text: str) -> set[str]:
    """Every `corral WORD [WORD [WORD]]` the page shows, in code or in backticks, with
    alternatives written `a|b|c` expanded."""
    found: set[str] = set()
    starts = [m.end() for m in re.finditer(r"(^|`)corral ", text, re.MULTILINE)]
    for start in starts:
        words = text[start:].split("\n", 1)[0].split("`", 1)[0].split()[:3]
        prefixes = [["corral"]]
        for word in words:
            choices = [part for part in word.split("|") if re.fullmatch(r"[a-z][a-z-]*", part)]
            if not choices:
                break
            prefixes = [prefix + [choice] for prefix in prefixes for choice in choices]
            found.update(" ".join(prefix) for prefix in prefixes)
    return found


DOCUMENTED = documented_paths(DOCS.read_text())


def test_the_tree_holds_every_noun() -> None:
    nouns = {path.split()[1] for path in PATHS}
    assert nouns >= {"jobs", "folders", "chunks", "nodes", "pools", "repositories", "users",
                     "groups", "stats", "config", "templates", "system", "store"}  # fmt: skip


def test_every_command_is_in_docs_cli_md() -> None:
    assert [path for path in PATHS if path not in DOCUMENTED] == [], "not shown in docs/cli.md"


def test_every_command_has_help_with_an_example() -> None:
    lacking = []
    for path in PATHS:
        if path.split()[1] in ("dispatcher", "renderclient"):
            continue  # their --help lists their settings; docs/cli.md has the examples
        result = CliRunner().invoke(main, [*path.split()[1:], "--help"])
        assert result.exit_code == 0 and "Usage: corral" in result.output, result.output
        body = result.output.splitlines()[1:]
        if not any(re.search(r"\bcorral [a-z]", line) for line in body):
            lacking.append(path)
    assert lacking == [], "--help without an example"


def test_the_docs_check_would_catch_a_missing_command() -> None:
    assert "corral jobs list" in DOCUMENTED
    assert "corral jobs frobnicate" not in DOCUMENTED
