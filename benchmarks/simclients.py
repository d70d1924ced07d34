"""Simulated render clients: many sessions in one process, the real protocol, no command.

Run as `python -m benchmarks.simclients --port P --secret-file F --clients N ...`.
Each session does the real mutual handshake, then answers every Assign with a
successful Result at once (or after `--hold-s`), and counts the ResultAcks
(a result is acknowledged only after the dispatcher committed it). Latency is
measured here, per session, from a result sent to the next assign received.

The process prints `phase NAME` lines on stdout as it goes (connected,
window-start, window-end) and one final `result {json}` line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import secrets
import sys
import time
from collections import deque
from pathlib import Path
from typing import Any

from dispatcher import protocol as p

LATENCY_KEEP = 2000  # raw latency samples kept per run (a uniform random subset)


class Counters:
    """What every session adds to while the measuring window is open."""

    def __init__(self) -> None:
        self.measuring = False
        self.paused = False  # with --gate: assigns wait, unanswered, until every session is in
        self.acked = 0
        self.results = 0
        self.assigns = 0
        self.failed = 0
        self.latencies: list[float] = []

    def add_latency(self, value_s: float) -> None:
        self.latencies.append(value_s)


class SimSession(asyncio.Protocol):
    """One simulated render-client instance on its own connection."""

    def __init__(
        self,
        name: str,
        secret: bytes,
        digest: str,
        counters: Counters,
        *,
        hold_s: float = 0.0,
        hold_jitter: float = 0.0,
        fill: int = 1,
        killed: bool = False,
        pools: tuple[str, ...] = (),
        fail_rate: float = 0.0,
    ) -> None:
        self.name = name
        self.secret = secret
        self.digest = digest
        self.hold_s = hold_s
        self.hold_jitter = hold_jitter
        self.counters = counters
        # The first `fill` assigns fill the node's slots; every later one answers a result.
        self.unpaired = fill
        self.killed = killed
        self.pools = list(pools)
        self.fail_rate = fail_rate
        # (seeded from the name only when results may fail: seeding costs a hash)
        self.rng = random.Random(name) if fail_rate or hold_jitter else None
        self.reader = p.FrameReader()
        self.transport: asyncio.Transport | None = None
        self.nonce = secrets.token_bytes(32)
        self.state = "challenge"
        self.welcome: asyncio.Future[p.Welcome] = asyncio.get_running_loop().create_future()
        self.sent_at: deque[float] = deque()
        self.out: list[bytes] = []
        self.closed = False
        self.held: list[p.Ref] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is its own class
        hello = p.Hello(version=p.PROTOCOL_VERSION, name=self.name, instance=0, nonce=self.nonce)
        assert self.transport is not None
        self.transport.write(p.encode(hello))

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if not self.welcome.done():
            self.welcome.set_exception(ConnectionError(f"{self.name}: connection lost {exc!r}"))

    def data_received(self, data: bytes) -> None:
        for body in self.reader.feed(data):
            self.handle(p.decode(body))
        if self.out and self.transport is not None:
            self.transport.write(b"".join(self.out))
            self.out.clear()

    def handle(self, message: p.Message) -> None:
        counters = self.counters
        if isinstance(message, p.Assign):
            now = time.perf_counter()
            if self.unpaired > 0:
                self.unpaired -= 1
            elif self.sent_at:
                sent = self.sent_at.popleft()
                if counters.measuring:
                    counters.add_latency(now - sent)
            if counters.measuring:
                counters.assigns += 1
            if counters.paused:
                self.held.append(message.ref)
            elif self.hold_s > 0:
                asyncio.get_running_loop().call_later(self.hold(), self.finish_later, message.ref)
            else:
                self.out.append(self.result(message.ref, now))
        elif isinstance(message, p.ResultAck):
            if counters.measuring:
                counters.acked += 1
        elif isinstance(message, p.Challenge):
            expected = p.proof(self.secret, "dispatcher", self.nonce, message.nonce)
            if not p.proof_ok(expected, message.proof):
                raise SystemExit(f"{self.name}: the dispatcher failed its proof")
            auth = p.Auth(
                proof=p.proof(self.secret, "renderclient", self.nonce, message.nonce),
                host="sim",
                platform=sys.platform,
                templates_digest=self.digest,
                pools=self.pools,
            )
            self.out.append(p.encode(auth))
        elif isinstance(message, p.Welcome):
            self.state = "ready"
            if not self.welcome.done():
                self.welcome.set_result(message)
        elif isinstance(message, p.Refused):
            self.welcome.set_exception(ConnectionError(f"{self.name}: refused: {message.reason}"))
        elif isinstance(message, p.Bye | p.Command | p.Heartbeat):
            pass

    def result(self, ref: p.Ref, now: float) -> bytes:
        """A successful result frame; notes when it left."""
        wall = time.time()
        self.sent_at.append(time.perf_counter())
        if self.counters.measuring:
            self.counters.results += 1
        if self.killed:  # the dispatcher requeues a killed chunk: the queue keeps its depth
            return p.encode(p.Result(ref, False, None, "sim", wall, wall, killed=True))
        if (
            self.rng is not None and self.rng.random() < self.fail_rate
        ):  # retried by its requeue count
            if self.counters.measuring:
                self.counters.failed += 1
            return p.encode(p.Result(ref, False, 1, "sim failure", wall, wall))
        return p.encode(p.Result(ref, True, 0, "", wall, wall))

    def release(self) -> None:
        """Answer the assigns that arrived while paused."""
        held, self.held = self.held, []
        for ref in held:
            if self.hold_s > 0:  # with jitter, the first results spread over one hold
                first = self.rng.uniform(0, self.hold_s) if self.hold_jitter else self.hold_s
                asyncio.get_running_loop().call_later(first, self.finish_later, ref)
            else:
                self.finish_later(ref)

    def hold(self) -> float:
        """This chunk's simulated render time: `hold_s`, give or take `hold_jitter` of it."""
        if not self.hold_jitter:
            return self.hold_s
        return self.hold_s * (1 + self.hold_jitter * self.rng.uniform(-1, 1))

    def finish_later(self, ref: p.Ref) -> None:
        if self.transport is not None and not self.closed:
            self.transport.write(self.result(ref, time.perf_counter()))

    def expire(self, timeout_s: float) -> None:
        """No Welcome within `timeout_s`: the waiting connect fails."""
        if not self.welcome.done():
            self.welcome.set_exception(TimeoutError(f"{self.name}: no welcome in {timeout_s:g} s"))

    def heartbeat(self) -> None:
        if self.transport is not None and not self.closed and self.state == "ready":
            self.transport.write(p.encode(p.Heartbeat()))


