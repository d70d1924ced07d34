"""The reference for the dispatcher's hot path: the barest durable assign / result / ack
loop, to measure the product against in the same run (`make bench`, case "reference").

One process, one asyncio Protocol per connection, msgspec frames of the same wire
format as dispatcher/protocol.py (so benchmarks.simclients drive it unchanged), and
the same durability rules as the dispatcher: an assignment is committed before its
Assign is sent, a result is acknowledged after its commit, in WAL mode with
`synchronous=FULL`. Commits are grouped: while one transaction runs in the writer
thread, everything that arrives waits for the next, which then holds all of it.

What it leaves out, by construction: the handshake is answered without checking the
client's proof, there is no scheduling (the next chunk is the next of one list), no
job views in the Assign (an empty map), no events, no node bookkeeping, no limits.
It is what the loop costs, not a dispatcher: never point a render client at it.

Run as `python -m benchmarks.reference --secret-file F --chunks N [--ahead K]`; it
prints `listening render=HOST:PORT` once it accepts connections, and stops on SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import signal
import sqlite3
import struct
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec

HEADER = struct.Struct(">I")


class Ref(msgspec.Struct, array_like=True, frozen=True):
    job: int
    chunk: int
    attempt: int


class Hello(msgspec.Struct, tag="hello"):
    version: int
    name: str
    instance: int
    nonce: bytes


class Auth(msgspec.Struct, tag="auth"):
    proof: bytes


class Result(msgspec.Struct, tag="result"):
    ref: Ref
    ok: bool


class Heartbeat(msgspec.Struct, tag="heartbeat"):
    pass


class Challenge(msgspec.Struct, tag="challenge"):
    version: int
    nonce: bytes
    proof: bytes


class Welcome(msgspec.Struct, tag="welcome"):
    node_id: int
    heartbeat_s: float
    templates_digest: str


class Assign(msgspec.Struct, tag="assign"):
    ref: Ref
    job: dict[str, Any]
    start: str
    end: str


class ResultAck(msgspec.Struct, tag="result_ack"):
    ref: Ref


_decoder = msgspec.msgpack.Decoder(Result | Heartbeat | Hello | Auth)
_encoder = msgspec.msgpack.Encoder()
NO_JOB: dict[str, Any] = {}


def frame(message: Any) -> bytes:
    body = _encoder.encode(message)
    return HEADER.pack(len(body)) + body


class Store:
    """An append-only log of assignments and results, written by one thread in group
    commits (one `executemany` of plain inserts per batch: about 1 us a row here, where
    passing the rows as one JSON parameter to `json_each` costs 2.5 times as much)."""

    def __init__(self, path: Path) -> None:
        self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS log (kind INTEGER, job INTEGER, chunk INTEGER, "
            "attempt INTEGER, value INTEGER, at REAL)"
        )

    def commit(self, rows: list[tuple[int, int, int, int, int]]) -> None:
        db = self.db
        db.execute("BEGIN")
        db.executemany("INSERT INTO log VALUES (?, ?, ?, ?, ?, 0)", rows)
        db.execute("COMMIT")


ASSIGNED, DONE = 1, 2


class Loop:
    """The queue, the pending group commit and the sessions waiting on it."""

    def __init__(self, store: Store, chunks: int, per_job: int, ahead: int, secret: bytes) -> None:
        self.store = store
        self.per_job = per_job
        self.next_index = 0
        self.chunks = chunks
        self.fill = 1 + ahead
        self.secret = secret
        # The batch being filled: assignments, results, and the frames to send after it.
        self.rows: list[tuple[int, int, int, int, int]] = []
        self.after: list[tuple[Session, bytes]] = []
        self.committing = False
        self.nodes = 0
        self.commits = 0
        self.results = 0

    def take(self, session: Session) -> None:
        """Assign the next chunk to `session` in the current batch."""
        if self.next_index >= self.chunks:
            return
        index = self.next_index
        self.next_index += 1
        job, chunk = 1 + index // self.per_job, index % self.per_job
        self.rows.append((ASSIGNED, job, chunk, 1, session.node))
        frame_text = str(chunk + 1)
        self.after.append(
            (session, frame(Assign(Ref(job, chunk, 1), NO_JOB, frame_text, frame_text)))
        )
        self.kick()

    def result(self, session: Session, ref: Ref, ok: bool) -> None:
        self.rows.append((DONE, ref.job, ref.chunk, ref.attempt, int(ok)))
        self.after.append((session, frame(ResultAck(ref))))
        self.results += 1
        self.take(session)

    def kick(self) -> None:
        if not self.committing and self.rows:
            self.committing = True
            asyncio.get_running_loop().call_soon(self._start)

    def _start(self) -> None:
        rows, after = self.rows, self.after
        self.rows, self.after = [], []
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(None, self.store.commit, rows)
        future.add_done_callback(lambda _: self._finished(after))

    def _finished(self, after: list[tuple[Session, bytes]]) -> None:
        self.commits += 1
        out: dict[Session, list[bytes]] = {}
        for session, data in after:
            out.setdefault(session, []).append(data)
        for session, frames in out.items():
            if session.transport is not None and not session.closed:
                session.transport.write(b"".join(frames))
        self.committing = False
        self.kick()


class Session(asyncio.Protocol):
    def __init__(self, loop: Loop) -> None:
        self.loop = loop
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.node = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer
        buffer += data
        offset = 0
        size = len(buffer)
        while size - offset >= 4:
            (length,) = HEADER.unpack_from(buffer, offset)
            if size - offset - 4 < length:
                break
            message = _decoder.decode(memoryview(buffer)[offset + 4 : offset + 4 + length])
            offset += 4 + length
            if type(message) is Result:
                self.loop.result(self, message.ref, message.ok)
            elif type(message) is Hello:
                self.hello(message)
            elif type(message) is Auth:
                self.welcome()
        if offset:
            del buffer[:offset]

    def hello(self, hello: Hello) -> None:
        import hashlib
        import hmac

        nonce = secrets.token_bytes(32)
        proof = hmac.new(
            self.loop.secret, b"dispatcher|" + hello.nonce + b"|" + nonce, hashlib.sha256
        ).digest()
        assert self.transport is not None
        self.transport.write(frame(Challenge(1, nonce, proof)))

    def welcome(self) -> None:
        self.loop.nodes += 1
        self.node = self.loop.nodes
        assert self.transport is not None
        self.transport.write(frame(Welcome(self.node, 5.0, "")))
        for _ in range(self.loop.fill):
            self.loop.take(self)


async def serve(args: argparse.Namespace) -> None:
    secret = Path(args.secret_file).read_bytes().strip()
    store = Store(Path(args.db))
    loop = Loop(store, args.chunks, args.per_job, args.ahead, secret)
    running = asyncio.get_running_loop()
    server = await running.create_server(lambda: Session(loop), args.host, args.port, backlog=4096)
    port = server.sockets[0].getsockname()[1]
    print(f"listening render={args.host}:{port}", flush=True)
    stop = asyncio.Event()
    running.add_signal_handler(signal.SIGTERM, stop.set)
    running.add_signal_handler(signal.SIGINT, stop.set)
    await stop.wait()
    server.close()
    print(f"stopped results={loop.results} commits={loop.commits}", flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.reference", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--secret-file", required=True)
    parser.add_argument("--db", required=True, help="the SQLite file (made when missing)")
    parser.add_argument("--chunks", type=int, default=500_000)
    parser.add_argument("--per-job", type=int, default=100)
    parser.add_argument("--ahead", type=int, default=0)
    args = parser.parse_args(argv)
    try:
        import uvloop

        uvloop.run(serve(args))
    except ImportError:
        asyncio.run(serve(args))


@dataclass
class Reference:
    """The reference loop as a subprocess, with the attributes the simulated clients use."""

    scratch: Path
    chunks: int
    ahead: int = 0
    process: subprocess.Popen[str] | None = None
    render_port: int = 0

    @property
    def secret_file(self) -> Path:
        return self.scratch / "farm.secret"

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self) -> Reference:
        self.scratch.mkdir(parents=True, exist_ok=True)
        self.secret_file.write_text(secrets.token_hex(32))
        args = [
            sys.executable, "-m", "benchmarks.reference", "--secret-file", str(self.secret_file),
            "--db", str(self.scratch / "reference.db"), "--chunks", str(self.chunks),
            "--ahead", str(self.ahead),
        ]  # fmt: skip
        self.process = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line.startswith("listening "):
            self.stop()
            raise RuntimeError(f"the reference did not start: {line!r}")
        self.render_port = int(line.split("=", 1)[1].rsplit(":", 1)[1])
        return self

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None:
            return
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()

    def __enter__(self) -> Reference:
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()
