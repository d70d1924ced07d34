"""Spawn rates of `/bin/true` under the render reaper, several ways, in one run.

`python -m benchmarks.scaleprobes.spawn [--seconds 2] [--parallel 2] [--rounds 3]`
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import time

from renderclient import processes, reaper

TRUE = "/bin/true"


def _child() -> None:
    processes.die_with_parent()


async def _loop_rate(parallel: int, seconds: float, preexec: bool) -> float:
    count = 0
    deadline = time.perf_counter() + seconds
    argv = reaper.wrap([TRUE])

    async def worker() -> None:
        nonlocal count
        while time.perf_counter() < deadline:
            process = await asyncio.create_subprocess_exec(
                *argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                start_new_session=True, preexec_fn=_child if preexec else None,
            )  # fmt: skip
            await process.wait()
            count += 1

    began = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(parallel)))
    return count / (time.perf_counter() - began)


async def _pidfd_rate(parallel: int, seconds: float) -> float:
    """os.posix_spawn, then wait on a pidfd readable in the loop."""
    loop = asyncio.get_running_loop()
    count = 0
    deadline = time.perf_counter() + seconds
    argv = reaper.wrap([TRUE])
    devnull = os.open(os.devnull, os.O_RDWR)

    async def worker() -> None:
        nonlocal count
        while time.perf_counter() < deadline:
            pid = os.posix_spawn(argv[0], argv, os.environ, setsid=True,
                                 file_actions=[(os.POSIX_SPAWN_DUP2, devnull, 0),
                                               (os.POSIX_SPAWN_DUP2, devnull, 1)])  # fmt: skip
            fd = os.pidfd_open(pid)
            exited = loop.create_future()
            loop.add_reader(fd, lambda f=exited: f.done() or f.set_result(None))
            await exited
            loop.remove_reader(fd)
            os.close(fd)
            os.waitpid(pid, 0)
            count += 1

    began = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(parallel)))
    os.close(devnull)
    return count / (time.perf_counter() - began)


async def _runner_rate(parallel: int, seconds: float, fast: bool) -> float:
    """The render client's own ProcessRunner, its fast start allowed or not."""
    from renderclient import runner, spawn

    allowed = spawn.fast_spawn_usable
    if not fast:
        spawn.fast_spawn_usable = lambda **_: False  # type: ignore[assignment]
    count = 0
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal count
        while time.perf_counter() < deadline:
            outcome = await runner.ProcessRunner([[TRUE]], on_output=lambda _: None).run()
            assert outcome.exit_code == 0, outcome
            count += 1

    began = time.perf_counter()
    try:
        await asyncio.gather(*(worker() for _ in range(parallel)))
    finally:
        spawn.fast_spawn_usable = allowed
    return count / (time.perf_counter() - began)


def main() -> None:
    import uvloop

    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--parallel", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    cases = {
        "runner_uvloop_before": lambda: uvloop.run(
            _runner_rate(args.parallel, args.seconds, False)
        ),
        "runner_uvloop_after": lambda: uvloop.run(_runner_rate(args.parallel, args.seconds, True)),
        "uvloop_preexec": lambda: uvloop.run(_loop_rate(args.parallel, args.seconds, True)),
        "uvloop_plain": lambda: uvloop.run(_loop_rate(args.parallel, args.seconds, False)),
        "asyncio_preexec": lambda: asyncio.run(_loop_rate(args.parallel, args.seconds, True)),
        "asyncio_plain": lambda: asyncio.run(_loop_rate(args.parallel, args.seconds, False)),
        "uvloop_posix_spawn_pidfd": lambda: uvloop.run(_pidfd_rate(args.parallel, args.seconds)),
        "asyncio_posix_spawn_pidfd": lambda: asyncio.run(_pidfd_rate(args.parallel, args.seconds)),
    }
    found: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(args.rounds):
        for name, case in cases.items():
            found[name].append(round(case(), 1))
    print(json.dumps({"reaper": reaper.wrap([TRUE])[0], **found}, indent=1))


if __name__ == "__main__":
    main()
