"""The web console's shell and jobs pages in a real chromium against a real dispatcher
(the job page's logs and actions are in test_web_console_job_page.py)."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from corral_client import query
from tests.integration.browser import *  # noqa: F403  (the fixtures)
from tests.integration.browser import (
    ADMIN,
    ADMIN_PASSWORD,
    VIEWER,
    VIEWER_PASSWORD,
    goto,
    login,
    open_job,
    screenshot_path,
    submit_many,
)
from tests.integration.farm import Farm, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def fetch(url: str, method: str = "GET") -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def test_login_shows_the_shell_with_the_user_and_the_jobs_page(page: Any) -> None:
    assert page.text_content("header.topbar .who") == ADMIN
    assert page.url.endswith("#/jobs")
    assert page.get_attribute("nav a[data-page=jobs]", "aria-current") == "page"
    page.wait_for_selector(".vt")


def test_a_wrong_password_is_refused_on_the_form(context: Any, console_farm: Farm) -> None:
    opened = context.new_page()
    opened.goto(console_farm.url + "/")
    opened.fill("#login-user", VIEWER)
    opened.fill("#login-password", "not-the-password")
    opened.click("form.login button[type=submit]")
    opened.wait_for_selector(".login-error:not(:empty)")
    assert "header.topbar" not in opened.content()
    login(opened, console_farm.url, VIEWER, VIEWER_PASSWORD)
    assert opened.text_content("header.topbar .who") == VIEWER


def test_the_page_and_its_files_are_served_with_types_and_a_content_security_policy(
    console_farm: Farm,
) -> None:
    status, headers, body = fetch(console_farm.url + "/")
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert b'<script type="module" src="/console/js/app.js">' in body
    policy = headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy
    assert headers["X-Content-Type-Options"] == "nosniff"
    for path, kind in [("js/app.js", "text/javascript"), ("console.css", "text/css"),
                       ("js/pages/index.js", "text/javascript")]:  # fmt: skip
        status, headers, body = fetch(f"{console_farm.url}/console/{path}")
        assert status == 200 and headers["Content-Type"].startswith(kind), path
        assert body and headers["ETag"]
        again = urllib.request.Request(
            f"{console_farm.url}/console/{path}", headers={"If-None-Match": headers["ETag"]}
        )
        with pytest.raises(urllib.error.HTTPError) as not_modified:
            urllib.request.urlopen(again, timeout=10)
        assert not_modified.value.code == 304
    status, headers, body = fetch(console_farm.url + "/console/js/app.js", method="HEAD")
    assert status == 200 and body == b"" and headers["Content-Type"].startswith("text/javascript")


@pytest.mark.parametrize(
    "path",
    [
        "../webconsole.py",
        "..%2fwebconsole.py",
        "%2e%2e/%2e%2e/app.py",
        "js/..%2f..%2fwebconsole.py",
        "js/%2e%2e/%2e%2e/%2e%2e/errors.py",
        "..%5cwebconsole.py",
        "js",
        "js/",
        ".hidden.js",
        "js/app.js%00.css",
        "/etc/passwd",
        "%2fetc%2fpasswd",
        "index.html/",
        "nothing-here.js",
    ],
)
def test_no_path_outside_the_console_folder_is_served(console_farm: Farm, path: str) -> None:
    status, headers, body = fetch(f"{console_farm.url}/console/{path}")
    assert status == 404, (path, status, body[:200])
    assert b"import" not in body and b"root:" not in body


HOSTILE = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script>&amp;'


def open_jobs(page: Any, hash_: str = "#/jobs") -> None:
    page.evaluate("hash => { location.hash = hash; }", hash_)
    page.wait_for_selector(".vt-row")


def row_of(page: Any, job_id: int) -> Any:
    return page.locator(f".vt-row[data-key='{job_id}']")


def test_a_hostile_job_name_shows_as_text_and_runs_nothing(page: Any, console_farm: Farm) -> None:
    job = console_farm.submit(title=HOSTILE, pools=["nowhere"])
    open_jobs(page)
    row = row_of(page, job["id"])
    row.wait_for()
    assert HOSTILE in row.inner_text()
    assert page.locator(".vt img, .vt script").count() == 0
    page.evaluate("hash => { location.hash = hash; }", f"#/jobs/{job['id']}")
    page.wait_for_selector(".job-head h1")
    assert HOSTILE in page.inner_text(".job-head h1")
    assert page.locator("#page img, #page script").count() == 0
    assert page.evaluate("window.__pwned") is None


QUERY_CASES = [
    "Priority<50",
    "Priority < 50",
    "Creator contains joe",
    "Creator CONTAINS joe",
    "Name * ^shot",
    'Name = ""',
    "Note = ''",
    "Scene.Path.File = shots",
    "Status:running",
    "Pool !: gpu",
    "Created before 1796630400000000",
    "Finished after 0",
    "Name != a b c ",
    '["Priority", ">", "10"]',
    '[["Priority", ">", "10"], ["Name", "*", "x"]]',
    '"12"',
    "",
    "   ",
    "Priority",
    "9abc = 1",
    "Priority ~ 3",
    '["unclosed"',
    "Name contains",
    "a.b.c=1",
    'Name="quoted"',
    "Name = 'it''s'",
    "_x!=y",
]


def test_the_console_parses_queries_as_the_command_does(page: Any) -> None:
    """One grammar: the console's query.js answers every case as corral_client.query."""
    answers = page.evaluate(
        """async (cases) => {
            const q = await import("/console/js/query.js");
            return cases.map((text) => {
                try { return {ok: q.parseWhere(text)}; }
                catch (error) { return {error: error instanceof q.QueryError}; }
            });
        }""",
        QUERY_CASES,
    )
    for text, answer in zip(QUERY_CASES, answers, strict=True):
        try:
            expected: Any = {"ok": query.parse_where(text)}
        except query.QueryError:
            expected = {"error": True}
        assert answer == expected, text
    combined = page.evaluate(
        """async () => { const q = await import("/console/js/query.js");
            return q.toJson(q.combine([q.parseWhere("Priority<50"), q.parseWhere("Name*x")])); }"""
    )
    assert json.loads(combined) == json.loads(
        query.to_json(
            query.combine([query.parse_where("Priority<50"), query.parse_where("Name*x")])
        )
    )


