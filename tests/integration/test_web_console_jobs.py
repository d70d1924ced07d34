"""The web console's shell and jobs pages in a real chromium against a real dispatcher."""

from __future__ import annotations

import urllib.error
import urllib.request
from typing import Any

import pytest

from tests.integration.browser import *  # noqa: F403  (the fixtures)
from tests.integration.browser import ADMIN, VIEWER, VIEWER_PASSWORD, login
from tests.integration.farm import Farm

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
    return page.locator(f".vt-row:has(.vt-td:text-is('{job_id}'))")


def test_a_hostile_job_name_shows_as_text_and_runs_nothing(
    page: Any, console_farm: Farm
) -> None:
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
