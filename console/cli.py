"""The `corral` command: the daemons (dispatcher, renderclient), the demo, and the consoles.

This is the entry point: it alone configures logging and installs signal
handlers. Every error leaves as one line `corral: error: ...` on stderr with
exit 1 (refused or failed), 2 (usage), 3 (dispatcher unreachable), 4 (auth) or
7 (not found); docs/cli.md has the table.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import shlex
import signal
import socket
import sys
from collections.abc import Callable, Coroutine, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import click

from console.accounts_cli import install_account_commands
from console.auth import CliState
from console.chunks_cli import CHUNK_COMMANDS
from console.compat_cli import COMMANDS as COMPAT_COMMANDS
from console.completion import completion
from console.config_cli import config_option, install_config_commands, resolve_settings
from console.demo import run_demo
from console.engines_cli import install_engine_commands
from console.examples import add_examples
from console.folders_cli import COMMANDS as FOLDER_COMMANDS
from console.folders_cli import jobs_move
from console.formatting import host_port, printable
from console.hooks_cli import COMMANDS as HOOK_COMMANDS
from console.http import ConsoleError
from console.job_tools_cli import JOB_COMMANDS
from console.job_work_cli import JOB_WORK_COMMANDS
from console.jobs_cli import COMMANDS
from console.login_cli import login
from console.nodes_cli import install_node_commands
from console.pools_cli import COMMANDS as POOL_COMMANDS
from console.settings_cli import install_settings_commands
from console.software_cli import install_software_commands
from console.stats_cli import COMMANDS as STATS_COMMANDS
from console.store_cli import COMMANDS as STORE_COMMANDS
from console.system_cli import COMMANDS as SYSTEM_COMMANDS
from console.template_config_cli import install_template_config_commands
from console.users_cli import COMMANDS as USER_COMMANDS
from dispatcher.config import Settings
from dispatcher.config_sources import Origin, unknown_env
from dispatcher.errors import (
    AuthenticationFailed,
    Busy,
    Conflict,
    CorralError,
    DataDirLocked,
    DirectoryUnavailable,
    LimitExceeded,
    NotFound,
    PermissionDenied,
    Refused,
    StartupError,
    StoreError,
    StoreUnavailable,
    TemplateError,
    TooManyAttempts,
    ValidationError,
)

logger = logging.getLogger("corral")

T = TypeVar("T")
LOG_LEVELS = ("debug", "info", "warning", "error")
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
EXIT_INTERRUPTED = 130
DEFAULT_RENDER_PORT = 9681
EXIT_RESTART = 75  # renderclient.client.EXIT_RESTART: re-execute after a soft restart


# The one table from Corral's exceptions to exit codes (1 refused or failed, 4 not allowed,
# 7 not found);
# every class of dispatcher/errors.py has its row, a test checks it. The console's own
# errors (console/http.py) carry their exit code.
EXIT_CODES: dict[type[CorralError], int] = {
    CorralError: 1,
    ValidationError: 1,
    NotFound: 7,
    Conflict: 1,
    Refused: 1,
    PermissionDenied: 4,
    StoreError: 1,
    TemplateError: 1,
    AuthenticationFailed: 4,
    StoreUnavailable: 1,
    StartupError: StartupError.exit_code,  # 6: the data directory cannot be used as it is
    DataDirLocked: DataDirLocked.exit_code,  # 5: another dispatcher holds it
    LimitExceeded: 1,
    Busy: 1,
    TooManyAttempts: 4,  # login refused until the window passes
    DirectoryUnavailable: 1,
}


def exit_code_for(exc: CorralError) -> int:
    """The exit code of an error: the console's own, or the row of its nearest class."""
    if isinstance(exc, ConsoleError):
        return exc.exit_code
    for kind in type(exc).__mro__:
        if kind in EXIT_CODES:
            return EXIT_CODES[kind]
    raise AssertionError(f"no exit code for {type(exc).__name__}")  # CorralError has a row


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
    metavar="URL",
    help="Dispatcher HTTP URL [env CORRAL_DISPATCHER; default http://127.0.0.1:9890].",
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


# -- running a daemon ----------------------------------------------------------


