"""The render client: K instance sessions of one node, sharing its template set."""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import socket
import ssl
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from hooks.api import instance as instance_api
from hooks.catalog import load_vetted
from hooks.runtime import TemplateSet, bundled_templates_dir
from renderclient.cgroups import CgroupError, MemoryCgroup
from renderclient.commands import CommandSettings
from renderclient.discovery import Responder, listen
from renderclient.dispatchers import format_address
from renderclient.environment import remove_secrets
from renderclient.nodekeys import NodeKeys
from renderclient.resources import ResourceMonitor
from renderclient.session import InstanceSession
from renderclient.template_config import NodeTemplateConfig

if TYPE_CHECKING:
    from renderclient.main import ClientOptions

logger = logging.getLogger(__name__)

EXIT_OK = 0
# run() returns this after a soft restart; the entry point then re-executes the client.
EXIT_RESTART = 75


def total_memory_bytes(meminfo: Path = Path("/proc/meminfo")) -> int:
    """Total RAM in bytes as the kernel reports it; 0 where that is not known."""
    try:
        with meminfo.open() as lines:
            for line in lines:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


@dataclass(frozen=True, slots=True)
class NodeFacts:
    """What a node tells the dispatcher about itself in every handshake."""

    host: str
    platform: str
    cpus: int
    memory_bytes: int


def node_facts() -> NodeFacts:
    return NodeFacts(
        host=socket.gethostname(),
        platform=sys.platform,
        cpus=os.cpu_count() or 0,
        memory_bytes=total_memory_bytes(),
    )


def _tls_context(ca_file: Path | None) -> ssl.SSLContext | None:
    """A context that verifies the dispatcher's certificate against `ca_file`; None: no TLS."""
    if ca_file is None:
        return None
    context = ssl.create_default_context(cafile=str(ca_file))
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def _safe_name(digest: str) -> str:
    name = "".join(char for char in digest if char.isalnum())[:32]
    return name or "received"


class TemplateCache:
    """The node's template set: bundled + site folders, or what the dispatcher sent + site.

    Templates received in a Welcome are written under
    `state_dir/templates/DIGEST` and replace the bundled ones; site folders are
    always laid over them.
    """

    def __init__(self, site_dirs: Sequence[Path], state_dir: Path) -> None:
        self._site_dirs = [Path(path) for path in site_dirs]
        self._received_dir = state_dir / "templates"
        self.current = load_vetted([bundled_templates_dir(), *self._site_dirs])
        # Template callbacks reach their set through MManager.getUniqueClass()
        # (resolveMappingToJob, get_template): it must be the set they run from.
        self.current.activate()

    @property
    def digest(self) -> str:
        return str(self.current.digest)

    def apply(self, digest: str, sources: dict[str, str] | None) -> None:
        """Install the templates of a Welcome; None means ours already match."""
        if sources is None or digest == self.digest:
            return
        # One folder per digest: a set already loaded may still import its helpers.
        folder = self._received_dir / _safe_name(digest)
        try:
            if folder.exists():
                shutil.rmtree(folder)
            folder.mkdir(parents=True)
            TemplateSet.write_sources(sources, folder)
            loaded = load_vetted([folder, *self._site_dirs])
        except Exception as exc:
            logger.error(
                "action=templates_failed digest=%s error=%r; keeping digest=%s",
                digest,
                exc,
                self.digest,
            )
            return
        self.current = loaded
        loaded.activate()
        logger.info(
            "action=templates_installed digest=%s templates=%d dir=%s",
            self.digest,
            len(sources),
            folder,
        )


