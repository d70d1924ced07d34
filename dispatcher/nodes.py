"""The dispatcher's side of render-client sessions.

One asyncio Protocol per connection (no streams: this is the hot path), frames
written once per loop tick per connection. After the mutual handshake a
session is a scheduler slot; results are acknowledged after their commit and
assignments are sent after theirs. A supervised monitor marks silent nodes
offline, declares them lost, and gives their chunks new attempts.

A node proves its own key in every handshake after its first registration,
so no holder of the farm secret can take over another node's id, attempts or
results. Connections that have not finished the handshake are bounded: a
deadline, a small frame limit, and at most `max_handshaking` at once; past
that the listening socket is not read, so the kernel's backlog holds the rest
until a slot frees (nothing is refused).
"""

from __future__ import annotations

import _socket
import asyncio
import errno
import functools
import logging
import secrets
import socket
import ssl
import time
from collections.abc import Callable, Coroutine
from typing import Any

from dispatcher import paths, tls
from dispatcher import protocol as p
from dispatcher.assign_views import AssignViews
from dispatcher.config import Settings
from dispatcher.histogram import LoopHistogram
from dispatcher.inbox import Inbox
from dispatcher.logs import ChunkLogKeeper
from dispatcher.model import Node
from dispatcher.queue import Queue
from dispatcher.scheduler import Scheduler, Slot
from dispatcher.store.sqlite import SqliteStore
from dispatcher.tasks import cancel_all

log = logging.getLogger(__name__)

LISTEN_BACKLOG = 4096
ACCEPT_BATCH = 64  # connections accepted per readiness callback before others run
ACCEPT_RETRY_S = 1.0  # pause after running out of descriptors
MIN_NONCE_BYTES = 16
FLUSH_SLICE_S = 0.0005  # writing sessions' frames gives the loop back after this long
# Loop turns of a long sliced pass between walks of the sessions timing a dispatch latency.
SETTLE_WALK_TURNS = 50
# The node of a session that has not said hello yet: only read (its label in logs).
UNATTACHED = Node(id=-1, name="?", uuid="")


