"""`corral demo`: a dispatcher and a render node as child processes, one demo job, watched.

The children are this same `corral` program (`python -m console.cli`), each in
its own session so that the demo, not the terminal's Ctrl-C, decides the order
they stop in: the render client first, then the dispatcher, SIGTERM and then
SIGKILL after `STOP_TIMEOUT_S`.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from console.formatting import chunk_counts, duration_text, host_port, log_tail
from console.http import ConsoleError, DispatcherClient
from console.watch_cli import failure_message, stdout_console, watch_job

START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0
POLL_S = 0.05
NODE_NAME = "demo-node"
LISTENING = re.compile(r"^listening render=(?P<host>\S+):(?P<port>\d+) http=(?P<url>\S+)$")


@dataclass
class Child:
    """A `corral` subprocess and the file its stderr goes to."""

    what: str
    process: subprocess.Popen[bytes]
    log: Path

    @classmethod
    def spawn(cls, what: str, args: list[str], *, stdout: Path, log: Path) -> Child:
        out = stdout.open("ab")
        err = out if log == stdout else log.open("ab")
        try:
            process = subprocess.Popen(
                [sys.executable, "-m", "console.cli", *args],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                start_new_session=True,
            )
        finally:
            out.close()
            err.close()
        return cls(what, process, log)

    def failed(self, reason: str) -> ConsoleError:
        """An error saying what went wrong; the log's tail is shown on stderr first."""
        try:
            tail = log_tail(self.log.read_text(errors="replace"), 20)
        except OSError:
            tail = ""
        if tail:
            click.echo(
                f"--- last lines of the {self.what}'s log ({self.log}) ---\n{tail}", err=True
            )
        return ConsoleError(f"the demo {self.what} {reason}")

    def check_alive(self) -> None:
        if self.process.poll() is not None:
            raise self.failed(f"exited with code {self.process.returncode}")

    def stop(self) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def wait_listening(child: Child, out: Path, timeout_s: float) -> tuple[str, int, str]:
    """The (render host, render port, http URL) the dispatcher announced on stdout."""
    deadline = time.monotonic() + timeout_s
    while True:
        with contextlib.suppress(OSError):
            for line in out.read_text(errors="replace").splitlines():
                found = LISTENING.match(line.strip())
                if found:
                    return found["host"].strip("[]"), int(found["port"]), found["url"]
        child.check_alive()
        if time.monotonic() > deadline:
            raise child.failed(f"did not start within {timeout_s:.0f} s")
        time.sleep(POLL_S)


def wait_file(child: Child, path: Path, timeout_s: float) -> str:
    """The stripped text of a file the dispatcher writes at start (token, secret)."""
    deadline = time.monotonic() + timeout_s
    while True:
        with contextlib.suppress(OSError):
            text = path.read_text().strip()
            if text:
                return text
        child.check_alive()
        if time.monotonic() > deadline:
            raise child.failed(f"wrote no {path.name} within {timeout_s:.0f} s")
        time.sleep(POLL_S)


def demo_job(output: Path, frames: int, packet: int) -> dict[str, Any]:
    return {
        "title": "Corral demo",
        "template": "demo",
        "start": 1,
        "end": frames,
        "by": 1,
        "batch": packet,
        "data": {"output_folder": str(output), "width": 160, "height": 90},
    }


def show_failed_chunk(client: DispatcherClient, job: dict[str, Any]) -> None:
    """Print the log tail of the job's first failed chunk on stderr."""
    with contextlib.suppress(ConsoleError):
        for task in client.tasks(int(job["id"])):
            if task.get("state") == "failed":
                text = log_tail(client.chunk_log(int(job["id"]), int(task["id"])), 30)
                click.echo(
                    f"--- chunk {task['id']} failed; its log ends with ---\n{text}", err=True
                )
                return


def run_demo(*, output: Path, frames: int, packet: int, instances: int, keep_data: bool) -> None:
    """Run the whole demo; raises ConsoleError when it fails (the job or a child).

    SIGTERM is turned into KeyboardInterrupt meanwhile, so that the children are
    stopped and the temporary data removed however the demo ends.
    """
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        _run(output=output, frames=frames, packet=packet, instances=instances, keep_data=keep_data)
    finally:
        signal.signal(signal.SIGTERM, previous)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _run(*, output: Path, frames: int, packet: int, instances: int, keep_data: bool) -> None:
    console = stdout_console()
    output = output.expanduser().resolve()
    output.mkdir(parents=True, exist_ok=True)
    root = Path(tempfile.mkdtemp(prefix="corral-demo-"))
    data_dir = root / "data"
    children: list[Child] = []
    try:
        dispatcher_out = root / "dispatcher.out"
        dispatcher = Child.spawn(
            "dispatcher",
            ["dispatcher", "--data-dir", str(data_dir), "--host", "127.0.0.1",
             "--port", "0", "--http-port", "0", "--compat-port", "0"],
            stdout=dispatcher_out,
            log=root / "dispatcher.log",
        )  # fmt: skip
        children.append(dispatcher)
        render_host, render_port, http_url = wait_listening(
            dispatcher, dispatcher_out, START_TIMEOUT_S
        )
        token = wait_file(dispatcher, data_dir / "admin.token", START_TIMEOUT_S)
        secret_file = data_dir / "farm.secret"
        wait_file(dispatcher, secret_file, START_TIMEOUT_S)
        client_log = root / "renderclient.log"
        children.append(
            Child.spawn(
                "render client",
                ["renderclient", "--dispatcher", host_port(render_host, render_port),
                 "--name", NODE_NAME, "--instances", str(instances),
                 "--secret-file", str(secret_file), "--state-dir", str(root / "renderclient")],
                stdout=client_log,
                log=client_log,
            )
        )  # fmt: skip
        client = DispatcherClient(http_url, token)
        started = time.monotonic()
        job = client.submit(demo_job(output, frames, packet))
        console.print(
            f"[bold]Corral demo[/]: dispatcher at {http_url}, render node {NODE_NAME} "
            f"with {instances} instances\n"
            f'submitted job {job["id"]} "Corral demo": {frames} frames in '
            f"{chunk_counts(job)['total']} chunks",
            soft_wrap=True,
        )

        def check() -> None:
            for child in children:
                child.check_alive()

        final = watch_job(client, int(job["id"]), check=check)
        wall_s = time.monotonic() - started
        if final.get("state") == "failed":
            show_failed_chunk(client, final)
            raise ConsoleError(failure_message(final))
        pngs = sum(1 for _ in output.rglob("*.png"))
        console.print(
            f"[green]done[/] in {duration_text(wall_s)}: {pngs} PNG files in {output}",
            soft_wrap=True,
        )
    finally:
        for child in reversed(children):
            child.stop()
        if keep_data:
            click.echo(f"demo data kept in {data_dir}; run it again with:")
            click.echo(f"  corral dispatcher --data-dir {data_dir}")
        else:
            shutil.rmtree(root, ignore_errors=True)
