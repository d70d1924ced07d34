"""Physical probes: what this machine does with no Corral logic at all.

- TCP round trips/s: length-prefixed msgpack frames over asyncio Protocols on
  loopback, a server process and a client process, 1 and 100 connections.
- SQLite commits/s: WAL, synchronous=FULL, one row per transaction and
  1,000 rows per transaction, on the disk the dispatcher figures use.
- Spawns/s: /bin/true through asyncio subprocesses, 1 and 2 at a time.

Every Corral figure is reported as a ratio to these.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import struct
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import msgspec

from renderclient import reaper

HEADER = struct.Struct(">I")
TRUE = "/bin/true"
_encode = msgspec.msgpack.encode
_decode = msgspec.msgpack.decode


def _frame(body: bytes) -> bytes:
    return HEADER.pack(len(body)) + body


def _split(buffer: bytearray) -> list[bytes]:
    bodies = []
    offset = 0
    while len(buffer) - offset >= 4:
        (length,) = HEADER.unpack_from(buffer, offset)
        if len(buffer) - offset - 4 < length:
            break
        bodies.append(bytes(buffer[offset + 4 : offset + 4 + length]))
        offset += 4 + length
    del buffer[:offset]
    return bodies


def run_loop(coro: Any) -> Any:
    """Run on uvloop where installed (as the dispatcher does by default)."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    return uvloop.run(coro)


def loop_name() -> str:
    try:
        import uvloop
    except ImportError:
        return "asyncio"
    return f"uvloop {getattr(uvloop, '__version__', '?')}"


# -- TCP ---------------------------------------------------------------------
class _EchoServer(asyncio.Protocol):
    """Decodes each frame and answers with an encoded acknowledgement, like the dispatcher."""

    def __init__(self) -> None:
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        out = []
        for body in _split(self.buffer):
            message = _decode(body)
            out.append(_frame(_encode({"type": "result_ack", "ref": message["ref"]})))
        if out and self.transport is not None:
            self.transport.write(b"".join(out))


async def _serve_tcp() -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(_EchoServer, "127.0.0.1", 0, backlog=1024)
    print(server.sockets[0].getsockname()[1], flush=True)
    # Serve until the parent closes our stdin.
    await loop.run_in_executor(None, sys.stdin.read)
    server.close()


class _PingClient(asyncio.Protocol):
    """Sends the next frame as soon as the answer to the last one arrived."""

    def __init__(self, counter: list[int]) -> None:
        self.counter = counter
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None
        self.frame = _frame(_encode({"type": "result", "ref": [1, 2, 3], "ok": True, "exit": 0}))

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is its own class
        assert self.transport is not None
        self.transport.write(self.frame)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        answers = _split(self.buffer)
        for body in answers:
            _decode(body)
        self.counter[0] += len(answers)
        if answers and self.transport is not None and not self.transport.is_closing():
            self.transport.write(self.frame * len(answers))


async def _tcp_clients(port: int, connections: int, duration_s: float) -> float:
    loop = asyncio.get_running_loop()
    counter = [0]
    transports = []
    for _ in range(connections):
        transport, _protocol = await loop.create_connection(
            lambda: _PingClient(counter), "127.0.0.1", port
        )
        transports.append(transport)
    await asyncio.sleep(min(0.3, duration_s / 4))  # warm up
    before, started = counter[0], time.perf_counter()
    await asyncio.sleep(duration_s)
    rate = (counter[0] - before) / (time.perf_counter() - started)
    for transport in transports:
        transport.close()
    return rate


def tcp_round_trips(connections: int, duration_s: float, on_start: Any = None) -> float:
    """Round trips/s between this process and a server process over loopback."""
    server = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.probes", "tcp-server"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None and server.stdin is not None
        port = int(server.stdout.readline())
        if on_start is not None:
            on_start([server.pid])
        return float(run_loop(_tcp_clients(port, connections, duration_s)))
    finally:
        if server.stdin is not None:
            server.stdin.close()
        try:
            server.wait(timeout=5)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


# -- SQLite ------------------------------------------------------------------
def sqlite_commits(scratch: Path, rows_per_commit: int, duration_s: float) -> dict[str, float]:
    """Commits/s (and rows/s) of a WAL, synchronous=FULL database on the scratch disk."""
    path = scratch / f"probe-{rows_per_commit}.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    db = sqlite3.connect(path, isolation_level=None)
    try:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        db.execute("CREATE TABLE runs (id INTEGER PRIMARY KEY, job INTEGER, state TEXT, t REAL)")
        row_id = 0
        commits = 0
        started = time.perf_counter()
        deadline = started + duration_s
        while time.perf_counter() < deadline:
            rows = [(row_id + i, row_id + i, "done", 0.0) for i in range(rows_per_commit)]
            row_id += rows_per_commit
            db.execute("BEGIN")
            db.executemany("INSERT INTO runs VALUES (?, ?, ?, ?)", rows)
            db.execute("COMMIT")
            commits += 1
        elapsed = time.perf_counter() - started
        pragmas = {
            name: db.execute(f"PRAGMA {name}").fetchone()[0]
            for name in ("journal_mode", "synchronous")
        }
    finally:
        db.close()
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
    return {
        "commits_per_s": commits / elapsed,
        "rows_per_s": commits * rows_per_commit / elapsed,
        "commits": commits,
        "journal_mode": pragmas["journal_mode"],
        "synchronous": pragmas["synchronous"],
    }


# -- spawning ----------------------------------------------------------------
async def _spawn_loop(parallel: int, duration_s: float) -> float:
    count = 0
    deadline = time.perf_counter() + duration_s

    async def worker() -> None:
        nonlocal count
        while time.perf_counter() < deadline:
            # Under the reaper every render runs under (renderclient/reaper.py).
            process = await asyncio.create_subprocess_exec(
                *reaper.wrap([TRUE]), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL
            )
            await process.wait()
            count += 1

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(parallel)))
    return count / (time.perf_counter() - started)


def spawns(parallel: int, duration_s: float) -> float:
    """/bin/true processes started and reaped per second, `parallel` at a time."""
    if not os.access(TRUE, os.X_OK):
        raise RuntimeError(f"{TRUE} is missing")
    return float(run_loop(_spawn_loop(parallel, duration_s)))


if __name__ == "__main__":
    if sys.argv[1:] == ["tcp-server"]:
        run_loop(_serve_tcp())
    else:
        raise SystemExit("usage: python -m benchmarks.probes tcp-server")
