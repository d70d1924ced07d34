"""The processes a dispatcher figure runs: the real `corral dispatcher`, the simulated
clients, and real `corral renderclient`s; all on 127.0.0.1."""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from benchmarks.cpu import CpuWindow

CORRAL = str(Path(sys.executable).parent / "corral")
HOST = "127.0.0.1"
START_TIMEOUT_S = 60.0


class BenchError(RuntimeError):
    """A figure could not be measured (a process failed to start, a limit was too low)."""


def corral_command() -> str:
    if Path(CORRAL).exists():
        return CORRAL
    found = shutil.which("corral")
    if found is None:
        raise BenchError("the corral command is not installed (pip install -e .)")
    return found


def raise_open_files(needed: int) -> int:
    """Raise our soft open-file limit to the hard one (children inherit it); fail loudly
    when that is still under `needed`."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        soft = hard
    if soft < needed:
        raise BenchError(
            f"the open-file limit is {soft} (hard limit {hard}); {needed} are needed for "
            "this many connections: raise it (ulimit -n, or LimitNOFILE) and run again"
        )
    return soft


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


@dataclass
class Dispatcher:
    """One `corral dispatcher` process on a data directory."""

    data_dir: Path
    assign_ahead: int = 0
    loop: str = "uvloop"
    port: int = 0
    log_path: Path | None = None
    process: subprocess.Popen[str] | None = None
    render_port: int = 0
    url: str = ""
    token: str = ""
    started_s: float = 0.0
    extra_env: dict[str, str] = field(default_factory=dict)
    extra_args: tuple[str, ...] = ()

    def command(self) -> list[str]:
        return [
            corral_command(), "dispatcher", "--data-dir", str(self.data_dir),
            "--host", HOST, "--port", str(self.port), "--http-port", "0", "--compat-port", "off",
            "--log-level", "warning", "--assign-ahead", str(self.assign_ahead), *self.extra_args,
        ]  # fmt: skip

    def env(self) -> dict[str, str]:
        switches = ("CORRAL_PROFILE", "CORRAL_EVENT_LOOP")
        env = {name: value for name, value in os.environ.items() if name not in switches}
        env.update(self.extra_env)
        if self.loop == "asyncio":
            env["CORRAL_EVENT_LOOP"] = "asyncio"
        return env

    def spawn(self) -> subprocess.Popen[str]:
        log: IO[str] | int = subprocess.DEVNULL
        if self.log_path is not None:
            log = self.log_path.open("a")
        self.process = subprocess.Popen(
            self.command(), stdout=subprocess.PIPE, stderr=log, text=True, env=self.env()
        )
        return self.process

    def start(self) -> Dispatcher:
        began = time.perf_counter()
        process = self.spawn()
        assert process.stdout is not None
        line = process.stdout.readline()
        if not line.startswith("listening "):
            self.stop()
            where = f"; see {self.log_path}" if self.log_path else ""
            raise BenchError(f"the dispatcher did not start: {line.strip()!r}{where}")
        self.started_s = time.perf_counter() - began
        fields = dict(part.split("=", 1) for part in line.split()[1:])
        self.render_port = int(fields["render"].rsplit(":", 1)[1])
        self.url = fields["http"]
        self.token = (self.data_dir / "admin.token").read_text().strip()
        return self

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    @property
    def secret_file(self) -> Path:
        return self.data_dir / "farm.secret"

    def request(self, method: str, path: str, body: Any = None, timeout_s: float = 60) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method)
        request.add_header("Authorization", f"Bearer {self.token}")
        request.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            return json.loads(response.read() or b"null")

    def status(self, collect_garbage: bool = False) -> dict[str, Any]:
        found: dict[str, Any] = self.request(
            "GET", "/api/v1/status" + ("?gc=1" if collect_garbage else "")
        )
        return found

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

    def __enter__(self) -> Dispatcher:
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()


def run_simclients(
    dispatcher: Dispatcher,
    *,
    clients: int,
    warmup_s: float,
    window_s: float,
    ahead: int = 0,
    hold_s: float = 0.0,
    answer: str = "ok",
    extra_pids: tuple[int, ...] = (),
) -> tuple[dict[str, Any], dict[str, float]]:
    """Run the simulated clients against `dispatcher`; their result and the CPU window."""
    raise_open_files(clients + 256)
    args = [
        sys.executable, "-m", "benchmarks.simclients", "--host", HOST,
        "--port", str(dispatcher.render_port), "--secret-file", str(dispatcher.secret_file),
        "--clients", str(clients), "--warmup-s", str(warmup_s), "--window-s", str(window_s),
        "--ahead", str(ahead), "--hold-s", str(hold_s), "--answer", answer,
    ]  # fmt: skip
    sim = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert sim.stdout is not None
    window: CpuWindow | None = None
    result: dict[str, Any] | None = None
    deadline = time.monotonic() + START_TIMEOUT_S + warmup_s + window_s
    try:
        for line in sim.stdout:
            if line.startswith("phase window-start"):
                window = CpuWindow.start([dispatcher.pid, sim.pid, *extra_pids])
            elif line.startswith("phase window-end") and window is not None:
                window.stop()
            elif line.startswith("result "):
                result = json.loads(line[len("result ") :])
            if time.monotonic() > deadline:
                break
        sim.wait(timeout=30)
    finally:
        if sim.poll() is None:
            sim.kill()
            sim.wait()
    if result is None or window is None:
        error = sim.stderr.read() if sim.stderr is not None else ""
        raise BenchError(f"the simulated clients failed: {error.strip()[-2000:]}")
    if sim.stderr is not None:
        sim.stderr.close()
    sim.stdout.close()
    return result, window.report()


@dataclass
class RenderClients:
    """`count` real `corral renderclient` processes, one instance each."""

    dispatcher: Dispatcher
    count: int
    scratch: Path
    processes: list[subprocess.Popen[str]] = field(default_factory=list)

    def start(self) -> RenderClients:
        for index in range(self.count):
            name = f"bench-rc{index:02d}"
            state = self.scratch / f"state-{name}"
            args = [
                corral_command(), "renderclient", "--dispatcher",
                f"{HOST}:{self.dispatcher.render_port}", "--name", name,
                "--secret-file", str(self.dispatcher.secret_file), "--state-dir", str(state),
                "--log-level", "warning",
            ]  # fmt: skip
            log = (self.scratch / f"{name}.log").open("a")
            self.processes.append(
                subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, text=True)
            )
        return self

    @property
    def pids(self) -> list[int]:
        return [process.pid for process in self.processes]

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.processes.clear()


def wait_for(predicate: Any, timeout_s: float, what: str) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise BenchError(f"timed out after {timeout_s:.0f} s waiting for {what}")
        time.sleep(0.05)


def port_accepts(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=0.2):
            return True
    except OSError:
        return False
