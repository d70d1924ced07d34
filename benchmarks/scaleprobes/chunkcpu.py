"""CPU per /bin/true chunk in one render client's ChunkRun, without a dispatcher.

`python -m benchmarks.scaleprobes.chunkcpu [--chunks 500] [--base DIR] [--rounds 3]`

Runs the bundled `cmdline` template's chunks one after another on uvloop, as a
render client does, and reports the process's own CPU per chunk and its reaped
children's (the reaper and /bin/true; a kept reaper is closed and reaped at the end). `--base DIR` measures another source tree
too, alternating with this one (an A/B in one sitting).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import time

from benchmarks.scaleprobes.trees import probe_parser, tree_env, trees


async def _chunks(count: int) -> None:
    from dispatcher.protocol import Assign, Ref
    from hooks.runtime import TemplateSet, bundled_templates_dir
    from renderclient.runner import ChunkRun

    templates = TemplateSet.load([bundled_templates_dir()])
    job = {"id": 5, "template": "cmdline", "command": ["/bin/true"], "start": 1, "end": 1000}
    env = dict(os.environ)
    for chunk in range(count):
        assign = Assign(ref=Ref(job=5, chunk=chunk, attempt=1), job=job, start="1", end="1")
        result = await ChunkRun(
            assign, templates, instance=0, on_output=lambda _: None, env=env
        ).run()
        assert result.ok, result
    try:
        from renderclient import launcher
    except ImportError:  # a tree from before the kept reaper
        return
    kept = launcher.for_loop()
    if kept is not None:
        pid = kept.reaper_pid
        kept.close()  # once reaped, its CPU and its commands' count among the children's
        while pid:  # reaped by the launcher's timer, or here
            try:
                if os.waitpid(pid, os.WNOHANG)[0]:
                    break
            except ChildProcessError:
                break
            await asyncio.sleep(0.01)


def _measure(count: int) -> dict[str, float]:
    import uvloop

    uvloop.run(_chunks(20))  # warm up: imports, the compiled reaper
    own, children = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    began = time.perf_counter()
    uvloop.run(_chunks(count))
    elapsed = time.perf_counter() - began
    own2, children2 = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )

    def cpu(before: resource.struct_rusage, after: resource.struct_rusage) -> float:
        used = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
        return round(used / count * 1e6)

    return {
        "chunks_per_s": round(count / elapsed, 1),
        "own_cpu_us_per_chunk": cpu(own, own2),
        "children_cpu_us_per_chunk": cpu(children, children2),
    }


def main() -> None:
    parser = probe_parser()
    parser.add_argument("--chunks", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(_measure(args.chunks)))
        return
    runs = trees(args.base)[::-1]  # the base first
    found: dict[str, list[dict[str, float]]] = {name: [] for name, _ in runs}
    for _ in range(args.rounds):
        for name, tree in runs:
            env = {**os.environ, **tree_env(tree)}
            command = [sys.executable, "-m", "benchmarks.scaleprobes.chunkcpu", "--child"]
            output = subprocess.run(
                [*command, "--chunks", str(args.chunks)],
                env=env,
                cwd=tree,  # `-m` puts the folder it runs in first on sys.path
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            found[name].append(json.loads(output))
    print(json.dumps({"load_1m": os.getloadavg()[0], **found}, indent=1))


if __name__ == "__main__":
    main()