def test_a_job_progresses_to_done_live_and_a_chunk_log_opens(
    page: Any, console_farm: Farm, render_node: Path
) -> None:
    job = console_farm.submit(
        title="live progress", frames="1-6",
        command=["sh", "-c", "echo rendering frame {frame}; sleep 0.4"],
    )  # fmt: skip
    open_job(page, job["id"])
    page.evaluate("window.__sameDocument = true")
    page.wait_for_function(
        "() => document.querySelector('.job-head .badge')?.textContent.includes('done')",
        timeout=60_000,
    )
    page.wait_for_function(
        "() => document.querySelectorAll('.chunk-grid .cell.state-done').length === 6"
    )
    assert page.evaluate("window.__sameDocument") is True  # updated live, never reloaded
    assert "6 (6 done" in page.inner_text(".fields")
    page.click(".chunk-grid .cell[data-index='2']")
    page.wait_for_selector(".chunk-panel .log")
    page.wait_for_function(
        "() => document.querySelector('.chunk-panel .log').textContent.includes('frame 3')"
    )
    assert page.locator(".chunk-panel .attempts tbody tr").count() == 1
    page.screenshot(path=screenshot_path("job"), full_page=True)


def test_a_user_without_permissions_is_offered_no_action_and_refused(
    context: Any, console_farm: Farm
) -> None:
    job = console_farm.submit(title="not yours", pools=["nowhere"])
    viewer = context.new_page()
    login(viewer, console_farm.url, VIEWER, VIEWER_PASSWORD)
    assert viewer.locator("nav a[data-page=submit]").count() == 0
    open_jobs(viewer)
    assert viewer.locator("a:has-text('Submit a job')").count() == 0
    row_of(viewer, job["id"]).click()
    viewer.wait_for_selector(".actions :text('read only')")
    open_job(viewer, job["id"])
    assert viewer.locator(".actions button").count() == 0
    assert viewer.locator(".actions").inner_text().strip() == "(read only)"
    viewer.click(".chunk-grid .cell[data-index='0']")
    viewer.wait_for_selector(".chunk-panel h2")
    assert viewer.locator("[data-chunk-action]").count() == 0
    # What the page does not offer, the server refuses anyway (with the session's CSRF token).
    statuses = viewer.evaluate(
        """async (id) => {
            const csrf = JSON.parse(sessionStorage.getItem("corral.session")).csrf_token;
            const send = (path, method, body) => fetch(path, {method, credentials: "same-origin",
                headers: {"X-CSRF-Token": csrf, "Content-Type": "application/json"},
                body: body && JSON.stringify(body)}).then((r) => r.status);
            return [await send(`/api/v1/jobs/${id}/actions/pause`, "POST"),
                    await send(`/api/v1/jobs/${id}`, "DELETE"),
                    await send("/api/v1/jobs/", "POST", {title: "sneaky", command: ["true"]})];
        }""",
        job["id"],
    )
    assert statuses == [403, 403, 403]
    assert console_farm.job(job["id"])["state"] == "queued"
    viewer.goto(console_farm.url + "/#/submit")
    viewer.wait_for_selector("#page .notice")
    assert "submit permission" in viewer.inner_text("#page .notice")


