"""Entry point of the render client daemon: options, the farm secret, run until closed.

The CLI builds `ClientOptions`, installs the signal handlers and awaits
`run(options, client=...)`; this module never touches process signals.
Exit codes: 0 after a clean close, 3 when a handshake was refused either way
(the dispatcher refused this node, or could not prove the farm secret), 1 when
the client could not start.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from renderclient.client import EXIT_RESTART, RenderClient
from renderclient.session import EXIT_REFUSED
from renderclient.template_config import parse_options

logger = logging.getLogger(__name__)

DEFAULT_PORT = 9681
EXIT_OK = 0
EXIT_START_FAILED = 1
__all__ = [
    "EXIT_REFUSED",
    "EXIT_RESTART",
    "ClientOptions",
    "SecretError",
    "default_state_dir",
    "read_secret",
    "run",
]


class SecretError(ValueError):
    """No usable farm secret was given."""


def default_state_dir(env: Mapping[str, str] | None = None) -> Path:
    """$XDG_STATE_HOME/corral/renderclient, else ~/.local/state/corral/renderclient."""
    env = os.environ if env is None else env
    base = env.get("XDG_STATE_HOME", "").strip()
    root = Path(base) if base else Path.home() / ".local" / "state"
    return root / "corral" / "renderclient"


@dataclass(frozen=True, slots=True)
class ClientOptions:
    """How one render node runs.

    host, port: the dispatcher's render-client address (port 9681 by default).
    more_dispatchers: further (host, port) render addresses of the same farm (its
      standby dispatchers), tried in turn after host:port when one cannot be
      reached or refuses the node (renderclient/dispatchers.py).
    name: the node's name; with `instances` it makes the node identities
      (name, 0) .. (name, instances - 1).
    secret: the farm secret (see read_secret); never shown in repr.
    pools: pools this node offers itself to.
    software: (name, version) pairs this node has, for jobs' software requirements.
    tags: this node's tags, for jobs' tag requirements.
    templates_dirs: site template folders laid over the bundled or received set.
    state_dir: where the node keys (mode 0600) and the templates received from
      the dispatcher are kept; None means default_state_dir().
    secret_file: the file the secret was read from (kept out of renders'
      environment like the secret itself).
    tls_ca: verify the dispatcher's TLS certificate against this CA file and
      connect with TLS; None connects in the clear.
    heartbeat_s: overrides the dispatcher's heartbeat interval when set.
    reconnect_max_s: the cap of the reconnect backoff (it starts at 0.1 s).
    finish_on_shutdown: on close, let a running chunk finish (True) or kill it
      and hand it back (False).
    shutdown_grace_s: how long close() may wait for running chunks and acks.
    log_batch_s: how often chunk output is sent to the dispatcher.
    system_event_command: argv run for a shutdown/reboot/logoff event, the
      event's name appended; empty refuses every system event (the default).
    discovery_port: answer a dispatcher's nodes network scan on this UDP port.
    memory_limit_mb: run each instance's renders in a memory cgroup with this
      limit (0: none; ignored with a warning where cgroups are not available).
    python_timeout_s: the longest Python code sent by the dispatcher may run.
    template_config: the node's own client configuration, "TEMPLATE:KEY=VALUE"
      each (over the state folder's template-config.json or .toml).
    hook_timeout_s: the longest one chunk's template callbacks (building the
      command line, checking the result) or an onClientIdling call may take.
    idle_interval_s: how often onClientIdling is called while an instance is idle.
    log_check_interval_s: how often a running chunk's new log lines are checked
      (onCheckLog as the log streams, progress and frame patterns, onCheckProgress).
    """

    host: str
    port: int = DEFAULT_PORT
    name: str = ""
    secret: bytes = field(default=b"", repr=False)
    pools: tuple[str, ...] = ()
    software: tuple[tuple[str, str], ...] = ()
    tags: tuple[str, ...] = ()
    instances: int = 1
    templates_dirs: tuple[Path, ...] = ()
    state_dir: Path | None = None
    heartbeat_s: float | None = None
    reconnect_max_s: float = 5.0
    finish_on_shutdown: bool = False
    shutdown_grace_s: float = 60.0
    log_batch_s: float = 0.05
    system_event_command: tuple[str, ...] = ()
    memory_limit_mb: int = 0
    discovery_port: int | None = None
    python_timeout_s: float = 60.0
    secret_file: Path | None = None
    tls_ca: Path | None = None
    template_config: tuple[str, ...] = ()
    hook_timeout_s: float = 60.0
    idle_interval_s: float = 60.0
    log_check_interval_s: float = 1.0
    more_dispatchers: tuple[tuple[str, int], ...] = ()

    @property
    def dispatchers(self) -> tuple[tuple[str, int], ...]:
        """Every dispatcher address in the order they are tried: host:port first."""
        return ((self.host, self.port), *self.more_dispatchers)

    def __post_init__(self) -> None:
        if not self.host:
            raise ValueError("the dispatcher host is empty")
        if not 0 < self.port < 65536:
            raise ValueError(f"port {self.port} is out of range")
        if not self.name:
            raise ValueError("the node name is empty")
        if not self.secret:
            raise ValueError("the farm secret is empty")
        if self.instances < 1:
            raise ValueError(f"instances must be at least 1, not {self.instances}")
        if self.heartbeat_s is not None and self.heartbeat_s <= 0:
            raise ValueError("heartbeat_s must be positive")
        if self.reconnect_max_s <= 0 or self.log_batch_s <= 0:
            raise ValueError("reconnect_max_s and log_batch_s must be positive")
        if self.shutdown_grace_s < 0:
            raise ValueError("shutdown_grace_s must not be negative")
        if self.discovery_port is not None and not 0 < self.discovery_port < 65536:
            raise ValueError(f"discovery port {self.discovery_port} is out of range")
        if self.memory_limit_mb < 0 or self.python_timeout_s <= 0:
            raise ValueError("memory_limit_mb must not be negative, python_timeout_s positive")
        if self.hook_timeout_s <= 0 or self.idle_interval_s <= 0:
            raise ValueError("hook_timeout_s and idle_interval_s must be positive")
        if self.log_check_interval_s <= 0:
            raise ValueError("log_check_interval_s must be positive")
        more = tuple((str(host), int(port)) for host, port in self.more_dispatchers)
        for host, port in more:
            if not host or not 0 < port < 65536:
                raise ValueError(f"dispatcher address {host!r}:{port} is not valid")
        object.__setattr__(self, "more_dispatchers", more)
        object.__setattr__(self, "template_config", tuple(self.template_config))
        parse_options(self.template_config)  # a malformed option is a usage error
        object.__setattr__(self, "system_event_command", tuple(self.system_event_command))
        # Accept lists from callers; keep the options hashable and frozen.
        object.__setattr__(self, "pools", tuple(self.pools))
        object.__setattr__(self, "software", tuple((n, v) for n, v in self.software))
        object.__setattr__(self, "tags", tuple(self.tags))
        object.__setattr__(self, "templates_dirs", tuple(Path(p) for p in self.templates_dirs))
        if self.state_dir is None:
            object.__setattr__(self, "state_dir", default_state_dir())


def read_secret(secret_file: Path | None, env: Mapping[str, str]) -> bytes:
    """The farm secret from `secret_file`, else from CORRAL_SECRET in `env`; whitespace stripped.

    Raises SecretError when neither gives a non-empty secret or the file cannot be read.
    """
    if secret_file is not None:
        try:
            secret = Path(secret_file).read_bytes().strip()
        except OSError as exc:
            raise SecretError(
                f"cannot read the farm secret file {secret_file}: {exc.strerror}"
            ) from exc
        if not secret:
            raise SecretError(f"the farm secret file {secret_file} is empty")
        return secret
    secret = env.get("CORRAL_SECRET", "").strip().encode()
    if not secret:
        raise SecretError("no farm secret: give a secret file or set CORRAL_SECRET")
    return secret


async def run(options: ClientOptions, *, client: RenderClient | None = None) -> int:
    """Run a render client until it is closed; returns the process exit code.

    Pass `client` (built from the same options) to keep a handle for the
    signal handlers, which call `client.close()`. Cancelling run() closes the
    client too.
    """
    client = client if client is not None else RenderClient(options)
    try:
        await client.start()
    except Exception as exc:
        logger.error(
            "action=client_start_failed node=%s error=%r", options.name, exc, exc_info=True
        )
        await client.close(finish=False)
        return EXIT_START_FAILED
    try:
        return await client.wait()
    finally:
        await client.close(finish=False)
