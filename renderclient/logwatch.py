"""Watching a running chunk's log: streaming onCheckLog calls, progress and frames.

Every `interval_s` (1 s), or as soon as `MAX_BLOCK_BYTES` of output wait, the
complete lines written since the last look are handed, in the template callback
thread under the hook time limit, to the template's progress and frame patterns
and to its onCheckLog. On those calls only an abort counts: an error answer with
`kTemplateErrorAbortRender` kills the render at once (`on_abort`); anything else
is left to the final check on the whole log. A streaming onCheckLog that raises
or does not return in time is written into the chunk's log and not called again
for this chunk (the final check still runs).

A template that overrides onCheckProgress is asked, in the same way and at most
once per interval while new output came, for the percent the log so far shows
done (`ProgressLog`: the whole log up to 4 Mi characters, past it the latest 4 Mi).
An answer of 0 or more wins over the progress pattern and the frame count, and the
percent it gives never goes down within an attempt (a count a long log lost to the
cap holds where it was). A callback that raises, answers something else than a
number or does not return in time is written into the chunk's log once and not
called again for this chunk.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

from dispatcher.errors import TemplateError
from hooks.api.template import MTemplate
from renderclient.chunklog import ChunkLog, LogScanner, ProgressLog
from renderclient.hookcalls import failure_text, run_limited
from renderclient.invocation import asks_progress, check_log_block, check_progress, checks_log
from renderclient.verdicts import Verdict

logger = logging.getLogger(__name__)

LOG_CHECK_INTERVAL_S = 1.0


class LogWatch:
    """Owns one attempt's ChunkLog and the task that checks it while the process runs.

    `on_progress(percent, frames_done)` is called (on the loop) when the patterns
    read a change; `on_abort(verdict)` once when onCheckLog asks to abort;
    `write(text)` puts Corral's own lines into the chunk's log.
    """

    def __init__(
        self,
        template: MTemplate,
        job: Mapping[str, Any],
        start: str,
        end: str,
        preferences: Mapping[str, Any],
        *,
        chunk_id: int,
        attempt: int,
        frame_count: int,
        hook_timeout_s: float,
        on_progress: Callable[[float, int], None],
        on_abort: Callable[[Verdict], None],
        write: Callable[[str], None],
        interval_s: float = LOG_CHECK_INTERVAL_S,
        log: ChunkLog | None = None,
    ) -> None:
        self.log = log or ChunkLog()
        self.scanner = LogScanner(template.getProgressPattern(), template.getFramePattern())
        self._template = template
        self._job = job
        self._start, self._end = start, end
        self._preferences = preferences
        self._chunk_id, self._attempt = chunk_id, attempt
        self._frame_count = max(1, frame_count)
        self._hook_timeout_s = hook_timeout_s
        self._on_progress = on_progress
        self._on_abort = on_abort
        self._write = write
        self._interval_s = interval_s
        self._streaming = checks_log(template)
        self._asks_progress = asks_progress(template)
        self._progress_log = ProgressLog()
        self._progress_asked_at = -float("inf")
        self.template_percent: float | None = None
        self.progress_calls = 0
        self._wake = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self.aborted: Verdict | None = None
        self.checks = 0
        self.command_frames = 0
        for error in self.scanner.errors:
            write(f"[corral] {error}\n")

    def add(self, data: bytes) -> None:
        """Process output (on the loop)."""
        self.log.add(data)
        if self.log.block_ready:
            self._wake.set()

    def start(self, name: str) -> None:
        if self._task is None and (self._streaming or self.scanner.active or self._asks_progress):
            self._task = asyncio.create_task(self._watch(), name=name)

    async def stop(self) -> None:
        """Check the last lines and end the task (after the process ended): waits for a
        call in flight, so that no two callbacks of this chunk ever run at once."""
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            try:
                await self._task
            except Exception:
                logger.exception("action=log_watch_failed")

    def close(self) -> None:
        self.log.close()

    @property
    def frames_done(self) -> int:
        return max(self.scanner.frames, self.command_frames)

    def commands_done(self, count: int) -> None:
        """One process per frame: `count` of them have finished well."""
        self.command_frames = count
        self._report()

    def _report(self) -> None:
        frames = min(self.frames_done, self._frame_count)
        if self.template_percent is not None:
            percent = self.template_percent
        elif self.scanner.reads_progress and self.scanner.percent is not None:
            percent = self.scanner.percent
        else:
            percent = 100.0 * frames / self._frame_count
        self._on_progress(percent, frames)

    async def _watch(self) -> None:
        while True:
            if not self._stopping:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self._interval_s)
            self._wake.clear()
            final = self._stopping
            block = self.log.take_block(final=final)
            if block and (self._streaming or self.scanner.active):
                await self._check(block, final)
            if final:
                return
            if self._asks_progress:
                self._progress_log.add(block)
                if self._progress_log.changed and self._progress_due():
                    await self._ask_progress()

    def _progress_due(self) -> bool:
        return time.monotonic() - self._progress_asked_at >= self._interval_s * 0.999

    async def _ask_progress(self) -> None:
        """onCheckProgress on the log so far (skipped for the last lines: the chunk's
        outcome gives its progress then)."""
        self._progress_asked_at = time.monotonic()
        pieces = self._progress_log.snapshot()

        def call() -> float | None:
            return check_progress(
                self._template,
                self._job,
                self._start,
                self._end,
                "".join(pieces),
                self._preferences,
                chunk_id=self._chunk_id,
                attempt=self._attempt,
            )

        what = f"template {self._template.getKey()}: onCheckProgress"
        try:
            percent = await run_limited(call, timeout_s=self._hook_timeout_s, what=what)
        except TemplateError as exc:
            self._write(failure_text(exc) + "[corral] onCheckProgress is not called again\n")
            self._asks_progress = False
            return
        self.progress_calls += 1
        if percent is None:
            return
        if self.template_percent is None or percent > self.template_percent:
            self.template_percent = percent
            self._report()

    async def _check(self, block: str, final: bool) -> None:
        streaming = self._streaming and not final and self.aborted is None
        tracebacks: list[str] = []

        def call() -> tuple[bool, Verdict | None]:
            changed = self.scanner.scan(block)
            if not streaming:
                return changed, None
            verdict = check_log_block(
                self._template,
                self._job,
                self._start,
                self._end,
                block,
                self._preferences,
                chunk_id=self._chunk_id,
                attempt=self._attempt,
                tracebacks=tracebacks,
            )
            return changed, verdict

        what = f"template {self._template.getKey()}: checking the log as it streams"
        try:
            changed, verdict = await run_limited(call, timeout_s=self._hook_timeout_s, what=what)
        except TemplateError as exc:
            self._write(failure_text(exc) + "[corral] the log is checked again when it ends\n")
            self._streaming = False
            return
        self.checks += 1 if streaming else 0
        if changed:
            self._report()
        if tracebacks:
            self._write(
                f"[corral] {what}: onCheckLog raised; the log is checked again when it ends\n"
                + tracebacks[0]
            )
            self._streaming = False
        elif verdict is not None and verdict.aborts and self.aborted is None:
            self.aborted = verdict
            self._write(f"[corral] {verdict.message}: the template aborts the render\n")
            self._on_abort(verdict)