def test_a_write_without_the_csrf_token_is_refused(page: Any, console_farm: Farm) -> None:
    job = console_farm.submit(title="csrf target", pools=["nowhere"])
    status = page.evaluate(
        """(id) => fetch(`/api/v1/jobs/${id}/actions/pause`, {method: "POST",
            credentials: "same-origin"}).then((r) => r.status)""",
        job["id"],
    )
    assert status in (401, 403)
    assert console_farm.job(job["id"])["state"] == "queued"


def visible_ids(page: Any) -> list[int]:
    return page.evaluate(
        """() => [...document.querySelectorAll('.vt-row')]
            .sort((a, b) => a.getBoundingClientRect().top - b.getBoundingClientRect().top)
            .map((row) => Number(row.querySelector('.vt-td').textContent))"""
    )


def test_the_table_filters_with_the_query_grammar_sorts_and_moves_by_keyboard(
    page: Any, console_farm: Farm
) -> None:
    made = [
        console_farm.submit(title=f"zebra {n}", priority=priority, pools=["nowhere"])
        for n, priority in enumerate([40, 90, 10, 60])
    ]
    console_farm.submit(title="other animal", priority=95, pools=["nowhere"])
    open_jobs(page)
    page.fill("#filter-where", "Name contains zebra")
    page.press("#filter-where", "Enter")
    page.wait_for_function("() => document.querySelectorAll('.vt-row').length === 4")
    assert sorted(visible_ids(page)) == sorted(job["id"] for job in made)
    assert "where=" in page.url
    page.fill("#filter-where", "Priority>50")
    page.press("#filter-where", "Enter")
    page.wait_for_function("() => document.querySelectorAll('.vt-row').length === 2")
    assert sorted(visible_ids(page)) == [made[1]["id"], made[3]["id"]]
    page.fill("#filter-where", "Priority ~ 5")
    page.press("#filter-where", "Enter")
    assert "no operator" in page.inner_text("#filter-error")
    page.click(".chip:has-text('Priority>50') button")
    page.wait_for_function("() => document.querySelectorAll('.vt-row').length === 4")
    page.click("button.vt-th[data-key=priority]")
    page.wait_for_function(
        "() => document.querySelector('.vt-th[data-key=priority]').getAttribute('aria-sort') === 'ascending'"
    )
    by_priority = [made[2], made[0], made[3], made[1]]
    assert visible_ids(page) == [job["id"] for job in by_priority]
    page.click("button.vt-th[data-key=priority]")
    page.wait_for_function(
        "() => document.querySelector('.vt-th[data-key=priority]').getAttribute('aria-sort') === 'descending'"
    )
    assert visible_ids(page) == [job["id"] for job in reversed(by_priority)]
    page.focus(".vt-viewport")
    page.keyboard.press("Home")
    page.keyboard.press("ArrowDown")
    page.wait_for_selector(".vt-row.active")
    assert page.inner_text(".actions .selected-title").startswith(f"#{made[3]['id']} ")
    page.keyboard.press("End")
    page.keyboard.press("Enter")
    page.wait_for_function(f"() => location.hash === '#/jobs/{made[2]['id']}'")
    goto(page, "#/jobs?state=paused")
    page.wait_for_selector(".vt-empty:not([hidden])")
    assert page.input_value("#filter-state") == "paused"


