"""`corral compat-path` and `corral compat ...`: what scripts written for other farms need."""

from __future__ import annotations

from pathlib import Path

import click

# The folder of the compatibility packages (smedge, drqueue, pydra, MClientAPI and the
# client library they share), beside the console package in a Corral checkout.
COMPAT_FOLDER = Path(__file__).resolve().parents[1] / "compat"


@click.command("compat-path")
def compat_path() -> None:
    """Print the folder to put on PYTHONPATH for `import smedge`, `import drqueue`,
    `import pydra` and `import MClientAPI` (standard library only, Python 3.7+).

    \b
    export PYTHONPATH="$(corral compat-path)"
    """
    if not (COMPAT_FOLDER / "smedge" / "__init__.py").is_file():
        raise click.ClickException(f"the compatibility packages are missing from {COMPAT_FOLDER}")
    click.echo(str(COMPAT_FOLDER))


@click.group()
def compat() -> None:
    """Helpers for scripts written for other farm managers (docs/compat.md)."""


COMMANDS = (compat_path, compat)
