"""Every `corral` command is documented in docs/cli.md, and every one has a --help
with an example or a usage line."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
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


@pytest.mark.parametrize("path", PATHS)
def test_every_command_is_in_docs_cli_md(path: str) -> None:
    assert path in DOCUMENTED, f"docs/cli.md does not show {path!r}"


@pytest.mark.parametrize(
    "path", [p for p in PATHS if p.split()[1] not in ("dispatcher", "renderclient")]
)
def test_every_command_has_help(path: str) -> None:
    result = CliRunner().invoke(main, [*path.split()[1:], "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage: corral" in result.output
    example = [
        line for line in result.output.splitlines()[1:] if re.search(r"\bcorral [a-z]", line)
    ]
    assert example, f"the --help of {path!r} shows no example"


def test_the_docs_check_would_catch_a_missing_command() -> None:
    assert "corral jobs list" in DOCUMENTED
    assert "corral jobs frobnicate" not in DOCUMENTED