def test_the_table_follows_the_folder_tree_and_updates_live(page: Any, console_farm: Farm) -> None:
    folder = console_farm.request("POST", "/api/v1/folders/", {"title": "tree folder"})
    inside = console_farm.submit(title="in the tree", parent=folder["id"], pools=["nowhere"])
    open_jobs(page)
    page.click(f"button.folder[data-folder='{folder['id']}']")
    page.wait_for_function("() => document.querySelectorAll('.vt-row').length === 1")
    assert visible_ids(page) == [inside["id"]]
    page.evaluate("window.__sameDocument = true")
    later = console_farm.submit(title="arrives live", parent=folder["id"], pools=["nowhere"])
    console_farm.submit(title="elsewhere", pools=["nowhere"])
    page.wait_for_function("() => document.querySelectorAll('.vt-row').length === 2")
    assert sorted(visible_ids(page)) == [inside["id"], later["id"]]
    console_farm.request("POST", f"/api/v1/jobs/{later['id']}/actions/pause")
    row_of(page, later["id"]).locator(".badge:has-text('paused')").wait_for()
    console_farm.request("DELETE", f"/api/v1/jobs/{later['id']}")
    page.wait_for_function("() => document.querySelectorAll('.vt-row').length === 1")
    assert page.evaluate("window.__sameDocument") is True


def test_a_job_is_submitted_from_a_templates_fields(page: Any, console_farm: Farm) -> None:
    goto(page, "#/submit")
    page.wait_for_selector("#submit-title")
    assert page.input_value("#submit-template") == "cmdline"
    page.fill("#submit-title", "from the form")
    page.fill("#submit-command", "sh\n-c\necho {frame}")
    page.fill("#submit-frames", "1-4")
    page.fill("#submit-pools", "nowhere")
    page.click(".submit-form details summary")  # the template's advanced fields
    page.fill("#item-CMDOKCODES", "0,3")
    page.screenshot(path=screenshot_path("submit"), full_page=True)
    page.click(".submit-form button[type=submit]")
    page.wait_for_function("() => /^#\\/jobs\\/\\d+$/.test(location.hash)")
    job_id = int(page.evaluate("location.hash").rsplit("/", 1)[1])
    job = console_farm.job(job_id)
    assert job["title"] == "from the form" and job["command"] == ["sh", "-c", "echo {frame}"]
    assert job["chunks"]["total"] == 4 and job["pools"] == ["nowhere"]
    assert job["data"].get("ok_exit_codes") == "0,3"
    goto(page, "#/submit/blender")
    page.wait_for_selector("#item-BLENDFILE")
    page.fill("#submit-title", "no scene given")
    page.evaluate("document.querySelector('#item-BLENDFILE').required = false")
    page.evaluate("document.querySelector('#item-BLENDOUTPUT').required = false")
    page.click(".submit-form button[type=submit]")
    page.wait_for_selector("#submit-error:not(:empty)")
    assert re.search(r"BLENDFILE|job_file|required", page.inner_text("#submit-error"))


