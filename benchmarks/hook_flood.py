"""A hook that floods the dispatcher with API calls and reads no reply.

    python -m benchmarks.hook_flood [--calls 3000] [--jobs 200] [--json]

Starts a real dispatcher (port 0, a temporary data directory), queues
`--jobs` paused jobs, then runs a dispatcher-context script that writes
`--calls` jobGetList calls straight onto its pipe from a thread and reads
none of the replies for 3 s, then reads them all. Meanwhile this process asks
`GET /api/v1/status` every 20 ms. Reported: the dispatcher's peak resident
memory growth (VmHWM), the slowest status answer (the loop's longest stall,
as a client sees it) and whether every reply arrived.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

from benchmarks.farm import Dispatcher

# Runs in the hook host. Replies are read only after a pause, so a dispatcher
# without flow control has to hold every reply at once.
FLOOD_SCRIPT = """
import json, threading, time
from hooks import wire
from hooks.api.link import current_link

link = current_link()
calls = {calls}
frames = b"".join(wire.encode(wire.ApiCall(1_000_000 + n, "jobGetList", [])) for n in range(calls))
sender = threading.Thread(target=link.sock.sendall, args=(frames,), daemon=True)
sender.start()
time.sleep({pause_s})
answered = 0
while answered < calls:
    message = link.receive()
    if isinstance(message, wire.ApiReply) and message.call >= 1_000_000:
        answered += 1
sender.join(30)
print(json.dumps({{"answered": answered, "sender_done": not sender.is_alive()}}))
"""


def flood_script(calls: int, pause_s: float = 3.0) -> str:
    return FLOOD_SCRIPT.format(calls=calls, pause_s=pause_s)


def peak_rss_bytes(pid: int) -> int:
    """The process's peak resident memory (VmHWM) from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM in /proc")


def _request(url: str, token: str, method: str, path: str, body: Any = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url + path, data=data, method=method)
    request.add_header("Authorization", f"Bearer {token}")
    request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=300) as response:
        return json.loads(response.read() or b"null")


class StatusProbe:
    """Asks GET /api/v1/status in a loop from a thread; keeps the slowest answer."""

    def __init__(self, url: str, token: str, every_s: float = 0.02) -> None:
        self.url, self.token, self.every_s = url, token, every_s
        self.slowest_s = 0.0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            began = time.perf_counter()
            _request(self.url, self.token, "GET", "/api/v1/status")
            self.slowest_s = max(self.slowest_s, time.perf_counter() - began)
            self.samples += 1
            self._stop.wait(self.every_s)

    def __enter__(self) -> StatusProbe:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(60)


def measure(calls: int, jobs: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="corral-hook-flood-") as folder:
        root = Path(folder)
        with Dispatcher(root / "data", extra_args=("--hook-timeout-s", "120")).start() as d:
            batch = [
                {"title": f"shot {n}", "paused": True, "command": ["true"]} for n in range(jobs)
            ]
            d.request("POST", "/api/v1/jobs/", batch, timeout_s=300)
            d.request(
                "POST", "/api/v1/scripts/run", {"name": "warm.py", "code": "pass"}, timeout_s=300
            )
            before = peak_rss_bytes(d.pid)
            began = time.perf_counter()
            with StatusProbe(d.url, d.token) as probe:
                result = d.request("POST", "/api/v1/scripts/run",
                                   {"name": "flood.py", "code": flood_script(calls)}, timeout_s=300)  # fmt: skip
            took = time.perf_counter() - began
            after = peak_rss_bytes(d.pid)
    lines = result["output"].strip().splitlines()
    outcome = json.loads(lines[-1]) if result["ok"] and lines else {"error": result["error"]}
    return {
        "calls": calls,
        "jobs": jobs,
        "peak_rss_growth_mb": round((after - before) / 2**20, 1),
        "slowest_status_s": round(probe.slowest_s, 3),
        "status_samples": probe.samples,
        "took_s": round(took, 2),
        **outcome,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.hook_flood", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    options = parser.parse_args(argv)
    result = measure(options.calls, options.jobs)
    if options.json:
        print(json.dumps(result, indent=2))
    else:
        for key, value in result.items():
            print(f"{key:>20}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
