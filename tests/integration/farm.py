"""A real farm for tests: the `corral dispatcher` and `corral renderclient` commands as
subprocesses on port 0 with a real SQLite file, and a small REST helper."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CORRAL = str(Path(sys.executable).parent / "corral")

FAST = [
    "--heartbeat-s", "0.2",
    "--node-lost-after-s", "3",
    "--reconnect-grace-s", "2",
]  # fmt: skip


class ApiError(Exception):
    def __init__(self, status: int, body: Any) -> None:
        super().__init__(f"HTTP {status}: {body}")
        self.status = status
        self.body = body


def wait_for(predicate: Callable[[], Any], timeout_s: float = 30.0, what: str = "condition") -> Any:
    """Poll until `predicate()` is truthy; fail the test with `what` after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(0.05)


def free_udp_port() -> int:
    """A UDP port free on 127.0.0.1 now (for a discovery address)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def stop_processes(processes: list[subprocess.Popen[str]]) -> None:
    """SIGTERM each process still running, then wait for all (SIGKILL after 10 s)."""
    for process in processes:
        if process.poll() is None:
            process.terminate()
    for process in processes:
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@dataclass
class Farm:
    """One dispatcher process and the render clients started against it."""

    data_dir: Path
    extra_args: list[str] = field(default_factory=list)
    process: subprocess.Popen[str] | None = None
    clients: list[subprocess.Popen[str]] = field(default_factory=list)
    url: str = ""
    render: str = ""
    token: str = ""
    submitted: int = 0

    # -- processes -----------------------------------------------------------
    def start(self) -> Farm:
        args = [CORRAL, "dispatcher", "--data-dir", str(self.data_dir), "--port", "0",
                "--http-port", "0", "--compat-port", "0", *FAST, *self.extra_args]  # fmt: skip
        log = (self.data_dir.parent / f"{self.data_dir.name}-dispatcher.log").open("a")
        self.process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=log, text=True)
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line.startswith("listening "):
            self.process.kill()
            raise AssertionError(f"dispatcher did not start: {line!r}; see {log.name}")
        fields = dict(part.split("=", 1) for part in line.split()[1:])
        self.render, self.url = fields["render"], fields["http"]
        self.token = (self.data_dir / "admin.token").read_text().strip()
        return self

    def stop(self, sig: int = signal.SIGTERM) -> int | None:
        """Stop the dispatcher with `sig` and return its exit code."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            code = self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = self.process.wait()
        self.process = None
        return code

    def client(
        self,
        name: str,
        *args: str,
        instances: int = 1,
        env: dict[str, str] | None = None,
        dispatcher: str | None = None,
    ) -> subprocess.Popen[str]:
        """Start `corral renderclient` against this farm (or `dispatcher`, HOST:PORT)."""
        host, port = (dispatcher or self.render).rsplit(":", 1)
        host = "127.0.0.1" if host in ("0.0.0.0", "") else host
        log = (self.data_dir.parent / f"client-{name}.log").open("a")
        process = subprocess.Popen(
            [CORRAL, "renderclient", "--dispatcher", f"{host}:{port}", "--name", name,
             "--secret-file", str(self.data_dir / "farm.secret"), "--instances", str(instances),
             "--state-dir", str(self.data_dir.parent / f"state-{name}"), *args],
            stdout=log, stderr=subprocess.STDOUT, text=True, env={**os.environ, **(env or {})},
        )  # fmt: skip
        self.clients.append(process)
        return process

    def close(self) -> None:
        stop_processes(self.clients)
        self.stop()

    # -- REST ----------------------------------------------------------------
    def request(self, method: str, path: str, body: Any = None, token: str | None = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method)
        request.add_header("Content-Type", "application/json")
        if token is None:
            token = self.token
        if token:
            request.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                text = response.read().decode()
                kind = response.headers.get("Content-Type", "")
        except urllib.error.HTTPError as exc:
            text = exc.read().decode()
            raise ApiError(exc.code, json.loads(text) if text.startswith("{") else text) from None
        if not text:
            return None
        return json.loads(text) if "json" in kind else text

    def submit(self, **job: Any) -> dict[str, Any]:
        # A live job's title is unique on POST /api/v1/jobs/ (PyFarm's rule).
        self.submitted += 1
        job.setdefault("title", f"test job {self.submitted}")
        if job.get("kind", "job") == "job" and job.get("template", "cmdline") == "cmdline":
            job.setdefault("command", ["true"])  # a cmdline job needs one
        result: dict[str, Any] = self.request("POST", "/api/v1/jobs/", job)
        return result

    def job(self, job_id: int) -> dict[str, Any]:
        result: dict[str, Any] = self.request("GET", f"/api/v1/jobs/{job_id}")
        return result

    def task(self, job_id: int, chunk: int) -> int:
        """The global task id of a job's chunk (0-based), from the job's `task_ids` runs."""
        found = -1
        for first, base in self.job(job_id)["task_ids"]:
            if first <= chunk:
                found = base + chunk - first
        return found

    def chunks(self, job_id: int) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.request("GET", f"/api/v1/jobs/{job_id}/tasks/")
        return result

    def nodes(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.request("GET", "/api/v1/nodes/")
        return result

    def wait_state(self, job_id: int, *states: str, timeout_s: float = 60.0) -> dict[str, Any]:
        return wait_for(
            lambda: (job := self.job(job_id))["state"] in states and job,
            timeout_s,
            f"job {job_id} to reach {'/'.join(states)}",
        )

    def wait_nodes(self, count: int, timeout_s: float = 30.0) -> list[dict[str, Any]]:
        return wait_for(
            lambda: len(online := [n for n in self.nodes() if n["online"]]) >= count and online,
            timeout_s,
            f"{count} online nodes",
        )


@contextlib.contextmanager
def watching(farm: Farm) -> Iterator[list[dict[str, Any]]]:
    """`corral watch --json` on `farm` through the block, connected before it begins; the
    list it gives holds the events it saw once the block is over."""
    events: list[dict[str, Any]] = []
    watch = subprocess.Popen(
        [CORRAL, "--dispatcher", farm.url, "--token", farm.token, "watch", "--json"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        time.sleep(1.0)  # the watch is connected before the job starts
        yield events
    finally:
        watch.terminate()
        out, _ = watch.communicate(timeout=10)
        events += [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def running_progress(events: list[dict[str, Any]], job_id: int) -> list[Any]:
    """The `running` field (chunk index to percent) of each progress event of `job_id`."""
    return [event.get("running") for event in events
            if event.get("type") == "progress" and event.get("job") == job_id]  # fmt: skip


def killed_during_submits(farm: Farm, *, threads: int, at_least: int, **job: Any) -> list[int]:
    """Submit jobs (`job` their fields) from `threads` threads until `at_least` are
    acknowledged, SIGKILL the dispatcher meanwhile: the ids acknowledged before it died."""
    acknowledged: list[int] = []
    stop = threading.Event()

    def submit_forever() -> None:
        n = 0
        while not stop.is_set():
            n += 1
            try:
                acknowledged.append(farm.submit(title=f"burst {n}", **job)["id"])
            except Exception:
                return

    submitters = [threading.Thread(target=submit_forever) for _ in range(threads)]
    for submitter in submitters:
        submitter.start()
    wait_for(lambda: len(acknowledged) >= at_least, 30, f"{at_least} acknowledged submits")
    farm.stop(signal.SIGKILL)
    stop.set()
    for submitter in submitters:
        submitter.join(timeout=30)
    return list(acknowledged)