def configure_logging(level: str) -> None:
    logging.basicConfig(level=level.upper(), stream=sys.stderr, format=LOG_FORMAT)


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """Run `coro` on uvloop where it is installed, else on the stdlib loop.

    Two switches for measuring, read here at the edge: CORRAL_EVENT_LOOP=asyncio
    forces the stdlib loop, and CORRAL_PROFILE=FILE runs under cProfile and
    writes its stats to FILE on exit.
    """
    profile_path = os.environ.get("CORRAL_PROFILE")
    if profile_path:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
        try:
            return _run_on_loop(coro)
        finally:
            profiler.disable()
            profiler.dump_stats(profile_path)
    return _run_on_loop(coro)


def _run_on_loop(coro: Coroutine[Any, Any, T]) -> T:
    if os.environ.get("CORRAL_EVENT_LOOP", "").lower() == "asyncio":
        return asyncio.run(coro)
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    return uvloop.run(coro)


def _install_signals(
    loop: asyncio.AbstractEventLoop, handler: Callable[[str], None]
) -> list[signal.Signals]:
    installed = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, handler, sig.name)
            installed.append(sig)
    return installed


def _remove_signals(loop: asyncio.AbstractEventLoop, installed: list[signal.Signals]) -> None:
    for sig in installed:
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.remove_signal_handler(sig)


