"""What the fuzzers share: hypothesis profiles, a watched dispatcher, raw HTTP, and a
render-port peer that does the real handshake.

Profiles: `ci` (the default, few examples, derandomized so `make test` is stable) and
`fuzz` (CORRAL_FUZZ=long, as `make fuzz` sets; CORRAL_FUZZ_EXAMPLES overrides its
number of examples per test). Neither writes an example database.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import re
import secrets
import select
import socket
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis.configuration import set_hypothesis_home_dir

from dispatcher import protocol as p
from tests.integration.farm import Farm, wait_for

# Hypothesis keeps a few caches even without an example database: not in the tree.
set_hypothesis_home_dir(os.path.join(tempfile.gettempdir(), "corral-hypothesis"))

LONG = os.environ.get("CORRAL_FUZZ") == "long"
_QUIET = list(HealthCheck)  # a real server is slow and its fixtures live across examples
settings.register_profile(
    "ci",
    max_examples=30,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=_QUIET,
    print_blob=True,
)
settings.register_profile(
    "fuzz",
    max_examples=int(os.environ.get("CORRAL_FUZZ_EXAMPLES", "600")),
    deadline=None,
    database=None,
    suppress_health_check=_QUIET,
    print_blob=True,
)
PROFILE = "fuzz" if LONG else "ci"
FUZZ = settings.get_profile(PROFILE)


def examples(ci: int, *, shrink: bool = True) -> settings:
    """The profile with `ci` examples under `ci` (the long run keeps its own number).

    `shrink=False` for a known defect that can leave the dispatcher unusable: shrinking
    against a dead dispatcher would only repeat the same timeout.
    """
    phases = [Phase.explicit, Phase.reuse, Phase.generate, *([Phase.shrink] if shrink else [])]
    return settings(FUZZ, max_examples=FUZZ.max_examples if LONG else ci, phases=phases)


# -- counting ------------------------------------------------------------------


@dataclass
class Tally:
    """Cases sent per surface and what came back; one line for the lead's notes."""

    surface: str
    cases: Counter[str] = field(default_factory=Counter)
    outcomes: Counter[str] = field(default_factory=Counter)
    server_errors: int = 0
    crashes: int = 0

    def sent(self, kind: str, outcome: str = "") -> None:
        self.cases[kind] += 1
        if outcome:
            self.outcomes[outcome] += 1

    def line(self) -> str:
        kinds = ", ".join(f"{kind} {count}" for kind, count in sorted(self.cases.items()))
        outcomes = ", ".join(f"{name} {count}" for name, count in sorted(self.outcomes.items()))
        return (
            f"fuzz {self.surface} [{PROFILE}]: {sum(self.cases.values())} cases ({kinds}); "
            f"answers: {outcomes or '-'}; crashes {self.crashes}, 5xx {self.server_errors}"
        )


def report(request: pytest.FixtureRequest, tally: Tally) -> None:
    """Print the tally and write it to the terminal even when output is captured."""
    print(tally.line())
    terminal_line(request, tally.line())


def terminal_line(request: pytest.FixtureRequest, line: str) -> None:
    """Write `line` to the terminal even while pytest captures the test's output."""
    plugins = request.config.pluginmanager
    reporter, capture = plugins.getplugin("terminalreporter"), plugins.getplugin("capturemanager")
    if reporter is None or capture is None:
        return
    with capture.global_and_fixture_disabled():
        reporter.write_line("")
        reporter.write_line(line)


# -- the dispatcher under attack -------------------------------------------------


