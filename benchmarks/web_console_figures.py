"""The web console in Debian's chromium (driven by Playwright), against a real dispatcher:

- `web_jobs_first_table`: with 10,000 jobs queued, the time from the start of the page's
  load (a reload of the logged-in jobs page) to the frame that puts the first job rows in
  the table, and to the frame that has all 10,000 (the rest come in pages behind the
  first), and the longest main-thread task the page ran meanwhile;
- `web_jobs_live_updates`: the same page while simulated render clients finish about
  1,000 chunks a second across the queue (the events reach the page as the dispatcher's
  progress and job events): the longest main-thread task (PerformanceObserver
  `longtask`, which reports every task over 50 ms; none reported means none that long),
  how many long tasks there were, and the events a second the page received.

Run with `python -m benchmarks --only web_jobs_first_table,web_jobs_live_updates`; both
are "not measured" (saying why) where chromium or the playwright package is missing.
"""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING, Any

from benchmarks.cpu import CpuWindow
from benchmarks.farm import BenchError, Dispatcher, run_simclients
from benchmarks.runner import measure, not_measured

if TYPE_CHECKING:
    from benchmarks.dispatcher_figures import Context

CHROMIUM = os.environ.get("CORRAL_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
USER, PASSWORD = "bench-wrangler", "bench-wrangler-password"
VIEWPORT = {"width": 1920, "height": 1080}
RELOADS = 3  # page loads timed per run
CHUNKS_PER_JOB = 10
# Each simulated node finishes a chunk UPDATE_HOLD_S after it got it, then waits for the
# next: 400 nodes at 0.3 s make at most 1,333 a second, about 1,000 with the round trip.
UPDATE_CLIENTS = 400
UPDATE_HOLD_S = 0.3
UPDATE_WARMUP_S = 3.0
UPDATE_WINDOW_S = 10.0
TIMEOUT_MS = 120_000

# Installed before the page's scripts run: every long task the page has from its start.
OBSERVE = """
window.__longTasks = [];
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) window.__longTasks.push(entry.duration);
}).observe({ type: "longtask", buffered: true });
"""


def browser_missing() -> str | None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is missing (pip install -e '.[test]')"
    if not os.access(CHROMIUM, os.X_OK):
        return f"no chromium at {CHROMIUM} (apt-get install chromium)"
    return None


def _login(d: Dispatcher, page: Any) -> None:
    page.goto(d.url + "/")
    page.fill("#login-user", USER)
    page.fill("#login-password", PASSWORD)
    page.click("form.login button[type=submit]")
    page.wait_for_selector(".vt-row", timeout=TIMEOUT_MS)


def _with_page(d: Dispatcher, body: Any) -> Any:
    from playwright.sync_api import sync_playwright

    d.request("POST", "/api/v1/users/", {"name": USER, "password": PASSWORD,
                                         "permissions": ["administer"]})  # fmt: skip
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport=VIEWPORT)
            context.add_init_script(OBSERVE)
            page = context.new_page()
            _login(d, page)
            return body(page)
        finally:
            browser.close()


def _load_once(page: Any, jobs: int) -> dict[str, float]:
    page.reload()
    page.wait_for_function(
        "() => performance.getEntriesByName('table:jobs:loaded').length > 0",
        timeout=TIMEOUT_MS,
    )
    marks = page.evaluate(
        """() => ({
            first: performance.getEntriesByName('table:jobs:first-rows')[0].startTime,
            loaded: performance.getEntriesByName('table:jobs:loaded')[0].startTime,
            rows: document.querySelector('.vt').getAttribute('aria-rowcount'),
            longest: Math.max(0, ...window.__longTasks),
        })"""
    )
    if int(marks["rows"]) < jobs:
        raise BenchError(f"the table held {marks['rows']} rows, not {jobs}")
    return {"first_table_ms": marks["first"], "all_rows_ms": marks["loaded"],
            "longest_task_ms": marks["longest"]}  # fmt: skip


