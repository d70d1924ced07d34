"""`corral dispatcher`, and what it shares with `corral renderclient`
(console/renderclient_cli.py): a daemon in this process, with its logging, its event
loop and the signal handlers that close it."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import signal
import sys
from collections.abc import Callable, Coroutine, Mapping
from pathlib import Path
from typing import Any, TypeVar

import click

from console.config_cli import config_option, resolve_settings
from console.exit_codes import exit_code_for
from console.formatting import host_port
from console.http import ConsoleError
from dispatcher.config import Settings
from dispatcher.config_sources import Origin, unknown_env
from dispatcher.errors import CorralError

logger = logging.getLogger("corral")

T = TypeVar("T")
LOG_LEVELS = ("debug", "info", "warning", "error")
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


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


def close_on_signals(
    close: Callable[[], Coroutine[Any, Any, None]], what: str, task_name: str
) -> tuple[list[signal.Signals], list[asyncio.Task[None]]]:
    """SIGTERM and SIGINT start `close()` (`what` in the log) in a task named `task_name`,
    once; a later signal is only logged. Returns the signals installed (for
    `remove_signals`) and the list that holds the task once it started."""
    loop = asyncio.get_running_loop()
    closing: list[asyncio.Task[None]] = []

    def handler(signame: str) -> None:
        if closing:
            logger.info("action=signal signal=%s: already closing", signame)
            return
        logger.info("action=signal signal=%s: closing %s", signame, what)
        closing.append(loop.create_task(close(), name=task_name))

    installed = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, handler, sig.name)
            installed.append(sig)
    return installed, closing


def remove_signals(installed: list[signal.Signals]) -> None:
    loop = asyncio.get_running_loop()
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
    from dispatcher.store.urls import is_postgres

    dispatcher: Any
    if settings.hot_standby and is_postgres(settings.store):  # leader or standby by turns
        from dispatcher.standby import HotStandby

        dispatcher = HotStandby(settings, origins=origins)
    else:
        dispatcher = Dispatcher(settings, origins=origins)
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
    installed, closing = close_on_signals(dispatcher.close, "the dispatcher", "dispatcher-close")
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
        remove_signals(installed)
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


@click.command()
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
@setting("--hot-standby/--no-hot-standby", "Lead or stand by beside other dispatchers on the same PostgreSQL store.",
         field="hot_standby")  # fmt: skip
@setting("--advertise-url", "HTTP URL others reach this dispatcher at when it leads (PostgreSQL hot standby).",
         metavar="URL", show_default=False)  # fmt: skip
@setting("--standby-poll-s", "How often a standby tries to take the lead.",
         click.FloatRange(0.05, 60))  # fmt: skip
@setting("--standby-refresh-s", "How often a standby reads the farm from the database again.",
         click.FloatRange(0.1, 3600))  # fmt: skip
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
@setting("--shared-log-dir", "Chunk logs in this folder every dispatcher reaches [default: the data "
         "directory; with PostgreSQL the database].", DirPath, show_default=False)  # fmt: skip
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
