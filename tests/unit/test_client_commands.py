"""corral_client.commands: the shell syntax a command string holds, which Corral cannot
run (it runs commands without a shell), found outside quotes only."""

from __future__ import annotations

import pytest

from corral_client.commands import shell_operator


@pytest.mark.parametrize(
    ("command", "operator"),
    [
        ("ls -al | wc -l", "|"),
        ("render > log.txt", ">"),
        ("render < frames.txt", "<"),
        ("render 2>&1", ">&"),
        ("a; b", ";"),
        ("a && b", "&&"),
        ("a || b", "||"),
        ("sleep 60 &", "&"),
        ("(cd /tmp)", "("),
        ("echo $(date)", "("),
        ("echo `date`", "`"),
        ("render out_#.exr | tee", "|"),  # '#' is not a comment here
    ],
)
def test_shell_syntax_is_found(command: str, operator: str) -> None:
    assert shell_operator(command) == operator


@pytest.mark.parametrize(
    "command",
    [
        "ls -al",
        "true",
        "",
        'grep "|" notes.txt',
        "grep '>' notes.txt",
        "python3 -c 'import sys; print(sys.argv[1])' {start}",
        "python -c 'print(\"`\")'",
        "render --range=1-10 -o out_#.exr $DRQUEUE_FRAME",
        "echo 'unclosed",  # splitting the command reports the quote
    ],
)
def test_plain_commands_have_none(command: str) -> None:
    assert shell_operator(command) == ""