def first_table(ctx: Context) -> dict[str, Any]:
    why = browser_missing()
    if why:
        return not_measured(why, "ms")
    scale = ctx.scale
    jobs = scale.rest_jobs

    def run(index: int) -> tuple[dict[str, float], dict[str, Any], dict[str, float]]:
        data = ctx.data_dir(jobs, chunks_per_job=CHUNKS_PER_JOB)
        with Dispatcher(data, log_path=ctx.log_path()).start() as d:

            def body(page: Any) -> tuple[list[dict[str, float]], dict[str, float]]:
                window = CpuWindow.start([d.pid])
                loads = [_load_once(page, jobs) for _ in range(RELOADS)]
                window.stop()
                return loads, window.report()

            loads, cpu = _with_page(d, body)
        metrics = {name: min(load[name] for load in loads) for name in loads[0]}
        metrics["longest_task_ms"] = max(load["longest_task_ms"] for load in loads)
        return metrics, {"loads": loads}, cpu

    return measure(
        "web_jobs_first_table",
        run,
        runs=scale.runs,
        max_tries=scale.max_tries,
        unit="ms",
        what=f"the jobs page of the web console with {jobs:,} jobs queued, in headless "
        f"chromium ({VIEWPORT['width']}x{VIEWPORT['height']}): from the page load's start to "
        f"the frame with the first rows and to the frame with all of them (best of "
        f"{RELOADS} loads), and the longest main-thread task seen in any load",
        params={"jobs": jobs, "first_page": 200, "next_pages": 1000},
    )


def live_updates(ctx: Context) -> dict[str, Any]:
    why = browser_missing()
    if why:
        return not_measured(why, "ms")
    scale = ctx.scale
    jobs = scale.rest_jobs
    clients = min(UPDATE_CLIENTS, scale.clients)

    def run(index: int) -> tuple[dict[str, float], dict[str, Any], dict[str, float]]:
        data = ctx.data_dir(jobs, chunks_per_job=CHUNKS_PER_JOB)
        with Dispatcher(data, log_path=ctx.log_path()).start() as d:

            def body(page: Any) -> tuple[dict[str, Any], dict[str, Any], dict[str, float]]:
                page.wait_for_function(
                    "() => performance.getEntriesByName('table:jobs:loaded').length > 0",
                    timeout=TIMEOUT_MS,
                )  # all 10,000 rows in: only the updates' tasks are counted
                page.evaluate(
                    """async () => {
                        const events = await import('/console/js/events.js');
                        window.__events = 0; window.__batches = 0; window.__ended = new Map();
                        events.subscribe({}, (batch) => {
                            window.__events += batch.length; window.__batches += 1;
                            for (const e of batch) if (e.type === 'progress') {
                                const c = e.chunks; // the seeded jobs start with none ended
                                window.__ended.set(e.job, (c.done || 0) + (c.failed || 0) + (c.skipped || 0));
                            }
                        });
                    }"""
                )
                page.evaluate("window.__longTasks.length = 0")
                began = time.perf_counter()
                result, cpu = run_simclients(
                    d, clients=clients, warmup_s=UPDATE_WARMUP_S, window_s=UPDATE_WINDOW_S,
                    hold_s=UPDATE_HOLD_S, extra_pids=(),
                )  # fmt: skip
                elapsed_s = time.perf_counter() - began
                seen = page.evaluate(
                    """() => ({events: window.__events, batches: window.__batches,
                              ended: [...window.__ended.values()].reduce((a, b) => a + b, 0),
                              tasks: window.__longTasks.slice(),
                              rows: document.querySelectorAll('.vt-row').length})"""
                )
                return result, {**seen, "elapsed_s": elapsed_s}, cpu

            result, seen, cpu = _with_page(d, body)
        tasks = seen["tasks"]
        metrics = {
            "chunks_per_s": result["chunks_per_s"],
            "events_per_s": seen["events"] / seen["elapsed_s"],
            "chunk_results_shown_per_s": seen["ended"] / seen["elapsed_s"],
            "batches_per_s": seen["batches"] / seen["elapsed_s"],
            "longest_task_ms": max(tasks, default=0.0),
            "long_tasks": float(len(tasks)),
        }
        if result["chunks_per_s"] <= 0 or seen["events"] == 0:
            raise BenchError("no chunk finished or no event reached the page")
        return metrics, {"long_tasks_ms": tasks, "rows_in_dom": seen["rows"]}, cpu

    return measure(
        "web_jobs_live_updates",
        run,
        runs=scale.runs,
        max_tries=scale.max_tries,
        unit="ms",
        what=f"the jobs page with {jobs:,} jobs queued while {clients} simulated render "
        f"clients finish a chunk every {UPDATE_HOLD_S} s each (about "
        f"{clients / UPDATE_HOLD_S:,.0f} chunks a second) for {UPDATE_WARMUP_S + UPDATE_WINDOW_S:.0f} s: "
        "the longest main-thread task (longtask entries: tasks over 50 ms), their number, "
        "the chunks a second the dispatcher acknowledged, the events and batches a second the "
        "page got, and the chunk results a second the page showed (from the progress events)",
        params={"jobs": jobs, "clients": clients, "hold_s": UPDATE_HOLD_S},
    )


FIGURES = {
    "web_jobs_first_table": first_table,
    "web_jobs_live_updates": live_updates,
}

__all__ = ["FIGURES", "first_table", "live_updates"]
