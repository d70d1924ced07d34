"""Resource readings of a render node: /proc parsing, process trees, nvidia-smi's CSV,
memory cgroup discovery. Real child processes where a process is the subject."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dispatcher.protocol import Ref
from renderclient import processes
from renderclient.cgroups import _below, find_memory_hierarchy, kernel_oom_kills
from renderclient.resources import (
    ResourceMonitor,
    parse_cpu_times,
    parse_meminfo,
    parse_nvidia_smi,
    query_gpus,
)

# What `nvidia-smi --query-gpu=index,name,utilization.gpu,memory.used,memory.total,
# temperature.gpu --format=csv,noheader,nounits` prints on a two-GPU workstation, and
# on a data-centre card whose driver leaves fields out.
RECORDED_TWO_GPUS = """\
0, NVIDIA GeForce RTX 3090, 87, 20123, 24576, 71
1, NVIDIA GeForce RTX 3090, 0, 3, 24576, 34
"""
RECORDED_NOT_SUPPORTED = """\
0, Tesla T4, [N/A], 0, 15360, [Not Supported]
"""
RECORDED_WITH_HEADER = """\
index, name, utilization.gpu [%], memory.used [MiB], memory.total [MiB], temperature.gpu
0, Quadro RTX 6000, 12, 1024, 24576, 45
"""
MIB = 1024 * 1024


def test_nvidia_smi_two_gpus() -> None:
    gpus = parse_nvidia_smi(RECORDED_TWO_GPUS)
    assert [gpu.index for gpu in gpus] == [0, 1]
    first = gpus[0]
    assert first.name == "NVIDIA GeForce RTX 3090"
    assert first.utilization_percent == 87.0 and first.temperature_c == 71.0
    assert first.memory_used_bytes == 20123 * MIB and first.memory_total_bytes == 24576 * MIB


def test_nvidia_smi_unsupported_fields_are_none_and_headers_skipped() -> None:
    (t4,) = parse_nvidia_smi(RECORDED_NOT_SUPPORTED)
    assert t4.utilization_percent is None and t4.temperature_c is None
    assert t4.memory_used_bytes == 0
    (quadro,) = parse_nvidia_smi(RECORDED_WITH_HEADER)
    assert quadro.name == "Quadro RTX 6000" and quadro.memory_used_bytes == 1024 * MIB
    assert parse_nvidia_smi("") == []
    assert parse_nvidia_smi("No devices were found\n") == []


async def test_query_gpus_runs_the_tool_or_reports_none(tmp_path: Path) -> None:
    tool = tmp_path / "nvidia-smi"
    tool.write_text(f"#!/bin/sh\ncat <<'EOF'\n{RECORDED_TWO_GPUS}EOF\n")
    tool.chmod(0o755)
    gpus = await query_gpus(str(tool))
    assert gpus is not None and len(gpus) == 2
    broken = tmp_path / "broken-smi"
    broken.write_text("#!/bin/sh\necho 'NVIDIA-SMI has failed' >&2\nexit 9\n")
    broken.chmod(0o755)
    assert await query_gpus(str(broken)) is None
    assert await query_gpus(str(tmp_path / "missing")) is None


def test_meminfo_and_cpu_times() -> None:
    text = "MemTotal:       16384 kB\nMemFree:  1024 kB\nMemAvailable:   8192 kB\n"
    assert parse_meminfo(text) == (16384 * 1024, 8192 * 1024)
    old = "MemTotal: 100 kB\nMemFree: 10 kB\nBuffers: 5 kB\nCached: 20 kB\n"
    assert parse_meminfo(old) == (100 * 1024, 35 * 1024)
    assert parse_meminfo("") == (None, None)
    assert parse_cpu_times("cpu  10 0 5 80 5 0 0 0 0 0\ncpu0 1 2 3 4\n") == (15, 100)
    assert parse_cpu_times("nothing\n") is None


def test_parse_stat_with_a_hostile_command_name() -> None:
    fields = " ".join(["S", "1", "42", "42"] + ["0"] * 7 + ["300", "200"] + ["0"] * 3)
    text = f"1234 (evil) name) {fields} 5 1 0 0 0 25 0\n"
    info = processes.parse_stat(text)
    assert info is not None
    assert (info.pid, info.ppid, info.pgid, info.nice) == (1234, 1, 42, 5)
    assert info.cpu_s == 500 / processes.CLOCK_TICKS
    assert info.rss_bytes == 25 * processes.PAGE_BYTES
    assert processes.parse_stat("garbage") is None


def test_tree_renice_and_signal_a_real_process_tree() -> None:
    leader = subprocess.Popen(["sh", "-c", "sleep 30 & sleep 30 & wait"], start_new_session=True)
    try:
        members = []
        deadline = time.monotonic() + 5
        while len(members) < 3 and time.monotonic() < deadline:
            members = processes.tree(leader.pid)
            time.sleep(0.02)
        assert len(members) == 3 and members[0].pid == leader.pid
        pids = [info.pid for info in members]
        assert sorted(processes.renice(pids, 9)) == sorted(pids)
        assert {info.nice for info in processes.tree(leader.pid)} == {9}
        with pytest.raises(ValueError):
            processes.renice(pids, 40)
        assert processes.signal_tree(leader.pid, 15) == 3
        leader.wait(timeout=5)
    finally:
        if leader.poll() is None:
            os.killpg(leader.pid, 9)
            leader.wait()
    deadline = time.monotonic() + 5
    while processes.tree(leader.pid) and time.monotonic() < deadline:
        time.sleep(0.02)  # the signalled sleeps may still be on their way out
    assert processes.tree(leader.pid) == []


async def test_monitor_measures_a_render_and_keeps_its_peak() -> None:
    code = "x = b'x' * (48 * 1024 * 1024); import time; time.sleep(30)"
    process = await asyncio.create_subprocess_exec(sys.executable, "-c", code)
    monitor = ResourceMonitor(gpu_refresh_s=1e9)
    ref = Ref(1, 2, 3)
    monitor.track(ref, process.pid)
    try:
        peak = 0
        deadline = time.monotonic() + 10
        while peak < 48 * MIB and time.monotonic() < deadline:
            (usage,) = monitor.render_usage([ref])
            peak = monitor.peak_bytes(ref)
            await asyncio.sleep(0.05)
        assert usage.pid == process.pid and usage.ref == ref
        assert peak >= 48 * MIB
        host = monitor.host(fresh=True)
        assert host.memory_total_bytes and host.memory_available_bytes
        assert host.cpus >= 1 and host.gpus is None
    finally:
        process.kill()
        await process.wait()
        await monitor.close()
    monitor.forget(ref)
    assert monitor.render_usage([ref]) == []


def test_cgroup_discovery_v1_v2_and_container_roots() -> None:
    v1_mounts = "35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n"
    v1 = find_memory_hierarchy(v1_mounts, "4:memory:/farm/node\n0::/\n")
    assert v1 is not None and v1.version == 1
    assert v1.own_path == Path("/sys/fs/cgroup/memory/farm/node")
    # A container that sees only its own subtree mounted as the root.
    assert _below("/docker/abc/inner", "/docker/abc") == "/inner"
    assert _below("/docker/abc", "/docker/abc") == "/"
    assert _below("/farm", "/") == "/farm"
    assert find_memory_hierarchy("", "") is None
    assert isinstance(kernel_oom_kills(), int | None)
