"""onCheckProgress as the render client asks it: a LogWatch fed log blocks of a running
chunk calls the template (bundled or written here) and reports the percent it answers."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest

from hooks.api.objects import MChunk, MJob
from hooks.api.template import MTemplate
from hooks.runtime import TemplateSet, bundled_templates_dir
from renderclient.chunklog import ProgressLog
from renderclient.logwatch import LogWatch

INTERVAL_S = 0.05


@pytest.fixture(scope="module")
def bundled() -> TemplateSet:
    return TemplateSet.load([bundled_templates_dir()])


def job(key: str, start: str = "1", end: str = "4") -> dict[str, Any]:
    return {"id": 7, "title": "shot", "template": key, "start": start, "end": end, "by": "1",
            "batch": 4, "environ": {}, "data": {"output_folder": "/out"}}  # fmt: skip


class Recorder:
    """A LogWatch with what it reports: progress (percent, frames) and its own log lines."""

    def __init__(
        self, template: MTemplate, *, interval_s: float = INTERVAL_S, hook_timeout_s: float = 5.0
    ) -> None:
        self.reports: list[tuple[float, int]] = []
        self.written: list[str] = []
        self.watch = LogWatch(
            template, job(template.getKey()), "1", "4", {},
            chunk_id=0, attempt=1, frame_count=4, hook_timeout_s=hook_timeout_s,
            on_progress=lambda percent, frames: self.reports.append((percent, frames)),
            on_abort=lambda verdict: None, write=self.written.append, interval_s=interval_s,
        )  # fmt: skip
        self.watch.start("test-logwatch")

    def feed(self, text: str) -> None:
        self.watch.add(text.encode())

    async def until(self, test: Callable[[], bool], what: str, timeout_s: float = 5.0) -> None:
        deadline = time.monotonic() + timeout_s
        while not test():
            assert time.monotonic() < deadline, f"{what}: reports {self.reports}"
            await asyncio.sleep(0.01)

    @property
    def percent(self) -> float | None:
        return self.reports[-1][0] if self.reports else None

    async def stop(self) -> None:
        await self.watch.stop()
        self.watch.close()


async def test_the_demo_templates_percent_is_reported_as_frames_are_written(
    bundled: TemplateSet,
) -> None:
    demo = bundled.get("demo")
    assert demo is not None
    watch = Recorder(demo)
    try:
        watch.feed("tracing 4 frames at 160x90\n")
        await asyncio.sleep(4 * INTERVAL_S)
        assert watch.reports == []  # -1 (nothing written yet) reports nothing
        watch.feed("frame 1 written to /out/frame_0001.png\n")
        await watch.until(lambda: watch.percent == 25.0, "25% after one of four frames")
        watch.feed("frame 2 written to /out/frame_0002.png\nframe 3 written to /out/f")
        await watch.until(lambda: watch.percent == 50.0, "50%: the half line is not read yet")
        watch.feed("rame_0003.png\n")
        await watch.until(lambda: watch.percent == 75.0, "75% once the line is complete")
    finally:
        await watch.stop()
    assert watch.written == []


async def test_blender_counts_saved_frames_over_the_whole_log_not_the_last_block(
    bundled: TemplateSet,
) -> None:
    blender = bundled.get("blender")
    assert blender is not None
    watch = Recorder(blender)
    try:
        watch.feed("Fra:1 Mem:9.91M | Scene, ViewLayer | Sample 2/4\n")
        await watch.until(lambda: watch.percent == 12.5, "half of the first frame's samples")
        watch.feed("Fra:1 Mem:9.91M | Scene, ViewLayer | Sample 4/4\nSaved: '/out/0001.png'\n")
        await watch.until(lambda: watch.percent == 25.0, "one frame saved")
        await asyncio.sleep(2 * INTERVAL_S)
        # A block that holds no Saved: line: the frame saved before still counts.
        watch.feed("Fra:2 Mem:9.91M | Scene, ViewLayer | Sample 1/4\n")
        await watch.until(lambda: watch.percent == 31.25, "one frame and a quarter")
    finally:
        await watch.stop()


class TileTemplate(MTemplate):
    """A progress pattern and an onCheckProgress: tiles done of 8, unknown before the first."""

    def __init__(self, *, fail: str = "") -> None:
        MTemplate.__init__(self)
        self.setKey("tiles")
        self.setProgressPattern(r"PATTERN (\d+)%")
        self.fail = fail
        self.calls = 0
        self.logs: list[str] = []

    def onCheckProgress(
        self, job: MJob, chunk: MChunk, clientTemplatePreferences: dict[str, Any], log: str
    ) -> float:
        self.calls += 1
        self.logs.append(log)
        if self.fail == "raise":
            raise ValueError("cannot read tiles")
        if self.fail == "hang":
            time.sleep(1.0)
        if self.fail == "text":
            return "half"  # type: ignore[return-value]
        tiles = log.count("tile done")
        return -1.0 if tiles == 0 else 100.0 * tiles / 8


async def test_the_templates_answer_wins_over_the_pattern_once_it_knows() -> None:
    template = TileTemplate()
    watch = Recorder(template)
    try:
        watch.feed("PATTERN 5%\n")
        await watch.until(lambda: watch.percent == 5.0, "the pattern while the template says -1")
        watch.feed("tile done\nPATTERN 90%\n")
        await watch.until(lambda: watch.percent == 12.5, "the template's 1 of 8 tiles")
        watch.feed("PATTERN 95%\n")
        await asyncio.sleep(4 * INTERVAL_S)
        assert watch.percent == 12.5  # the pattern no longer counts
        watch.feed("tile done\ntile done\n")
        await watch.until(lambda: watch.percent == 37.5, "3 of 8 tiles")
    finally:
        await watch.stop()
    assert template.logs[-1].startswith("PATTERN 5%\ntile done\n")  # the log so far


@pytest.mark.parametrize(
    ("fail", "expected"),
    [
        ("raise", "onCheckProgress raised ValueError: cannot read tiles"),
        ("hang", "onCheckProgress did not return within 0.3 s"),
        ("text", "onCheckProgress answered 'half', not a percent"),
    ],
)
async def test_a_failing_callback_is_written_once_and_not_called_again(
    fail: str, expected: str
) -> None:
    template = TileTemplate(fail=fail)
    watch = Recorder(template, hook_timeout_s=0.3)
    try:
        watch.feed("tile done\n")
        await watch.until(lambda: bool(watch.written), "the failure in the chunk's log")
        for _ in range(3):
            watch.feed("tile done\nPATTERN 60%\n")
            await asyncio.sleep(2 * INTERVAL_S)
        await watch.until(lambda: watch.percent == 60.0, "the pattern goes on")
    finally:
        await watch.stop()
    assert template.calls == 1
    assert len(watch.written) == 1 and expected in watch.written[0], watch.written
    assert "not called again" in watch.written[0]


async def test_the_callback_is_asked_at_most_once_per_interval() -> None:
    template = TileTemplate()
    watch = Recorder(template, interval_s=0.3)
    started = time.monotonic()
    try:
        while time.monotonic() - started < 1.0:
            watch.feed("tile done\n" + "x" * 1024 * 1024 + "\n")  # a block ready at once
            await asyncio.sleep(0.01)
        elapsed = time.monotonic() - started
        await watch.until(lambda: template.calls >= 2, "asked again after the interval")
    finally:
        await watch.stop()
    assert template.calls <= int(elapsed / 0.3) + 2, template.calls


async def test_a_template_that_does_not_override_it_is_not_watched() -> None:
    template = MTemplate()
    template.setKey("plain")
    assert not template.overrides("onCheckProgress")
    watch = Recorder(template)
    watch.feed("tile done\n")
    assert watch.watch._task is None
    await watch.stop()


def test_the_log_so_far_is_capped_at_a_line_start_with_a_note() -> None:
    log = ProgressLog(max_chars=100)
    for index in range(30):
        log.add(f"line {index:02d} done\n")  # 13 characters each
    text = "".join(log.snapshot())
    note, _, kept = text.partition("\n")
    assert (
        note == f"[corral] {30 * 13 - len(kept)} characters of the log left out here (progress cap)"
    )
    assert len(kept) <= 100 and kept.endswith("line 29 done\n") and kept.startswith("line ")
    assert log.size == len(kept) and not log.changed