@dataclass
class Watched:
    """A running dispatcher with its starting memory and descriptors, checked as we go."""

    farm: Farm
    rss0: int = 0
    fds0: int = 0
    log_offset: int = 0
    sentinel: int = 0  # a paused job that the write probe pauses again

    @property
    def pid(self) -> int:
        assert self.farm.process is not None
        return self.farm.process.pid

    @property
    def log_path(self) -> Path:
        return self.farm.data_dir.parent / f"{self.farm.data_dir.name}-dispatcher.log"

    def rss_bytes(self) -> int:
        text = Path(f"/proc/{self.pid}/status").read_text()
        match = re.search(r"^VmRSS:\s+(\d+) kB", text, re.M)
        assert match, "no VmRSS in /proc/PID/status"
        return int(match.group(1)) * 1024

    def fds(self) -> int:
        return len(os.listdir(f"/proc/{self.pid}/fd"))

    def baseline(self) -> Watched:
        self.check_up()
        self.sentinel = self.farm.submit(title="fuzz sentinel", paused=True, command=["true"])["id"]
        self.rss0, self.fds0 = self.rss_bytes(), self.fds()
        self.log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        return self

    def check_up(self, timeout_s: float = 10.0) -> None:
        """The process lives and GET /api/v1/status answers 200 within `timeout_s`."""
        process = self.farm.process
        assert process is not None
        code = process.poll()
        if code is not None:
            raise AssertionError(f"the dispatcher exited with {code}:\n{self.log_tail()}")
        answer = http_request(self.farm.url, "GET", "/api/v1/status", token=self.farm.token,
                              timeout_s=timeout_s)  # fmt: skip
        if answer.status != 200:
            raise AssertionError(f"/api/v1/status answered {answer.status}: {answer.body[:300]!r}")

    def check_writes(self, timeout_s: float = 10.0) -> None:
        """A write reaches the store: pausing the sentinel job is answered within `timeout_s`."""
        path = f"/api/v1/jobs/{self.sentinel}/actions/pause"
        try:
            answer = http_request(self.farm.url, "POST", path,
                                  token=self.farm.token, timeout_s=timeout_s)  # fmt: skip
        except TimeoutError:
            raise AssertionError(
                f"a write hung for {timeout_s} s: the store stopped writing\n{self.log_tail()}"
            ) from None
        if answer.status == 404:  # a fuzzed DELETE may hit it: a new sentinel is a write too
            self.sentinel = self.farm.submit(title="fuzz sentinel", command=["true"], paused=True)[
                "id"
            ]
            return
        if answer.status != 200:
            raise AssertionError(f"a write answered {answer.status}: {answer.body[:300]!r}")

    def log_text(self) -> str:
        if not self.log_path.exists():
            return ""
        with self.log_path.open("rb") as log:
            log.seek(self.log_offset)
            return log.read().decode("utf-8", "replace")

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

    def check_log(self) -> None:
        """No traceback since the baseline: every fault is one logged line, not a crash dump."""
        text = self.log_text()
        where = text.find("Traceback")
        if where >= 0:
            start = text.rfind("\n", 0, max(0, where - 300)) + 1
            raise AssertionError(
                f"the dispatcher logged a traceback:\n{text[start : where + 3000]}"
            )

    def check_bounded(self, rss_budget_bytes: int = 96 * 1024 * 1024, fd_slack: int = 16) -> str:
        """Memory and descriptors did not grow without bound since the baseline; a summary."""
        fds = wait_for(
            lambda: (count := self.fds()) <= self.fds0 + fd_slack and count,
            15.0,
            f"open descriptors back near {self.fds0} (now {self.fds()})",
        )
        rss = self.rss_bytes()
        growth = rss - self.rss0
        summary = (
            f"dispatcher rss {self.rss0 // 2**20} -> {rss // 2**20} MiB, fds {self.fds0} -> {fds}"
        )
        assert growth <= rss_budget_bytes, f"memory grew by {growth // 2**20} MiB: {summary}"
        return summary


# -- raw HTTP ------------------------------------------------------------------


@dataclass
class Answer:
    status: int  # 0: the connection was closed without an answer
    headers: dict[str, str]
    body: bytes

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";")[0].strip().lower()


def http_raw(base_url: str, raw: bytes, timeout_s: float = 20.0) -> Answer:
    """Send `raw` as it is to the HTTP port; parse the one answer (http.client's parser)."""
    host, port = base_url.removeprefix("http://").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=timeout_s) as sock:
        # The server may answer and close before it has read everything.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(raw)
        response = http.client.HTTPResponse(sock)
        try:
            response.begin()
            body = read_body(sock, response, BODY_DEADLINE_S)
        except (http.client.RemoteDisconnected, ConnectionResetError):
            return Answer(0, {}, b"")
        except http.client.IncompleteRead as exc:
            body = exc.partial
        headers = {name.lower(): value for name, value in response.getheaders()}
        return Answer(response.status, headers, body)


# A body still coming after this long is a stream (the event stream, a followed log):
# what arrived by then is the answer.
BODY_DEADLINE_S = 5.0


