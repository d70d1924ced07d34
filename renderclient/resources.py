"""What a render node has and uses: CPU, memory and GPUs of the host, and the CPU
and memory of each running render's process tree.

Read from /proc (Linux) and from `nvidia-smi`'s CSV output where that tool is
installed. Whatever cannot be read is None, never a guess. One
`ResourceMonitor` is shared by every instance of a render client, so one host
is sampled once however many instances it runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import logging
import os
import shutil
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from dispatcher.protocol import Gpu, Ref, RenderUsage, Resources
from renderclient import processes

logger = logging.getLogger(__name__)

MIB = 1024 * 1024
NVIDIA_SMI_QUERY = "index,name,utilization.gpu,memory.used,memory.total,temperature.gpu"
NVIDIA_SMI_TIMEOUT_S = 5.0
GPU_REFRESH_S = 10.0
SAMPLE_MIN_INTERVAL_S = 0.5


def parse_meminfo(text: str) -> tuple[int | None, int | None]:
    """(total, available) bytes from /proc/meminfo text; None for what is missing."""
    values: dict[str, int] = {}
    for line in text.splitlines():
        name, _, rest = line.partition(":")
        parts = rest.split()
        if parts and parts[0].isdigit():
            values[name] = int(parts[0]) * 1024
    available = values.get("MemAvailable")
    if available is None and "MemFree" in values:
        available = values["MemFree"] + values.get("Cached", 0) + values.get("Buffers", 0)
    return values.get("MemTotal"), available


def parse_cpu_times(text: str) -> tuple[int, int] | None:
    """(busy, total) jiffies from the first line of /proc/stat."""
    for line in text.splitlines():
        if line.startswith("cpu "):
            numbers = [int(value) for value in line.split()[1:]]
            idle = numbers[3] + (numbers[4] if len(numbers) > 4 else 0)
            total = sum(numbers[:8])
            return total - idle, total
    return None


def _csv_number(text: str) -> float | None:
    cleaned = text.strip()
    if not cleaned or cleaned.startswith("[") or cleaned.upper() in ("N/A", "[N/A]"):
        return None
    try:
        return float(cleaned)
    except ValueError:
        return None


def parse_nvidia_smi(text: str) -> list[Gpu]:
    """GPUs from `nvidia-smi --query-gpu=NVIDIA_SMI_QUERY --format=csv,noheader,nounits`.

    Fields a GPU does not support ("[N/A]", "[Not Supported]") become None;
    memory is reported in MiB by the tool and returned in bytes. A header
    line, if present, is skipped. Malformed lines are skipped and logged.
    """
    gpus: list[Gpu] = []
    for row in csv.reader(io.StringIO(text), skipinitialspace=True):
        if not row or not "".join(row).strip():
            continue
        if row[0].strip().lower() == "index":
            continue
        if len(row) < 6 or not row[0].strip().isdigit():
            logger.warning("action=nvidia_smi_unparsed line=%r", ",".join(row))
            continue
        used, total = _csv_number(row[3]), _csv_number(row[4])
        gpus.append(
            Gpu(
                index=int(row[0]),
                name=row[1].strip(),
                utilization_percent=_csv_number(row[2]),
                memory_used_bytes=None if used is None else int(used * MIB),
                memory_total_bytes=None if total is None else int(total * MIB),
                temperature_c=_csv_number(row[5]),
            )
        )
    return gpus


async def query_gpus(executable: str | None = None) -> list[Gpu] | None:
    """The host's NVIDIA GPUs, or None where nvidia-smi is absent or fails."""
    tool = executable or shutil.which("nvidia-smi")
    if tool is None:
        return None
    try:
        process = await asyncio.create_subprocess_exec(
            tool,
            f"--query-gpu={NVIDIA_SMI_QUERY}",
            "--format=csv,noheader,nounits",
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
        )
    except OSError as exc:
        logger.warning("action=nvidia_smi_failed error=%s", exc)
        return None
    try:
        output, _ = await asyncio.wait_for(process.communicate(), NVIDIA_SMI_TIMEOUT_S)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()
        logger.warning("action=nvidia_smi_timeout timeout_s=%g", NVIDIA_SMI_TIMEOUT_S)
        return None
    if process.returncode != 0:
        return None
    return parse_nvidia_smi(output.decode("utf-8", "replace"))


@dataclass(slots=True)
class _RenderTrack:
    cpu_s: float
    at: float
    peak_bytes: int


