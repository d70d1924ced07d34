"""/bin/true chunks/s with real render clients, and the CPU each side spends per chunk.

`python -m benchmarks.scaleprobes.realclients [--clients 10] [--ahead 0] [--window-s 5]
[--profile FILE] [--base DIR]`

CPU per chunk is read from /proc (the processes' own time plus their reaped
children's): the dispatcher's, and the render clients' with their reapers and
commands (a client's kept reaper counted with the commands it reaped). `--profile FILE` runs the first render client under cProfile; `--base DIR`
runs the render clients from another source tree (an A/B in one sitting).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks import cpu
from benchmarks.farm import HOST, Dispatcher, corral_command, wait_for
from benchmarks.scaleprobes.trees import probe_parser, tree_env
from benchmarks.seed import seed_queue


def _start_clients(
    d: Dispatcher, count: int, scratch: Path, profile: str, base: str
) -> list[subprocess.Popen[bytes]]:
    clients = []
    for index in range(count):
        name = f"probe-rc{index:02d}"
        env = dict(os.environ)
        env.pop("CORRAL_PROFILE", None)
        env.update(tree_env(base, profile if index == 0 else ""))
        args = [
            corral_command(), "renderclient", "--dispatcher", f"{HOST}:{d.render_port}",
            "--name", name, "--secret-file", str(d.secret_file),
            "--state-dir", str(scratch / f"state-{name}"), "--log-level", "warning",
        ]  # fmt: skip
        log = (scratch / f"{name}.log").open("a")
        clients.append(subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=env))
    return clients


def _own_ticks(pid: int) -> int:
    """utime + stime of one process, without its reaped children."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    return int(fields[11]) + int(fields[12])


def _kept_reapers(clients: list[subprocess.Popen[bytes]]) -> dict[int, int]:
    """Each client's kept reaper (it starts their commands and reaps them): client pid to
    reaper pid, for those that have one."""
    found = {}
    for client in clients:
        for child in cpu.descendants([client.pid]):
            try:
                argv = Path(f"/proc/{child}/cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if b"--serve" in argv:
                found[client.pid] = child
    return found


def _py_spy(path: str, pid: int, seconds: float) -> subprocess.Popen[bytes] | None:
    if not path:
        return None
    tool = str(Path(sys.executable).parent / "py-spy")
    return subprocess.Popen(
        [tool, "record", "--pid", str(pid), "--duration", str(int(seconds)), "--rate", "500",
         "--format", "raw", "--output", path, "--nonblocking"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


def main() -> None:
    parser = probe_parser()
    parser.add_argument("--clients", type=int, default=10)
    parser.add_argument("--ahead", type=int, default=0)
    parser.add_argument("--window-s", type=float, default=5.0)
    parser.add_argument("--warmup-s", type=float, default=2.0)
    parser.add_argument("--profile", default="")
    parser.add_argument("--py-spy", default="", help="collapsed stacks of client 0 to this file")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="probe-rc-") as scratch_dir:
        scratch = Path(scratch_dir)
        data = seed_queue(scratch / "data", jobs=10, chunks_per_job=10_000)
        with Dispatcher(data, assign_ahead=args.ahead).start() as d:
            clients = _start_clients(d, args.clients, scratch, args.profile, args.base)
            try:
                wait_for(lambda: d.status()["nodes_online"] >= args.clients, 60, "clients online")
                time.sleep(args.warmup_s)
                before = d.status()["results"]
                d_ticks = cpu.process_ticks(d.pid)
                kept = _kept_reapers(clients)
                c_ticks = sum(cpu.process_ticks(pid) for pid in kept.values())
                c_ticks += sum(cpu.process_ticks(c.pid) for c in clients)
                c_own = sum(_own_ticks(c.pid) for c in clients)
                window = cpu.CpuWindow.start([d.pid, *(c.pid for c in clients)])
                spy = _py_spy(args.py_spy, clients[0].pid, args.window_s)
                time.sleep(args.window_s)
                if spy is not None:
                    spy.wait(timeout=60)
                after = d.status()["results"]
                window.stop()
                d_ticks = cpu.process_ticks(d.pid) - d_ticks
                c_ticks = sum(cpu.process_ticks(c.pid) for c in clients) - c_ticks
                c_ticks += sum(
                    cpu.process_ticks(pid)
                    for client, pid in _kept_reapers(clients).items()
                    if kept.get(client) == pid
                )
                c_own = sum(_own_ticks(c.pid) for c in clients) - c_own
            finally:
                for client in clients:
                    client.terminate()
                for client in clients:
                    try:
                        client.wait(timeout=20)
                    except subprocess.TimeoutExpired:
                        client.kill()
                        client.wait()
                if args.profile:
                    print((scratch / "probe-rc00.log").read_text()[-2000:], file=sys.stderr)
    chunks = max(1, after - before)
    per_chunk_us = 1e6 / cpu.TICKS_PER_S / chunks
    print(json.dumps({
        "chunks_per_s": round(chunks / window.elapsed_s, 1),
        "dispatcher_cpu_us_per_chunk": round(d_ticks * per_chunk_us),
        "clients_cpu_us_per_chunk": round(c_ticks * per_chunk_us),
        "clients_own_cpu_us_per_chunk": round(c_own * per_chunk_us),
        "cpu": window.report(),
    }))  # fmt: skip


if __name__ == "__main__":
    main()
