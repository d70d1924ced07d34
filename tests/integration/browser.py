"""The web console in a real browser: Debian's chromium driven by Playwright (Python),
against a real dispatcher on port 0.

Fixtures (a test module takes them all with `from tests.integration.browser import *`,
whose `__all__` names the fixtures only; the other functions are imported by name):

- `console_farm`: a dispatcher (module scope) with two users who log in with a password:
  ADMIN (administer) and VIEWER (no permissions).
- `browser`: one chromium for the module; `page`: a new browser context per test, logged
  in as ADMIN at the console's jobs page. `console_errors` lists what the page logged as
  errors (a Content-Security-Policy refusal among them); the `page` fixture fails the test
  when there are any at its end.
- `render_node`: one real render client (two instances) on `console_farm` (module scope).
- `login(page, url, user, password)`, `submit_many(farm, count, **job)`, and for the jobs
  pages `goto(page, hash)`, `open_job(page, id)`, `badge_of_job(page)`.

Playwright never downloads a browser here: it launches /usr/bin/chromium (`make test`
installs the Debian package). Without it, or without the playwright package, the tests
skip and say why.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.farm import Farm

__all__ = ["browser", "console_errors", "console_farm", "context", "page", "render_node"]

CHROMIUM = os.environ.get("CORRAL_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
ADMIN, ADMIN_PASSWORD = "wrangler", "wrangler-password-1"
VIEWER, VIEWER_PASSWORD = "viewer", "viewer-password-1"
SUBMIT_BATCH = 500
TIMEOUT_MS = 20_000


def browser_missing() -> str | None:
    """Why the browser tests cannot run here (None: they can)."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is missing (pip install -e '.[test]')"
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        return f"no chromium at {CHROMIUM} (apt-get install chromium, or set CORRAL_CHROMIUM)"
    return None


def add_users(farm: Farm) -> None:
    farm.request(
        "POST",
        "/api/v1/users/",
        {"name": ADMIN, "password": ADMIN_PASSWORD, "permissions": ["administer"]},
    )
    farm.request("POST", "/api/v1/users/",
                 {"name": VIEWER, "password": VIEWER_PASSWORD, "permissions": []})  # fmt: skip


@pytest.fixture(scope="module")
def console_farm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Farm]:
    why = browser_missing()
    if why:
        pytest.skip(why)
    farm = Farm(tmp_path_factory.mktemp("console") / "data").start()
    try:
        add_users(farm)
        yield farm
    finally:
        farm.close()


@pytest.fixture(scope="module")
def browser(console_farm: Farm) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    # launch() gives chromium a new empty profile of its own (removed on close).
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


def login(page: Any, url: str, user: str, password: str) -> None:
    """Open the console at `url` and log in through its form."""
    page.goto(url + "/")
    page.fill("#login-user", user)
    page.fill("#login-password", password)
    page.click("form.login button[type=submit]")
    page.wait_for_selector("header.topbar .who", timeout=TIMEOUT_MS)


@pytest.fixture
def console_errors() -> list[str]:
    return []


@pytest.fixture
def context(browser: Any, console_errors: list[str]) -> Iterator[Any]:
    made = browser.new_context(viewport={"width": 1440, "height": 900})
    made.set_default_timeout(TIMEOUT_MS)
    made.on("weberror", lambda error: console_errors.append(f"page error: {error.error}"))

    def on_console(message: Any) -> None:
        if message.type == "error":
            console_errors.append(f"console: {message.text}")

    made.on("console", on_console)
    try:
        yield made
    finally:
        made.close()


@pytest.fixture
def page(context: Any, console_farm: Farm, console_errors: list[str]) -> Iterator[Any]:
    """A page logged in as ADMIN; the test fails if the page logged an error."""
    opened = context.new_page()
    login(opened, console_farm.url, ADMIN, ADMIN_PASSWORD)
    yield opened
    expected = [text for text in console_errors if "status of 40" not in text]
    assert expected == [], f"the page logged errors: {expected}"


def submit_many(farm: Farm, count: int, **job: Any) -> list[dict[str, Any]]:
    """Submit `count` jobs through REST in batches (titles `<prefix> N`)."""
    prefix = job.pop("title_prefix", "bulk")
    job.setdefault("command", ["true"])
    made: list[dict[str, Any]] = []
    for start in range(0, count, SUBMIT_BATCH):
        batch = [
            {"title": f"{prefix} {n}", **job}
            for n in range(start, min(count, start + SUBMIT_BATCH))
        ]
        made.extend(farm.request("POST", "/api/v1/jobs/", batch))
    return made


_scratch: list[Path] = []


def screenshot_path(name: str) -> Path:
    """Where a page's screenshot goes: CORRAL_SCREENSHOTS (the docs' images folder when
    making them for docs/web-console.md), else a temporary folder of this test run."""
    given = os.environ.get("CORRAL_SCREENSHOTS")
    if given:
        folder = Path(given)
    else:
        if not _scratch:
            _scratch.append(Path(tempfile.mkdtemp(prefix="corral-screenshots-")))
        folder = _scratch[0]
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"web-console-{name}.png"


def goto(page: Any, hash_: str) -> None:
    page.evaluate("hash => { location.hash = hash; }", hash_)


def open_job(page: Any, job_id: int) -> None:
    goto(page, f"#/jobs/{job_id}")
    page.wait_for_selector(f".job-head h1:has-text('#{job_id} ')")
    page.wait_for_selector(".chunk-grid .cell")


def badge_of_job(page: Any) -> str:
    return page.inner_text(".job-head .badge").split()[-1]


@pytest.fixture(scope="module")
def render_node(console_farm: Farm, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One real render client (two instances) on the console's farm; yields a scratch
    folder its commands may look at."""
    console_farm.client("web-node", "--instances", "2")
    console_farm.wait_nodes(1)
    yield tmp_path_factory.mktemp("render-scratch")
