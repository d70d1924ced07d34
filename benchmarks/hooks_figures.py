"""Hook cost: one hook call's round trip through the real hook host, and chunks/s with a
chunk-path hook installed. Measured only where the hook interpreter exists; otherwise
the figures say why they were not measured (never a made-up number)."""

from __future__ import annotations

import importlib.util
import statistics
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchmarks import probes
from benchmarks.cpu import CpuWindow
from benchmarks.runner import measure, median, not_measured

if TYPE_CHECKING:
    from benchmarks.dispatcher_figures import Context

CHUNK_HOOK = "onValidateChunkDependancies"
HOOK_TEMPLATE = """
import shlex

import MTemplateAPI


class BenchHookTemplate(MTemplateAPI.MTemplate):
    def __init__(self):
        MTemplateAPI.MTemplate.__init__(self)
        self.setID(9901)
        self.setKey("benchhook")
        self.setName("Benchmark: a chunk-path hook that lets every chunk run")
        for platform in self.platforms():
            platform.setPlatformEnabled(1)

    def onBuildCommandLine(self, platform, job, chunk, clientTemplatePreferences, instanceNum):
        return shlex.join(job.getCommand())

    def onValidateChunkDependancies(self, job, chunk):
        return MTemplateAPI.MTemplateError()


MTemplateAPI.MManager.getUniqueClass().installPyTemplate(BenchHookTemplate())
"""


HOOK_JOBS = (150, 10)  # (headline and full, smoke)
HOOK_CHUNKS_PER_JOB = (2_000, 2_000)


def _interpreter_absent() -> str | None:
    for module in ("hooks.host", "hooks.supervisor", "hooks.wire"):
        if importlib.util.find_spec(module) is None:
            return "hook interpreter absent"
    return None


def _hook_method() -> str | None:
    """The chunk-path hook where the template API has it, else None."""
    from hooks.api.template import MTemplate

    return CHUNK_HOOK if hasattr(MTemplate, CHUNK_HOOK) else None


def _dispatcher_calls(method: str) -> bool:
    """Whether the dispatcher's code calls this hook at all."""
    root = Path(__file__).resolve().parent.parent
    return any(
        method in path.read_text()
        for folder in ("dispatcher", "hooks")
        for path in (root / folder).glob("*.py")
    )


async def _round_trips(templates: Path, calls: int) -> list[float]:
    from dispatcher import jobspec
    from dispatcher.views import chunk_view, job_view
    from hooks import wire
    from hooks.supervisor import HookHost

    async def refuse(call: Any) -> Any:
        raise RuntimeError("the benchmark hook makes no API calls")

    host = HookHost(
        refuse,
        templates_dirs=lambda: [templates],
        timeout_s=10.0,
        memory_limit_mb=0,
    )
    spec = jobspec.parse_spec({"title": "hook bench", "frames": "1-10", "template": "benchhook"})
    job = jobspec.build_job(spec, 1, 1, "admin")
    call = wire.HookCall(
        template="benchhook",
        method=CHUNK_HOOK,
        job=job_view(job),
        chunk=chunk_view(job, 0, {}),
    )
    await host.start()
    try:
        first = await host.invoke([call])  # starts the host process
        if not first[0].ok:
            raise RuntimeError(f"the hook call failed: {first[0].error or first[0].description}")
        times = []
        for _ in range(calls):
            began = time.perf_counter()
            await host.invoke([call])
            times.append(time.perf_counter() - began)
        return times
    finally:
        await host.close()


def _templates_dir(ctx: Context) -> Path:
    templates = ctx.scratch / "hook-templates"
    templates.mkdir(exist_ok=True)
    (templates / "benchhook.py").write_text(HOOK_TEMPLATE)
    return templates


def hook_call(ctx: Context) -> dict[str, Any]:
    scale = ctx.scale
    templates = _templates_dir(ctx)

    def run(index: int) -> tuple[dict[str, float], dict[str, Any], dict[str, float]]:
        window = CpuWindow.start()
        times = probes.run_loop(_round_trips(templates, scale.hook_calls))
        window.stop()
        ordered = sorted(times)
        metrics = {
            "median_us": statistics.median(ordered) * 1e6,
            "p99_us": ordered[int(0.99 * (len(ordered) - 1))] * 1e6,
        }
        return metrics, {"calls": len(times)}, window.report()

    return measure(
        "hook_call",
        run,
        runs=scale.runs,
        max_tries=scale.max_tries,
        unit="us",
        what=f"round trip of one {CHUNK_HOOK} call through the hook host (dispatcher loop "
        "to host process and back), one call per batch",
        params={"calls_per_run": scale.hook_calls, "method": CHUNK_HOOK},
    )


def hook_chunks(ctx: Context, without: dict[str, Any]) -> dict[str, Any]:
    """No-op chunks/s as noop_ahead0, every job's template overriding the chunk-path hook."""
    from benchmarks import dispatcher_figures

    templates = _templates_dir(ctx)
    figure = dispatcher_figures.noop(
        ctx,
        ahead=0,
        loop="uvloop",
        name="hook_chunks",
        template="benchhook",
        extra_args=("--templates-dir", str(templates)),
        warmup_s=ctx.scale.warmup_s + 1.0,  # the hook host starts with the first ask
        # Few long jobs (150 of 2,000 chunks), as since the figure's first run, so that
        # results stay comparable; tests/integration/test_hook_scale.py covers many jobs.
        jobs=HOOK_JOBS[ctx.scale.name == "smoke"],
        chunks_per_job=HOOK_CHUNKS_PER_JOB[ctx.scale.name == "smoke"],
    )
    figure["what"] = (
        f"no-op chunks/s as noop_ahead0, with an {CHUNK_HOOK} hook (lets every chunk run) "
        "installed on every job's template"
    )
    with_hook = median(figure, "chunks_per_s")
    plain = median(without, "chunks_per_s")
    if with_hook is not None and plain:
        figure["vs_without_hook"] = round(with_hook / plain, 4)
    return figure


def measure_hooks(ctx: Context, without: dict[str, Any]) -> dict[str, dict[str, Any]]:
    absent = _interpreter_absent()
    if absent is not None:
        return {
            "hook_call": not_measured(absent, "us"),
            "hook_chunks": not_measured(absent, "chunks/s"),
        }
    figures: dict[str, dict[str, Any]] = {}
    if _hook_method() is None:
        reason = f"the template API has no {CHUNK_HOOK} hook yet"
        figures["hook_call"] = not_measured(reason, "us")
    else:
        try:
            figures["hook_call"] = hook_call(ctx)
        except Exception as exc:  # the interpreter is young: report, never invent
            figures["hook_call"] = not_measured(f"the hook host failed: {exc!r}", "us")
    if not _dispatcher_calls(CHUNK_HOOK):
        figures["hook_chunks"] = not_measured(
            f"the dispatcher does not call {CHUNK_HOOK} yet", "chunks/s"
        )
    else:
        figures["hook_chunks"] = hook_chunks(ctx, without)
    return figures