def tune_collector() -> None:
    """Garbage collection for a long-lived dispatcher process, once its queue is loaded.

    The loaded queue lives as long as the process: freezing it keeps it out of every
    later collection, so full-collection pauses no longer grow with the queue. The
    hot path makes and frees many short-lived objects; a larger first generation
    collects them far less often. Measured with 1,000,000 queued chunks and 1,000
    render clients: p99 result-to-assign 130-150 ms -> 60-80 ms, and collection time
    3 % -> under 0.1 % of the loop.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 20, 20)


async def serve_dispatcher(settings: Settings, origins: Mapping[str, Origin] | None = None) -> None:
    """Start the dispatcher, announce its addresses, and serve until a signal closes it."""
    from dispatcher.app import Dispatcher  # the consoles need not import the server

    dispatcher = Dispatcher(settings, origins=origins)
    loop = asyncio.get_running_loop()
    closing: list[asyncio.Task[None]] = []

    def request_close(signame: str) -> None:
        if closing:
            logger.info("action=signal signal=%s: already closing", signame)
            return
        logger.info("action=signal signal=%s: closing the dispatcher", signame)
        closing.append(loop.create_task(dispatcher.close(), name="dispatcher-close"))

    try:
        await dispatcher.start()
    except (OSError, CorralError) as exc:
        await dispatcher.close()
        error = ConsoleError(f"cannot start the dispatcher: {exc}")
        error.exit_code = exit_code_for(exc) if isinstance(exc, CorralError) else 1
        raise error from exc
    except BaseException:
        await dispatcher.close()
        raise
    tune_collector()
    installed = _install_signals(loop, request_close)
    try:
        show_first_password(dispatcher.users.take_first_password())
        host, port = dispatcher.render_address
        click.echo(f"listening render={host_port(host, port)} http={dispatcher.http_url}")
        sys.stdout.flush()
        await dispatcher.wait_closed()
        if closing:
            await closing[0]
        fatal = getattr(dispatcher, "fatal", None)
        if fatal is not None:
            raise ConsoleError(f"the dispatcher stopped: the store failed: {fatal}")
    finally:
        _remove_signals(loop, installed)
        await dispatcher.close()


def show_first_password(password: str | None) -> None:
    """On a new data directory: the admin's generated password, once, on stderr (it is
    stored only as a hash; `corral users passwd admin` changes it)."""
    if password is None:
        return
    click.echo(
        f"corral: the user admin was created with the password: {password}\n"
        "corral: it is shown only this once; change it with 'corral users passwd admin'",
        err=True,
    )
    sys.stderr.flush()


def _settings_default(name: str) -> Any:
    return Settings.model_fields[name].default


class CompatPort(click.ParamType):  # type: ignore[type-arg]
    """A port number, or 'off' to disable the Muster-compatible listener."""

    name = "PORT|off"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> int | None:
        if value is None or (isinstance(value, str) and value.lower() == "off"):
            return None
        try:
            port = int(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a port number or 'off'", param, ctx)
        if not 0 <= port <= 65535:
            self.fail(f"{port} is not in 0..65535", param, ctx)
        return port


PORT = click.IntRange(0, 65535)
DirPath = click.Path(file_okay=False, path_type=Path)
FilePath = click.Path(dir_okay=False, path_type=Path)
log_level_option = click.option(
    "--log-level",
    type=click.Choice(LOG_LEVELS, case_sensitive=False),
    default="info",
    show_default=True,
)


def setting(flag: str, text: str, kind: Any = None, field: str | None = None, **extra: Any) -> Any:
    """An option of `corral dispatcher` named after its Settings field, with its default."""
    name = field or flag.lstrip("-").replace("-", "_")
    default = extra.pop("default", _settings_default(name))
    extra.setdefault("show_default", True)
    return click.option(flag, name, type=kind, default=default, help=text, **extra)


@main.command()
@config_option
@click.option(
    "--data-dir",
    "data_dir",
    type=DirPath,
    help="Where the queue, logs and tokens live [env CORRAL_DATA_DIR, or the file's data_dir].",
)
@setting("--host", "Render-client listen address.")
@setting("--port", "Render-client port (0: any free).", PORT)
@setting("--http-host", "HTTP listen address.")
@setting("--http-port", "REST and web console port.", PORT)
@setting("--compat-port", "MClientAPI-compatible HTTP port ('off': none).", CompatPort(),
         default=str(_settings_default("compat_port")))  # fmt: skip
@setting(
    "--durability",
    "full survives power loss, normal process crashes.",
    click.Choice(["full", "normal"]),
)
@setting("--store", "Where the farm's state lives: a postgresql:// URL, or empty for SQLite in the data directory.",
         metavar="URL", show_default=False)  # fmt: skip
@setting("--heartbeat-s", "Seconds between render-client heartbeats.", click.FloatRange(min=0.05),
         field="heartbeat_interval_s")  # fmt: skip
@setting(
    "--node-lost-after-s",
    "Silence after which a node is lost and its chunks retried.",
    click.FloatRange(min=0.1),
)
@setting(
    "--reconnect-grace-s",
    "After a restart, how long running chunks wait for their node.",
    click.FloatRange(min=0),
)
@setting(
    "--offline-after-missed",
    "Missed heartbeats after which a node shows offline.",
    click.IntRange(min=1),
)
@setting(
    "--exclude-after-failures",
    "Failures of one job after which a node is excluded from it.",
    click.IntRange(min=1),
)
@setting("--assign-ahead", "Chunks a node may hold beyond the one it runs.", click.IntRange(0, 64))
@setting("--templates-dir", "Site template folder (repeat).", DirPath, field="templates_dirs", multiple=True,
         show_default=False)  # fmt: skip
@setting(
    "--hook-timeout-s",
    "Time limit of one hook call or dispatcher-context script.",
    click.FloatRange(0.1, 3600),
)
@setting(
    "--hook-memory-limit-mb",
    "Address-space limit of the hook host process (0: none).",
    click.IntRange(min=0),
)
@setting("--chunk-hold-recheck-s", "How often a chunk held by onValidateChunkDependancies is asked again.",
         click.FloatRange(min=0.05))  # fmt: skip
@setting("--idle-hook-interval-s", "How often onDispatcherIdling runs while render nodes are idle.",
         click.FloatRange(min=0.05))  # fmt: skip
@setting(
    "--statistics-interval-s",
    "How often the dispatcher stores a statistics sample.",
    click.FloatRange(min=0.05),
)
@setting("--discovery-address", "Where a nodes network scan sends its probe (repeat).", field="discovery_addresses",
         multiple=True, metavar="HOST:PORT", show_default=False)  # fmt: skip
@setting("--checkpoint-interval-s", "How often the WAL is copied into the database (0: every batch).",
         click.FloatRange(min=0))  # fmt: skip
@setting("--store-retry-max-s", "Longest pause between write probes while the disk refuses writes.",
         click.FloatRange(0.01, 60))  # fmt: skip
@setting("--tls-cert", "TLS certificate chain (PEM) for the render port and HTTP; needs --tls-key.",
         FilePath, metavar="FILE")  # fmt: skip
@setting("--tls-key", "Private key (PEM) of --tls-cert.", FilePath, metavar="FILE")
@setting("--handshake-timeout-s", "Time a render-port connection has to finish its handshake.",
         click.FloatRange(min=0, min_open=True, max=600))  # fmt: skip
@setting("--max-handshaking", "Render-port connections in their handshake at once; more wait.",
         click.IntRange(1, 1_000_000))  # fmt: skip
@setting(
    "--max-request-bytes", "Largest HTTP request body (larger: 413).", click.IntRange(min=1024)
)
@setting("--max-chunks-per-job", "Most chunks one job may have (more: 422).", click.IntRange(min=1))
@setting("--max-chunks-per-request", "Most chunks one submit request may add (more: 422).",
         click.IntRange(min=1))  # fmt: skip
@setting("--max-chunks-queued", "Most chunks queued or running in all (past it submits get 422).",
         click.IntRange(min=1))  # fmt: skip
@setting("--loop-stall-s", "Event-loop lag counted as a stall; the log then names where the loop was stuck.",
         click.FloatRange(0.01, 60))  # fmt: skip
@setting("--max-log-followers", "Live log tails (?follow=1) served at once (more: 422).",
         click.IntRange(1, 1024))  # fmt: skip
@setting("--max-log-follow-s", "Longest a live log tail may run.", click.FloatRange(1, 86400))
@setting("--smtp-host", "SMTP server that notification e-mails go through (unset: e-mail off).",
         show_default=False)  # fmt: skip
@setting("--smtp-port", "Port of --smtp-host.", click.IntRange(1, 65535))
@setting("--smtp-from", "Sender address of notification e-mails.")
@setting("--smtp-starttls/--no-smtp-starttls", "Upgrade the SMTP connection with STARTTLS.",
         field="smtp_starttls")  # fmt: skip
@setting("--smtp-username", "SMTP login name (empty: no login).")
@setting("--smtp-password-file", "File holding the SMTP password.", FilePath, metavar="FILE")
@setting("--notify-timeout-s", "Time limit of one notification e-mail or webhook call.",
         click.FloatRange(min=0, min_open=True, max=600))  # fmt: skip
@setting(
    "--notify-attempts",
    "Attempts a notification gets before it is given up.",
    click.IntRange(1, 100),
)
@setting("--notify-retry-s", "Pause before a notification's second attempt (doubling after).",
         click.FloatRange(0, 3600))  # fmt: skip
@setting("--events-keepalive-s", "Idle event streams get a comment line this often.",
         click.FloatRange(0.05, 3600))  # fmt: skip
@setting(
    "--events-max-streams", "Event streams open at once (more: 503).", click.IntRange(1, 100_000)
)
@setting("--events-queue-events", "Events a stream may fall behind before its client is dropped.",
         click.IntRange(16, 1_000_000))  # fmt: skip
@setting("--events-progress-interval-s", "How often job progress events are published.",
         click.FloatRange(0.01, 60))  # fmt: skip
@click.option("--metrics-public", "metrics_public", is_flag=True,
              help="Serve /metrics without a token (for Prometheus scrapers).")  # fmt: skip
@setting("--token-ttl-s", "How long a token from a login lives (admin.token's does not expire).",
         click.FloatRange(1, 10 * 365 * 24 * 3600))  # fmt: skip
@setting("--login-max-failures", "Failed logins per user name and per address before 429.",
         click.IntRange(1, 1_000_000))  # fmt: skip
@setting(
    "--login-window-s",
    "The window the failed logins are counted in.",
    click.FloatRange(0.1, 86_400),
)
@setting("--ldap-timeout-s", "Time limit of one call to the LDAP directory.",
         click.FloatRange(min=0, min_open=True, max=120))  # fmt: skip
@log_level_option
@click.pass_context
def dispatcher(
    ctx: click.Context, log_level: str, config_file: Path | None, **options: Any
) -> None:
    """Run the dispatcher until SIGTERM or SIGINT.

    Settings come from the defaults, the --config file (or DATA_DIR/corral.toml),
    CORRAL_<SETTING> variables, the settings stored through the API, and the
    options given here, each over the one before (`corral config show`).
    Prints one line `listening render=HOST:PORT http=URL` once it serves.
    """
    configure_logging(log_level)
    env = dict(os.environ)
    resolved = resolve_settings(ctx, options, config_file, env)
    for name in unknown_env(env):
        logger.warning("action=unknown_variable name=%s: not a setting; ignored", name)
    if resolved.file is not None:
        logger.info("action=config_file path=%s", resolved.file)
    run_async(serve_dispatcher(resolved.settings, resolved.origins))


install_config_commands(main, dispatcher)
install_settings_commands(main)


def parse_address(text: str, default_port: int = DEFAULT_RENDER_PORT) -> tuple[str, int]:
    """'farm:9681' -> ('farm', 9681); 'farm' -> ('farm', default); '[::1]:9681' -> ('::1', 9681)."""
    cleaned = text.strip()
    host, port_text = cleaned, ""
    if cleaned.startswith("["):
        inside, _, rest = cleaned[1:].partition("]")
        host, port_text = inside, rest.removeprefix(":")
    elif cleaned.count(":") == 1:
        host, _, port_text = cleaned.partition(":")
    if not host:
        raise click.BadParameter(f"{text!r} has no host", param_hint="'--dispatcher'")
    if not port_text:
        return host, default_port
    if not port_text.isdecimal() or not 0 < int(port_text) < 65536:
        raise click.BadParameter(f"{text!r} has no valid port", param_hint="'--dispatcher'")
    return host, int(port_text)


async def serve_renderclient(options: Any) -> int:
    """Run a render client; SIGTERM/SIGINT close it. Returns its exit code."""
    from renderclient.client import RenderClient
    from renderclient.main import run

    client = RenderClient(options)
    loop = asyncio.get_running_loop()
    closing: list[asyncio.Task[None]] = []

    def request_close(signame: str) -> None:
        if closing:
            logger.info("action=signal signal=%s: already closing", signame)
            return
        logger.info("action=signal signal=%s: closing the render client", signame)
        closing.append(loop.create_task(client.close(), name="renderclient-close"))

    installed = _install_signals(loop, request_close)
    try:
        code = await run(options, client=client)
        if closing:
            await closing[0]
        return code
    finally:
        _remove_signals(loop, installed)


@main.command()
@click.option(
    "--dispatcher",
    "address",
    required=True,
    metavar="HOST:PORT",
    help="The dispatcher's render-client address (port 9681 if left out).",
)
@click.option("--name", help="Node name.  [default: this host's name]")
@click.option(
    "--secret-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="File holding the farm secret [else env CORRAL_SECRET].",
)
@click.option("--pool", "pools", multiple=True, help="Pool this node offers itself to (repeat).")
@click.option(
    "--software",
    multiple=True,
    metavar="NAME=VERSION",
    help="Software this node has, for jobs' software_requirements (repeat).",
)
@click.option("--tag", "tags", multiple=True, help="A tag for jobs' tag_requirements (repeat).")
@click.option(
    "--instances",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Chunks this node runs at once.",
)
@click.option(
    "--templates-dir",
    "templates_dirs",
    multiple=True,
    type=DirPath,
    help="Site template folder (repeat).",
)
@click.option(
    "--state-dir",
    type=DirPath,
    help="Where the node keys and received templates are kept "
    "[default: $XDG_STATE_HOME or ~/.local/state, then corral/renderclient].",
)
@click.option(
    "--tls-ca",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    metavar="FILE",
    help="Connect with TLS and verify the dispatcher's certificate against this CA file.",
)
@click.option(
    "--finish-on-shutdown",
    is_flag=True,
    help="On SIGTERM let running chunks finish instead of handing them back.",
)
@click.option(
    "--shutdown-grace-s",
    type=click.FloatRange(min=0),
    default=60.0,
    show_default=True,
    help="How long SIGTERM waits for running chunks (and their acknowledgements).",
)
@click.option(
    "--reconnect-max-s",
    type=click.FloatRange(min=0.05),
    default=5.0,
    show_default=True,
    help="The longest pause between reconnect attempts (backoff with jitter).",
)
@click.option(
    "--memory-limit-mb",
    type=click.IntRange(min=0),
    default=0,
    help="Run each instance's renders in a memory cgroup with this limit (0: none).",
)
@click.option(
    "--system-event-command",
    metavar="COMMAND",
    help="Command run for shutdown/reboot/logoff events, the event appended "
    "[default: refuse them].",
)
@click.option(
    "--discovery-port",
    type=click.IntRange(1, 65535),
    default=None,
    metavar="PORT",
    help="Answer a dispatcher's nodes network scan on this UDP port [default: do not].",
)
@click.option(
    "--template-config",
    "template_config",
    multiple=True,
    metavar="TEMPLATE:KEY=VALUE",
    help="This node's value of a template's client configuration item (repeat); "
    "over the state folder's template-config.json/.toml, under the dispatcher's.",
)
@click.option(
    "--hook-timeout-s",
    type=click.FloatRange(min=0.001),
    default=60.0,
    show_default=True,
    help="The longest a chunk's template callbacks (or onClientIdling) may take.",
)
@click.option(
    "--idle-interval-s",
    type=click.FloatRange(min=0.01),
    default=60.0,
    show_default=True,
    help="How often templates' onClientIdling runs while an instance is idle.",
)
@click.option(
    "--log-check-interval-s",
    type=click.FloatRange(min=0.05),
    default=1.0,
    show_default=True,
    help="How often a running chunk's new log lines go to its template's onCheckLog"
    " (and at most how often its onCheckProgress is asked).",
)
@log_level_option
def renderclient(
    address: str, name: str | None, secret_file: Path | None, log_level: str, **options: Any
) -> None:
    """Run a render node until SIGTERM or SIGINT."""
    from renderclient.main import ClientOptions, SecretError, read_secret

    host, port = parse_address(address)
    try:
        secret = read_secret(secret_file, os.environ)
    except SecretError as exc:
        raise ConsoleError(str(exc)) from None
    try:
        client_options = ClientOptions(
            host=host,
            port=port,
            name=name or socket.gethostname(),
            secret=secret,
            pools=tuple(options["pools"]),
            software=tuple(parse_software(text) for text in options["software"]),
            tags=tuple(options["tags"]),
            instances=options["instances"],
            templates_dirs=tuple(options["templates_dirs"]),
            state_dir=options["state_dir"],
            finish_on_shutdown=options["finish_on_shutdown"],
            shutdown_grace_s=options["shutdown_grace_s"],
            reconnect_max_s=options["reconnect_max_s"],
            memory_limit_mb=options["memory_limit_mb"],
            discovery_port=options["discovery_port"],
            system_event_command=tuple(shlex.split(options["system_event_command"] or "")),
            secret_file=secret_file,
            tls_ca=options["tls_ca"],
            template_config=tuple(options["template_config"]),
            hook_timeout_s=options["hook_timeout_s"],
            idle_interval_s=options["idle_interval_s"],
            log_check_interval_s=options["log_check_interval_s"],
        )
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    configure_logging(log_level)
    from hooks.api.context import set_context

    set_context("renderclient")  # this process is a render client from here on
    launch_env = dict(os.environ)  # the client removes its secrets from os.environ
    code = run_async(serve_renderclient(client_options))
    if code == EXIT_RESTART:
        restart_self(launch_env)
    if code:
        sys.exit(code)


def parse_software(text: str) -> tuple[str, str]:
    """NAME=VERSION from `--software` (a UsageError otherwise)."""
    name, sep, version = text.partition("=")
    if not sep or not name.strip() or not version.strip():
        raise click.UsageError(f"--software {text!r}: give NAME=VERSION, e.g. blender=4.0")
    return name.strip(), version.strip()


def restart_self(env: dict[str, str]) -> None:
    """Replace this process with a fresh copy of itself (a render client's soft restart),
    with the environment it was started with."""
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    argv = [sys.executable, *sys.orig_argv[1:]]
    os.execve(sys.executable, argv, env)


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