@pytest.mark.screenshots
def test_screenshots_of_the_login_jobs_job_and_submit_pages(
    context: Any, page: Any, console_farm: Farm, render_node: Path
) -> None:
    """A farm with folders and jobs in every state, and each page saved as a picture
    (CORRAL_SCREENSHOTS=docs/images writes the ones docs/web-console.md shows)."""
    folder = console_farm.request("POST", "/api/v1/folders/", {"title": "seq010 lighting"})
    console_farm.request(
        "POST", "/api/v1/folders/", {"title": "seq020 comp", "parent": folder["id"]}
    )
    for n, priority in enumerate([80, 50, 65]):
        console_farm.submit(title=f"seq010_sh{n + 1:02d} beauty", priority=priority,
                            parent=folder["id"], frames="1-120", batch=5, pools=["nowhere"])  # fmt: skip
    paused = console_farm.submit(title="seq010_sh04 fx", frames="1-48", pools=["nowhere"])
    console_farm.request("POST", f"/api/v1/jobs/{paused['id']}/actions/pause")
    mixed = console_farm.submit(
        title="seq010_sh05 lighting", frames="1-60", priority=90, requeue=0,
        command=["sh", "-c", "echo 'rendering frame {frame}'; sleep 0.5; "
                 "echo 'frame {frame}: 100%'; test $(( {frame} % 13 )) -ne 0"],
    )  # fmt: skip
    console_farm.request("PUT", f"/api/v1/jobs/{mixed['id']}/chunks/59", {"state": "skipped"})
    wait_for(lambda: console_farm.job(mixed["id"])["chunks"]["failed"] >= 1, 60, "a failed chunk")
    open_job(page, mixed["id"])
    page.wait_for_selector(".chunk-grid .cell.state-running")
    page.click(".chunk-grid .cell.state-running")
    page.wait_for_function(
        "() => document.querySelector('.chunk-panel .log')?.textContent.includes('rendering')"
    )
    page.screenshot(path=screenshot_path("job"), full_page=True)
    open_jobs(page)
    page.focus(".vt-viewport")
    page.keyboard.press("End")
    page.wait_for_selector(".vt-row.active")
    page.screenshot(path=screenshot_path("jobs"))
    page.fill("#filter-where", "Priority>60")
    page.press("#filter-where", "Enter")
    page.wait_for_selector(".chip")
    page.wait_for_function(
        "() => !document.querySelector('.count').textContent.includes('loading')"
    )
    page.screenshot(path=screenshot_path("jobs-filtered"))
    goto(page, "#/submit/blender")
    page.wait_for_selector("#item-BLENDFILE")
    page.screenshot(path=screenshot_path("submit"), full_page=True)
    wall = context.new_page()
    wall.set_viewport_size({"width": 2560, "height": 1440})
    wall.goto(console_farm.url + "/")
    wall.wait_for_selector("form.login")
    wall.set_viewport_size({"width": 1024, "height": 640})
    wall.screenshot(path=screenshot_path("login"))
    login(wall, console_farm.url, ADMIN, ADMIN_PASSWORD)
    laptop_row = wall.evaluate("document.querySelector('.vt-row').getBoundingClientRect().height")
    wall.set_viewport_size({"width": 2560, "height": 1440})
    open_jobs(wall)
    wall.wait_for_function(  # a wall display's larger text, and rows that grew with it
        f"() => document.querySelector('.vt-row').getBoundingClientRect().height > {laptop_row}"
    )
    wall.screenshot(path=screenshot_path("wall"))
    for name in ("job", "jobs", "jobs-filtered", "submit", "login", "wall"):
        assert screenshot_path(name).stat().st_size > 2_000, name


