"""One assigned attempt: the template's command lines run and judged (`ChunkRun`).

The processes run in renderclient/process_runner.py; a chunk's run also spools
their output for the template's log checks (renderclient/logwatch.py: checked as it
streams, then whole at the end).
"""

from __future__ import annotations

import logging
import signal
import time
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from dispatcher.errors import TemplateError
from dispatcher.protocol import Assign, Ref, Result
from hooks.api.objects import MJob
from hooks.api.template import MTemplate
from hooks.runtime import TemplateSet
from renderclient import processes
from renderclient.cgroups import MemoryCgroup, kernel_oom_kills
from renderclient.chunklog import expected_outputs, missing_outputs
from renderclient.hookcalls import DEFAULT_HOOK_TIMEOUT_S, call_template, failure_text
from renderclient.invocation import Invocation, build_invocations, chunk_frames, judge_result
from renderclient.logwatch import LOG_CHECK_INTERVAL_S, LogWatch
from renderclient.process_runner import ProcessRunner, RunOutcome
from renderclient.stock import is_stock
from renderclient.verdicts import Judgement

logger = logging.getLogger(__name__)

# A leader killed by SIGKILL, or a shell reporting that its child was (128 + 9).
OOM_EXIT_CODES = (-signal.SIGKILL, 128 + signal.SIGKILL)


def failed_result(ref: Ref, error: str, *, killed: bool = False) -> Result:
    """A Result for an attempt that never ran a process."""
    now = time.time()
    return Result(ref=ref, ok=False, error=error, started=now, finished=now, killed=killed)