def read_body(sock: socket.socket, response: http.client.HTTPResponse, deadline_s: float) -> bytes:
    """The answer's body, or what of it came within `deadline_s` (streams never end)."""
    parts: list[bytes] = []
    end = time.monotonic() + deadline_s
    while (left := end - time.monotonic()) > 0:
        sock.settimeout(left)
        try:
            part = response.read1(65536) if response.chunked else response.read(65536)
        except TimeoutError:
            break
        if not part:
            break
        parts.append(part)
    return b"".join(parts)


def request_bytes(
    method: bytes,
    target: bytes,
    *,
    headers: list[tuple[bytes, bytes]] = (),  # type: ignore[assignment]
    body: bytes | None = None,
) -> bytes:
    lines = [method + b" " + target + b" HTTP/1.1", b"Host: fuzz", b"Connection: close"]
    lines += [name + b": " + value for name, value in headers]
    if body is not None:
        lines.append(b"Content-Length: %d" % len(body))
    return b"\r\n".join(lines) + b"\r\n\r\n" + (body or b"")


def http_request(
    base_url: str,
    method: str,
    path: str,
    *,
    token: str | bytes | None = None,
    body: bytes | None = None,
    content_type: bytes = b"application/json",
    headers: list[tuple[bytes, bytes]] = (),  # type: ignore[assignment]
    timeout_s: float = 20.0,
) -> Answer:
    extra = list(headers)
    if token is not None:
        extra.append(
            (b"Authorization", b"Bearer " + (token if isinstance(token, bytes) else token.encode()))
        )
    if body is not None:
        extra.append((b"Content-Type", content_type))
    raw = request_bytes(method.encode(), path.encode(), headers=extra, body=body)
    return http_raw(base_url, raw, timeout_s)


def route_table() -> list[tuple[str, str]]:
    """(method, path template) of every route of the dispatcher's REST app, from the app itself,
    so that a new route is fuzzed without a change here."""
    from types import SimpleNamespace

    from dispatcher.web.app import make_app

    app = make_app(SimpleNamespace(), max_request_bytes=1024)  # type: ignore[arg-type]
    routes = []
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource is not None else {}
        path = info.get("formatter") or info.get("path")
        if path and route.method != "HEAD":
            routes.append((route.method, path))
    return sorted(set(routes))


def public_routes() -> set[tuple[str, str]]:
    """(method, path template) of the routes declared public (they need no token)."""
    from types import SimpleNamespace

    from dispatcher.web.app import make_app
    from dispatcher.web.endpoint import declared_endpoints

    app = make_app(SimpleNamespace(), max_request_bytes=1024)  # type: ignore[arg-type]
    return {(e.method, e.path) for e in declared_endpoints(app) if e.public}


# -- the render port -----------------------------------------------------------


# The node keys the dispatchers issued to the fuzzers' node names, by (render address,
# name, instance): a registered name must prove its key in every later handshake.
NODE_KEYS: dict[tuple[str, str, int], bytes] = {}


def keyed_auth(
    address: str, secret: bytes, hello: p.Hello, challenge: p.Challenge, **fields: Any
) -> p.Auth:
    """A valid Auth for `hello`: the farm secret's proof and, once the name has a key, the
    node's own proof."""
    key = NODE_KEYS.get((address, hello.name, hello.instance), b"")
    if key and "node_proof" not in fields:
        fields["node_proof"] = p.node_proof(
            key, hello.name, hello.instance, hello.nonce, challenge.nonce
        )
    proof = p.proof(secret, "renderclient", hello.nonce, challenge.nonce)
    return p.Auth(proof=proof, **fields)


def keep_key(
    address: str, secret: bytes, hello: p.Hello, challenge: p.Challenge, welcome: p.Welcome
) -> None:
    """Remember the key a Welcome issued (masked on the wire) for the hello's name."""
    if welcome.node_key:
        key = p.mask_node_key(secret, hello.nonce, challenge.nonce, welcome.node_key)
        NODE_KEYS[(address, hello.name, hello.instance)] = key