def raise_open_files(needed: int) -> int:
    """Raise the soft open-file limit to the hard one; SystemExit when still below `needed`."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        soft = hard
    if soft < needed:
        raise SystemExit(
            f"simclients: the open-file limit is {soft} (hard {hard}) but {needed} are needed; "
            "raise it (ulimit -n) and run again"
        )
    return soft


def phase(name: str) -> None:
    print(f"phase {name}", flush=True)


async def connect(
    args: argparse.Namespace, secret: bytes, counters: Counters, sessions: list[SimSession]
) -> tuple[str, float]:
    """Connect every session into `sessions`: the first alone, to learn the digest, then
    the others with `--wave` handshakes under way at once, the next one begun as soon as
    one ends (a sliding window: no batch waits for its slowest handshake)."""
    loop = asyncio.get_running_loop()
    started = time.perf_counter()
    prefix = args.name_prefix or f"sim{os.getpid()}-"
    timeout_s = args.connect_timeout_s

    async def one(index: int, digest: str) -> SimSession:
        name = f"{prefix}{index:05d}"
        number = args.index_base + index
        pools = (f"pool{number % args.pools:02d}",) if args.pools else ()
        _, session = await loop.create_connection(
            lambda: SimSession(
                name,
                secret,
                digest,
                counters,
                hold_s=args.hold_s,
                hold_jitter=args.hold_jitter,
                fill=1 + args.ahead,
                killed=args.answer == "killed",
                pools=pools,
                fail_rate=args.fail_rate,
            ),
            args.host,
            args.port,
        )
        # (a timer on the session's own future: wait_for would add a future and a task step)
        expiry = loop.call_later(timeout_s, session.expire, timeout_s)
        try:
            await session.welcome
        finally:
            expiry.cancel()
        return session

    first = await one(0, "")
    sessions.append(first)
    digest = first.welcome.result().templates_digest
    indexes = iter(range(1, args.clients))

    async def lane() -> None:
        for index in indexes:  # (shared: each lane takes the next number left)
            sessions.append(await one(index, digest))

    lanes = max(1, min(args.wave, args.clients - 1))
    await asyncio.gather(*(lane() for _ in range(lanes)))
    return digest, time.perf_counter() - started


async def gate(args: argparse.Namespace, name: str) -> None:
    """With --gate: say `phase NAME` and wait for a line on stdin (the harness starts
    several processes' steps together this way)."""
    phase(name)
    if args.gate:
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)