class NodeSession(asyncio.Protocol):
    """One render-client instance's connection."""

    def __init__(
        self, server: NodeServer, peer: str = "?", loop: asyncio.AbstractEventLoop | None = None
    ) -> None:
        self.server = server
        settings = server.settings
        self.reader = p.FrameReader(min(p.MAX_HANDSHAKE_FRAME_BYTES, settings.max_frame_bytes))
        self.transport: asyncio.Transport | None = None
        self.peer = peer  # "host:port", from the accept
        self.state = "hello"
        self.node: Node = UNATTACHED  # until the hello names it (shared: never changed)
        self.hello: p.Hello | None = None
        self.server_nonce = b""
        self.assigned: dict[tuple[int, int], p.Ref] = {}
        self.capacity = 1 + server.settings.assign_ahead
        self.last_seen = time.monotonic()
        self._out: list[bytes] = []
        self._flush_pending = False
        self._log_window = (0.0, 0)
        self.closed = False
        self.resources: p.Resources | None = None
        self.own_template_config: dict[str, dict[str, Any]] = {}
        self.connected_at = time.time()
        self.draining = False
        # When the oldest result not yet followed by an assignment arrived (0: none):
        # the start of the dispatch latency the metrics measure.
        self.result_at = 0.0
        self.awaiting = False  # listed in the server's `_awaiting` (once at most)
        # Assignments made for this node and waiting for their commit to be sent.
        self.assigns_due = 0
        # Until the Welcome is sent this session holds a handshake slot. (None after:
        # a cancelled timer kept by every idle session is three objects the collector
        # walks for nothing.)
        self._deadline: asyncio.TimerHandle | None = (
            loop or asyncio.get_running_loop()
        ).call_later(settings.handshake_timeout_s, self._handshake_expired)

    # -- transport -----------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # (the peer's address came with the accept, TCP_NODELAY was set on the accepted
        # socket, and the loop made it non-blocking as it wrapped it)
        self.transport = transport  # type: ignore[assignment]  # uvloop's is not a subclass
        if self.closed:  # its handshake time ran out while TLS was still negotiating
            transport.close()
            return
        self.server.sessions.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.server.inbox.handle_from(self)  # what it sent before it went, first
        self.closed = True
        self.server.sessions.discard(self)
        self.handshake_over()
        self.server.session_closed(self)

    def handshake_over(self) -> None:
        """Give back the handshake slot (welcomed, closed or never connected). Idempotent."""
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None
        self.server.handshake_ended(self)

    def _handshake_expired(self) -> None:
        if self.state == "ready" or self.closed:
            return
        if self.transport is None:  # the TLS handshake never finished
            self.closed = True
            self.handshake_over()
            return
        timeout_s = self.server.settings.handshake_timeout_s
        self.abort(f"no handshake within {timeout_s:g} s")

    def data_received(self, data: bytes) -> None:
        self.last_seen = time.monotonic()
        try:
            if self.state != "ready":
                for body in self.reader.feed(data):
                    self.handle(p.decode(body))
                    if self.closed:
                        return
                return
            # The hot path: every whole frame of this read decoded in one pass, handled
            # now or, past this read cycle's budget, in a later slice (dispatcher/inbox.py).
            reader = self.reader
            messages = reader.messages(data)
            self.server.inbox.put(self, messages, reader.decoded_bytes)
        except p.ProtocolError as exc:
            self.abort(str(exc))
        except Exception:  # a bug must cost one session, never the dispatcher
            log.exception("action=session_error node=%s peer=%s", self.label, self.peer)
            self.abort("internal error handling a message")

    def receive(self, messages: list[p.Message]) -> None:
        """Handle one read's messages, in order (the server's inbox calls it)."""
        try:
            # A result (nearly every frame) is handed on without the general dispatch.
            on_result = self.server.on_result
            for message in messages:
                if self.closed:
                    return
                if type(message) is p.Result:
                    on_result(self, message)
                else:
                    self._handle_ready(message)
        except p.ProtocolError as exc:
            self.abort(str(exc))
        except Exception:  # a bug must cost one session, never the dispatcher
            log.exception("action=session_error node=%s peer=%s", self.label, self.peer)
            self.abort("internal error handling a message")

    @property
    def label(self) -> str:
        """The node's label for logs; before the node is attached, the hello's name."""
        hello = self.hello
        if self.node is UNATTACHED and hello is not None:
            return hello.name if hello.instance == 0 else f"{hello.name}#{hello.instance}"
        return self.node.label

    def send(self, message: p.Message) -> None:
        if self.closed:
            return
        self.write(p.encode(message))

    def write(self, frame: bytes) -> None:
        """Queue one encoded frame; the server writes every session's frames once at the
        end of this loop tick (one write per connection per tick)."""
        if self.closed:
            return
        self._out.append(frame)
        if not self._flush_pending:
            self._flush_pending = True
            self.server.flush_soon(self)

    def hold(self, frame: bytes) -> None:
        """Queue one encoded frame to go with the next frame written (a ResultAck held for
        the node's next Assign: one write for both); `release` sends it alone."""
        if not self.closed:
            self._out.append(frame)

    def release(self) -> None:
        """Write what `hold` queued at the end of this loop tick (nothing else came)."""
        if self._out and not self._flush_pending and not self.closed:
            self._flush_pending = True
            self.server.flush_soon(self)

    def _flush(self) -> None:
        self._flush_pending = False
        if self._out and self.transport is not None and not self.closed:
            self.transport.write(b"".join(self._out))
        self._out.clear()

    def abort(self, reason: str) -> None:
        """Close this session with a logged reason; the dispatcher goes on."""
        log.warning(
            "action=session_closed node=%s peer=%s reason=%r", self.label, self.peer, reason
        )
        if self.transport is not None and not self.closed:
            self._flush()
            self.transport.close()
        self.closed = True
        if self.transport is None:
            self.handshake_over()

    # -- scheduler slot ------------------------------------------------------
    def free_slots(self) -> int:
        if self.state != "ready" or self.closed or self.draining:
            return 0
        return self.capacity - len(self.assigned)

    def take(self, ref: p.Ref) -> None:
        self.assigned[(ref.job, ref.chunk)] = ref

    # -- messages ------------------------------------------------------------
    def handle(self, message: p.Message) -> None:
        if self.state == "ready":
            self._handle_ready(message)
        elif self.state == "hello" and isinstance(message, p.Hello):
            self._on_hello(message)
        elif self.state == "auth" and isinstance(message, p.Auth):
            self._on_auth(message)
        else:
            self.abort(f"unexpected {type(message).__name__} message during the handshake")

    def _handle_ready(self, message: p.Message) -> None:
        if isinstance(message, p.Result):
            self.server.on_result(self, message)
        elif isinstance(message, p.Log):
            self._on_log(message)
        elif isinstance(message, p.Heartbeat):
            self.node.online = True
            self.node.last_seen = time.time()
            if message.resources is not None:
                self.resources = message.resources
            if message.draining and not self.draining:
                self.draining = True
                self.server.scheduler.node_gone(self.node.id)
                log.info("action=node_draining node=%d", self.node.id)
        elif isinstance(message, p.Reply):
            self.server.on_reply(self, message)
        elif isinstance(message, p.Progress):
            self.server.queue.progress(
                message.ref, self.node.id, message.percent, message.frames_done
            )
        elif isinstance(message, p.Bye):
            self.abort(f"render client said bye: {message.reason}")
        else:
            self.abort(f"unexpected {type(message).__name__} message from a render client")

    def _on_hello(self, hello: p.Hello) -> None:
        if self.server.refuse_with is not None:
            reason = self.server.refuse_with()
            self.send(p.Refused(reason))
            self.abort(reason)
            return
        if hello.version != p.PROTOCOL_VERSION:
            self.send(p.Refused(f"protocol version {hello.version} is not {p.PROTOCOL_VERSION}"))
            self.abort(f"protocol version {hello.version}")
            return
        if not hello.name or len(hello.name) > 255 or not 0 <= hello.instance < 1024:
            self.send(p.Refused("a node needs a name (1-255 characters) and an instance 0-1023"))
            self.abort("bad node name or instance")
            return
        if len(hello.nonce) < MIN_NONCE_BYTES:
            self.send(p.Refused(f"a hello nonce has at least {MIN_NONCE_BYTES} bytes"))
            self.abort("short nonce")
            return
        self.hello = hello  # (it names the session in logs until the node is attached)
        self.server_nonce = secrets.token_bytes(32)
        proof = p.proof(self.server.secret, "dispatcher", hello.nonce, self.server_nonce)
        self.send(p.Challenge(version=p.PROTOCOL_VERSION, nonce=self.server_nonce, proof=proof))
        self.state = "auth"

    def _on_auth(self, auth: p.Auth) -> None:
        assert self.hello is not None
        expected = p.proof(self.server.secret, "renderclient", self.hello.nonce, self.server_nonce)
        if not p.proof_ok(expected, auth.proof):
            self.send(p.Refused("the render client could not prove the farm secret"))
            self.abort("wrong farm secret")
            return
        self.state = "attaching"
        self.server.attach(self, auth)

    def welcomed(self) -> None:
        """The handshake is over: full-size frames from now on."""
        self.state = "ready"
        self.reader.max_frame_bytes = self.server.settings.max_frame_bytes
        self.handshake_over()

    def _on_log(self, message: p.Log) -> None:
        ref = message.ref
        if not self.server.queue.is_current(ref, self.node.id):
            return
        now = time.monotonic()
        start, used = self._log_window
        if now - start >= 1.0:
            start, used = now, 0
        limit = self.server.settings.max_log_bytes_per_s
        if used >= limit:
            return
        data = message.data
        if used + len(data) > limit:
            data = data[: limit - used] + b"\n[corral: log rate limit reached; output dropped]\n"
        self._log_window = (start, used + len(data))
        self.server.logs.append(ref.job, ref.chunk, ref.attempt, data)


