"""Many simulated render clients spread over several processes, their steps started
together: every process connects when told, then starts its warm-up when told, so the
measuring windows line up and the connect time covers every handshake.

`Fleet` runs `python -m benchmarks.simclients --gate` processes; `connect()` returns
the seconds from the first handshake sent to the last Welcome received (measured here,
across the processes), `measure()` the merged result of the window.
"""

from __future__ import annotations

import contextlib
import json
import math
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Protocol

from benchmarks.farm import HOST, BenchError, raise_open_files
from benchmarks.simclients import summarize

PER_PROCESS = 2500  # simulated clients per process at most
START_TIMEOUT_S = 300.0


class Target(Protocol):
    """What the clients connect to: a `corral dispatcher` or the reference loop."""

    render_port: int
    secret_file: Path

    @property
    def pid(self) -> int: ...


def processes_for(clients: int) -> int:
    return max(1, math.ceil(clients / PER_PROCESS))


@dataclass
class _Sim:
    process: subprocess.Popen[str]
    result_file: Path
    phases: dict[str, float] = field(default_factory=dict)
    result: dict[str, Any] | None = None
    reader: threading.Thread | None = None
    stderr: list[str] = field(default_factory=list)

    def read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            if line.startswith("phase "):
                self.phases[line.split()[1]] = time.perf_counter()
            elif line.startswith("result-file"):
                self.result = json.loads(self.result_file.read_text())

    def tell(self) -> None:
        stdin = self.process.stdin
        assert stdin is not None
        stdin.write("go\n")
        stdin.flush()


@dataclass
class Fleet:
    """`clients` simulated clients in `processes` processes against `target`."""

    target: Target
    clients: int
    warmup_s: float = 1.0
    window_s: float = 5.0
    ahead: int = 0
    processes: int = 0
    pools: int = 0
    fail_rate: float = 0.0
    hold_s: float = 0.0
    hold_jitter: float = 0.0
    answer: str = "ok"
    all_latencies: bool = True
    label: str = "fleet"
    sims: list[_Sim] = field(default_factory=list)

    def start(self) -> Fleet:
        raise_open_files(self.clients + 256)
        count = self.processes or processes_for(self.clients)
        share = [
            self.clients // count + (1 if i < self.clients % count else 0) for i in range(count)
        ]
        base = 0
        for index, size in enumerate(share):
            args = [
                sys.executable, "-m", "benchmarks.simclients", "--gate", "--host", HOST,
                "--port", str(self.target.render_port),
                "--secret-file", str(self.target.secret_file), "--clients", str(size),
                "--warmup-s", str(self.warmup_s), "--window-s", str(self.window_s),
                "--ahead", str(self.ahead), "--answer", self.answer,
                "--name-prefix", f"{self.label}{index}-", "--index-base", str(base),
                "--pools", str(self.pools), "--fail-rate", str(self.fail_rate),
                "--connect-timeout-s", "300",
                "--hold-s", str(self.hold_s), "--hold-jitter", str(self.hold_jitter),
            ]  # fmt: skip
            if self.all_latencies:
                args.append("--all-latencies")
            result_file = Path(tempfile.mkdtemp(prefix="corral-fleet-")) / "result.json"
            args += ["--result-file", str(result_file)]
            base += size
            stderr: IO[str] | int = subprocess.PIPE
            process = subprocess.Popen(
                args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr, text=True
            )
            sim = _Sim(process, result_file)
            sim.reader = threading.Thread(target=sim.read, name=f"fleet-{index}", daemon=True)
            sim.reader.start()
            self.sims.append(sim)
        self._wait("ready", START_TIMEOUT_S)
        return self

    @property
    def pids(self) -> list[int]:
        return [sim.process.pid for sim in self.sims]

    def _wait(self, name: str, timeout_s: float) -> float:
        deadline = time.monotonic() + timeout_s
        while True:
            if all(name in sim.phases for sim in self.sims):
                return max(sim.phases[name] for sim in self.sims)
            for sim in self.sims:
                if sim.process.poll() is not None and name not in sim.phases:
                    raise BenchError(f"a simulated-client process failed: {self._errors(sim)}")
            if time.monotonic() > deadline:
                raise BenchError(f"timed out after {timeout_s:.0f} s waiting for phase {name}")
            time.sleep(0.005)

    def _errors(self, sim: _Sim) -> str:
        try:
            _, err = sim.process.communicate(timeout=5)
        except (subprocess.TimeoutExpired, ValueError):
            err = ""
        return (err or "").strip()[-2000:]

    def connect(self) -> float:
        """Every process starts its handshakes now; seconds until the last is welcomed."""
        began = time.perf_counter()
        for sim in self.sims:
            sim.tell()
        return self._wait("connected", START_TIMEOUT_S) - began

    def measure(self, on_window: Any = None) -> dict[str, Any]:
        """Warm-up and window in every process at once; `on_window(start|end)` is called
        as the first process opens its window and as the last closes it."""
        for sim in self.sims:
            sim.tell()
        self._wait("window-start", self.warmup_s + 60)
        if on_window is not None:
            on_window("start")
        self._wait("window-end", self.window_s + 60)
        if on_window is not None:
            on_window("end")
        for sim in self.sims:
            try:
                sim.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                sim.process.kill()
            if sim.reader is not None:
                sim.reader.join(timeout=10)
        missing = [sim for sim in self.sims if sim.result is None]
        if missing:
            raise BenchError(
                f"a simulated-client process gave no result: {self._errors(missing[0])}"
            )
        return merge([sim.result for sim in self.sims if sim.result is not None])

    def stop(self) -> None:
        for sim in self.sims:
            shutil.rmtree(sim.result_file.parent, ignore_errors=True)
            if sim.process.poll() is None:
                sim.process.kill()
                sim.process.wait()
            for stream in (sim.process.stdin, sim.process.stdout, sim.process.stderr):
                if stream is not None:
                    with contextlib.suppress(OSError):
                        stream.close()
        self.sims.clear()

    def __enter__(self) -> Fleet:
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()


def merge(results: list[dict[str, Any]]) -> dict[str, Any]:
    """One result from the processes': counts summed, the rate over the mean window,
    latency percentiles over every sample of every process."""
    window_s = sum(result["window_s"] for result in results) / len(results)
    latencies_s = [value / 1000 for result in results for value in result["latencies_ms"]]
    acked = sum(result["acked"] for result in results)
    return {
        "processes": len(results),
        "clients": sum(result["clients"] for result in results),
        "closed_early": sum(result["closed_early"] for result in results),
        "handshake_s_per_process": [result["handshake_s"] for result in results],
        "window_s": round(window_s, 4),
        "acked": acked,
        "results": sum(result["results"] for result in results),
        "failed": sum(result.get("failed", 0) for result in results),
        "assigns": sum(result["assigns"] for result in results),
        "chunks_per_s": acked / window_s if window_s else 0.0,
        "latency": summarize(latencies_s),
        "sim_cpu_s": round(sum(result["sim_cpu_s"] for result in results), 3),
        "heartbeat_s": results[0].get("heartbeat_s"),
    }


def rss_bytes(pid: int) -> int:
    """A process's resident set now (VmRSS), 0 when it is gone."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return 0
    return 0


class RssSampler:
    """The highest VmRSS of one process, sampled every `every_s` in a thread."""

    def __init__(self, pid: int, every_s: float = 0.2) -> None:
        self.pid = pid
        self.every_s = every_s
        self.peak = 0
        self.samples: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.every_s):
            value = rss_bytes(self.pid)
            self.samples.append(value)
            self.peak = max(self.peak, value)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