def test_the_session_survives_a_reload_and_logging_out_revokes_it(
    context: Any, console_farm: Farm
) -> None:
    opened = context.new_page()
    login(opened, console_farm.url, VIEWER, VIEWER_PASSWORD)
    opened.reload()
    opened.wait_for_selector("header.topbar .who")
    assert opened.text_content("header.topbar .who") == VIEWER
    opened.click("button.logout")
    opened.wait_for_selector("form.login")
    status = opened.evaluate(
        "() => fetch('/api/v1/jobs/?limit=1', {credentials: 'same-origin'}).then((r) => r.status)"
    )
    assert status == 401  # the cookie no longer opens anything
    opened.reload()
    opened.wait_for_selector("form.login")


def test_an_event_stream_refused_for_an_ended_session_brings_up_the_login_form(
    context: Any, console_farm: Farm
) -> None:
    opened = context.new_page()
    login(opened, console_farm.url, VIEWER, VIEWER_PASSWORD)
    opened.wait_for_selector("header.topbar .who")
    streams: list[str] = []
    opened.on(
        "request", lambda request: "/api/v1/events" in request.url and streams.append(request.url)
    )
    # The session ends behind the console's back (revoked elsewhere, or expired), and the
    # stream is opened again (as after a dropped connection): the dispatcher refuses it.
    opened.evaluate(
        """async () => {
            const events = await import("/console/js/events.js");
            events.closeEvents();
            const saved = JSON.parse(sessionStorage.getItem("corral.session"));
            await fetch("/api/v1/logout", {method: "POST", credentials: "same-origin",
                                            headers: {"X-CSRF-Token": saved.csrf_token}});
            events.subscribe({}, () => {});
        }"""
    )
    opened.wait_for_selector("form.login", timeout=15_000)
    assert "session ended" in opened.inner_text(".login-error")
    tries = len(streams)
    opened.wait_for_timeout(5_000)  # more than two retry intervals
    assert len(streams) == tries and tries >= 1  # it stopped trying


def test_the_consoles_functions_answer_as_documented(page: Any) -> None:
    """dom.js, api.js and the jobs page's functions, run in the browser."""
    found = page.evaluate(
        """async () => {
            const dom = await import("/console/js/dom.js");
            const api = await import("/console/js/api.js");
            const jobs = await import("/console/js/pages/jobs.js");
            const job = await import("/console/js/pages/job.js");
            const farmkit = await import("/console/js/pages/farmkit.js");
            const badge = dom.stateBadge("failed");
            const built = dom.h("p", {class: "x", title: "<b>"}, "<i>text</i>", null, ["a", 1]);
            const started = new Date(Date.now() - 100_000).toISOString();
            return {
                durations: [5, 65, 3725, 200000, null].map(dom.formatDuration),
                time: dom.formatTime(0).length,
                badge: [badge.className, badge.textContent],
                built: [built.outerHTML, built.childNodes.length],
                url: api.apiUrl("jobs/", {state: "queued", owner: null, where: '["a","=","b c"]'}),
                absolute: api.apiUrl("/api/v1/jobs/?limit=1", {after: "x"}),
                eta: Math.round(jobs.etaSeconds({state: "running", progress: 0.25,
                                                 time_started: started})),
                noEta: jobs.etaSeconds({state: "queued", progress: 0.5, time_started: started}),
                progress: [jobs.progressOf({total: 4, done: 1, skipped: 1}), jobs.progressOf({})],
                sorted: ["render10", "Render2", "render1"].sort(dom.collator.compare),
                oneCollator: farmkit.collator === dom.collator,
                overlaps: [job.overlap("a|b|c|", "b|c|d|"), job.overlap("a|", "b|"),
                           job.overlap("", "x"), job.overlap("x|", "x|y|")],
            };
        }"""
    )
    assert found["durations"] == ["5s", "1m 05s", "1h 02m", "2d 07h", ""]
    assert found["time"] == 19  # YYYY-MM-DD HH:MM:SS
    assert found["badge"] == ["badge state-failed", "\u2716 failed"]
    assert found["built"] == ['<p class="x" title="&lt;b&gt;">&lt;i&gt;text&lt;/i&gt;a1</p>', 3]
    assert found["url"] == "/api/v1/jobs/?state=queued&where=%5B%22a%22%2C%22%3D%22%2C%22b+c%22%5D"
    assert found["absolute"] == "/api/v1/jobs/?limit=1&after=x"
    assert 290 <= found["eta"] <= 310 and found["noEta"] is None
    assert found["progress"] == [0.5, 1]
    assert found["sorted"] == ["render1", "Render2", "render10"]
    assert found["oneCollator"] is True
    assert found["overlaps"] == [4, 0, 0, 2]