class NodeServer:
    """Accepts render clients, runs the handshake, reconciles, and watches liveness."""

    def __init__(
        self,
        settings: Settings,
        *,
        queue: Queue,
        store: SqliteStore,
        logs: ChunkLogKeeper,
        secret: bytes,
        templates: Callable[[], tuple[str, dict[str, str]]],
    ) -> None:
        self.settings = settings
        self.queue = queue
        self.store = store
        self.logs = logs
        self.secret = secret
        self.templates = templates
        self.scheduler = Scheduler(queue, self.send_assigns)
        # Each job's encoded Assign view, kept from one pass to the next until it changes.
        self.assign_views = AssignViews(queue.jobs)
        # The ready sessions' messages, handled in arrival order in bounded slices.
        self.inbox: Inbox[NodeSession, p.Message] = Inbox(NodeSession.receive)
        self.scheduler.memory_of = self.memory_available
        self.scheduler.online_nodes = lambda: [
            session.node for session in self.live.values() if session.state == "ready"
        ]
        # Wired by dispatcher/control.py: replies to commands, what follows a
        # result, and settings to send again when a node (re)connects.
        self.on_reply: Callable[[NodeSession, p.Reply], None] = _ignore
        self.after_result: Callable[[NodeSession, p.Result], None] = _ignore
        # A result that counted (its attempt was current): the engine event commands.
        self.after_accepted: Callable[[NodeSession, p.Result], None] = _ignore
        self.on_attached: Callable[[NodeSession], None] = lambda session: None
        # A node came online, went offline, was lost or disconnected (the progress events).
        self.on_node_change: Callable[[Node, str], None] = lambda node, action: None
        # Result received -> next assignment handed to the connection (seconds).
        self.dispatch_latency = LoopHistogram()
        # The client configuration the dispatcher sets for a node (sent in the Welcome).
        self.template_config_of: Callable[[Node], dict[str, dict[str, Any]]] | None = None
        # Wired by the app: the repositories (path translation of a job's marked fields).
        self.repositories: Callable[[], list[dict[str, Any]]] = lambda: []
        self.sessions: set[NodeSession] = set()
        self.live: dict[int, NodeSession] = {}
        self.deadlines: dict[int, float] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        # Plain connections being wrapped in a transport (stepped without a task: _open).
        self._opening: set[Coroutine[Any, Any, Any]] = set()
        self._monitor: asyncio.Task[None] | None = None
        self.address: tuple[str, int] = ("", 0)
        self.results = 0
        self._unacked: list[tuple[NodeSession, p.Ref]] = []
        # Sessions with frames to write at the end of this loop tick (one callback for all).
        self._flushing: list[NodeSession] = []
        # Sessions that may be timing a dispatch latency (result_at), each listed once.
        self._awaiting: list[NodeSession] = []
        # Sessions holding an acknowledgement until the sliced pass reaches their node.
        self._holding: list[NodeSession] = []
        self._settle_due = False  # _settle_awaiting is scheduled
        self._settle_turns = 0  # turns of a sliced pass since `_awaiting` was walked
        # Accepting: our own listening socket, read only while fewer than
        # `max_handshaking` sessions are in their handshake.
        self._listener: socket.socket | None = None
        self._family = int(socket.AF_INET)  # the listener's, as a plain int
        self._tls: ssl.SSLContext | None = None
        self.handshaking: set[NodeSession] = set()
        self._accepting = False
        self._paused_at = 0.0
        self.accept_pauses = 0
        self._names = _NodeNames()
        # (digest, sources, their encoding) of the last templates sent in a Welcome.
        self._templates_encoded: tuple[str, dict[str, str], dict[str, Any]] | None = None
        # A standby's server (dispatcher/standby.py): every hello is refused with this
        # text, naming the leader's render address; nothing is watched.
        self.refuse_with: Callable[[], str] | None = None

    async def start(self) -> None:
        self._tls = tls.server_context(self.settings)
        self._listener = _listening_socket(self.settings.host, self.settings.port)
        self._family = int(self._listener.family)
        sock = self._listener.getsockname()
        self.address = (sock[0], sock[1])
        self._resume_accepting()
        grace_until = time.monotonic() + self.settings.reconnect_grace_s
        for ref in self.queue.running:
            node_id = self.queue.running[ref].node_id
            self.deadlines[node_id] = grace_until
        if self.refuse_with is None:
            self._monitor = asyncio.create_task(self._watch(), name="node-monitor")

    async def close(self) -> None:
        """Stop accepting, say bye to every render client, stop the monitor. Safe twice."""
        if self._listener is not None:
            self._pause_accepting()
            self._listener.close()
            self._listener = None
            for session in list(self.sessions):
                session.send(p.Bye("the dispatcher is shutting down"))
                session.abort("dispatcher shutting down")
        for opening in list(self._opening):
            opening.close()  # (the loop closes the transport it was making)
        self._opening.clear()
        await cancel_all(t for t in [self._monitor, *self._tasks] if t is not None)
        self._tasks.clear()
        self._monitor = None
        self.scheduler.close()

    # -- accepting -----------------------------------------------------------
    def _resume_accepting(self) -> None:
        if self._accepting or self._listener is None:
            return
        self._accepting = True
        asyncio.get_running_loop().add_reader(self._listener.fileno(), self._accept_ready)
        if self._paused_at:
            log.debug(
                "action=accept_resumed paused_s=%.3f handshaking=%d",
                time.monotonic() - self._paused_at,
                len(self.handshaking),
            )
            self._paused_at = 0.0

    def _pause_accepting(self) -> None:
        if not self._accepting or self._listener is None:
            return
        self._accepting = False
        asyncio.get_running_loop().remove_reader(self._listener.fileno())

    def _accept_ready(self) -> None:
        listener = self._listener
        if listener is None:
            return
        loop = asyncio.get_running_loop()  # (once a wakeup, not once a connection)
        for _ in range(ACCEPT_BATCH):
            if len(self.handshaking) >= self.settings.max_handshaking:
                self._pause_for_handshakes()
                return
            try:
                fd, address = listener._accept()  # (socket.accept less its enum lookups)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                # Out of descriptors or buffers: wait a moment, as the kernel's
                # backlog holds the connection meanwhile. Others: that one failed.
                log.warning("action=accept_failed error=%r", exc)
                if exc.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                    self._pause_accepting()
                    loop.call_later(ACCEPT_RETRY_S, self._resume_accepting)
                    return
                continue
            # (no setblocking: wrapping the socket in its transport does it, on either
            # loop; TCP_NODELAY only uvloop's does)
            conn = _Accepted(self._family, socket.SOCK_STREAM, 0, fd)
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            session = NodeSession(self, f"{address[0]}:{address[1]}", loop)
            self.handshaking.add(session)
            if self._tls is None:
                self._open(conn, session, loop)
            else:
                self._spawn(self._connect(conn, session), "render-accept")

    def _pause_for_handshakes(self) -> None:
        self._pause_accepting()
        self.accept_pauses += 1
        if not self._paused_at:
            self._paused_at = time.monotonic()
            if self.accept_pauses == 1 or self.accept_pauses % 100 == 0:
                log.warning(
                    "action=accept_paused handshaking=%d limit=%d pauses=%d: "
                    "new connections wait in the listen backlog",
                    len(self.handshaking),
                    self.settings.max_handshaking,
                    self.accept_pauses,
                )

    def _open(
        self, conn: socket.socket, session: NodeSession, loop: asyncio.AbstractEventLoop
    ) -> None:
        """Wrap an accepted plain socket in a transport, without a task per connection.

        The loop's connect_accepted_socket makes the transport at its first step and
        then only awaits the transport's connection_made; it is stepped here and from
        the callback of what it awaits, and kept in `_opening` until it ends (close()
        closes what is still opening, as cancelling a task would).
        """
        opening = loop.connect_accepted_socket(lambda: session, conn)
        self._opening.add(opening)
        self._step_open(opening, conn, session)

    def _step_open(
        self,
        opening: Coroutine[Any, Any, Any],
        conn: socket.socket,
        session: NodeSession,
        _done: object = None,
    ) -> None:
        if opening not in self._opening:  # closed by the server's shutdown meanwhile
            return
        try:
            awaited = opening.send(None)
        except StopIteration:
            self._opening.discard(opening)
            return
        except Exception as exc:  # refused by the loop: that connection only
            self._opening.discard(opening)
            log.info("action=accept_open_failed peer=%s error=%r", session.peer, exc)
            conn.close()
            session.closed = True
            session.handshake_over()
            return
        step = functools.partial(self._step_open, opening, conn, session)
        if awaited is None:  # a bare yield: step again on the next tick
            asyncio.get_running_loop().call_soon(step)
        else:
            awaited.add_done_callback(step)

    async def _connect(self, conn: socket.socket, session: NodeSession) -> None:
        """Wrap an accepted socket in a transport after its TLS handshake."""
        loop = asyncio.get_running_loop()
        try:
            await loop.connect_accepted_socket(
                lambda: session,
                conn,
                ssl=self._tls,
                ssl_handshake_timeout=self.settings.handshake_timeout_s,
            )
        except (OSError, TimeoutError, ssl.SSLError) as exc:
            log.info("action=tls_handshake_failed error=%r", exc)
            conn.close()
            session.closed = True
            session.handshake_over()

    def handshake_ended(self, session: NodeSession) -> None:
        """A session left its handshake: free its slot and accept again if paused."""
        if session in self.handshaking:
            self.handshaking.discard(session)
            if not self._accepting and len(self.handshaking) < self.settings.max_handshaking:
                self._resume_accepting()

    def _spawn(self, coro: Any, name: str) -> None:
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("action=task_failed task=%s error=%r", task.get_name(), task.exception())

    # -- handshake and reconciliation ---------------------------------------
    def attach(self, session: NodeSession, auth: p.Auth) -> None:
        """Register the session's node; welcome it once that is durable (a new key is
        durable before the node is told it). No task: the commit's callback goes on. The
        commit future is asked for in the same call as the node is put, so it is the
        very batch holding the node: a refusal means the node was not stored."""
        hello = session.hello
        assert hello is not None
        known = self.find_node(hello.name, hello.instance)  # (one lookup for both steps)
        if not self._key_proved(session, auth, known):
            return
        node, new_key = self._register(session, auth, known)
        self.store.commit_future().add_done_callback(
            functools.partial(self._registered, session, auth, node, new_key, known is None)
        )

    def _registered(
        self,
        session: NodeSession,
        auth: p.Auth,
        node: Node,
        new_key: bytes,
        new_node: bool,
        done: asyncio.Future[None],
    ) -> None:
        """The registration's batch is committed (welcome the node) or was refused."""
        if done.cancelled() or done.exception() is not None:  # it reconnects, with its backoff
            reason = "cancelled" if done.cancelled() else str(done.exception())
            self._not_registered(node, new_key, new_node)
            session.abort(f"not registered: {reason}")
            return
        if session.closed:
            return
        try:
            self._welcome(session, auth, node, new_key)
        except Exception:  # a bug must cost one session, never the dispatcher
            log.exception("action=attach_error node=%d peer=%s", node.id, session.peer)
            session.abort("internal error attaching the node")

    def _not_registered(self, node: Node, new_key: bytes, new_node: bool) -> None:
        """Forget what a refused registration did in memory: a node never stored goes,
        and a key never stored nor told is dropped (kept, it would lock its node out:
        the client could never prove it). A node live on another session stays."""
        if node.id in self.live:
            return
        node.online = False
        if new_node:
            if self.queue.nodes.get(node.id) is node:
                del self.queue.nodes[node.id]
            return
        if new_key and node.key == new_key.hex():
            node.key = ""

    def _welcome(self, session: NodeSession, auth: p.Auth, node: Node, new_key: bytes) -> None:
        previous = self.live.get(node.id)
        if previous is not None and previous is not session:
            previous.send(p.Bye("replaced by a new session of the same node"))
            previous.abort("replaced by a new session of the same node")
        self.live[node.id] = session
        self.deadlines.pop(node.id, None)
        session.node = node
        digest, sources = self.templates()
        hello = session.hello
        assert hello is not None
        session.send(
            p.Welcome(
                node_id=node.id,
                heartbeat_s=self.settings.heartbeat_interval_s,
                templates_digest=digest,
                templates=None
                if auth.templates_digest == digest
                else self._encoded_templates(digest, sources),
                node_key=p.mask_node_key(self.secret, hello.nonce, session.server_nonce, new_key)
                if new_key
                else b"",
                template_config=self._template_config(node),
            )
        )
        session.welcomed()
        log.info("action=node_online node=%d name=%s peer=%s", node.id, node.label, session.peer)
        session.resources = auth.resources
        session.own_template_config = auth.template_config
        self._reconcile(session, auth)
        self.on_attached(session)
        self.on_node_change(node, "node_online")
        self.scheduler.node_free(session)

    def _encoded_templates(self, digest: str, sources: dict[str, str]) -> dict[str, str]:
        """The template sources for a Welcome, encoded once per digest (a fleet of new
        clients would otherwise encode every template's source for each Welcome)."""
        cached = self._templates_encoded
        if cached is None or cached[0] != digest or cached[1] is not sources:
            cached = self._templates_encoded = (digest, sources, p.preencoded(sources))
        return cached[2]

    def _template_config(self, node: Node) -> dict[str, dict[str, Any]] | None:
        """The node's client configuration for the Welcome; None (the client keeps what it
        has) when it cannot be made."""
        if self.template_config_of is None:
            return None
        try:
            return self.template_config_of(node)
        except Exception:
            log.exception("action=template_config_failed node=%d", node.id)
            return None

    def find_node(self, name: str, instance: int) -> Node | None:
        return self._names.find(self.queue.nodes, name, instance)

    def _key_proved(self, session: NodeSession, auth: p.Auth, node: Node | None) -> bool:
        """True unless the node (`node`: the one of the hello's name, None when new) is
        registered with a key this session did not prove."""
        hello = session.hello
        assert hello is not None
        if node is None or not node.key:
            return True
        expected = p.node_proof(
            bytes.fromhex(node.key), hello.name, hello.instance, hello.nonce, session.server_nonce
        )
        if p.proof_ok(expected, auth.node_proof):
            return True
        live = self.live.get(node.id)
        log.warning(
            "action=node_key_refused node=%d name=%s peer=%s live_peer=%s key_given=%s",
            node.id,
            node.label,
            session.peer,
            live.peer if live is not None else "-",
            bool(auth.node_proof),
        )
        session.send(
            p.Refused(
                f"node {node.label} is registered with a node key this render client did not "
                f"prove; if this is that node, an administrator can reset its key "
                f"(corral nodes reset-key {node.label})"
            )
        )
        session.abort("node key not proved")
        return False

    def _register(
        self, session: NodeSession, auth: p.Auth, node: Node | None
    ) -> tuple[Node, bytes]:
        """The session's node (`node`, or registered when None); and a new node key when
        one is issued."""
        hello = session.hello
        assert hello is not None
        new_node = node is None
        if node is None:
            node = Node(id=self.queue.new_node_id(), name=hello.name, instance=hello.instance)
            self.queue.nodes[node.id] = node
            self._names.added(self.queue.nodes, node)
        new_key = b""
        if not node.key:
            new_key = secrets.token_bytes(p.NODE_KEY_BYTES)
            node.key = new_key.hex()
        if new_node:  # one line for both (a farm's first start registers thousands)
            log.info("action=node_registered node=%d name=%s key=issued", node.id, node.label)
        elif new_key:
            log.info("action=node_key_issued node=%d name=%s", node.id, node.label)
        node.host, node.platform, node.pools = auth.host, auth.platform, list(auth.pools)
        node.software = [(name[:255], version[:64]) for name, version in auth.software]
        node.tags, node.cpus = [tag[:255] for tag in auth.tags], auth.cpus
        node.address, node.online, node.last_seen = session.peer, True, time.time()
        self.store.put_node(node)
        return node, new_key

    def _reconcile(self, session: NodeSession, auth: p.Auth) -> None:
        """Match what the client says it runs and ran against the queue's attempts."""
        node_id = session.node.id
        reported: set[tuple[int, int]] = set()
        for result in auth.results:
            reported.add((result.ref.job, result.ref.chunk))
            self.on_result(session, result, announce=False)
        for ref in auth.running:
            reported.add((ref.job, ref.chunk))
            if self.queue.is_current(ref, node_id):
                session.take(ref)
            else:
                log.warning(
                    "action=kill_stale node=%d job=%d chunk=%d attempt=%d",
                    node_id,
                    ref.job,
                    ref.chunk,
                    ref.attempt,
                )
                session.send(p.Command("kill", ref=ref))
        for ref in self.queue.runs_on(node_id):
            if (ref.job, ref.chunk) not in reported:
                self.queue.requeue_attempt(ref, f"node {session.node.label} reconnected without it")

    def session_closed(self, session: NodeSession) -> None:
        node = session.node
        if self.live.get(node.id) is not session:
            return
        del self.live[node.id]
        node.online = False
        self.scheduler.node_gone(node.id)
        if self.queue.runs_on(node.id):
            self.deadlines[node.id] = time.monotonic() + self.settings.node_lost_after_s
        log.warning("action=node_disconnected node=%d name=%s", node.id, node.label)
        self.on_node_change(node, "node_disconnected")

    # -- results and assignments ---------------------------------------------
    def on_result(self, session: NodeSession, result: p.Result, announce: bool = True) -> None:
        ref = result.ref
        key = (ref.job, ref.chunk)
        if session.assigned.get(key) == ref:
            del session.assigned[key]
        self.logs.end(ref.job, ref.chunk, ref.attempt)
        accepted = self.queue.finish_attempt(result, session.node.id, settle_later=True)
        self.results += 1
        # One commit future per loop tick acknowledges every result of that tick.
        if not self._unacked:
            asyncio.get_running_loop().call_soon(self._ack_when_durable)
        self._unacked.append((session, ref))
        self.after_result(session, result)
        if accepted:
            self.after_accepted(session, result)
        if announce:
            self.scheduler.node_free(session)
        if not session.result_at:
            # Scheduled after the dispatch pass node_free asked for (call_soon is FIFO):
            # a session that pass gave nothing stops timing (it waits for work, idle).
            session.result_at = session.last_seen  # (read then: it may have waited in the inbox)
            if not session.awaiting:  # (a long pass must not list it once per result)
                session.awaiting = True
                self._awaiting.append(session)
                if not self._settle_due:  # (_settle_soon, inline: once per result)
                    self._settle_due = True
                    asyncio.get_running_loop().call_soon(self._settle_awaiting)

    def flush_soon(self, session: NodeSession) -> None:
        """Write `session`'s queued frames at the end of this loop tick, with every other
        session's in the same callback."""
        if not self._flushing:
            asyncio.get_running_loop().call_soon(self._flush_sessions)
        self._flushing.append(session)

    def _flush_sessions(self) -> None:
        sessions, self._flushing = self._flushing, []
        deadline = time.perf_counter() + FLUSH_SLICE_S
        for index, session in enumerate(sessions):
            if index and time.perf_counter() >= deadline:
                # The rest next loop turn, first: a why request waits one slice at most.
                if not self._flushing:
                    asyncio.get_running_loop().call_soon(self._flush_sessions)
                self._flushing[:0] = sessions[index:]
                return
            try:
                session._flush()
            except Exception:  # one connection's failure must not keep the others' frames
                log.exception("action=write_failed node=%s", session.node.label)
                session._out.clear()
                session.abort("internal error writing to the connection")

    def _settle_soon(self) -> None:
        if not self._settle_due:
            self._settle_due = True
            asyncio.get_running_loop().call_soon(self._settle_awaiting)

    def _settle_awaiting(self) -> None:
        """After a dispatch slice: a session the pass gave nothing stops timing (idle)."""
        self._settle_due = False
        scheduler = self.scheduler
        unreached = scheduler.unreached  # (a sliced pass looks at them next turn)
        if self._holding:  # acknowledgements held for a pass that has now looked at their node
            holding, self._holding = self._holding, []
            for session in holding:
                if unreached and session.node.id in unreached:
                    self._holding.append(session)
                elif not session.assigns_due:  # (an Assign due takes them along)
                    session.release()  # given nothing: they go alone
        if not unreached:  # the pass is over: one walk settles them all
            self._settle_turns = 0
            sessions, self._awaiting = self._awaiting, []
            for session in sessions:
                session.result_at = 0.0
                session.awaiting = False
            return
        # The pass goes on (it may never end while a job waits for nodes it cannot reach).
        if self._awaiting:
            live = self.live
            for node_id in scheduler.looked:  # reached by the last slice, given nothing
                session = live.get(node_id)
                if session is not None:
                    session.result_at = 0.0
            self._settle_turns += 1
            if self._settle_turns >= SETTLE_WALK_TURNS:
                self._settle_turns = 0
                self._walk_awaiting(scheduler.free)
        if self._awaiting or self._holding:
            self._settle_soon()

    def _walk_awaiting(self, free: dict[int, Slot]) -> None:
        """Keep listed only the sessions still timing and waiting for the pass to reach
        them; one not free (paused, draining, gone) waits for no pass: it stops timing."""
        kept: list[NodeSession] = []
        for session in self._awaiting:
            if session.result_at and not session.closed and session.node.id in free:
                kept.append(session)
            else:
                session.result_at, session.awaiting = 0.0, False
        self._awaiting = kept

    def _ack_when_durable(self) -> None:
        """Acknowledge the results recorded so far once the store has committed them."""
        results, self._unacked = self._unacked, []

        def ack(done: asyncio.Future[None]) -> None:
            if done.cancelled() or done.exception() is not None:
                # Refused and taken back: the clients resend their results on reconnect.
                _abort_all({session for session, _ in results}, done)
                return
            frame = p.result_ack_frame
            # A node with an Assign waiting for a later commit, or that a sliced pass has
            # not reached yet, gets its acknowledgement with that Assign, in one write (it
            # waits for the Assign anyway); a pass that reaches it without work for it, or
            # an Assign no longer current, sends the acknowledgement alone.
            unreached = self.scheduler.unreached
            for session, ref in results:
                if session.closed:
                    continue
                if session.assigns_due:
                    session.hold(frame(ref))
                elif unreached and session.result_at and session.node.id in unreached:
                    session.hold(frame(ref))  # (released once the pass has looked at it)
                    self._holding.append(session)
                    self._settle_soon()
                else:
                    session.write(frame(ref))

        self.store.commit_future().add_done_callback(ack)

    def send_assigns(self, assigns: list[tuple[Slot, p.Ref]]) -> None:
        """Called by the scheduler: send each assignment once its attempt is durable."""
        views: dict[tuple[int, str], dict[str, Any]] = {}
        frames: dict[int, Callable[[int], tuple[str, str]]] = {}
        messages: list[tuple[NodeSession, p.Assign, float]] = []
        kept, repositories_read = self.assign_views, False
        for slot, ref in assigns:
            assert isinstance(slot, NodeSession)
            job = self.queue.jobs[ref.job]
            # A job with fields marked for translation gets one view per platform.
            marked = bool(job.subst) or "muster" in job.data
            key = (job.id, paths.platform_of(slot.node.platform) if marked else "")
            if key not in views:
                if marked and not repositories_read:
                    kept.repositories_are(self.repositories())
                    repositories_read = True
                views[key] = kept.view(job, key[1])
            texts = frames.get(job.id)
            if texts is None:
                texts = frames[job.id] = kept.texts(job)
            first, last = texts(ref.chunk)
            assign = p.Assign(
                ref,
                views[key],
                first,
                last,
                job.time_limit_s,
                ram_warning_mb=job.ram_warning or None,  # 0, as null: no threshold
                ram_max_mb=job.ram_max or None,
            )
            messages.append((slot, assign, slot.result_at))
            slot.result_at = 0.0
            slot.assigns_due += 1

        def deliver(done: asyncio.Future[None]) -> None:
            if done.cancelled() or done.exception() is not None:
                # Refused and taken back: the sessions' slots hold attempts that never were.
                _abort_all({session for session, _, _ in messages}, done)
                return
            now = time.monotonic()
            latency = self.dispatch_latency
            is_current, encode = self.queue.is_current, p.encode
            for session, message, result_at in messages:
                session.assigns_due -= 1
                if is_current(message.ref, session.node.id):
                    session.write(encode(message))  # (what send does, one call less)
                    if result_at:
                        latency.observe(now - result_at)
                else:
                    session.release()  # (an acknowledgement held for this Assign)

        self.store.commit_future().add_done_callback(deliver)

    def kill(self, ref: p.Ref, node_id: int) -> None:
        """Tell the node running `ref` to kill it (its result will be dropped)."""
        session = self.live.get(node_id)
        if session is None:
            return
        session.assigned.pop((ref.job, ref.chunk), None)
        session.send(p.Command("kill", ref=ref))
        self.scheduler.node_free(session)

    def memory_available(self, node_id: int) -> int | None:
        """The free memory a node last reported for a new render (bytes; None: unknown)."""
        session = self.live.get(node_id)
        if session is None or session.resources is None:
            return None
        return session.resources.memory_available_bytes

    def connected(self) -> set[int]:
        return {node_id for node_id, session in self.live.items() if session.state == "ready"}

    # -- liveness ------------------------------------------------------------
    async def _watch(self) -> None:
        interval = min(self.settings.heartbeat_interval_s, 1.0) / 2
        while True:
            await asyncio.sleep(interval)
            try:
                self._check_liveness()
            except Exception:
                log.exception("action=monitor_error; the monitor goes on")

    def _check_liveness(self) -> None:
        now = time.monotonic()
        offline_after = self.settings.heartbeat_interval_s * self.settings.offline_after_missed
        for session in list(self.live.values()):
            silent = now - session.last_seen
            if silent > self.settings.node_lost_after_s:
                log.warning("action=node_lost node=%d silent_s=%.1f", session.node.id, silent)
                self.on_node_change(session.node, "node_lost")
                self._requeue_node(session.node.id, "node lost (no heartbeat)")
                session.abort("node lost: no heartbeat")
                self.session_closed(session)
            elif silent > offline_after and session.node.online:
                session.node.online = False
                log.warning("action=node_offline node=%d silent_s=%.1f", session.node.id, silent)
                self.on_node_change(session.node, "node_offline")
        for node_id, deadline in list(self.deadlines.items()):
            if node_id in self.live:
                del self.deadlines[node_id]
            elif now >= deadline:
                del self.deadlines[node_id]
                self._requeue_node(node_id, "node did not come back in time")

    def _requeue_node(self, node_id: int, reason: str) -> None:
        for ref in self.queue.runs_on(node_id):
            self.queue.requeue_attempt(ref, reason)
        session = self.live.get(node_id)
        if session is not None:
            session.assigned.clear()


