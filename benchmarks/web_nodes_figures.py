"""The web console's nodes page in Debian's chromium (driven by Playwright), against a real
dispatcher with a thousand simulated render clients speaking the real protocol:

- `web_nodes_table`: the time from opening the nodes page to the frame that shows every
  node, and, while every node runs chunks (each one `HOLD_S` long, so the nodes turn busy
  and idle and the page follows them), the longest main-thread task (PerformanceObserver
  `longtask`, which reports every task over 50 ms; none reported means none that long),
  their number, and how long the page's last full listing of the nodes took.

Run with `python -m benchmarks --only web_nodes_table`; "not measured" (saying why) where
chromium or the playwright package is missing.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any

from benchmarks.farm import BenchError, Dispatcher, run_simclients
from benchmarks.runner import measure, not_measured
from benchmarks.web_console_figures import CHROMIUM, CHROMIUM_ARGS, OBSERVE, browser_missing

if TYPE_CHECKING:
    from benchmarks.dispatcher_figures import Context

USER, PASSWORD = "bench-nodes", "bench-nodes-password"
VIEWPORT = {"width": 1920, "height": 1080}
NODES = 1000
HOLD_S = 2.0  # each chunk: about NODES / HOLD_S chunks a second start and end
JOBS = 200
CHUNKS_PER_JOB = 100
WARMUP_S = 5.0
WINDOW_S = 10.0
TIMEOUT_MS = 120_000


def _measure_page(d: Dispatcher, nodes: int, sims: threading.Thread) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport=VIEWPORT)
            context.add_init_script(OBSERVE)
            page = context.new_page()
            page.goto(d.url + "/")
            page.fill("#login-user", USER)
            page.fill("#login-password", PASSWORD)
            page.click("form.login button[type=submit]")
            page.wait_for_selector("header.topbar .who", timeout=TIMEOUT_MS)
            deadline = time.monotonic() + TIMEOUT_MS / 1000
            while d.request("GET", "/api/v1/status")["nodes_online"] < nodes:
                if time.monotonic() > deadline or not sims.is_alive():
                    raise BenchError(f"the {nodes} simulated nodes did not all connect")
                time.sleep(0.2)
            page.evaluate("window.__longTasks.length = 0")
            began = page.evaluate("performance.now()")
            page.evaluate("location.hash = '#/nodes'")
            page.locator(".farm-node-count", has_text=f"{nodes} nodes").wait_for(
                timeout=TIMEOUT_MS
            )
            shown_ms = page.evaluate("performance.now()") - began
            first = page.evaluate("window.__longTasks.splice(0)")
            sims.join(timeout=WARMUP_S + WINDOW_S + 60)  # the page follows the farm meanwhile
            live = page.evaluate("window.__longTasks.slice()")
            listed = page.get_attribute(".farm-node-count", "title") or ""
            rows = page.locator(".vt-row").count()
        finally:
            browser.close()
    return {"shown_ms": shown_ms, "first": first, "live": live, "listed": listed, "rows": rows}


def nodes_table(ctx: Context) -> dict[str, Any]:
    why = browser_missing()
    if why:
        return not_measured(why, "ms")
    scale = ctx.scale
    nodes = min(NODES, scale.clients)

    def run(index: int) -> tuple[dict[str, float], dict[str, Any], dict[str, float]]:
        data = ctx.data_dir(JOBS, chunks_per_job=CHUNKS_PER_JOB)
        with Dispatcher(data, log_path=ctx.log_path()).start() as d:
            d.request("POST", "/api/v1/users/", {"name": USER, "password": PASSWORD,
                                                 "permissions": ["administer"]})  # fmt: skip
            outcome: dict[str, Any] = {}

            def simulate() -> None:
                try:
                    outcome["result"], outcome["cpu"] = run_simclients(
                        d, clients=nodes, warmup_s=WARMUP_S, window_s=WINDOW_S, hold_s=HOLD_S
                    )
                except BaseException as exc:  # handed to the waiting thread below
                    outcome["error"] = exc

            sims = threading.Thread(target=simulate, name="simclients")
            sims.start()
            try:
                seen = _measure_page(d, nodes, sims)
            finally:
                sims.join(timeout=WARMUP_S + WINDOW_S + 120)
        if "error" in outcome:
            raise BenchError(f"the simulated clients failed: {outcome['error']!r}")
        result, cpu = outcome["result"], outcome["cpu"]
        if result["chunks_per_s"] <= 0:
            raise BenchError("no chunk finished while the page was open")
        tasks = seen["first"] + seen["live"]
        listed = seen["listed"].removeprefix("listed in ").removesuffix(" ms")
        metrics = {
            "table_shown_ms": seen["shown_ms"],
            "longest_task_ms": max(tasks, default=0.0),
            "long_tasks": float(len(tasks)),
            "chunks_per_s": result["chunks_per_s"],
            "listing_ms": float(listed) if listed.isdigit() else 0.0,
        }
        return metrics, {"long_tasks_ms": tasks, "rows_in_dom": seen["rows"]}, cpu

    return measure(
        "web_nodes_table",
        run,
        runs=scale.runs,
        max_tries=scale.max_tries,
        unit="ms",
        what=f"the nodes page of the web console with {nodes:,} simulated render clients, in "
        f"headless chromium ({VIEWPORT['width']}x{VIEWPORT['height']}): from opening the page "
        f"to the frame with every node, then while every node runs chunks of {HOLD_S} s for "
        f"{WARMUP_S + WINDOW_S:.0f} s, the longest main-thread task (longtask entries: tasks "
        "over 50 ms), their number, and the page's last full listing of the nodes",
        params={"nodes": nodes, "hold_s": HOLD_S, "jobs": JOBS, "chunks_per_job": CHUNKS_PER_JOB},
    )


FIGURES = {"web_nodes_table": nodes_table}

__all__ = ["FIGURES", "nodes_table"]