def test_the_eta_filter_keeps_running_jobs_by_their_estimate(
    page: Any, console_farm: Farm, render_node: Path
) -> None:
    waiting = console_farm.submit(title="no eta yet", pools=["nowhere"])
    job = console_farm.submit(title="has an eta", frames="1-8", command=["sh", "-c", "sleep 1"])
    open_jobs(page)
    row_of(page, waiting["id"]).wait_for()
    page.select_option("#filter-eta", "lt3600")
    assert "eta=lt3600" in page.url
    page.wait_for_function(  # a job shows once it has run a chunk: it has an ETA then
        f"() => [...document.querySelectorAll('.vt-row .vt-td:first-child')]"
        f".some((cell) => cell.textContent === '{job['id']}')",
        timeout=60_000,
    )
    assert waiting["id"] not in visible_ids(page)
    page.select_option("#filter-eta", "gt3600")
    page.wait_for_function(
        f"() => ![...document.querySelectorAll('.vt-row .vt-td:first-child')]"
        f".some((cell) => cell.textContent === '{job['id']}')"
    )
    page.select_option("#filter-eta", "")
    row_of(page, waiting["id"]).wait_for()
    console_farm.wait_state(job["id"], "done")
    checks = page.evaluate(
        """async () => {
            const jobs = await import("/console/js/pages/jobs.js");
            const now = () => Date.parse("2030-01-01T01:00:00Z");
            const job = (state, progress) => ({state, progress,
                                               time_started: "2030-01-01T00:00:00Z"});
            const under = jobs.etaFilter("lt3600", now), over = jobs.etaFilter("gt3600", now);
            return [jobs.etaFilter("", now), under(job("running", 0.75)),
                    under(job("running", 0.25)), over(job("running", 0.25)),
                    under(job("queued", 0.5)), over(job("running", 0))];
        }"""
    )
    assert checks == [None, True, False, True, False, False]  # 20 min left; 3 h left


# Last: it leaves 10,000 jobs on the module's farm.
def test_ten_thousand_jobs_load_in_pages_into_a_virtualised_table(
    page: Any, console_farm: Farm
) -> None:
    made = submit_many(console_farm, 10_000, title_prefix="scale", pools=["nowhere"])
    total = len(console_farm.request("GET", "/api/v1/jobs/"))
    assert total >= 10_000
    open_jobs(page)
    page.reload()
    page.wait_for_function(
        "() => performance.getEntriesByName('table:jobs:loaded').length > 0", timeout=60_000
    )
    assert int(page.get_attribute(".vt", "aria-rowcount")) == total
    assert page.locator(".vt-row").count() < 120  # only the rows in view are in the page
    assert f"{total:,} jobs" in page.inner_text(".count")
    page.focus(".vt-viewport")
    page.keyboard.press("End")
    page.wait_for_function(
        f"() => document.querySelector('.vt-row.active .vt-td')?.textContent === '{made[-1]['id']}'"
    )
    page.click("button.vt-th[data-key=priority]")
    page.keyboard.press("Home")
    page.wait_for_selector(".vt-row.active")
    page.screenshot(path=screenshot_path("jobs-10000"))
