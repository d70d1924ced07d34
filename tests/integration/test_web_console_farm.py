"""The web console's farm pages (nodes, node detail, overview, pools, repositories) in a
real chromium against a real dispatcher with real render clients."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.browser import *  # noqa: F403  (the fixtures)
from tests.integration.browser import (
    ADMIN,
    ADMIN_PASSWORD,
    VIEWER,
    VIEWER_PASSWORD,
    add_users,
    browser_missing,
    login,
    screenshot_path,
)
from tests.integration.farm import ApiError, Farm, stop_processes, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
HOSTILE = "<img src=x onerror=window.__xss=1>"
HOSTILE_TEXT = "<script>window.__xss=2</script>"
SIM_NODES = 1000


@pytest.fixture(scope="module")
def console_farm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Farm]:
    """The browser fixtures' farm, sampling statistics often (the overview charts them),
    with two real render clients: render01 in the pool `lighting`, render02 in none."""
    why = browser_missing()
    if why:
        pytest.skip(why)
    farm = Farm(
        tmp_path_factory.mktemp("console") / "data", ["--statistics-interval-s", "0.3"]
    ).start()
    try:
        add_users(farm)
        farm.client("render01", "--pool", "lighting")
        farm.client("render02")
        farm.wait_nodes(2)
        yield farm
    finally:
        farm.close()


def node_id(farm: Farm, name: str) -> int:
    return int(next(node["id"] for node in farm.nodes() if node["name"] == name))


def node(farm: Farm, name: str) -> dict[str, Any]:
    return farm.request("GET", f"/api/v1/nodes/{node_id(farm, name)}")


def open_page(page: Any, hash_: str) -> None:
    page.evaluate("hash => { location.hash = hash; }", hash_)


def row(page: Any, name: str) -> Any:
    return page.locator(".vt-row", has=page.locator(".farm-name", has_text=name)).first


def confirm(page: Any) -> None:
    page.locator("dialog.farm-dialog button[type=submit]").click()


# -- the nodes table ------------------------------------------------------------------
@pytest.mark.screenshots  # and a test of the page
def test_nodes_table_shows_live_states_jobs_and_resources(page: Any, console_farm: Farm) -> None:
    farm = console_farm
    sleeper = farm.submit(
        title="sleeper", frames="1-1", pools=["lighting"], command=["sleep", "60"]
    )
    farm.wait_state(sleeper["id"], "running")
    open_page(page, "#/nodes")
    busy = row(page, "render01")
    busy.locator(".badge", has_text="busy").wait_for()
    assert f"job {sleeper['id']} \u00b7 chunk 0" in busy.inner_text()
    assert "lighting" in busy.inner_text()
    idle = row(page, "render02")
    idle.locator(".badge", has_text="idle").wait_for()
    # The resources the render clients report: CPU and memory with their units.
    wait_for(lambda: "%" in idle.inner_text() and "iB /" in idle.inner_text(), 20, "resources")

    # A change made elsewhere shows without a reload: the event stream.
    farm.request("POST", f"/api/v1/nodes/{node_id(farm, 'render02')}/actions/pause")
    idle.locator(".badge", has_text="paused").wait_for()
    farm.request("POST", f"/api/v1/nodes/{node_id(farm, 'render02')}/actions/resume")
    idle.locator(".badge", has_text="idle").wait_for()
    page.screenshot(path=str(screenshot_path("nodes")))

    # The filter keeps the rows that match.
    page.fill("input[type=search]", "lighting")
    wait_for(lambda: page.locator(".vt-row").count() == 1, 10, "one row for the filter")
    assert "render01" in page.locator(".vt-row").inner_text()

    # Kill from the toolbar on the selected row: the chunk goes back and runs again.
    row(page, "render01").locator(".farm-name").click()
    page.locator(".farm-actions button[data-action=kill]").click()
    confirm(page)
    wait_for(lambda: farm.chunks(sleeper["id"])[0]["attempts"] >= 2, 30, "a second attempt")
    farm.request("DELETE", f"/api/v1/jobs/{sleeper['id']}")


@pytest.mark.screenshots  # and a test of the page
def test_node_page_pauses_and_resumes_the_node(page: Any, console_farm: Farm) -> None:
    farm = console_farm
    ident = node_id(farm, "render02")
    open_page(page, f"#/nodes/{ident}")
    page.locator(".farm-title h2", has_text="render02").wait_for()
    assert "not connected" not in page.inner_text(".farm-report")
    page.locator("[data-section=Pools]").wait_for()
    page.click("button[data-action=pause]")
    wait_for(lambda: node(farm, "render02")["paused"], 10, "render02 paused through REST")
    page.locator(".farm-title .badge", has_text="paused").wait_for()
    page.click("button[data-action=resume]")
    wait_for(lambda: not node(farm, "render02")["paused"], 10, "render02 resumed")
    page.locator(".farm-title .badge", has_text="idle").wait_for()

    # Notes through a form: the text the user typed reaches the node.
    page.click("button[data-action=notes]")
    page.fill("dialog.farm-dialog textarea[name=notes]", "fan noisy: check on Monday")
    confirm(page)
    wait_for(lambda: node(farm, "render02")["notes"] == "fan noisy: check on Monday", 10, "notes")
    page.locator("dd", has_text="fan noisy").wait_for()

    # The node's own value for a template's client configuration item, through its form.
    page.click("[data-template=python] button:has-text('Edit')")
    page.fill("dialog.farm-dialog input[name=PYTHONEXE]", "/opt/python3.12/bin/python3")
    confirm(page)
    config = f"/api/v1/nodes/{ident}/template-config/python"
    wait_for(
        lambda: (
            farm.request("GET", config)["node_values"].get("PYTHONEXE")
            == "/opt/python3.12/bin/python3"
        ),
        10,
        "the PYTHONEXE set on the node",
    )
    page.locator("[data-template=python] dd", has_text="(set on this node)").wait_for()
    page.screenshot(path=str(screenshot_path("node")), full_page=True)
    open_page(page, "#/nodes")
    row(page, "render02").get_by_text("python (1 set)").wait_for()
    farm.request("PUT", config, {"values": {}})


def test_a_user_without_permissions_is_offered_no_action_and_refused(
    context: Any, console_farm: Farm
) -> None:
    farm = console_farm
    ident = node_id(farm, "render02")
    viewer = context.new_page()
    login(viewer, farm.url, VIEWER, VIEWER_PASSWORD)
    open_page(viewer, f"#/nodes/{ident}")
    viewer.locator(".farm-title h2", has_text="render02").wait_for()
    viewer.locator("[data-section=About]").wait_for()
    assert viewer.locator("button[data-action]").count() == 0

    open_page(viewer, "#/nodes")
    row(viewer, "render02").locator(".farm-name").click()
    viewer.locator(".farm-selected", has_text="render02").wait_for()
    assert viewer.locator("button[data-action]").count() == 0

    open_page(viewer, "#/pools")
    viewer.locator("tr[data-pool=lighting]").wait_for()
    assert viewer.locator("button", has_text="Add pool").count() == 0
    assert viewer.locator("tr[data-pool=lighting] button").count() == 0  # nor Template config
    open_page(viewer, "#/repositories")
    viewer.locator("h2", has_text="Repositories").wait_for()
    assert viewer.locator("button", has_text="Add repository").count() == 0

    # The server refuses the same calls made with the viewer's session and CSRF token.
    statuses = viewer.evaluate(
        """async (ident) => {
            const token = JSON.parse(sessionStorage.getItem("corral.session")).csrf_token;
            const post = (path, body) => fetch(path, {
                method: "POST", credentials: "same-origin",
                headers: {"Content-Type": "application/json", "X-CSRF-Token": token},
                body: JSON.stringify(body)}).then((r) => r.status);
            return [await post(`/api/v1/nodes/${ident}/actions/pause`, {}),
                    await post("/api/v1/pools/", {name: "viewer-pool"})];
        }""",
        ident,
    )
    assert statuses == [403, 403]
    assert not node(farm, "render02")["paused"]
    with pytest.raises(ApiError) as missing:
        farm.request("GET", "/api/v1/pools/viewer-pool")
    assert missing.value.status == 404


# -- pools and repositories -----------------------------------------------------------
@pytest.mark.screenshots  # and a test of the page
def test_pools_page_adds_edits_and_removes_a_pool(page: Any, console_farm: Farm) -> None:
    farm = console_farm
    open_page(page, "#/pools")
    page.locator("tr[data-pool=lighting]").wait_for()
    page.click("button:has-text('Add pool')")
    page.fill("dialog.farm-dialog input[name=name]", "comp")
    page.fill("dialog.farm-dialog input[name=description]", "Nuke and ffmpeg nodes")
    page.fill("dialog.farm-dialog input[name=nodes]", "render02")
    confirm(page)
    page.locator("tr[data-pool=comp]").wait_for()
    pool = farm.request("GET", "/api/v1/pools/comp")
    assert pool["description"] == "Nuke and ffmpeg nodes" and pool["nodes"] == ["render02"]

    page.click("tr[data-pool=comp] button:has-text('Edit')")
    page.fill("dialog.farm-dialog input[name=description]", "compositing")
    page.fill("dialog.farm-dialog textarea[name=nodes]", "render01, render02")
    confirm(page)
    wait_for(
        lambda: farm.request("GET", "/api/v1/pools/comp")["nodes"] == ["render01", "render02"],
        10,
        "the pool's new members",
    )
    assert farm.request("GET", "/api/v1/pools/comp")["description"] == "compositing"
    page.locator("tr[data-pool=comp]", has_text="compositing").wait_for()
    page.screenshot(path=str(screenshot_path("pools")))

    page.click("tr[data-pool=comp] button:has-text('Remove')")
    confirm(page)
    page.locator("tr[data-pool=comp]").wait_for(state="detached")
    with pytest.raises(ApiError) as gone:
        farm.request("GET", "/api/v1/pools/comp")
    assert gone.value.status == 404

    # A pool's template configuration reaches its nodes' view.
    page.click("tr[data-pool=lighting] button:has-text('Template config')")
    page.select_option("dialog.farm-dialog select[name=template]", "python")
    confirm(page)
    page.fill("dialog.farm-dialog input[name=PYTHONEXE]", "/opt/lighting/python3")
    confirm(page)
    config = "/api/v1/pools/lighting/template-config/python"
    wait_for(
        lambda: farm.request("GET", config)["values"] == {"PYTHONEXE": "/opt/lighting/python3"},
        10,
        "the pool's value",
    )
    render01 = farm.request(
        "GET", f"/api/v1/nodes/{node_id(farm, 'render01')}/template-config/python"
    )
    assert render01["effective"]["PYTHONEXE"] == "/opt/lighting/python3"
    farm.request("PUT", config, {"values": {}})

    # A refused change shows the server's reason and changes nothing.
    page.click("button:has-text('Add pool')")
    page.fill("dialog.farm-dialog input[name=name]", "lighting")
    confirm(page)
    page.locator(".toast-error").first.wait_for()
    assert len([p for p in farm.request("GET", "/api/v1/pools/") if p["name"] == "lighting"]) == 1


@pytest.mark.screenshots  # and a test of the page
def test_repositories_page_adds_edits_and_removes(page: Any, console_farm: Farm) -> None:
    farm = console_farm
    open_page(page, "#/repositories")
    page.locator("h2", has_text="Repositories").wait_for()
    page.click("button:has-text('Add repository')")
    page.fill("dialog.farm-dialog input[name=name]", "show")
    page.fill("dialog.farm-dialog input[name=description]", "the show's files")
    page.fill("dialog.farm-dialog input[name=linux]", "/mnt/show")
    page.fill("dialog.farm-dialog input[name=windows]", "S:\\show")
    confirm(page)
    page.locator("tr[data-repository=show]").wait_for()
    stored = farm.request("GET", "/api/v1/repositories/show")
    assert (stored["linux"], stored["windows"]) == ("/mnt/show", "S:\\show")

    page.click("tr[data-repository=show] button:has-text('Edit')")
    page.fill("dialog.farm-dialog input[name=mac]", "/Volumes/show")
    confirm(page)
    wait_for(
        lambda: farm.request("GET", "/api/v1/repositories/show")["mac"] == "/Volumes/show",
        10,
        "the mac path",
    )
    page.locator("tr[data-repository=show]", has_text="/Volumes/show").wait_for()
    farm.request("POST", "/api/v1/repositories/", {"name": "library", "linux": "/mnt/lib"})
    page.locator("tr[data-repository=library]").wait_for()  # live: an account event
    page.screenshot(path=str(screenshot_path("repositories")))

    page.click("tr[data-repository=library] button:has-text('Remove')")
    confirm(page)
    page.locator("tr[data-repository=library]").wait_for(state="detached")
    with pytest.raises(ApiError) as gone:
        farm.request("GET", "/api/v1/repositories/library")
    assert gone.value.status == 404


# -- the overview ---------------------------------------------------------------------
@pytest.mark.screenshots  # and a test of the page
def test_overview_charts_utilisation_and_shows_health(page: Any, console_farm: Farm) -> None:
    farm = console_farm
    job = farm.submit(title="overview work", frames="1-6", command=["sleep", "0.3"])
    farm.wait_state(job["id"], "done")
    wait_for(lambda: farm.request("GET", "/api/v1/statistics/bounds")["count"] >= 10, 20, "samples")
    open_page(page, "#/overview")
    for title in ("Nodes", "Chunks per hour", "Queue"):
        page.locator(f"[data-chart='{title}'] canvas").wait_for()
    legend = page.inner_text("[data-chart=Nodes]")
    assert "busy" in legend and "idle" in legend and "offline" in legend
    for card in ("Dispatcher", "Store", "Hook host", "Event loop"):
        page.locator(f"[data-health='{card}']").wait_for()
    assert "OK" in page.inner_text("[data-health=Store] .farm-health-state")
    assert "process" in page.inner_text("[data-health='Hook host']")
    assert "lag now" in page.inner_text("[data-health='Event loop']")
    # The chunks-per-hour series has a value where the job's chunks finished.
    peak = page.evaluate(
        """() => import("/console/js/pages/overview.js").then(async (module) => {
            const rows = await (await fetch("/api/v1/statistics/")).json();
            return Math.max(0, ...module.chartColumns(rows).perHour.filter((v) => v !== null));
        })"""
    )
    assert peak > 0
    page.screenshot(path=str(screenshot_path("overview")), full_page=True)


def test_overview_drops_samples_of_a_range_left_before_they_came(
    page: Any, console_farm: Farm
) -> None:
    farm = console_farm
    wait_for(lambda: farm.request("GET", "/api/v1/statistics/bounds")["count"] >= 3, 20, "samples")
    open_page(page, "#/overview")
    note = page.locator(".farm-note", has_text="samples since")
    note.wait_for()
    held: list[Any] = []

    def hold_the_first(route: Any) -> None:
        if held:
            route.continue_()
        else:
            held.append(route)

    page.route(re.compile(r"/api/v1/statistics/\?"), hold_the_first)
    picker = page.locator("select[aria-label='Time range']")
    picker.select_option(str(7 * 24 * 3600))
    wait_for(lambda: held or page.wait_for_timeout(100), 10, "the 7 days load")
    before = note.inner_text()
    page.wait_for_timeout(700)  # more samples are stored meanwhile
    picker.select_option("3600")
    page.wait_for_function(
        "(before) => document.querySelector('.farm-note').textContent !== before", arg=before
    )
    shown = note.inner_text()
    page.wait_for_timeout(700)
    held[0].fulfill(response=held[0].fetch())  # the left range's answer comes last
    page.wait_for_timeout(1000)
    assert note.inner_text() == shown  # not replaced by the range left


# -- the pages' functions, run in the browser ------------------------------------------
FUNCTIONS = r"""async () => {
  const overview = await import("/console/js/pages/overview.js");
  const nodes = await import("/console/js/pages/nodes.js");
  const node = await import("/console/js/pages/node.js");
  const pools = await import("/console/js/pages/pools.js");
  const kit = await import("/console/js/pages/farmkit.js");
  const actions = await import("/console/js/pages/nodeactions.js");
  const dom = await import("/console/js/dom.js");
  const columns = overview.chartColumns([
    {time: 0, nodes: 4, nodes_online: 3, nodes_busy: 2, results: 10, chunks_queued: 7},
    {time: 60, nodes: 4, nodes_online: 3, nodes_busy: 1, results: 70, chunks_queued: 5},
    {time: 120, nodes: 4, nodes_online: 4, nodes_busy: 4, results: 5},
    {time: 180, nodes: 5, nodes_online: 4, results: 5},
  ]);
  const ranks = new nodes.TextRanks();
  ranks.learn("name", ["node10", "node2", "Node1"]);
  const node1 = {name: "render01", status: "busy", platform: "linux", host: "rack3",
                 pools: ["gpu", "lighting"], running: [{job: 12, chunk: 3}, {job: 12, chunk: 4}],
                 excluded_templates: ["maya"], excluded_jobs: [7]};
  const viewer = {can: (permission) => permission === null};
  const wrangler = {can: (permission) => permission === "manage_nodes"};
  const admin = {can: (permission) => permission === "administer"};
  return {
    columns,
    ranks: ["node10", "node2", "Node1", ""].map((text) => ranks.rank("name", text)),
    running: nodes.runningText(node1),
    idle: nodes.runningText({running: []}),
    exclusions: nodes.exclusionsText(node1),
    matches: [nodes.nodeMatches(node1, "GPU busy"), nodes.nodeMatches(node1, "gpu idle"),
              nodes.nodeMatches(node1, "rack3"), nodes.nodeMatches(node1, "")],
    split: pools.splitNames(" a, b\n\nc ,"),
    byName: kit.byName([{name: "render10"}, {name: "render2"}, {name: "Render1"}])
      .map((item) => item.name),
    bytes: [kit.formatBytes(512), kit.formatBytes(1536), kit.formatBytes(25324953600),
            kit.formatBytes(null)],
    memory: kit.memoryUse({memory_total_bytes: 4096, memory_available_bytes: 1024}),
    noMemory: kit.memoryUse(null),
    errors: [kit.errorText({title: "Conflict", detail: "exists"}), kit.errorText("plain")],
    sources: [
      node.valueSource({node_values: {A: 1}, pool_values: {p: {A: 2}}}, "A"),
      node.valueSource({pool_values: {zeta: {A: 1}, alpha: {A: 2}}}, "A"),
      node.valueSource({own_values: {A: 1}}, "A"),
      node.valueSource({}, "A"),
    ],
    offered: [viewer, wrangler, admin].map((ctx) => actions.allowedActions(ctx).map((a) => a.action)),
    compact: actions.allowedActions(wrangler, true).map((a) => a.action),
    health: overview.healthCards(dom.h, {store_health: {state: "unavailable", cause: "disk full"}, hook_host_pid: null,
         hook_host_starts: 3, hook_faults: 2, hooks_skipped: 1, loop: {lag_ms: 150},
         version: "1", uptime_s: 5, jobs: 0, nodes: 0, nodes_online: 0, chunks_running: 0},
       {running: false}, (s) => `${s}s`).map((card) => [card.dataset.health, card.className]),
  };
}"""


def test_the_farm_pages_functions(page: Any) -> None:
    got = page.evaluate(FUNCTIONS)
    columns = got["columns"]
    assert columns["busy"] == [2, 1, 4, None]
    assert columns["idle"] == [1, 2, 0, None]
    assert columns["offline"] == [1, 1, 0, 1]
    # 60 results in 60 s is 3,600 an hour; a counter that went down has no rate.
    assert columns["perHour"] == [None, 3600, None, 0]
    assert columns["queued"] == [7, 5, None, None]
    assert got["ranks"][:3] == [2, 1, 0] and got["ranks"][3] == ""
    assert got["running"] == "job 12 \u00b7 chunk 3 +1" and got["idle"] == ""
    assert got["exclusions"] == "templates: maya; jobs: 7"
    assert got["matches"] == [True, False, True, True]
    assert got["split"] == ["a", "b", "c"]
    assert got["byName"] == ["Render1", "render2", "render10"]  # numbers in order
    assert got["bytes"] == ["512 B", "1.5 KiB", "24 GiB", ""]
    assert got["memory"] == {"text": "3.0 KiB / 4.0 KiB", "fraction": 0.75}
    assert got["noMemory"] == {"text": "", "fraction": None}
    assert got["errors"] == ["Conflict: exists", "plain"]
    assert got["sources"] == [
        "set on this node",
        "from pool alpha",
        "the render client's own",
        "default",
    ]
    viewer, wrangler, admin = got["offered"]
    assert viewer == []
    assert "pause" in wrangler and "kill" in wrangler and "run-python" not in wrangler
    assert "reset-key" not in wrangler and {"run-python", "reset-key"} <= set(admin)
    assert set(admin) > set(wrangler)
    assert got["compact"] == ["pause", "resume", "kill", "kill-pause"]
    assert got["health"] == [
        ["Dispatcher", "farm-health-card farm-health-warn"],
        ["Store", "farm-health-card farm-health-bad"],
        ["Hook host", "farm-health-card farm-health-bad"],
        ["Event loop", "farm-health-card farm-health-warn"],
    ]


# -- hostile names ----------------------------------------------------------------------
def test_hostile_names_show_as_text(page: Any, console_farm: Farm) -> None:
    farm = console_farm
    farm.request("POST", "/api/v1/pools/", {"name": HOSTILE, "description": HOSTILE_TEXT})
    farm.request(
        "POST",
        "/api/v1/repositories/",
        {"name": "evil", "description": HOSTILE_TEXT, "linux": HOSTILE},
    )
    client = farm.client(HOSTILE, "--pool", HOSTILE)
    try:
        wait_for(
            lambda: any(n["name"] == HOSTILE and n["online"] for n in farm.nodes()), 30, "node"
        )
        open_page(page, "#/nodes")
        row(page, HOSTILE).wait_for()
        assert HOSTILE in row(page, HOSTILE).inner_text()
        open_page(page, f"#/nodes/{node_id(farm, HOSTILE)}")
        page.locator(".farm-title h2", has_text=HOSTILE).wait_for()
        open_page(page, "#/pools")
        page.locator("td.farm-name", has_text=HOSTILE).wait_for()
        assert HOSTILE_TEXT in page.inner_text("table.farm-list")
        open_page(page, "#/repositories")
        page.locator("tr[data-repository=evil]").wait_for()
        assert HOSTILE_TEXT in page.inner_text("tr[data-repository=evil]")
        assert page.locator("main img, main script").count() == 0
        assert page.evaluate("() => window.__xss") is None
    finally:
        stop_processes([client])
        farm.clients.remove(client)
        wait_for(lambda: not node(farm, HOSTILE)["online"], 30, "the node offline")
        farm.request("DELETE", f"/api/v1/nodes/{node_id(farm, HOSTILE)}")
        hostile = next(p for p in farm.request("GET", "/api/v1/pools/") if p["name"] == HOSTILE)
        farm.request("DELETE", f"/api/v1/pools/{hostile['id']}")
        farm.request("DELETE", "/api/v1/repositories/evil")


# -- a thousand nodes -------------------------------------------------------------------
@pytest.fixture
def thousand_nodes(tmp_path: Path) -> Iterator[Farm]:
    """A second farm with SIM_NODES simulated render clients speaking the real protocol."""
    farm = Farm(tmp_path / "data", ["--heartbeat-s", "2"]).start()
    sims = None
    try:
        add_users(farm)
        port = farm.render.rsplit(":", 1)[1]
        sims = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.simclients", "--port", port,
             "--secret-file", str(farm.data_dir / "farm.secret"), "--clients", str(SIM_NODES),
             "--heartbeat-s", "1", "--hold-s", "2", "--warmup-s", "3600", "--window-s", "1"],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        assert sims.stdout is not None
        for line in sims.stdout:
            if line.startswith("phase connected"):
                break
        else:
            raise AssertionError("the simulated clients did not connect")
        yield farm
    finally:
        if sims is not None:
            stop_processes([sims])
        farm.close()


@pytest.mark.timeout(300)  # a thousand handshakes on a shared 2-core machine
def test_a_thousand_busy_nodes_stay_virtualised_and_live(
    context: Any, thousand_nodes: Farm
) -> None:
    # How fast the page is (its longest tasks, the time to the table) is measured by
    # `python -m benchmarks --only web_nodes_table`, not asserted here.
    farm = thousand_nodes
    opened = context.new_page()
    login(opened, farm.url, ADMIN, ADMIN_PASSWORD)
    open_page(opened, "#/nodes")
    opened.locator(".farm-node-count", has_text=f"{SIM_NODES} nodes").wait_for(timeout=60_000)
    rows_in_dom = opened.locator(".vt-row").count()
    assert 0 < rows_in_dom < 120  # virtualised: only the rows in view are in the document

    # Every node busy: chunks start and end on all of them while the page follows.
    farm.submit(title="wide", frames=f"1-{SIM_NODES * 20}", command=["true"])
    opened.locator(".vt-row .badge", has_text="busy").first.wait_for(timeout=30_000)
    viewport = opened.locator(".vt-viewport")
    viewport.focus()
    for key in ("End", "PageUp", "Home"):
        opened.keyboard.press(key)
        opened.wait_for_timeout(300)
    opened.wait_for_timeout(5000)  # live updates and polls go on meanwhile
    assert 0 < opened.locator(".vt-row").count() < 120
    assert opened.locator(".farm-node-count").inner_text().startswith(f"{SIM_NODES} nodes")


def test_pool_template_config_that_cannot_be_read_says_so(page: Any, console_farm: Farm) -> None:
    # The pool's values refused (injected: the pool removed meanwhile) give a message,
    # not a button that does nothing.
    page.route(
        "**/api/v1/pools/lighting/template-config/**",
        lambda route: route.fulfill(
            status=404,
            content_type="application/problem+json",
            body='{"title": "Not found", "status": 404, "detail": "no pool lighting any more"}',
        ),
    )
    open_page(page, "#/pools")
    page.click("tr[data-pool=lighting] button:has-text('Template config')")
    page.select_option("dialog.farm-dialog select[name=template]", "python")
    confirm(page)
    toast = page.locator(".toast-error", has_text="no pool lighting any more").first
    toast.wait_for()
    assert "template configuration of lighting" in toast.inner_text()
    assert page.locator("dialog.farm-dialog").count() == 0


def test_node_page_keeps_the_latest_template_configuration(page: Any, console_farm: Farm) -> None:
    # A read of the configuration that answers after a later one (held back here) must not
    # put its older values back on the page.
    farm = console_farm
    ident = node_id(farm, "render01")
    config = f"/api/v1/nodes/{ident}/template-config/python"
    held: list[tuple[Any, Any]] = []

    def hold_the_first(route: Any) -> None:
        if held:
            route.continue_()
            return
        held.append((route, route.fetch()))  # the answer before the change below

    page.route(f"**{config}", hold_the_first)
    open_page(page, f"#/nodes/{ident}")
    page.locator(".farm-title h2", has_text="render01").wait_for()
    for _ in range(100):
        if held:
            break
        page.wait_for_timeout(100)
    assert held, "the page did not read the node's configuration"
    try:
        farm.request("PUT", config, {"values": {"PYTHONEXE": "/opt/newer/python3"}})
        newer = page.locator("[data-template=python] dd", has_text="/opt/newer/python3")
        newer.wait_for()
        route, older = held[0]
        route.fulfill(response=older)
        page.wait_for_timeout(1000)
        assert newer.count() == 1, page.inner_text("[data-template=python]")
    finally:
        farm.request("PUT", config, {"values": {}})


def test_nodes_table_drops_a_template_configuration_read_overtaken_by_a_later_one(
    page: Any, console_farm: Farm
) -> None:
    farm = console_farm
    config = f"/api/v1/nodes/{node_id(farm, 'render02')}/template-config/python"
    reads: list[Any] = []
    holding: list[bool] = []

    def hold_the_first(route: Any) -> None:
        if holding and not reads:
            reads.append(route)
            reads.append(route.fetch())  # the answer while render02 has a value
            return
        if holding:
            reads.append(route)
        route.continue_()

    page.route("**/api/v1/templates/python/client-config", hold_the_first)
    open_page(page, "#/nodes")
    render02 = row(page, "render02")
    render02.wait_for()
    page.wait_for_timeout(1000)  # the page's first read is done
    holding.append(True)
    try:
        farm.request("PUT", config, {"values": {"PYTHONEXE": "/opt/older/python3"}})
        wait_for(lambda: reads or page.wait_for_timeout(100), 10, "the first read")
        farm.request("PUT", config, {"values": {}})
        wait_for(lambda: len(reads) >= 3 or page.wait_for_timeout(100), 10, "a later read")
        page.wait_for_timeout(500)
        assert "python (" not in render02.inner_text()
        reads[0].fulfill(response=reads[1])  # the older answer comes last
        page.wait_for_timeout(1000)
        ident = node_id(farm, "render02")
        farm.request("POST", f"/api/v1/nodes/{ident}/actions/pause")  # the row is drawn again
        render02.locator(".badge", has_text="paused").wait_for()
        farm.request("POST", f"/api/v1/nodes/{ident}/actions/resume")
        render02.locator(".badge", has_text="idle").wait_for()
        assert "python (" not in render02.inner_text()  # the later read stands
    finally:
        farm.request("PUT", config, {"values": {}})
