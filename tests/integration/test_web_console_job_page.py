"""The web console's job page in a real chromium against a real dispatcher: a chunk's
log (read, and followed while it runs) and the actions on a job (the shell, the jobs
table and the security checks are in test_web_console_jobs.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.integration.browser import *  # noqa: F403  (the fixtures)
from tests.integration.browser import goto, login, open_job
from tests.integration.farm import ApiError as FarmApiError
from tests.integration.farm import Farm, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_a_running_chunks_log_is_tailed_live(
    page: Any, console_farm: Farm, render_node: Path
) -> None:
    job = console_farm.submit(
        title="live tail", frames="1",
        command=["sh", "-c", "for i in 1 2 3 4 5 6 7 8 9 10; do echo tick $i; sleep 0.5; done"],
    )  # fmt: skip
    open_job(page, job["id"])
    page.wait_for_selector(".chunk-grid .cell.state-running", timeout=30_000)
    page.click(".chunk-grid .cell[data-index='0']")
    page.wait_for_function(
        "() => document.querySelector('.chunk-panel .log')?.textContent.includes('tick 1')"
    )
    assert console_farm.job(job["id"])["state"] == "running"
    assert "(live)" in page.inner_text(".chunk-panel h3")
    page.wait_for_function(
        "() => document.querySelector('.chunk-panel .log').textContent.includes('tick 6')"
    )  # the same log element grew: it was tailed, not reloaded
    console_farm.wait_state(job["id"], "done")


def test_a_running_chunks_log_shows_what_it_wrote_before_the_panel_opened_once(
    page: Any, console_farm: Farm, render_node: Path
) -> None:
    go = render_node / "log-go"
    script = f"echo written before; while [ ! -e {go} ]; do sleep 0.1; done; echo written after"
    job = console_farm.submit(title="log so far", frames="1", command=["sh", "-c", script])
    wait_for(lambda: "written before" in log_of(console_farm, job["id"]), 30, "the first line")
    open_job(page, job["id"])
    page.click(".chunk-grid .cell[data-index='0']")
    page.wait_for_function(
        "() => document.querySelector('.chunk-panel .log')?.textContent.includes('written before')"
    )
    assert "(live)" in page.inner_text(".chunk-panel h3")
    go.touch()
    page.wait_for_function(
        "() => document.querySelector('.chunk-panel .log').textContent.includes('written after')",
        timeout=30_000,
    )
    text = page.inner_text(".chunk-panel .log")
    assert text.count("written before") == 1 and text.count("written after") == 1
    console_farm.wait_state(job["id"], "done")


def log_of(console_farm: Farm, job_id: int) -> str:
    try:
        return str(console_farm.request("GET", f"/api/v1/logs/chunks/{job_id}/0"))
    except FarmApiError:  # not run or not written yet
        return ""


def test_pause_resume_priority_move_and_delete_from_the_job_page(
    page: Any, console_farm: Farm
) -> None:
    job = console_farm.submit(title="steered", pools=["nowhere"], frames="1-3")
    folder = console_farm.request("POST", "/api/v1/folders/", {"title": "shots for web"})
    open_job(page, job["id"])
    page.click("button[data-action=pause]")
    wait_for(lambda: console_farm.job(job["id"])["state"] == "paused", 10, "paused")
    page.wait_for_function(
        "() => document.querySelector('.job-head .badge').textContent.includes('paused')"
    )
    page.click("button[data-action=resume]")
    wait_for(lambda: console_farm.job(job["id"])["state"] == "queued", 10, "resumed")
    page.wait_for_selector("button[data-action=pause]")
    page.fill(".actions input.priority-input", "77")
    page.click("button[data-action=priority]")
    wait_for(lambda: console_farm.job(job["id"])["priority"] == 77, 10, "priority 77")
    page.wait_for_selector(
        ".actions select.folder-select option:has-text('shots for web')", state="attached"
    )
    page.select_option(".actions select.folder-select", str(folder["id"]))
    page.click("button[data-action=move]")
    wait_for(lambda: console_farm.job(job["id"])["parent"] == folder["id"], 10, "moved")
    page.click("button[data-action=reinit]")
    page.click("button[data-action=reinit]")  # the second click confirms
    page.click("button[data-action=delete]")
    assert console_farm.job(job["id"])  # one click only arms it
    page.click("button[data-action=delete]")
    page.wait_for_function("() => location.hash === '#/jobs'")
    with pytest.raises(Exception, match="404"):
        console_farm.job(job["id"])


def test_a_live_redraw_keeps_a_folder_chosen_but_not_yet_applied(
    page: Any, console_farm: Farm
) -> None:
    job = console_farm.submit(title="chosen", pools=["nowhere"], frames="1-2")
    folder = console_farm.request("POST", "/api/v1/folders/", {"title": "chosen folder"})
    open_job(page, job["id"])
    page.wait_for_selector(
        ".actions select.folder-select option:has-text('chosen folder')", state="attached"
    )
    page.select_option(".actions select.folder-select", str(folder["id"]))
    page.evaluate("() => { document.querySelector('.folder-select').dataset.old = 'yes'; }")
    console_farm.request("PATCH", f"/api/v1/jobs/{job['id']}", {"priority": 61})  # from outside
    page.wait_for_function("() => document.querySelector('.priority-input').value === '61'")
    assert page.get_attribute(".actions select.folder-select", "data-old") is None  # drawn again
    assert page.input_value(".actions select.folder-select") == str(folder["id"])
    page.click("button[data-action=move]")
    wait_for(lambda: console_farm.job(job["id"])["parent"] == folder["id"], 10, "moved")
    console_farm.request("DELETE", f"/api/v1/jobs/{job['id']}")


def test_retry_failed_chunks_queues_them_again(
    page: Any, console_farm: Farm, render_node: Path
) -> None:
    marker = render_node / "may-pass"
    job = console_farm.submit(
        title="fails until fixed", frames="1-2", requeue=0,
        command=["sh", "-c", f"test -e {marker}"],
    )  # fmt: skip
    console_farm.wait_state(job["id"], "failed")
    open_job(page, job["id"])
    page.wait_for_function(
        "() => document.querySelectorAll('.chunk-grid .cell.state-failed').length === 2"
    )
    marker.write_text("ok")
    page.click("button[data-action=retry]")
    console_farm.wait_state(job["id"], "done")
    page.wait_for_function(
        "() => document.querySelectorAll('.chunk-grid .cell.state-done').length === 2"
    )


def test_manage_own_offers_actions_on_ones_own_jobs_only(context: Any, console_farm: Farm) -> None:
    console_farm.request("POST", "/api/v1/users/", {"name": "artist", "password": "artist-pass-1",
                         "permissions": ["submit", "manage_own"]})  # fmt: skip
    artist = context.new_page()
    login(artist, console_farm.url, "artist", "artist-pass-1")
    theirs = console_farm.submit(title="someone else's", pools=["nowhere"])
    goto(artist, "#/submit")
    artist.fill("#submit-title", "artist's own")
    artist.fill("#submit-command", "true")
    artist.fill("#submit-pools", "nowhere")
    artist.click(".submit-form button[type=submit]")
    artist.wait_for_selector("button[data-action=pause]")
    own_id = int(artist.evaluate("location.hash").rsplit("/", 1)[1])
    assert console_farm.job(own_id)["user"] == "artist"
    artist.click("button[data-action=pause]")
    wait_for(lambda: console_farm.job(own_id)["state"] == "paused", 10, "paused by its owner")
    open_job(artist, theirs["id"])
    assert artist.locator(".actions button").count() == 0
    assert artist.inner_text(".actions").strip() == "(read only)"
