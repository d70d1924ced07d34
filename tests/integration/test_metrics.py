"""GET /metrics against a real dispatcher: the scrape parses, counters and histograms move
after chunks run on a real render client, HTTP latency is labelled by declared route, a
token is needed unless metrics_public, and two dispatchers in one process never mix."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.integration.inprocess import HttpError, Live, live_dispatcher

pytestmark = pytest.mark.integration

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


async def scrape(live: Live, token: str | None = "admin") -> Samples:
    headers = (
        {}
        if token is None
        else {"Authorization": f"Bearer {live.token if token == 'admin' else token}"}
    )
    async with live.session.get(live.dispatcher.http_url + "/metrics", headers=headers) as answer:
        text = await answer.text()
        if answer.status != 200:
            raise HttpError(answer.status, text)
        assert answer.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


@pytest.fixture
async def live(tmp_path: Path) -> AsyncIterator[Live]:
    async with live_dispatcher(tmp_path / "farm") as live:
        yield live


async def test_no_token_is_401_and_a_scrape_parses(live: Live) -> None:
    for token in (None, "wrong"):
        with pytest.raises(HttpError) as refused:
            await scrape(live, token)
        assert refused.value.status == 401
    samples = await scrape(live)
    assert value(samples, "corral_jobs", state="queued") == 0
    assert ("corral_nodes", (("state", "offline"),)) in samples
    viewer = await live.user("viewer")  # any user may read the metrics
    assert await scrape(live, viewer)


async def test_counters_and_histograms_move_after_chunks_run(live: Live) -> None:
    before = await scrape(live)
    live.client("metered")
    await live.wait(lambda: live.dispatcher.node_server.connected(), what="the node online")
    good = await live.rest("POST", "/api/v1/jobs/", {"title": "ok", "command": ["true"], "start": 1, "end": 5, "batch": 1})  # fmt: skip
    bad = await live.rest("POST", "/api/v1/jobs/", {"title": "bad", "command": ["false"], "requeue": 0})  # fmt: skip

    async def finished() -> bool:
        states = [
            (await live.rest("GET", f"/api/v1/jobs/{job['id']}"))["state"] for job in (good, bad)
        ]
        return states == ["done", "failed"]

    await live.wait(finished, timeout_s=60, what="both jobs finished")
    await live.script("import json\nprint(json.dumps(1))\n")
    after = await scrape(live)
    moved = {
        name: value(after, name) - value(before, name)
        for name in ("corral_chunks_dispatched_total", "corral_chunk_results_total",
                     "corral_chunks_failed_total", "corral_dispatch_latency_seconds_count",
                     "corral_store_commit_seconds_count", "corral_loop_lag_seconds_count")
    }  # fmt: skip
    assert moved["corral_chunks_dispatched_total"] == 6, moved
    assert moved["corral_chunk_results_total"] == 6, moved
    assert moved["corral_chunks_failed_total"] == 1, moved
    assert moved["corral_dispatch_latency_seconds_count"] >= 1, moved  # a result, then an assign
    assert (
        moved["corral_store_commit_seconds_count"] >= 1
        and moved["corral_loop_lag_seconds_count"] >= 1
    )
    assert (
        value(after, "corral_jobs", state="done") == 1
        and value(after, "corral_jobs", state="failed") == 1
    )
    assert (
        value(after, "corral_chunks", state="done") == 5
        and value(after, "corral_chunks", state="failed") == 1
    )
    assert value(after, "corral_nodes", state="idle") == 1
    assert value(after, "corral_hook_call_seconds_count", hook="script") == 1
    bucket = value(after, "corral_dispatch_latency_seconds_bucket", le="+Inf")
    assert bucket == value(after, "corral_dispatch_latency_seconds_count")


async def test_http_latency_is_labelled_by_the_declared_route(live: Live) -> None:
    jobs = [await live.rest("POST", "/api/v1/jobs/", {"title": f"j{n}", "command": ["true"], "paused": True}) for n in range(3)]  # fmt: skip
    for job in jobs:
        await live.rest("GET", f"/api/v1/jobs/{job['id']}")
    with pytest.raises(HttpError):
        await live.rest("GET", "/api/v1/jobs/999999")
    with pytest.raises(HttpError):
        await live.rest("GET", "/no/such/route/42")
    samples = await scrape(live)
    count = "corral_http_request_duration_seconds_count"
    assert value(samples, count, method="GET", route="/api/v1/jobs/{job}", status="200") == 3
    assert value(samples, count, method="GET", route="/api/v1/jobs/{job}", status="404") == 1
    assert value(samples, count, method="POST", route="/api/v1/jobs/", status="201") == 3
    assert value(samples, count, method="GET", route="unmatched", status="404") == 1
    routes = {dict(labels).get("route") for (name, labels) in samples if name == count}
    assert not any(
        route and any(char.isdigit() for char in route.replace("v1", "")) for route in routes
    ), routes


async def test_metrics_public_and_separate_registries(live: Live, tmp_path: Path) -> None:
    await live.rest(
        "POST", "/api/v1/jobs/", {"title": "only here", "command": ["true"], "paused": True}
    )
    async with live_dispatcher(tmp_path / "other", metrics_public=True) as other:
        samples = await scrape(other, None)  # no token needed
        assert value(samples, "corral_jobs", state="paused") == 0
        assert value(samples, "corral_http_request_duration_seconds_count", method="POST",
                     route="/api/v1/jobs/", status="201") == 0  # fmt: skip
    assert value(await scrape(live), "corral_jobs", state="paused") == 1
