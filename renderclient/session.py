"""One render-client instance's life with the dispatcher: connect, prove, work, reconnect.

A session outlives its TCP connections. Chunks run in the session's worker
task whether or not the dispatcher is reachable; results wait in `unacked`
until a `ResultAck` names them and are re-reported in every new handshake.
A dispatcher that cannot prove the farm secret, or that refuses this node,
is never obeyed: the session reports a fatal error to its owner and stops.
The node's own key (renderclient/nodekeys.py) is proved in every handshake
once the dispatcher has issued it.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import random
import secrets
import ssl
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import msgspec

from dispatcher.errors import TemplateError
from dispatcher.protocol import (
    MAX_HANDSHAKE_FRAME_BYTES,
    PROTOCOL_VERSION,
    Assign,
    Auth,
    Bye,
    Challenge,
    Command,
    FrameReader,
    Heartbeat,
    Hello,
    Log,
    Message,
    Progress,
    ProtocolError,
    Ref,
    Refused,
    Resources,
    Result,
    ResultAck,
    Welcome,
    decode,
    encode,
    mask_node_key,
    node_proof,
    proof,
    proof_ok,
)
from dispatcher.tasks import cancel_all
from hooks.api import instance
from hooks.api.template import MTemplate, MTemplateError
from renderclient.commands import CommandSettings, NodeCommands
from renderclient.dispatchers import (
    Address,
    DispatcherList,
    format_address,
    from_standby,
    leader_named,
)
from renderclient.environment import environ_without_secrets
from renderclient.hookcalls import DEFAULT_HOOK_TIMEOUT_S, run_limited
from renderclient.logwatch import LOG_CHECK_INTERVAL_S
from renderclient.memwatch import MemoryCounts, MemoryWatch, run_watched
from renderclient.nodekeys import NodeKeyError, NodeKeys
from renderclient.resources import ResourceMonitor
from renderclient.runner import ChunkRun, failed_result
from renderclient.template_config import NodeTemplateConfig

if TYPE_CHECKING:
    from renderclient.cgroups import MemoryCgroup
    from renderclient.client import NodeFacts, TemplateCache

logger = logging.getLogger(__name__)

EXIT_REFUSED = 3
BACKOFF_START_S = 0.1
CONNECT_TIMEOUT_S = 10.0
HANDSHAKE_TIMEOUT_S = 10.0
READ_BYTES = 64 * 1024
SHUTDOWN_REASON = "render client shutting down"
KILLED_REASON = "killed by the dispatcher"
# Kills of attempts this node has not been assigned (yet) that are remembered: the
# dispatcher sends an assignment once it is durable and a kill at once, so a kill can
# overtake the assignment it is about.
MAX_EARLY_KILLS = 1024
MAX_HELD_LOG_BYTES = 4 * 1024 * 1024
# Results reported in the Auth frame, whose size the dispatcher limits until it
# has authenticated the client; the rest follow the Welcome.
AUTH_RESULTS_BUDGET_BYTES = MAX_HANDSHAKE_FRAME_BYTES // 2
DEFAULT_IDLE_INTERVAL_S = 60.0


class SessionFatal(Exception):
    """The dispatcher failed its proof or refused this node: the client must stop.

    `refused` is set for a Refused answer (a standby's names the leader), which
    with several dispatcher addresses sends the session to the next one instead.
    """

    def __init__(self, message: str, refused: Refused | None = None) -> None:
        super().__init__(message)
        self.refused = refused


class _Disconnected(Exception):
    """The connection ended (peer closed it, said Bye, or broke the protocol)."""


class _FrameStream:
    """Messages read from a stream, one at a time."""

    def __init__(self, reader: asyncio.StreamReader) -> None:
        self._reader = reader
        self._frames = FrameReader()
        self._bodies: deque[bytes] = deque()

    async def recv(self) -> Message:
        while not self._bodies:
            data = await self._reader.read(READ_BYTES)
            if not data:
                raise _Disconnected("dispatcher closed the connection")
            self._bodies.extend(self._frames.feed(data))
        return decode(self._bodies.popleft())


class InstanceSession:
    """The session of node (name, instance): one connection at a time, one chunk at a time.

    `on_fatal(exit_code, reason)` is called once when the dispatcher is refused
    or refuses this node; the owner then closes the client. `more_dispatchers`
    are further addresses of the same farm (renderclient/dispatchers.py): the
    session moves along them when one cannot be reached or refuses it, and is
    fatally refused only when every one of them refused it in a row.
    """

    def __init__(
        self,
        *,
        host: str,
        port: int,
        name: str,
        instance: int,
        secret: bytes,
        keys: NodeKeys | None = None,
        tls: ssl.SSLContext | None = None,
        pools: Sequence[str],
        templates: TemplateCache,
        software: Sequence[tuple[str, str]] = (),
        tags: Sequence[str] = (),
        facts: NodeFacts,
        on_fatal: Callable[[int, str], None],
        heartbeat_s: float | None = None,
        reconnect_max_s: float = 5.0,
        log_batch_s: float = 0.05,
        commands: CommandSettings | None = None,
        monitor: ResourceMonitor | None = None,
        cgroup: MemoryCgroup | None = None,
        realtime_log: bool = True,
        template_config: NodeTemplateConfig | None = None,
        hook_timeout_s: float = DEFAULT_HOOK_TIMEOUT_S,
        idle_interval_s: float = DEFAULT_IDLE_INTERVAL_S,
        log_check_interval_s: float = LOG_CHECK_INTERVAL_S,
        more_dispatchers: Sequence[Address] = (),
    ) -> None:
        self._log_check_interval_s = log_check_interval_s
        self.name = name
        self.instance = instance
        self._secret = secret
        self._keys = keys
        self._tls = tls
        self._pools = list(pools)
        self._software = [(name, version) for name, version in software]
        self._tags = list(tags)
        self._templates = templates
        self._facts = facts
        self._on_fatal = on_fatal
        self._heartbeat_override_s = heartbeat_s
        self._reconnect_max_s = reconnect_max_s
        self._log_batch_s = log_batch_s
        self._label = f"node={name} instance={instance}"
        self.dispatchers = DispatcherList([(host, port), *more_dispatchers], self._label)
        self._queue: deque[Assign] = deque()
        self._current: ChunkRun | None = None
        self.unacked: dict[Ref, Result] = {}
        self._killed_early: dict[Ref, None] = {}  # oldest first
        self.node_id: int | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._changed = asyncio.Event()
        self.connected = asyncio.Event()
        self._accepting = True
        self._closing = False
        self._closed = asyncio.Event()
        self._connect_task: asyncio.Task[None] | None = None
        self._work_task: asyncio.Task[None] | None = None
        self._monitor = monitor or ResourceMonitor()
        self._cgroup = cgroup
        # Node settings the dispatcher's commands change (renderclient/commands.py).
        self.nice: int | None = None
        self.realtime_log = realtime_log
        self._held_log = bytearray()
        self.memory_counts = MemoryCounts()  # the jobs' ram_warning and ram_max at work
        # Client configuration: the node's own values, and what the dispatcher sets.
        self.template_config = template_config or NodeTemplateConfig()
        self.dispatcher_config: dict[str, dict[str, Any]] = {}
        self._hook_timeout_s = hook_timeout_s
        self._idle_interval_s = idle_interval_s
        self._commands = NodeCommands(
            self, commands or CommandSettings(on_soft_restart=_no_restart), self._label
        )

    # -- lifecycle ---------------------------------------------------------

    async def start(self) -> None:
        if self._connect_task is not None:
            return
        prefix = f"corral-renderclient-{self.name}-{self.instance}"
        self._work_task = asyncio.create_task(self._work(), name=f"{prefix}-work")
        self._connect_task = asyncio.create_task(self._maintain(), name=f"{prefix}-connection")
        for task in (self._work_task, self._connect_task):
            task.add_done_callback(self._task_ended)

    async def close(self, *, finish: bool, timeout_s: float, kill_wait_s: float = 5.0) -> None:
        """Stop taking work, then finish (or kill) the running chunk and report it.

        Queued chunks that have not started are handed back as killed. With
        `finish` the running chunk may go on for up to `timeout_s`; otherwise
        it is killed and its result gets up to `kill_wait_s` to be acknowledged.
        """
        if self._closing:
            await self._closed.wait()
            return
        self._closing = True
        try:
            deadline = time.monotonic() + timeout_s
            self._accepting = False
            self.heartbeat_now()  # tells the dispatcher to send no more chunks
            while self._queue:
                self._report(failed_result(self._queue.popleft().ref, SHUTDOWN_REASON, killed=True))
            if finish:
                await self._wait_until(lambda: self._current is None, deadline)
            if not finish:
                deadline = min(deadline, time.monotonic() + kill_wait_s)
            elif self._current is not None:
                # The grace is over: the killed chunk's result still gets its moment.
                deadline = time.monotonic() + kill_wait_s
            if self._current is not None:
                self._current.kill(SHUTDOWN_REASON)
            await self._wait_until(lambda: self._current is None, deadline)
            await self._wait_until(lambda: not self.unacked or not self._online(), deadline)
            if self.unacked:
                logger.warning(
                    "action=close_unacked %s results=%d: the dispatcher settles them by attempt",
                    self._label,
                    len(self.unacked),
                )
            self._send(Bye(reason=SHUTDOWN_REASON))
        finally:
            await self._cancel_tasks()
            await self._commands.close()
            self._closed.set()

    async def _cancel_tasks(self) -> None:
        await cancel_all(task for task in (self._connect_task, self._work_task) if task is not None)

    def _task_ended(self, task: asyncio.Task[None]) -> None:
        if task.cancelled() or self._closing:
            return
        exc = task.exception()
        if exc is None:
            return  # the connection task ends by itself only after a fatal handshake
        reason = f"task {task.get_name()} ended unexpectedly: {exc!r}"
        logger.error("action=session_failed %s %s", self._label, reason, exc_info=exc)
        self._on_fatal(1, reason)

    def _online(self) -> bool:
        return self._connect_task is not None and not self._connect_task.done()

    async def _wait_until(self, predicate: Callable[[], bool], deadline: float) -> None:
        while not predicate():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), remaining)

    def _notify(self) -> None:
        self._changed.set()

    # -- state -------------------------------------------------------------

    def running_refs(self) -> list[Ref]:
        """Attempts this instance runs or holds queued, oldest first."""
        refs = [self._current.ref] if self._current is not None else []
        refs.extend(assign.ref for assign in self._queue)
        return refs

    # -- connection --------------------------------------------------------

    @property
    def host(self) -> str:
        """The host of the dispatcher this session connects to now."""
        return self.dispatchers.current[0]

    @property
    def port(self) -> int:
        return self.dispatchers.current[1]

    @property
    def _peer(self) -> str:
        return f"{self._label} dispatcher={format_address(self.dispatchers.current)}"

    async def _maintain(self) -> None:
        delay_s = BACKOFF_START_S
        failures = 0  # connections in a row that ended before a Welcome
        refusals = 0  # handshakes in a row refused without naming a leader
        while True:
            try:
                welcomed = await self._connect_once()
            except SessionFatal as exc:
                if exc.refused is None:
                    self._on_fatal(EXIT_REFUSED, str(exc))
                    return
                standby = from_standby(exc.refused.reason)
                leader = leader_named(exc.refused, exc.refused.reason) if standby else None
                if leader is not None and leader != self.dispatchers.current:
                    self.dispatchers.go_to(leader, "refused by a standby naming the leader")
                    await asyncio.sleep(BACKOFF_START_S * random.uniform(0.5, 1.0))
                    continue
                if leader is not None or not standby:
                    refusals += 1  # a standby's refusal passes (no leader yet): not counted
                if refusals >= len(self.dispatchers):
                    many = len(self.dispatchers) > 1
                    reason = f"every dispatcher refused this node: {exc}" if many else str(exc)
                    self._on_fatal(EXIT_REFUSED, reason)
                    return
                welcomed = False
            if welcomed:
                delay_s = BACKOFF_START_S
                failures = refusals = 0
            else:
                failures += 1
                if len(self.dispatchers) > 1 or self.dispatchers.detoured:
                    self.dispatchers.advance("unreachable or refused")
            pause_s = delay_s * random.uniform(0.5, 1.0)
            logger.debug("action=reconnect_wait %s wait_s=%.2f", self._label, pause_s)
            await asyncio.sleep(pause_s)
            if failures % len(self.dispatchers) == 0:  # back off once per round of addresses
                delay_s = min(delay_s * 2, self._reconnect_max_s)

    async def _connect_once(self) -> bool:
        """One connection from connect to disconnect; True when the handshake succeeded."""
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(
                    self.host,
                    self.port,
                    ssl=self._tls,
                    server_hostname=self.host if self._tls is not None else None,
                ),
                CONNECT_TIMEOUT_S,
            )
        except ssl.SSLCertVerificationError as exc:
            logger.error(
                "action=tls_verify_failed %s error=%s; retrying", self._peer, exc.verify_message
            )
            return False
        except (OSError, TimeoutError) as exc:
            logger.info("action=connect_failed %s error=%r; retrying", self._peer, exc)
            return False
        stream = _FrameStream(reader)
        welcomed = False
        heartbeat: asyncio.Task[None] | None = None
        try:
            welcome, reported = await asyncio.wait_for(
                self._handshake(stream, writer), HANDSHAKE_TIMEOUT_S
            )
            welcomed = True
            self.node_id = welcome.node_id
            self._writer = writer
            self.connected.set()
            # Results that ended during the handshake were not in Auth: send them now.
            for ref, result in list(self.unacked.items()):
                if ref not in reported:
                    self._send(result)
            interval_s = self._heartbeat_override_s or welcome.heartbeat_s
            logger.info(
                "action=connected %s node_id=%d heartbeat_s=%g running=%d unacked=%d",
                self._peer,
                welcome.node_id,
                interval_s,
                len(self.running_refs()),
                len(self.unacked),
            )
            heartbeat = asyncio.create_task(
                self._heartbeat(interval_s),
                name=f"corral-renderclient-{self.name}-{self.instance}-heartbeat",
            )
            heartbeat.add_done_callback(self._heartbeat_ended)
            while True:
                self._handle(await stream.recv())
        except (OSError, TimeoutError, ProtocolError, _Disconnected) as exc:
            reason = str(exc) or type(exc).__name__
            logger.warning("action=disconnected %s reason=%s; reconnecting", self._peer, reason)
            return welcomed
        finally:
            self._writer = None
            self.connected.clear()
            if heartbeat is not None:
                heartbeat.cancel()
                await asyncio.gather(heartbeat, return_exceptions=True)
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    async def _handshake(
        self, stream: _FrameStream, writer: asyncio.StreamWriter
    ) -> tuple[Welcome, set[Ref]]:
        """Prove each other; returns the Welcome and the results reported in Auth."""
        client_nonce = secrets.token_bytes(32)
        hello = Hello(
            version=PROTOCOL_VERSION, name=self.name, instance=self.instance, nonce=client_nonce
        )
        writer.write(encode(hello))
        challenge = await stream.recv()
        if isinstance(challenge, Refused):
            raise self._refused(challenge)
        if not isinstance(challenge, Challenge):
            raise ProtocolError(f"expected a challenge, got {type(challenge).__name__}")
        if challenge.version != PROTOCOL_VERSION:
            logger.error(
                "action=version_mismatch %s speaks protocol %d, this client %d",
                self._peer,
                challenge.version,
                PROTOCOL_VERSION,
            )
            raise SessionFatal(f"dispatcher protocol version {challenge.version}")
        expected = proof(self._secret, "dispatcher", client_nonce, challenge.nonce)
        if not proof_ok(expected, challenge.proof):
            logger.error(
                "dispatcher %s:%d could not prove the farm secret; refusing it (%s)",
                self.host,
                self.port,
                self._label,
            )
            raise SessionFatal(
                f"dispatcher {self.host}:{self.port} could not prove the farm secret"
            )
        results = _within(list(self.unacked.values()), AUTH_RESULTS_BUDGET_BYTES)
        key = self._keys.load(self.name, self.instance) if self._keys is not None else b""
        auth = Auth(
            proof=proof(self._secret, "renderclient", client_nonce, challenge.nonce),
            node_proof=node_proof(key, self.name, self.instance, client_nonce, challenge.nonce)
            if key
            else b"",
            host=self._facts.host,
            platform=self._facts.platform,
            pools=self._pools,
            templates_digest=self._templates.digest,
            running=self.running_refs(),
            results=results,
            cpus=self._facts.cpus,
            memory_bytes=self._facts.memory_bytes,
            resources=self.resources(),
            software=self._software,
            tags=self._tags,
            template_config=self.template_config.local,
        )
        writer.write(encode(auth))
        answer = await stream.recv()
        if isinstance(answer, Refused):
            raise self._refused(answer)
        if not isinstance(answer, Welcome):
            raise ProtocolError(f"expected welcome, got {type(answer).__name__}")
        if answer.node_key:
            self._keep_key(
                mask_node_key(self._secret, client_nonce, challenge.nonce, answer.node_key)
            )
        self._templates.apply(answer.templates_digest, answer.templates)
        if answer.template_config is not None:
            self.set_template_config(answer.template_config)
        return answer, {result.ref for result in results}

    def _keep_key(self, key: bytes) -> None:
        """Store a key the dispatcher issued; without it this node could not come back."""
        if self._keys is None:
            logger.warning(
                "action=node_key_not_kept %s: this session has no state folder", self._label
            )
            return
        try:
            self._keys.save(self.name, self.instance, key)
        except NodeKeyError as exc:
            logger.error("action=node_key_not_kept %s error=%s", self._label, exc)
            raise SessionFatal(
                f"{exc}; fix the state folder, then reset the node's key "
                f"(corral nodes reset-key {self._node_label()})"
            ) from exc

    def _node_label(self) -> str:
        return self.name if self.instance == 0 else f"{self.name}#{self.instance}"

    def _refused(self, refused: Refused) -> SessionFatal:
        logger.error("action=refused %s reason=%s", self._peer, refused.reason)
        return SessionFatal(f"refused by the dispatcher: {refused.reason}", refused)

    async def _heartbeat(self, interval_s: float) -> None:
        while True:
            await asyncio.sleep(interval_s)
            self.heartbeat_now()

    def _heartbeat_ended(self, task: asyncio.Task[None]) -> None:
        if task.cancelled():
            return
        error = task.exception()
        logger.error("action=heartbeat_failed %s error=%r; reconnecting", self._peer, error)
        if self._writer is not None:
            self._writer.close()

    def heartbeat_now(self) -> None:
        self._send(
            Heartbeat(
                running=self.running_refs(),
                resources=self.resources(),
                draining=not self._accepting,
            )
        )

    def resources(self) -> Resources:
        """The host's figures as this instance sees them, with its renders' usage."""
        host = self._monitor.host()
        available, limit = host.memory_available_bytes, None
        if self._cgroup is not None:
            limit = self._cgroup.limit_bytes
            inside = self._cgroup.available_bytes()
            if inside is not None:
                available = inside if available is None else min(available, inside)
        return msgspec.structs.replace(
            host,
            memory_available_bytes=available,
            memory_limit_bytes=limit,
            renders=self._monitor.render_usage(self.running_refs()),
        )

    def environment(self) -> dict[str, str]:
        """This instance's identity for the processes it starts (renders, node code)."""
        env = environ_without_secrets(self._secret)
        env.update(
            CORRAL_NODE=self._node_label(),
            CORRAL_NODE_NAME=self.name,
            CORRAL_INSTANCE=str(self.instance),
            CORRAL_DISPATCHER=f"{self.host}:{self.port}",
        )
        if self.node_id is not None:
            env["CORRAL_NODE_ID"] = str(self.node_id)
        return env

    def set_template_config(self, values: dict[str, dict[str, Any]]) -> str:
        """Take the client configuration the dispatcher sets for this node (all of it)."""
        self.dispatcher_config = {str(template): dict(items) for template, items in values.items()}
        logger.info(
            "action=template_config %s templates=%s",
            self._label,
            ",".join(sorted(self.dispatcher_config)) or "-",
        )
        return f"client configuration for {len(self.dispatcher_config)} templates"

    def preferences(self, template: MTemplate) -> dict[str, Any]:
        """clientTemplatePreferences for `template` on this instance."""
        return self.template_config.preferences(template, self.dispatcher_config)

    def instance_status(self) -> int:
        """This instance's MInstanceAPI status."""
        if self._current is not None:
            return instance.kInstanceStatusRendering
        if not self.connected.is_set():
            return instance.kInstanceStatusDisconnected
        return instance.kInstanceStatusIdle

    async def _idle(self) -> None:
        """onClientIdling of every template that overrides it, each under the time limit."""
        for template in self._templates.current.templates:
            if not template.overrides("onClientIdling"):
                continue
            what = f"template {template.getKey()}: onClientIdling"
            try:
                error = await run_limited(
                    lambda t=template: t.onClientIdling(self.preferences(t), self.instance),  # type: ignore[misc]
                    timeout_s=self._hook_timeout_s,
                    what=what,
                )
            except TemplateError as exc:
                logger.warning("action=client_idling_failed %s %s", self._label, exc)
                continue
            if isinstance(error, MTemplateError) and error.getErrorCode() != 0:
                logger.warning(
                    "action=client_idling_failed %s %s: %s",
                    self._label,
                    what,
                    error.getDescription(),
                )

    def renice_running(self, nice: int) -> list[int]:
        return self._current.set_nice(nice) if self._current is not None else []

    def send(self, message: Message) -> bool:
        return self._send(message)

    def _send(self, message: Message) -> bool:
        writer = self._writer
        if writer is None or writer.is_closing():
            return False
        writer.write(encode(message))
        return True

    # -- messages ----------------------------------------------------------

    def _handle(self, message: Message) -> None:
        if isinstance(message, Assign):
            self._accept(message)
        elif isinstance(message, ResultAck):
            if self.unacked.pop(message.ref, None) is not None:
                self._notify()
        elif isinstance(message, Command):
            self._command(message)
        elif isinstance(message, Heartbeat):
            pass
        elif isinstance(message, Bye):
            logger.info("action=dispatcher_bye %s reason=%s", self._label, message.reason)
            raise _Disconnected(f"dispatcher said bye: {message.reason}")
        elif isinstance(message, Refused):
            raise SessionFatal(str(self._refused(message)))
        else:
            raise ProtocolError(f"unexpected {type(message).__name__} message")

    def _accept(self, assign: Assign) -> None:
        ref = assign.ref
        if not self._accepting:
            self._report(failed_result(ref, SHUTDOWN_REASON, killed=True))
            return
        if ref in self._killed_early:
            del self._killed_early[ref]
            logger.info(
                "action=assign_killed %s %s: killed before it came", self._label, _ref_text(ref)
            )
            self._report(failed_result(ref, KILLED_REASON, killed=True))
            return
        if ref in self.running_refs():
            logger.info("action=assign_duplicate %s %s", self._label, _ref_text(ref))
            return
        if ref in self.unacked:
            logger.info("action=assign_already_done %s %s", self._label, _ref_text(ref))
            self._send(self.unacked[ref])
            return
        self._queue.append(assign)
        logger.debug(
            "action=chunk_queued %s %s queued=%d", self._label, _ref_text(ref), len(self._queue)
        )
        self._notify()

    def _command(self, command: Command) -> None:
        if command.action != "kill":
            self._commands.handle(command)
            return
        ref = command.ref
        if ref is None:
            logger.warning("action=command_ignored %s kill without an attempt", self._label)
            return
        logger.info("action=kill %s %s", self._label, _ref_text(ref))
        if self._current is not None and self._current.ref == ref:
            self._current.kill(KILLED_REASON)
            return
        for assign in self._queue:
            if assign.ref == ref:
                self._queue.remove(assign)
                self._report(failed_result(ref, KILLED_REASON, killed=True))
                return
        if ref in self.unacked:
            self._send(self.unacked[ref])
            return
        logger.info("action=kill_early %s %s: not assigned here (yet)", self._label, _ref_text(ref))
        self._killed_early[ref] = None
        if len(self._killed_early) > MAX_EARLY_KILLS:
            del self._killed_early[next(iter(self._killed_early))]

    # -- work --------------------------------------------------------------

    async def _work(self) -> None:
        while True:
            while not self._queue:
                self._changed.clear()
                try:
                    await asyncio.wait_for(self._changed.wait(), self._idle_interval_s)
                except TimeoutError:
                    await self._idle()
            assign = self._queue.popleft()
            ref = assign.ref
            env = self.environment()
            env.update(
                CORRAL_JOB_ID=str(ref.job),
                CORRAL_CHUNK=str(ref.chunk),
                CORRAL_ATTEMPT=str(ref.attempt),
            )
            available = self.resources().memory_available_bytes or 0
            write_log = functools.partial(self._send_log, ref)
            watch = MemoryWatch.of(
                assign,
                write_log=write_log,
                cgroup=self._cgroup,
                counts=self.memory_counts,
                label=self._label,
            )
            track = functools.partial(self._monitor.track, ref)
            run = ChunkRun(
                assign,
                self._templates.current,
                instance=self.instance,
                on_output=write_log,
                log_batch_s=self._log_batch_s,
                label=self._label,
                env=env,
                cgroup=self._cgroup,
                nice=self.nice,
                on_spawn=track if watch is None else _both(track, watch.follow),
                preferences_of=self.preferences,
                hook_timeout_s=self._hook_timeout_s,
                on_progress=functools.partial(self._send_progress, ref),
                log_check_interval_s=self._log_check_interval_s,
            )
            self._current = run
            self._held_log.clear()
            logger.info(
                "action=chunk_start %s %s frames=%s-%s",
                self._label,
                _ref_text(ref),
                assign.start,
                assign.end,
            )
            try:
                result = await run_watched(run, watch)
            except Exception as exc:
                logger.exception("action=chunk_error %s %s", self._label, _ref_text(ref))
                result = failed_result(ref, f"render client error: {exc}")
            finally:
                self._current = None
            result = msgspec.structs.replace(
                result,
                peak_memory_bytes=self._monitor.peak_bytes(ref),
                memory_available_bytes=available,
            )
            self._monitor.forget(ref)
            if self._held_log:
                self._send(Log(ref=ref, data=bytes(self._held_log)))
                self._held_log.clear()
            logger.info(
                "action=chunk_done %s %s ok=%s exit=%s killed=%s error=%s",
                self._label,
                _ref_text(ref),
                result.ok,
                result.exit_code,
                result.killed,
                result.error or "-",
            )
            self._report(result)

    def _send_log(self, ref: Ref, data: bytes) -> None:
        # Output made while the dispatcher is unreachable is not kept: the log
        # tail still judges the chunk, and the result is re-reported. With the
        # real-time log off, output is held and sent once the chunk has ended.
        if self.realtime_log:
            self._send(Log(ref=ref, data=data))
        elif len(self._held_log) < MAX_HELD_LOG_BYTES:
            self._held_log += data[: MAX_HELD_LOG_BYTES - len(self._held_log)]

    def _send_progress(self, ref: Ref, percent: float, frames_done: int) -> None:
        # Progress is a hint: while the dispatcher is unreachable it is dropped.
        self._send(
            Progress(ref=ref, percent=min(100.0, max(0.0, percent)), frames_done=frames_done)
        )

    def _report(self, result: Result) -> None:
        self.unacked[result.ref] = result
        self._send(result)
        self._notify()


def _within(results: list[Result], budget_bytes: int) -> list[Result]:
    """The oldest results whose frames fit in `budget_bytes` together."""
    kept: list[Result] = []
    used = 0
    for result in results:
        used += len(encode(result))
        if used > budget_bytes:
            break
        kept.append(result)
    return kept


def _both(first: Callable[[int], None], second: Callable[[int], None]) -> Callable[[int], None]:
    def call(pid: int) -> None:
        first(pid)
        second(pid)

    return call


def _ref_text(ref: Ref) -> str:
    return f"job={ref.job} chunk={ref.chunk} attempt={ref.attempt}"


def _no_restart(reason: str) -> None:
    logger.warning("action=soft_restart_refused reason=%s: this session cannot restart", reason)
