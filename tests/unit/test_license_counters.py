"""Licenses and delays (dispatcher/licenses.py) alone and in the scheduler (in-memory
store): a cap shared by a licenses group, a delay between starts, `why`."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

from dispatcher.licenses import Licenses, limits_of
from tests.unit.test_scheduler import Farm

TEMPLATES: list[dict[str, Any]] = [
    {"key": "katana", "maximum_licenses": 2, "licenses_group": "kat"},
    {"key": "katana_old", "maximum_licenses": 1, "licenses_group": "kat"},
    {"key": "nuke", "maximum_licenses": 1},
    {"key": "cmdline"},
    {"key": "slow", "delay_group": "io", "delay_s": 5},
]


def test_limits_of_a_template_summary() -> None:
    own = limits_of({"key": "nuke", "maximum_licenses": 3})
    assert (own.licenses_group, own.max_licenses, own.delay_group, own.delay_s) == (
        "nuke",
        3,
        "nuke",
        0.0,
    )


def test_a_group_shares_its_count_and_each_template_keeps_its_cap() -> None:
    running: Counter[str] = Counter()
    licenses = Licenses(running, lambda: TEMPLATES)
    assert licenses.wait("cmdline") is None and licenses.limits_for("cmdline") is None
    running["katana"] = 1
    assert licenses.wait("katana") is None  # 1 of 2 in group kat
    wait = licenses.wait("katana_old")  # its own cap is 1, and the group has 1 running
    assert wait is not None and "1 of 1 in licenses group 'kat'" in wait.reason
    running["katana_old"] = 1
    assert licenses.wait("katana") is not None
    assert licenses.wait("nuke") is None


def test_a_delay_spaces_starts_in_its_group() -> None:
    now = [100.0]
    licenses = Licenses(Counter(), lambda: TEMPLATES, clock=lambda: now[0])
    assert licenses.wait("slow") is None
    licenses.started("slow")
    now[0] += 2
    wait = licenses.wait("slow")
    assert wait is not None and wait.retry_s == 3.0 and "'io'" in wait.reason
    now[0] += 3
    assert licenses.wait("slow") is None


def test_a_reload_reads_the_new_templates() -> None:
    source: list[list[dict[str, Any]]] = [[{"key": "nuke", "maximum_licenses": 1}]]
    running: Counter[str] = Counter({"nuke": 1})
    licenses = Licenses(running, lambda: source[0])
    assert licenses.wait("nuke") is not None
    source[0] = [{"key": "nuke", "maximum_licenses": 2}]
    assert licenses.wait("nuke") is None


def test_limited_names_the_templates_with_a_cap_or_a_delay_and_follows_a_reload() -> None:
    source: list[list[dict[str, Any]]] = [TEMPLATES]
    licenses = Licenses(Counter(), lambda: source[0])
    assert set(licenses.limited()) == {"katana", "katana_old", "nuke", "slow"}
    assert licenses.limited()["slow"].delay_s == 5.0
    assert licenses.limited()["katana_old"].licenses_group == "kat"
    source[0] = [{"key": "cmdline"}, {"key": "nuke", "maximum_licenses": 2}]
    assert list(licenses.limited()) == ["nuke"] and licenses.limited()["nuke"].max_licenses == 2


async def test_the_scheduler_holds_chunks_past_the_licenses_and_a_release_frees_one() -> None:
    farm = Farm()
    farm.queue.on_released = farm.scheduler.released
    farm.scheduler.licenses.templates = lambda: [{"key": "cmdline", "maximum_licenses": 1}]
    a, b = farm.node(), farm.node()
    first = farm.submit(command=["true"])
    second = farm.submit(command=["true"])
    (ref,) = await farm.offer(a)
    assert await farm.offer(b) == []
    reasons = farm.scheduler.why(second, [a.node, b.node], {1, 2})
    assert any("licenses are all in use (1 of 1" in reason for reason in reasons), reasons
    farm.finish(a, ref)  # the license is released: b, still free, takes the second job
    await asyncio.sleep(0)
    assert [r.job for r in b.refs] == [second.id] and first.id == ref.job


async def test_the_scheduler_waits_out_a_delay_with_a_timer() -> None:
    farm = Farm()
    farm.scheduler.licenses.templates = lambda: [{"key": "cmdline", "delay_s": 1}]
    a, b = farm.node(), farm.node()
    farm.submit(command=["true"], frames="1-2")
    loop = asyncio.get_running_loop()
    (first,) = await farm.offer(a)
    started = loop.time()
    assert await farm.offer(b) == []
    while not b.refs and loop.time() - started < 5:
        await asyncio.sleep(0.05)
    assert b.refs, "the delay timer never started the second chunk"
    assert loop.time() - started >= 0.95
    farm.scheduler.close()