async def run(args: argparse.Namespace) -> dict[str, Any]:
    secret = Path(args.secret_file).read_bytes().strip()
    limit = raise_open_files(args.clients + 64)
    counters = Counters()
    await gate(args, "ready")
    counters.paused = args.gate
    sessions: list[SimSession] = []
    slices = 10
    interval_s = [args.heartbeat_s or 5.0]

    async def beat() -> None:
        # Every session beats once per interval, a tenth of them at a time (as real
        # clients, started at different moments, spread theirs); from the first Welcome.
        while True:
            for part in range(slices):
                await asyncio.sleep(interval_s[0] / slices)
                for session in sessions[part::slices]:
                    session.heartbeat()

    beats = asyncio.create_task(beat(), name="sim-heartbeats")
    _digest, handshake_s = await connect(args, secret, counters, sessions)
    heartbeat_s = args.heartbeat_s or sessions[0].welcome.result().heartbeat_s
    interval_s[0] = heartbeat_s
    await gate(args, "connected")
    counters.paused = False
    for session in sessions:
        session.release()
    await asyncio.sleep(args.warmup_s)
    phase("window-start")
    counters.measuring = True
    began = time.perf_counter()
    cpu_began = time.process_time()
    await asyncio.sleep(args.window_s)
    counters.measuring = False
    window_s = time.perf_counter() - began
    cpu_s = time.process_time() - cpu_began
    phase("window-end")
    beats.cancel()
    closed_early = sum(1 for session in sessions if session.closed)
    for session in sessions:
        if session.transport is not None:
            session.transport.close()
    await asyncio.sleep(0)
    latencies = counters.latencies
    kept = latencies if len(latencies) <= LATENCY_KEEP else random.sample(latencies, LATENCY_KEEP)
    return {
        "clients": len(sessions),
        "closed_early": closed_early,
        "open_file_limit": limit,
        "handshake_s": round(handshake_s, 4),
        "window_s": round(window_s, 4),
        "acked": counters.acked,
        "results": counters.results,
        "assigns": counters.assigns,
        "chunks_per_s": counters.acked / window_s if window_s else 0.0,
        "latency": summarize(latencies),
        "latency_samples_ms": [round(value * 1000, 3) for value in kept],
        "latencies_ms": [round(value * 1000, 3) for value in latencies]
        if args.all_latencies
        else [],
        "failed": counters.failed,
        "heartbeat_s": heartbeat_s,
        "sim_cpu_s": round(cpu_s, 3),
        "sim_loop": type(asyncio.get_running_loop()).__module__.split(".")[0],
    }


def percentile(ordered: list[float], fraction: float) -> float:
    """The nearest-rank percentile of an already sorted list."""
    if not ordered:
        return float("nan")
    rank = max(0, min(len(ordered) - 1, int(round(fraction * len(ordered) + 0.5)) - 1))
    return ordered[rank]


def summarize(values_s: list[float]) -> dict[str, float | int]:
    """Count and p50/p90/p99/p99.9/max of latencies, in milliseconds."""
    ordered = sorted(values_s)
    if not ordered:
        return {"count": 0}
    return {
        "count": len(ordered),
        "p50_ms": round(percentile(ordered, 0.50) * 1000, 3),
        "p90_ms": round(percentile(ordered, 0.90) * 1000, 3),
        "p99_ms": round(percentile(ordered, 0.99) * 1000, 3),
        "p999_ms": round(percentile(ordered, 0.999) * 1000, 3),
        "max_ms": round(ordered[-1] * 1000, 3),
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.simclients")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--secret-file", required=True)
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--hold-s", type=float, default=0.0, help="simulated render time per chunk")
    parser.add_argument(
        "--hold-jitter", type=float, default=0.0,
        help="vary each hold by up to this share of it, and spread the first results over one hold",
    )  # fmt: skip
    parser.add_argument("--ahead", type=int, default=0, help="the dispatcher's assign_ahead")
    parser.add_argument(
        "--answer",
        choices=("ok", "killed"),
        default="ok",
        help="ok completes each chunk; killed hands it back (the queue keeps its depth)",
    )
    parser.add_argument("--warmup-s", type=float, default=1.0)
    parser.add_argument("--window-s", type=float, default=5.0)
    parser.add_argument("--wave", type=int, default=100, help="handshakes under way at once")
    parser.add_argument(
        "--heartbeat-s", type=float, default=0.0, help="0: the interval the Welcome gives"
    )
    parser.add_argument(
        "--gate",
        action="store_true",
        help="wait for stdin lines (see gate); assigns wait unanswered until every session is in",
    )
    parser.add_argument("--name-prefix", default="", help="node names' prefix (default: by pid)")
    parser.add_argument("--index-base", type=int, default=0, help="this process's first number")
    parser.add_argument("--pools", type=int, default=0, help="spread the nodes over N pools")
    parser.add_argument("--fail-rate", type=float, default=0.0, help="share of failed results")
    parser.add_argument("--all-latencies", action="store_true", help="every latency sample")
    parser.add_argument("--result-file", default="", help="write the result here, not stdout")
    parser.add_argument("--connect-timeout-s", type=float, default=30.0)
    parser.add_argument("--loop", choices=("uvloop", "asyncio"), default="uvloop")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.loop == "uvloop":
        try:
            import uvloop
        except ImportError:
            args.loop = "asyncio"
    result = uvloop.run(run(args)) if args.loop == "uvloop" else asyncio.run(run(args))
    if args.result_file:  # (a long line on a pipe is not always read back whole)
        Path(args.result_file).write_text(json.dumps(result))
        print("result-file", flush=True)
    else:
        print("result " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