class ResourceMonitor:
    """Samples the host and the renders; `sample()` is cheap enough for every heartbeat.

    `track(ref, pid)` names a running render's leader; `peak_bytes(ref)` is the
    largest resident memory seen for its tree; `forget(ref)` ends the tracking.
    """

    def __init__(self, *, proc: Path = Path("/proc"), gpu_refresh_s: float = GPU_REFRESH_S) -> None:
        self._proc = proc
        self._gpu_refresh_s = gpu_refresh_s
        self._cpu_last: tuple[int, int] | None = None
        self._cpu_percent: float | None = None
        self._renders: dict[Ref, tuple[int, _RenderTrack]] = {}
        self._gpus: list[Gpu] | None = None
        self._gpus_at = -1e9
        self._gpu_task: asyncio.Task[None] | None = None
        self._last: Resources | None = None
        self.cpus = os.cpu_count() or 0

    # -- renders ----------------------------------------------------------
    def track(self, ref: Ref, pid: int) -> None:
        self._renders[ref] = (pid, _RenderTrack(cpu_s=0.0, at=time.monotonic(), peak_bytes=0))

    def forget(self, ref: Ref) -> None:
        self._renders.pop(ref, None)

    def peak_bytes(self, ref: Ref) -> int:
        entry = self._renders.get(ref)
        return entry[1].peak_bytes if entry is not None else 0

    def render_usage(self, refs: Iterable[Ref]) -> list[RenderUsage]:
        """Current usage of the given renders' process trees (one /proc walk)."""
        wanted = [ref for ref in refs if ref in self._renders]
        if not wanted:
            return []
        table = processes.all_processes(self._proc)
        now = time.monotonic()
        usages: list[RenderUsage] = []
        for ref in wanted:
            pid, track = self._renders[ref]
            members = processes.tree(pid, table, self._proc)
            cpu_s = sum(info.cpu_s for info in members)
            memory = sum(info.rss_bytes for info in members)
            elapsed = now - track.at
            percent = 0.0
            if track.cpu_s and elapsed > 0:
                percent = max(0.0, (cpu_s - track.cpu_s) / elapsed * 100.0)
            track.cpu_s, track.at = cpu_s, now
            track.peak_bytes = max(track.peak_bytes, memory)
            nice = members[0].nice if members else None
            usages.append(RenderUsage(ref, pid, round(percent, 1), memory, nice))
        return usages

    # -- host ---------------------------------------------------------------
    def _host_cpu(self) -> float | None:
        try:
            times = parse_cpu_times((self._proc / "stat").read_text())
        except OSError:
            return None
        if times is None:
            return None
        if self._cpu_last is not None:
            busy = times[0] - self._cpu_last[0]
            total = times[1] - self._cpu_last[1]
            if total > 0:
                self._cpu_percent = round(100.0 * busy / total, 1)
        self._cpu_last = times
        return self._cpu_percent

    def _memory(self) -> tuple[int | None, int | None]:
        try:
            return parse_meminfo((self._proc / "meminfo").read_text())
        except OSError:
            return None, None

    def _load(self) -> float | None:
        try:
            return round(os.getloadavg()[0], 2)
        except OSError:
            return None

    def _refresh_gpus(self) -> None:
        """Start an nvidia-smi query in the background when the last one is old."""
        if self._gpu_task is not None or time.monotonic() - self._gpus_at < self._gpu_refresh_s:
            return
        with contextlib.suppress(RuntimeError):
            self._gpu_task = asyncio.get_running_loop().create_task(
                self._query_gpus(), name="corral-renderclient-gpus"
            )

    async def _query_gpus(self) -> None:
        try:
            self._gpus = await query_gpus()
        except Exception:
            logger.exception("action=gpu_query_failed; GPUs are reported as unknown")
            self._gpus = None
        finally:
            self._gpus_at = time.monotonic()
            self._gpu_task = None

    async def close(self) -> None:
        task = self._gpu_task
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    def host(self, *, fresh: bool = False) -> Resources:
        """The host's figures (renders not filled in); cached for half a second."""
        last = self._last
        if not fresh and last is not None and time.time() - last.sampled < SAMPLE_MIN_INTERVAL_S:
            return last
        total, available = self._memory()
        self._refresh_gpus()
        self._last = Resources(
            sampled=time.time(),
            cpus=self.cpus,
            cpu_percent=self._host_cpu(),
            load_1m=self._load(),
            memory_total_bytes=total,
            memory_available_bytes=available,
            gpus=self._gpus,
        )
        return self._last