class _NodeNames:
    """(name, instance) -> node id over the queue's node table, so that a handshake
    costs no scan of every node.

    Others add nodes (discovery) and remove them (node control) without telling
    this index. A hit is checked against the table; a miss is trusted only while
    the table is the same object, of the same size, with the same Node object
    last (a dict keeps insertion order, so a node added since changes the last
    one or the size); otherwise the index is rebuilt.
    """

    def __init__(self) -> None:
        self._ids: dict[tuple[str, int], int] = {}
        self._table: dict[int, Node] | None = None
        self._size = -1
        self._last: Node | None = None

    def find(self, nodes: dict[int, Node], name: str, instance: int) -> Node | None:
        key = (name, instance)
        node = nodes.get(self._ids.get(key, -1))
        if node is not None and (node.name, node.instance) == key:
            return node
        if node is not None or not self._fresh(nodes):
            self._ids = {(n.name, n.instance): n.id for n in nodes.values()}
            self._mark(nodes)
            node = nodes.get(self._ids.get(key, -1))
            return node if node is not None and (node.name, node.instance) == key else None
        return None

    def added(self, nodes: dict[int, Node], node: Node) -> None:
        """`node` was just appended to `nodes` (after a find that missed it)."""
        self._ids[(node.name, node.instance)] = node.id
        last, before = _last_two(nodes)
        was_fresh = (
            nodes is self._table
            and len(nodes) == self._size + 1
            and last is node
            and before is self._last
        )
        if was_fresh:
            self._table, self._size, self._last = nodes, len(nodes), last

    def _fresh(self, nodes: dict[int, Node]) -> bool:
        return nodes is self._table and len(nodes) == self._size and _last(nodes) is self._last

    def _mark(self, nodes: dict[int, Node]) -> None:
        self._table, self._size, self._last = nodes, len(nodes), _last(nodes)


