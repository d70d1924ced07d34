"""What a template's MTemplateError means for a chunk, the Muster way.

A check hook answers an MTemplateError. Its type decides what it is:

- `kTemplateErrorTypeError` with a non-zero code is an **error**: it fails the chunk;
- `kTemplateErrorTypeWarning` with a code or a description is a **warning**: logged
  and counted, the chunk still succeeds;
- `kTemplateErrorTypeInfo` with a description is **info**: logged only;
- anything else (code 0, `MTemplateError()`) is success.

Its actions decide what follows an error (they are ignored on warnings and info):
`kTemplateErrorAbortRender` kills the running process and fails the chunk with no
more retries; `kTemplateErrorRequeueChunk` queues the chunk again without counting
a failure; `kTemplateErrorExcludeNode` keeps this node off the job; and
`kTemplateErrorPauseJob` pauses the job. The job's logs error check type
(`MJob.setLogsErrorCheckType`) filters what onCheckLog finds: kSkipWarnings drops
its warnings, kSkipErrors turns its errors into counted, non-failing findings
(an abort still stops the render), kSkipAll both.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from hooks.api.objects import MJob
from hooks.api.template import (
    MTemplateError,
    kTemplateErrorAbortRender,
    kTemplateErrorExcludeNode,
    kTemplateErrorPauseJob,
    kTemplateErrorRequeueChunk,
    kTemplateErrorTypeError,
    kTemplateErrorTypeInfo,
    kTemplateErrorTypeWarning,
)

Kind = Literal["ok", "info", "warning", "error"]

# MTemplateError actions by the names the Result carries (dispatcher/protocol.py).
ACTION_NAMES = {
    kTemplateErrorAbortRender: "abort_render",
    kTemplateErrorRequeueChunk: "requeue_chunk",
    kTemplateErrorExcludeNode: "exclude_node",
    kTemplateErrorPauseJob: "pause_job",
}
ABORT = ACTION_NAMES[kTemplateErrorAbortRender]


@dataclass(frozen=True, slots=True)
class Verdict:
    """One hook's answer: its kind, its text and the names of the actions it asks for."""

    kind: Kind
    message: str = ""
    actions: tuple[str, ...] = ()

    @property
    def aborts(self) -> bool:
        return self.kind == "error" and ABORT in self.actions


OK = Verdict("ok")


def classify(hook: str, answer: object) -> Verdict:
    """The Verdict of `hook`'s answer (None counts as success; a wrong type as an error)."""
    if answer is None:
        return OK
    if not isinstance(answer, MTemplateError):
        return Verdict("error", f"{hook} returned {type(answer).__name__}, not an MTemplateError")
    code, text, kind = answer.getErrorCode(), answer.getDescription(), answer.getType()
    if kind == kTemplateErrorTypeWarning:
        if code == 0 and not text:
            return OK
        return Verdict("warning", f"{hook}: {text or f'warning code {code}'}")
    if kind == kTemplateErrorTypeInfo:
        return Verdict("info", f"{hook}: {text}") if text else OK
    if kind != kTemplateErrorTypeError or code == 0:
        return OK
    actions = tuple(
        ACTION_NAMES[action] for action in answer.getErrorActions() if action in ACTION_NAMES
    )
    return Verdict("error", f"{hook}: {text or f'error code {code}'}", actions)


def raised(hook: str, exc: BaseException) -> Verdict:
    return Verdict("error", f"{hook} raised {type(exc).__name__}: {exc}")


@dataclass(slots=True)
class Judgement:
    """The verdicts of one attempt's checks, after the job's error check type."""

    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    actions: list[str] = field(default_factory=list)
    # Findings the job's check type kept from failing the chunk (counted, not failing).
    skipped_errors: int = 0

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def error_count(self) -> int:
        return len(self.errors) + self.skipped_errors

    def add(
        self, verdict: Verdict, *, skip_warnings: bool = False, skip_errors: bool = False
    ) -> None:
        """Take one verdict; `skip_*` apply the job's check type (to onCheckLog's)."""
        if verdict.kind == "info":
            self.notes.append(verdict.message)
        elif verdict.kind == "warning":
            if skip_warnings:
                self.notes.append(f"{verdict.message} (warning skipped by the job)")
            else:
                self.warnings.append(verdict.message)
        elif verdict.kind == "error":
            if skip_errors and not verdict.aborts:
                self.skipped_errors += 1
                self.notes.append(f"{verdict.message} (error skipped by the job)")
                return
            self.errors.append(verdict.message)
            self._act(verdict.actions)

    def fail(self, message: str, actions: Iterable[str] = ()) -> None:
        """An error that did not come from a check hook (a missing output, an abort)."""
        self.errors.append(message)
        self._act(actions)

    def _act(self, actions: Iterable[str]) -> None:
        for action in actions:
            if action not in self.actions:
                self.actions.append(action)

    @property
    def message(self) -> str:
        return "; ".join(self.errors)


def skips(job: MJob) -> tuple[bool, bool]:
    """(skip warnings, skip errors) from the job's logs error check type."""
    try:
        check = job.getLogsErrorCheckType()
    except (TypeError, ValueError):
        check = MJob.kSkipNone
    return (
        check in (MJob.kSkipWarnings, MJob.kSkipAll),
        check in (MJob.kSkipErrors, MJob.kSkipAll),
    )