class Peer:
    """One raw connection to the render port."""

    def __init__(self, address: str, timeout_s: float = 5.0) -> None:
        self.address = address
        host, port = address.rsplit(":", 1)
        host = "127.0.0.1" if host in ("0.0.0.0", "", "::") else host
        self.sock = socket.create_connection((host, int(port)), timeout=timeout_s)
        self.frames = p.FrameReader()
        self.bodies: list[bytes] = []
        self.eof = False

    def __enter__(self) -> Peer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.sock.close()

    def send(self, data: bytes) -> bool:
        """False when the dispatcher has already closed the connection."""
        try:
            self.sock.sendall(data)
            return True
        except (BrokenPipeError, ConnectionResetError):
            self.eof = True
            return False

    def send_message(self, message: p.Message | dict[str, Any]) -> bool:
        if isinstance(message, dict):
            body = msgspec.msgpack.encode(message)
            return self.send(p.HEADER.pack(len(body)) + body)
        return self.send(p.encode(message))

    def _read(self, timeout_s: float) -> bool:
        ready, _, _ = select.select([self.sock], [], [], timeout_s)
        if not ready:
            return False
        try:
            data = self.sock.recv(65536)
        except (ConnectionResetError, TimeoutError):
            data = b""
        if not data:
            self.eof = True
            return False
        self.bodies.extend(self.frames.feed(data))
        return True

    def recv(self, timeout_s: float = 5.0) -> p.Message | None:
        """The next message, or None when the connection ended or nothing came in time."""
        deadline = time.monotonic() + timeout_s
        while not self.bodies:
            left = deadline - time.monotonic()
            if self.eof or left <= 0:
                return None
            self._read(left)
        return p.decode(self.bodies.pop(0))

    def closed_by_peer(self, timeout_s: float = 5.0) -> bool:
        """True when the dispatcher closes the connection within `timeout_s`."""
        deadline = time.monotonic() + timeout_s
        while not self.eof and time.monotonic() < deadline:
            self._read(deadline - time.monotonic())
            self.bodies.clear()
        return self.eof

    def drain(self, timeout_s: float = 0.05) -> list[p.Message]:
        messages = []
        while (message := self.recv(timeout_s)) is not None:
            messages.append(message)
        return messages

    def hello(self, name: str, instance: int = 0) -> tuple[p.Hello, p.Challenge]:
        hello = p.Hello(p.PROTOCOL_VERSION, name, instance, secrets.token_bytes(32))
        self.send_message(hello)
        challenge = self.recv()
        assert isinstance(challenge, p.Challenge), f"expected a challenge, got {challenge!r}"
        return hello, challenge

    def handshake(self, secret: bytes, name: str, instance: int = 0, **auth: Any) -> p.Welcome:
        """The real mutual handshake; checks the dispatcher's proof too."""
        hello, challenge = self.hello(name, instance)
        expected = p.proof(secret, "dispatcher", hello.nonce, challenge.nonce)
        assert p.proof_ok(expected, challenge.proof), "the dispatcher failed its proof"
        self.send_message(keyed_auth(self.address, secret, hello, challenge, **auth))
        welcome = self.recv(10.0)
        assert isinstance(welcome, p.Welcome), f"expected a welcome, got {welcome!r}"
        keep_key(self.address, secret, hello, challenge, welcome)
        return welcome


def farm_secret(farm: Farm) -> bytes:
    return (farm.data_dir / "farm.secret").read_bytes().strip()


class FakeNode:
    """A render client that speaks the real protocol from a thread: it heartbeats, answers
    every command that asks for an answer, and reports each assigned chunk as done."""

    def __init__(self, farm: Farm, name: str) -> None:
        self.peer = Peer(farm.render)
        self.welcome = self.peer.handshake(farm_secret(farm), name)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"fake-node-{name}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        beat = 0.0
        while not self._stop.is_set() and not self.peer.eof:
            now = time.monotonic()
            if now - beat >= 0.2:
                self.peer.send_message(p.Heartbeat())
                beat = now
            message = self.peer.recv(0.05)
            if isinstance(message, p.Assign):
                self.peer.send_message(
                    p.Result(message.ref, ok=True, exit_code=0, started=time.time(),
                             finished=time.time())
                )  # fmt: skip
            elif isinstance(message, p.Command) and "request" in message.args:
                request = message.args["request"]
                if isinstance(request, int):
                    self.peer.send_message(p.Reply(request, ok=True, output="fuzz"))

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.peer.close()
