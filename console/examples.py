"""An example for the `--help` of the commands whose docstring shows none, added when
the `corral` group is built (a unit test holds every command to having one)."""

from __future__ import annotations

import click

EXAMPLES: dict[str, tuple[str, ...]] = {
    "chunks complete": ("corral chunks complete shot010 0 1 2",),
    "chunks requeue": ("corral chunks requeue shot010 3",),
    "chunks skip": ("corral chunks skip shot010 7",),
    "compat": ("corral compat --help",),
    "compat-path": ('export PYTHONPATH="$(corral compat-path)"',),
    "config show": ("corral config show --data-dir /srv/corral --heartbeat-s 2",),
    "demo": ("corral demo --frames 48 --instances 4",),
    "jobs delete": ("corral jobs delete 12 13 shot010",),
    "jobs kill-nodes": ("corral jobs kill-nodes shot010 --then redo",),
    "jobs list": ("corral jobs list --state failed --json", "corral jobs list --watch"),
    "jobs pause": ("corral jobs pause 12 shot010",),
    "jobs reinit": ("corral jobs reinit shot010",),
    "jobs resume": ("corral jobs resume 12 shot010",),
    "jobs set": ("corral jobs set shot010 --priority 80 --pool gpu",),
    "jobs show": ("corral jobs show shot010 --json",),
    "login": ("corral login --user bob",),
    "logout": ("corral logout",),
    "logs": ("corral logs shot010", "corral logs shot010 3 --attempt 1"),
    "nodes hosts": ("corral nodes hosts --json",),
    "nodes kill": ("corral nodes kill render7",),
    "nodes kill-pause": ("corral nodes kill-pause render7 render8",),
    "nodes kill-restart": ("corral nodes kill-restart render7",),
    "nodes list": ("corral nodes list --json",),
    "nodes notes": ('corral nodes notes render7 "fan replaced 2026-12-01"',),
    "nodes pause": ("corral nodes pause render7 render8",),
    "nodes priority": ("corral nodes priority render7 10",),
    "nodes purge-exclusions": ("corral nodes purge-exclusions render7 --job shot010",),
    "nodes realtime-log": ("corral nodes realtime-log render7 on",),
    "nodes remove": ("corral nodes remove old-box",),
    "nodes reset-key": ("corral nodes reset-key render7",),
    "nodes resume": ("corral nodes resume render7",),
    "nodes run-python": ("corral nodes run-python render7 check_disk.py",),
    "nodes show": ("corral nodes show 'render7#1'",),
    "nodes soft-restart": ("corral nodes soft-restart render7",),
    "nodes system-event": ("corral nodes system-event render7 reboot",),
    "nodes template-config": (
        "corral nodes template-config render7 katana KATAPP=/opt/katana/katana",
    ),
    "nodes update": ("corral nodes update render7",),
    "run-script": ("corral run-script report.py", "corral run-script tool.py --target console"),
    "store backup": ("corral store backup /backups/corral.db --data-dir /srv/corral",),
    "store check": ("corral store check --data-dir /srv/corral",),
    "templates list": ("corral templates list --json",),
    "templates reload": ("corral templates reload",),
    "templates show": ("corral templates show katana",),
    "tokens list": ("corral tokens list --user bob",),
    "tokens revoke": ("corral tokens revoke 3f2a9c",),
    "users passwd": ("corral users passwd bob",),
    "why": ("corral why shot010",),
}


def add_examples(group: click.Group, prefix: str = "") -> None:
    """Append each command's example to its help, where the help has none."""
    for name, command in group.commands.items():
        path = f"{prefix}{name}"
        if isinstance(command, click.Group):
            add_examples(command, path + " ")
        examples = EXAMPLES.get(path)
        if examples and "\n    corral " not in (command.help or ""):
            lines = "\n".join(examples)
            command.help = f"{(command.help or '').rstrip()}\n\n\b\n{lines}"
