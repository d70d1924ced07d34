"""The memory watch of an attempt (renderclient/memwatch.py): thresholds, measuring a real
child's process tree, a cgroup's working set, and the assignment that carries them."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import msgspec

from dispatcher import protocol as p
from renderclient.cgroups import MemoryCgroup
from renderclient.memwatch import MB, MemoryCounts, MemoryWatch, tree_rss_bytes


def watch(warning: int | None, most: int | None) -> tuple[MemoryWatch, list[str], list[str]]:
    lines: list[str] = []
    reasons: list[str] = []
    found = MemoryWatch(
        warning_mb=warning,
        max_mb=most,
        write_log=lambda data: lines.append(data.decode()),
        on_over=reasons.append,
    )
    return found, lines, reasons


def test_a_warning_is_written_once_and_the_maximum_ends_the_render_once() -> None:
    found, lines, reasons = watch(100, 200)
    found.check(50 * MB)
    assert lines == [] and reasons == [] and not found.warned
    found.check(150 * MB)
    found.check(160 * MB)
    assert len(lines) == 1 and "uses 150 MB, over the job's ram_warning of 100 MB" in lines[0]
    assert reasons == [] and found.counts == MemoryCounts(warnings=1, kills=0)
    found.check(250 * MB)
    found.check(300 * MB)
    assert reasons == ["used 250 MB, over the job's ram_max of 200 MB"]
    assert found.over == reasons[0] and found.counts.kills == 1 and found.peak_bytes == 300 * MB
    assert "used 250 MB, over the job's ram_max of 200 MB" in lines[1] and len(lines) == 2


def test_exactly_at_a_threshold_is_not_past_it() -> None:
    found, lines, reasons = watch(100, 200)
    found.check(100 * MB)
    assert lines == [] and not found.warned
    found.check(200 * MB)
    assert len(lines) == 1 and "ram_warning" in lines[0] and reasons == [] and not found.over


def test_no_watch_without_thresholds() -> None:
    assign = p.Assign(ref=p.Ref(1, 0, 1), job={}, start="1", end="1")
    assert MemoryWatch.of(assign, write_log=print) is None
    assign = p.Assign(ref=p.Ref(1, 0, 1), job={}, start="1", end="1", ram_max_mb=5)
    made = MemoryWatch.of(assign, write_log=print)
    assert made is not None and made.max_mb == 5 and made.warning_mb is None


def test_the_tree_of_a_real_child_is_measured() -> None:
    code = "import time, sys; d = b'x' * (60 * 1024 * 1024); print(1, flush=True); time.sleep(30)"
    child = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, start_new_session=True
    )
    try:
        assert child.stdout is not None and child.stdout.readline()
        used = tree_rss_bytes(child.pid)
        assert used is not None and 60 * MB < used < 200 * MB
    finally:
        child.kill()
        child.wait()
    assert tree_rss_bytes(child.pid) is None


async def test_the_watch_ends_a_real_child_over_its_maximum() -> None:
    code = "import time; d = b'x' * (80 * 1024 * 1024); time.sleep(30)"
    child = subprocess.Popen([sys.executable, "-c", code], start_new_session=True)
    reasons: list[str] = []
    found = MemoryWatch(
        warning_mb=None, max_mb=40, write_log=lambda _: None,
        on_over=lambda reason: (reasons.append(reason), child.kill()), interval_s=0.05,
    )  # fmt: skip
    found.follow(child.pid)
    try:
        await asyncio.wait_for(found.run(), 10)
    finally:
        child.kill()
        child.wait()
    assert len(reasons) == 1 and "over the job's ram_max of 40 MB" in reasons[0]


def test_a_cgroups_working_set_leaves_the_inactive_file_cache_out(tmp_path: Path) -> None:
    for version, current, stat in (
        (2, "memory.current", "anon 1\ninactive_file 104857600\nactive_file 5\n"),
        (1, "memory.usage_in_bytes", "cache 9\ntotal_inactive_file 104857600\n"),
    ):
        path = tmp_path / f"v{version}"
        path.mkdir()
        (path / current).write_text(f"{300 * MB}\n")
        group = MemoryCgroup(path, version, 1024 * MB)
        assert group.usage_bytes() == 300 * MB
        assert group.working_set_bytes() == 300 * MB  # no memory.stat: the usage
        (path / "memory.stat").write_text(stat)
        assert group.working_set_bytes() == 200 * MB


def test_the_thresholds_travel_with_the_assignment_and_old_peers_still_understand() -> None:
    ref = p.Ref(1, 2, 3)
    new = p.Assign(ref, {"id": 1}, "1", "5", 0.0, ram_warning_mb=100, ram_max_mb=200)
    assert p.decode(p.encode(new)[4:]) == new

    class OldAssign(msgspec.Struct, tag="assign"):  # the message before the thresholds
        ref: p.Ref
        job: dict[str, object]
        start: str
        end: str
        time_limit_s: float = 0.0

    body = p.encode(new)[4:]
    old = msgspec.msgpack.decode(body, type=OldAssign)
    assert (old.ref, old.start, old.end) == (ref, "1", "5")
    from_old = p.decode(msgspec.msgpack.encode(OldAssign(ref, {"id": 1}, "1", "5")))
    assert isinstance(from_old, p.Assign)
    assert from_old.ram_warning_mb is None and from_old.ram_max_mb is None
