"""The `corral` command: the daemons (dispatcher, renderclient), the demo, and the consoles.

This is the entry point: it and the daemon commands (console/daemons_cli.py,
console/renderclient_cli.py) alone configure logging and install signal handlers.
Every error leaves as one line `corral: error: ...` on stderr with
exit 1 (refused or failed), 2 (usage), 3 (dispatcher unreachable), 4 (auth) or
7 (not found); docs/cli.md has the table.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from console.accounts_cli import install_account_commands
from console.auth import CliState
from console.chunks_cli import CHUNK_COMMANDS
from console.compat_cli import COMMANDS as COMPAT_COMMANDS
from console.completion import completion
from console.config_cli import install_config_commands
from console.daemons_cli import DirPath, dispatcher
from console.demo import run_demo
from console.engines_cli import install_engine_commands
from console.examples import add_examples
from console.exit_codes import exit_code_for
from console.folders_cli import COMMANDS as FOLDER_COMMANDS
from console.folders_cli import jobs_move
from console.formatting import printable
from console.hooks_cli import COMMANDS as HOOK_COMMANDS
from console.job_tools_cli import JOB_COMMANDS
from console.job_work_cli import JOB_WORK_COMMANDS
from console.jobs_cli import COMMANDS
from console.login_cli import login
from console.nodes_cli import install_node_commands
from console.pools_cli import COMMANDS as POOL_COMMANDS
from console.renderclient_cli import renderclient
from console.settings_cli import install_settings_commands
from console.software_cli import install_software_commands
from console.stats_cli import COMMANDS as STATS_COMMANDS
from console.store_cli import COMMANDS as STORE_COMMANDS
from console.system_cli import COMMANDS as SYSTEM_COMMANDS
from console.template_config_cli import install_template_config_commands
from console.users_cli import COMMANDS as USER_COMMANDS
from dispatcher.errors import CorralError

EXIT_INTERRUPTED = 130


class CorralGroup(click.Group):
    """A click group whose errors are one line on stderr and a documented exit code."""

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        prog_name = prog_name or "corral"
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, False, **extra)
        try:
            result = super().main(args, prog_name, complete_var, False, **extra)
        except click.UsageError as exc:
            where = exc.ctx.command_path if exc.ctx else prog_name
            _fail(f"{exc.format_message()} (see '{where} --help')", exc.exit_code)
        except click.ClickException as exc:
            _fail(exc.format_message(), exc.exit_code)
        except CorralError as exc:
            _fail(str(exc) or type(exc).__name__, exit_code_for(exc))
        except (click.Abort, KeyboardInterrupt):
            _fail("interrupted", EXIT_INTERRUPTED)
        except BrokenPipeError:
            # The reader went away (corral jobs list | head): leave quietly.
            with contextlib.suppress(OSError):
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            sys.exit(1)
        except Exception as exc:
            # A bug: the one-line message for the user, the traceback for the log.
            if logging.getLogger().handlers:  # the daemons log; consoles stay one line
                logging.getLogger("corral").error("unexpected error", exc_info=True)
            _fail(f"unexpected {type(exc).__name__}: {exc}", 1)
        sys.exit(result if isinstance(result, int) and not isinstance(result, bool) else 0)


def _fail(message: str, exit_code: int) -> None:
    text = printable(" ".join(str(message).split()))
    click.echo(f"corral: error: {text}", err=True)
    sys.exit(exit_code)


def _home() -> Path | None:
    try:
        return Path.home()
    except RuntimeError:
        return None


@click.group(
    name="corral", cls=CorralGroup, context_settings={"help_option_names": ["-h", "--help"]}
)
@click.option(
    "--dispatcher",
    metavar="URL[,URL...]",
    help="Dispatcher HTTP URL, or several of one farm tried in turn "
    "[env CORRAL_DISPATCHER; default http://127.0.0.1:9890].",
)
@click.option(
    "--token", help="Bearer token [env CORRAL_TOKEN, ~/.config/corral/token, DATA_DIR/admin.token]."
)
@click.option(
    "--data-dir",
    metavar="DIR",
    help="A dispatcher's data directory to read its URL and admin token from [env CORRAL_DATA_DIR].",
)
@click.option(
    "--tls-ca",
    metavar="FILE",
    help="CA file to verify an https dispatcher's certificate [env CORRAL_TLS_CA].",
)
@click.version_option(package_name="corral", prog_name="corral")
@click.pass_context
def main(
    ctx: click.Context,
    dispatcher: str | None,
    token: str | None,
    data_dir: str | None,
    tls_ca: str | None,
) -> None:
    """Corral render farm manager.

    \b
    corral demo                           render a short animation on this machine
    corral dispatcher --data-dir DIR      run the dispatcher
    corral renderclient --dispatcher H:P  run a render node
    corral submit / logs / why / watch    submit and follow work
    corral NOUN VERB                      manage the farm: jobs, folders, chunks, nodes,
                                          pools, repositories, users, groups, stats,
                                          config, templates, system, store
    corral completion bash|zsh|fish       shell completion

    Exit codes: 0 ok, 1 refused or failed, 2 usage, 3 dispatcher unreachable,
    4 not allowed, 7 not found, 130 interrupted (docs/cli.md).
    """
    ctx.obj = CliState(
        dispatcher=dispatcher,
        token=token,
        data_dir=data_dir,
        env=dict(os.environ),
        home=_home(),
        tls_ca=tls_ca,
    )


for _command in (
    *COMMANDS,
    *HOOK_COMMANDS,
    login,
    *STORE_COMMANDS,
    *USER_COMMANDS,
    *COMPAT_COMMANDS,
    *FOLDER_COMMANDS,
    *POOL_COMMANDS,
    *STATS_COMMANDS,
    *SYSTEM_COMMANDS,
    completion,
):
    main.add_command(_command)
install_node_commands(main)
install_template_config_commands(main)
install_account_commands(main)
install_software_commands(main)
install_engine_commands(main)
_jobs, _chunks = main.commands["jobs"], main.commands["chunks"]
assert isinstance(_jobs, click.Group) and isinstance(_chunks, click.Group)
for _command in (*JOB_COMMANDS, *JOB_WORK_COMMANDS, jobs_move):
    _jobs.add_command(_command)
for _command in CHUNK_COMMANDS:
    _chunks.add_command(_command)


for _command in (dispatcher, renderclient):
    main.add_command(_command)
install_config_commands(main, dispatcher)
install_settings_commands(main)


@main.command()
@click.option("--output", type=DirPath, default=Path("demo-output"), show_default=True)
@click.option("--frames", type=click.IntRange(1, 10000), default=24, show_default=True)
@click.option("--packet", type=click.IntRange(min=1), default=4, show_default=True)
@click.option("--instances", type=click.IntRange(1, 64), default=2, show_default=True)
@click.option("--keep-data", is_flag=True, help="Keep the demo dispatcher's data directory.")
def demo(output: Path, frames: int, packet: int, instances: int, keep_data: bool) -> None:
    """Render a short animation here: a dispatcher, a render node and one job.

    The frames are written to --output; exit 0 when the job is done, 1 when it failed.
    """
    run_demo(output=output, frames=frames, packet=packet, instances=instances, keep_data=keep_data)


add_examples(main)  # every command is registered by now

if __name__ == "__main__":
    main()