def _last(nodes: dict[int, Node]) -> Node | None:
    """The node added last; None when there is none."""
    key = next(reversed(nodes), None)
    return nodes[key] if key is not None else None


def _last_two(nodes: dict[int, Node]) -> tuple[Node | None, Node | None]:
    ids = reversed(nodes)
    last, before = next(ids, None), next(ids, None)
    return (
        nodes[last] if last is not None else None,
        nodes[before] if before is not None else None,
    )


def _ignore(session: NodeSession, message: object) -> None:
    return None


class _Accepted(socket.socket):
    """An accepted connection whose `family` and `type` read as plain ints: the enum
    conversions of socket.socket's, asked for by the accept and again by the loop as
    it wraps the socket, cost more than the accept's system call."""

    __slots__ = ()
    family = _socket.socket.family  # type: ignore[assignment]
    type = _socket.socket.type  # type: ignore[assignment]


def _listening_socket(host: str, port: int) -> socket.socket:
    """A non-blocking TCP socket listening on (host, port); the first address host resolves to."""
    infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    family, _kind, _proto, _name, address = infos[0]
    sock = socket.create_server(address[:2], family=family, backlog=LISTEN_BACKLOG)
    sock.setblocking(False)
    return sock


def _abort_all(sessions: set[NodeSession], done: asyncio.Future[None]) -> None:
    """Close sessions whose results or assignments the store refused; they reconnect."""
    reason = (
        "the store refused the session's last change" if done.cancelled() else str(done.exception())
    )
    for session in sessions:
        session.abort(f"store: {reason}")