class ChunkRun:
    """One assigned attempt: build its command lines from the template, run them, judge them.

    `run()` always returns a Result (it never raises for a bad template or a
    command that cannot start); `kill(reason)` stops it at any point.
    """

    def __init__(
        self,
        assign: Assign,
        templates: TemplateSet,
        *,
        instance: int,
        on_output: Callable[[bytes], None],
        log_batch_s: float = 0.05,
        label: str = "",
        env: Mapping[str, str] | None = None,
        cgroup: MemoryCgroup | None = None,
        nice: int | None = None,
        on_spawn: Callable[[int], None] | None = None,
        preferences_of: Callable[[MTemplate], dict[str, Any]] | None = None,
        hook_timeout_s: float = DEFAULT_HOOK_TIMEOUT_S,
        on_progress: Callable[[float, int], None] | None = None,
        log_check_interval_s: float = LOG_CHECK_INTERVAL_S,
    ) -> None:
        self.assign = assign
        self._on_progress = on_progress
        self._log_check_interval_s = log_check_interval_s
        self._preferences_of = preferences_of
        self._hook_timeout_s = hook_timeout_s
        self._templates = templates
        self._instance = instance
        self._on_output = on_output
        self._log_batch_s = log_batch_s
        self._label = label
        self._env = dict(env or {})
        self._cgroup = cgroup
        self._nice = nice
        self._on_spawn = on_spawn
        self._runner: ProcessRunner | None = None
        self._kill_reason = ""
        self._trusted = False  # the template is a stock one: its callbacks run here

    @property
    def ref(self) -> Ref:
        return self.assign.ref

    def kill(self, reason: str) -> None:
        if not self._kill_reason:
            self._kill_reason = reason
        if self._runner is not None:
            self._runner.kill(reason)

    def set_nice(self, nice: int) -> list[int]:
        """Renice the running process tree (and commands still to come); returns the pids."""
        self._nice = nice
        if self._runner is None:
            return []
        self._runner.nice = nice
        return processes.renice(self._runner.tree_pids(), nice)

    def tree_pids(self) -> list[int]:
        return self._runner.tree_pids() if self._runner is not None else []

    async def run(self) -> Result:
        assign = self.assign
        if self._kill_reason:
            return failed_result(assign.ref, self._kill_reason, killed=True)
        key = assign.job.get("template", "")
        template = self._find_template(key)
        if template is None:
            return failed_result(assign.ref, f"template {key} not installed on this node")
        ref = assign.ref
        self._trusted = is_stock(self._templates, template)

        def prepare() -> tuple[dict[str, Any], Invocation]:
            # The client configuration and the command line in one call: one trip
            # to a callback thread per chunk for both, under one time limit.
            preferences = self._preferences(template)
            return preferences, build_invocations(
                template,
                assign.job,
                assign.start,
                assign.end,
                self._instance,
                preferences,
                chunk_id=ref.chunk,
                attempt=ref.attempt,
            )

        try:
            preferences, invocation = await call_template(
                prepare,
                trusted=self._trusted,
                timeout_s=self._hook_timeout_s,
                what=f"template {key}: building the command line",
            )
        except TemplateError as exc:
            logger.warning("action=build_failed %s template=%s error=%s", self._label, key, exc)
            self._log_text(failure_text(exc))
            return failed_result(ref, str(exc))
        except Exception as exc:
            logger.exception("action=build_failed %s template=%s", self._label, key)
            return failed_result(ref, f"template {key} could not build the command line: {exc!r}")
        try:
            frames = chunk_frames(assign.job, assign.start, assign.end)
        except (ValueError, ArithmeticError):
            frames = []
        watch = LogWatch(
            template,
            assign.job,
            assign.start,
            assign.end,
            preferences,
            chunk_id=ref.chunk,
            attempt=ref.attempt,
            frame_count=len(frames),
            hook_timeout_s=self._hook_timeout_s,
            on_progress=self._progress,
            on_abort=lambda verdict: self.kill(verdict.message),
            write=self._log_text,
            interval_s=self._log_check_interval_s,
        )
        try:
            return await self._run_watched(template, key, invocation, preferences, watch, frames)
        finally:
            watch.close()

    async def _run_watched(
        self,
        template: MTemplate,
        key: object,
        invocation: Invocation,
        preferences: dict[str, Any],
        watch: LogWatch,
        frames: list[Decimal],
    ) -> Result:
        assign, ref = self.assign, self.assign.ref

        def output(data: bytes) -> None:
            watch.add(data)
            self._on_output(data)

        self._runner = ProcessRunner(
            invocation.argvs,
            env={**invocation.env, **self._env},
            cwd=invocation.cwd,
            time_limit_s=assign.time_limit_s,
            on_output=output,
            log_batch_s=self._log_batch_s,
            label=self._label,
            cgroup=self._cgroup,
            nice=self._nice,
            on_spawn=self._on_spawn,
            on_command_done=watch.commands_done if len(invocation.argvs) > 1 else None,
        )
        if self._kill_reason:
            self._runner.kill(self._kill_reason)
        watch.start(f"corral-renderclient-logwatch-{ref.job}-{ref.chunk}-{ref.attempt}")
        oom_before = self._oom_counts()
        try:
            outcome = await self._runner.run()
        finally:
            await watch.stop()
        oom = self._oom_killed(outcome, oom_before)
        judgement = Judgement()
        error = outcome.error
        if watch.aborted is not None:
            judgement.fail(watch.aborted.message, watch.aborted.actions)
            error = watch.aborted.message
        elif oom:
            error = "killed by the out-of-memory killer"
            logger.warning("action=oom_killed %s %s", self._label, _ref_text(ref))
        elif not outcome.killed and not outcome.timed_out and outcome.exit_code is not None:
            judgement = await self._judge(template, key, outcome.exit_code, preferences, watch)
            if judgement.ok and template.getOutputPattern():
                await self._check_outputs(template, key, frames, judgement)
            self._log_findings(judgement)
            error = "" if judgement.ok else (judgement.message or error or "failed")
        ok = judgement.ok and watch.aborted is None and not oom and not outcome.killed
        ok = ok and not outcome.timed_out and outcome.exit_code is not None
        frames_done = len(frames) if ok else min(watch.frames_done, len(frames))
        if ok:
            self._progress(100.0, frames_done)
        return Result(
            ref=assign.ref,
            ok=ok,
            exit_code=outcome.exit_code,
            error="" if ok else (error or "failed"),
            started=outcome.started,
            finished=outcome.finished,
            killed=outcome.killed and watch.aborted is None,
            oom=oom,
            frames_done=frames_done,
            warnings=len(judgement.warnings),
            errors=judgement.error_count,
            actions=list(judgement.actions) if not ok else [],
        )

    async def _judge(
        self,
        template: MTemplate,
        key: object,
        exit_code: int,
        preferences: dict[str, Any],
        watch: LogWatch,
    ) -> Judgement:
        """The final check: onCheckExitCode, then onCheckLog with the whole log."""
        assign, ref = self.assign, self.assign.ref
        tracebacks: list[str] = []
        try:
            judgement = await call_template(
                lambda: judge_result(
                    template,
                    assign.job,
                    assign.start,
                    assign.end,
                    exit_code,
                    watch.log.whole(),
                    preferences,
                    chunk_id=ref.chunk,
                    attempt=ref.attempt,
                    tracebacks=tracebacks,
                ),
                trusted=self._trusted,
                timeout_s=self._hook_timeout_s,
                what=f"template {key}: checking the result",
            )
            for text in tracebacks:
                self._log_text(f"[corral] template {key}: a result check raised\n{text}")
        except TemplateError as exc:
            self._log_text(failure_text(exc))
            judgement = Judgement()
            judgement.fail(str(exc))
        except Exception as exc:
            logger.warning("action=check_failed %s template=%s error=%r", self._label, key, exc)
            judgement = Judgement()
            judgement.fail(f"template {key} could not check the result: {exc}")
        return judgement

    async def _check_outputs(
        self, template: MTemplate, key: object, frames: list[Decimal], judgement: Judgement
    ) -> None:
        """Every frame's declared output must be a file (a missing one fails the chunk)."""
        paths = expected_outputs(template.getOutputPattern(), MJob(self.assign.job), frames)
        try:
            missing = await call_template(
                lambda: missing_outputs(paths),
                trusted=False,  # file checks may block on a network share
                timeout_s=self._hook_timeout_s,
                what=f"template {key}: checking the output files",
            )
        except TemplateError as exc:
            judgement.fail(str(exc))
            return
        if missing:
            shown = ", ".join(missing[:5]) + (
                f" and {len(missing) - 5} more" if len(missing) > 5 else ""
            )
            judgement.fail(f"missing output ({len(missing)} of {len(paths)} files): {shown}")

    def _log_findings(self, judgement: Judgement) -> None:
        """Warnings and notes go into the chunk's log (errors become the chunk's error)."""
        lines = [f"[corral] warning: {text}\n" for text in judgement.warnings]
        lines += [f"[corral] note: {text}\n" for text in judgement.notes]
        if lines:
            self._log_text("".join(lines))
        for text in judgement.warnings:
            logger.info("action=chunk_warning %s %s %s", self._label, _ref_text(self.ref), text)

    def _progress(self, percent: float, frames_done: int) -> None:
        if self._on_progress is not None:
            try:
                self._on_progress(percent, frames_done)
            except Exception:
                logger.exception("action=progress_forward_failed %s", self._label)

    def _preferences(self, template: MTemplate) -> dict[str, Any]:
        return self._preferences_of(template) if self._preferences_of is not None else {}

    def _log_text(self, text: str) -> None:
        """A line of Corral's own in the chunk's log (a template failure, the command)."""
        try:
            self._on_output(text.encode("utf-8", "replace"))
        except Exception:
            logger.exception("action=log_forward_failed %s", self._label)

    def _oom_counts(self) -> tuple[int | None, int | None]:
        in_group = self._cgroup.oom_kills() if self._cgroup is not None else None
        return kernel_oom_kills(), in_group

    def _oom_killed(self, outcome: RunOutcome, before: tuple[int | None, int | None]) -> bool:
        """A SIGKILL nobody here sent, while the kernel's OOM killer was at work."""
        if outcome.killed or outcome.timed_out or outcome.exit_code not in OOM_EXIT_CODES:
            return False
        after = self._oom_counts()
        return any(
            old is not None and new is not None and new > old
            for old, new in zip(before, after, strict=True)
        )

    def _find_template(self, key: object) -> MTemplate | None:
        if isinstance(key, bool) or not isinstance(key, str | int) or key == "":
            return None
        return self._templates.get(key)


def _ref_text(ref: Ref) -> str:
    return f"job={ref.job} chunk={ref.chunk} attempt={ref.attempt}"
