"""The machine's raw process-start rate, three ways, `/bin/true` run directly (no reaper):
the stdlib asyncio loop's subprocesses, uvloop's, and `os.posix_spawn` with `waitpid`
in threads. The fastest of the three is what real render clients are measured against."""

from __future__ import annotations

import asyncio
import os
import subprocess
import threading
import time

TRUE = "/bin/true"


async def _loop_spawns(parallel: int, duration_s: float) -> float:
    count = 0
    deadline = time.perf_counter() + duration_s

    async def worker() -> None:
        nonlocal count
        while time.perf_counter() < deadline:
            process = await asyncio.create_subprocess_exec(
                TRUE, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL
            )
            await process.wait()
            count += 1

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(parallel)))
    return count / (time.perf_counter() - started)


def stdlib_spawns(parallel: int, duration_s: float) -> float:
    """/bin/true started and reaped per second through the stdlib loop."""
    return float(asyncio.run(_loop_spawns(parallel, duration_s)))


def uvloop_spawns(parallel: int, duration_s: float) -> float | None:
    """The same through uvloop; None where it is not installed."""
    try:
        import uvloop
    except ImportError:
        return None
    return float(uvloop.run(_loop_spawns(parallel, duration_s)))


def posix_spawns(parallel: int, duration_s: float) -> float:
    """The same with os.posix_spawn and a blocking waitpid, one thread per slot."""
    counts = [0] * parallel
    deadline = time.perf_counter() + duration_s
    devnull = os.open(os.devnull, os.O_RDWR)
    actions = [(os.POSIX_SPAWN_DUP2, devnull, 0), (os.POSIX_SPAWN_DUP2, devnull, 1)]

    def worker(slot: int) -> None:
        while time.perf_counter() < deadline:
            pid = os.posix_spawn(TRUE, [TRUE], os.environ, file_actions=actions)
            os.waitpid(pid, 0)
            counts[slot] += 1

    started = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(slot,)) for slot in range(parallel)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    os.close(devnull)
    return sum(counts) / (time.perf_counter() - started)


def all_rates(parallel: int, duration_s: float) -> dict[str, float]:
    """Each way's rate and `fastest`, the best of them."""
    rates = {
        "stdlib_per_s": stdlib_spawns(parallel, duration_s),
        "posix_spawn_per_s": posix_spawns(parallel, duration_s),
    }
    uv = uvloop_spawns(parallel, duration_s)
    if uv is not None:
        rates["uvloop_per_s"] = uv
    rates["fastest_per_s"] = max(rates.values())
    return rates