class RenderClient:
    """A render node: `options.instances` sessions, numbered 0..K-1, to one dispatcher.

    `start()` loads the templates and connects; `wait()` returns the exit code
    once the client is closed or a dispatcher was refused (then it closes the
    client itself); `close()` is safe to call twice and from a signal handler's
    task. With `finish_on_shutdown` a running chunk may finish within
    `timeout_s` (default `options.shutdown_grace_s`); otherwise it is killed and
    handed back.
    """

    def __init__(self, options: ClientOptions) -> None:
        self.options = options
        self.sessions: list[InstanceSession] = []
        self.exit_code = EXIT_OK
        self._stop = asyncio.Event()
        self._closed = asyncio.Event()
        self._closing = False
        self._started = False
        self.monitor = ResourceMonitor()
        self.cgroups: list[MemoryCgroup] = []
        self._discovery: asyncio.DatagramTransport | None = None

    async def start(self) -> None:
        if self._started:
            return
        self._started = True
        options = self.options
        state_dir = options.state_dir
        assert state_dir is not None  # ClientOptions resolves the default
        state_dir.mkdir(parents=True, exist_ok=True)
        # Nothing this client starts may see the farm secret or a token.
        removed = remove_secrets(None, options.secret, [str(options.secret_file or "")])
        if removed:
            logger.info("action=secrets_kept_from_renders names=%s", ",".join(sorted(removed)))
        tls = _tls_context(options.tls_ca)
        keys = NodeKeys(state_dir)
        templates = TemplateCache(options.templates_dirs, state_dir)
        template_config = NodeTemplateConfig.load(state_dir, options.template_config)
        template_config.check(templates.current.templates)
        facts = node_facts()
        commands = CommandSettings(
            on_soft_restart=self._soft_restart,
            system_event_command=options.system_event_command or None,
            python_timeout_s=options.python_timeout_s,
        )
        for instance in range(options.instances):
            cgroup = self._memory_cgroup(instance)
            session = InstanceSession(
                host=options.host,
                port=options.port,
                name=options.name,
                instance=instance,
                secret=options.secret,
                keys=keys,
                tls=tls,
                pools=options.pools,
                software=options.software,
                tags=options.tags,
                templates=templates,
                facts=facts,
                on_fatal=self._fatal,
                heartbeat_s=options.heartbeat_s,
                reconnect_max_s=options.reconnect_max_s,
                log_batch_s=options.log_batch_s,
                commands=commands,
                monitor=self.monitor,
                cgroup=cgroup,
                template_config=template_config,
                hook_timeout_s=options.hook_timeout_s,
                idle_interval_s=options.idle_interval_s,
                log_check_interval_s=options.log_check_interval_s,
                more_dispatchers=options.more_dispatchers,
            )
            self.sessions.append(session)
            await session.start()
        instance_api.set_provider(self._instance_statuses)
        if options.discovery_port is not None:
            responder = Responder(options.secret, options.name, options.instances, facts.host)
            self._discovery = await listen("0.0.0.0", options.discovery_port, responder)
        logger.info(
            "action=client_started node=%s instances=%d dispatchers=%s templates=%s",
            options.name,
            options.instances,
            ",".join(format_address(address) for address in options.dispatchers),
            templates.digest,
        )

    def _instance_statuses(self) -> list[int]:
        """MInstanceAPI's view of this node: each instance's status (read from hook threads)."""
        return [session.instance_status() for session in list(self.sessions)]

    def _memory_cgroup(self, instance: int) -> MemoryCgroup | None:
        """The instance's memory cgroup when a render memory limit is set; None without."""
        limit_mb = self.options.memory_limit_mb
        if not limit_mb:
            return None
        name = f"corral-{_safe_name(self.options.name)}-{instance}-{os.getpid()}"
        try:
            cgroup = MemoryCgroup.create(name, limit_mb * 1024 * 1024)
        except CgroupError as exc:
            logger.warning(
                "action=memory_limit_unavailable node=%s instance=%d error=%s; "
                "renders run without a memory limit",
                self.options.name,
                instance,
                exc,
            )
            return None
        logger.info(
            "action=memory_limit node=%s instance=%d limit_mb=%d cgroup=%s",
            self.options.name,
            instance,
            limit_mb,
            cgroup.path,
        )
        self.cgroups.append(cgroup)
        return cgroup

    def _soft_restart(self, reason: str) -> None:
        """Close, then let the entry point re-execute this client (same node ids)."""
        if self._stop.is_set():
            return
        logger.warning("action=soft_restart node=%s reason=%s", self.options.name, reason)
        self.exit_code = EXIT_RESTART
        self._stop.set()

    def _fatal(self, exit_code: int, reason: str) -> None:
        if self._stop.is_set():
            return
        logger.error(
            "action=client_stopping node=%s exit=%d reason=%s", self.options.name, exit_code, reason
        )
        self.exit_code = exit_code
        self._stop.set()

    async def wait(self) -> int:
        """Until the client is closed (or stops itself); returns its exit code."""
        await self._stop.wait()
        await self.close(finish=False)
        return self.exit_code

    async def close(self, timeout_s: float | None = None, *, finish: bool | None = None) -> None:
        """Stop taking work and let go of the dispatcher; see the class docstring."""
        if self._closing:
            await self._closed.wait()
            return
        self._closing = True
        self._stop.set()
        options = self.options
        grace_s = options.shutdown_grace_s if timeout_s is None else timeout_s
        finish_running = options.finish_on_shutdown if finish is None else finish
        try:
            await asyncio.gather(
                *(
                    session.close(finish=finish_running, timeout_s=grace_s)
                    for session in self.sessions
                )
            )
        finally:
            instance_api.set_provider(None)
            if self._discovery is not None:
                self._discovery.close()
            await self.monitor.close()
            for cgroup in self.cgroups:
                cgroup.remove()
            self._closed.set()
            logger.info("action=client_closed node=%s exit=%d", options.name, self.exit_code)
