"""The render-client side of templates: what to run for a chunk, and whether it worked.

`build_invocations` asks the job's template for the executable, the command
line (onBuildCommandLine, then onBuildAdditionalParameters appended), the
environment and the working folder, then turns the command line
into argument lists: split with `shlex` (never a shell), `{start}`/`{end}`
filled with the chunk's frames (`{slice}`/`{slices}` with an image-slicing tile),
and one process per frame when a token holds `{frame}`. `judge_result` asks the
template to judge the exit code and the whole log; `check_log_block` asks it about
a block of a running process's log, and `check_progress` for the percent the log so
far shows done.
"""

from __future__ import annotations

import copy
import math
import shlex
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, TypeVar

from dispatcher.errors import TemplateError
from dispatcher.model import frame, frame_text
from hooks.api.objects import MChunk, MJob, MStringRef
from hooks.api.template import MEnvironment, MTemplate, MTemplateError, current_platform
from renderclient import verdicts
from renderclient.environment import current_environ
from renderclient.verdicts import Judgement, Verdict

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Invocation:
    """The processes for one chunk, run in order with the same environment and folder."""

    argvs: list[list[str]]
    env: dict[str, str]
    cwd: str | None


def _template_name(template: MTemplate) -> str:
    return f"template {template.getKey()!r}"


def _call(template: MTemplate, hook: str, call: Callable[[], T]) -> T:
    """Run one hook; any exception becomes a TemplateError naming the template and hook."""
    try:
        return call()
    except Exception as exc:
        raise TemplateError(
            f"{_template_name(template)}: {hook} raised {type(exc).__name__}: {exc}"
        ) from exc


def _check_error(template: MTemplate, hook: str, error: object) -> None:
    """Raise TemplateError when a path hook reports a failure."""
    if error is None:
        return
    if not isinstance(error, MTemplateError):
        raise TemplateError(
            f"{_template_name(template)}: {hook} returned {type(error).__name__}, "
            "not an MTemplateError"
        )
    if error.getErrorCode() != 0:
        raise TemplateError(
            f"{_template_name(template)}: {hook} failed with code {error.getErrorCode()}: "
            f"{error.getDescription()}"
        )


def template_job(job: Mapping[str, Any]) -> MJob:
    """The template's own copy of a job's wire dict (what a callback changes in it stays
    there), as MJob(job) makes it but without copy.deepcopy's bookkeeping: a job off the
    wire is dicts, lists and scalars (anything else is deep-copied as before)."""
    return MJob.adopt(_wire_copy(job) if type(job) is dict else copy.deepcopy(dict(job)))


_SCALARS = (str, int, float, bool, type(None))


def _wire_copy(value: Any) -> Any:
    kind = type(value)
    if kind is dict:
        return {key: _wire_copy(item) for key, item in value.items()}
    if kind is list:
        return [_wire_copy(item) for item in value]
    if kind in _SCALARS:
        return value
    return copy.deepcopy(value)


def _chunk(
    job: Mapping[str, Any],
    start: Decimal | str,
    end: Decimal | str,
    chunk_id: int | None,
    attempt: int,
) -> MChunk:
    first, last = frame(start), frame(end)
    if last < first:
        raise TemplateError(
            f"chunk ends at frame {frame_text(last)} before it starts at {frame_text(first)}"
        )
    if chunk_id is None:
        # The chunk index follows from the frames when the caller does not know it.
        try:
            job_start, by = frame(job.get("start", first)), frame(job.get("by", 1))
            batch = max(1, int(job.get("batch", 1)))
            chunk_id = int((first - job_start) // by) // batch if by > 0 else 0
        except (TypeError, ValueError):
            chunk_id = 0
    chunk = MChunk(int(job.get("id", -1)), chunk_id, first, last, attempt)
    tiles = _slices(job)
    if tiles:
        chunk.attributes.update(slice_index=chunk_id, slices_count=tiles)
    return chunk


def _slices(job: Mapping[str, Any]) -> int:
    """Image slicing's tile count of the job (0 when it does not slice)."""
    if job.get("logic") != "image_slicing":
        return 0
    try:
        return max(0, int(job.get("slices", 0)))
    except (TypeError, ValueError):
        return 0


def _frames(first: Decimal, last: Decimal, by: Decimal) -> list[Decimal]:
    frames: list[Decimal] = []
    current = first
    while current <= last:
        frames.append(current)
        current += by
    return frames


def build_invocations(
    template: MTemplate,
    job: Mapping[str, Any],
    start: Decimal | str,
    end: Decimal | str,
    instance: int,
    preferences: Mapping[str, Any] | None = None,
    *,
    chunk_id: int | None = None,
    attempt: int = 0,
    base_env: Mapping[str, str] | None = None,
) -> Invocation:
    """What to run for frames `start`..`end` of `job` (the job's wire-form dict).

    `preferences` are the node's settings for this template (Muster's client
    template preferences). `base_env` defaults to this process's environment;
    the job's `environ` goes over it, then the template's onBuildEnvironment.
    Raises TemplateError when the template fails or builds an empty command.
    """
    try:
        chunk = _chunk(job, start, end, chunk_id, attempt)
        by = frame(job.get("by", 1))
    except ValueError as exc:
        raise TemplateError(f"bad frames for {_template_name(template)}: {exc}") from exc
    if by <= 0:
        raise TemplateError(f"job frame step must be positive, not {frame_text(by)}")
    prefs = dict(preferences or {})
    mjob = template_job(job)

    app_path = MStringRef()
    error = _call(
        template,
        "onGetApplicationPath",
        lambda: template.onGetApplicationPath(mjob, prefs, app_path),
    )
    _check_error(template, "onGetApplicationPath", error)

    command = _call(
        template,
        "onBuildCommandLine",
        lambda: template.onBuildCommandLine(current_platform(), mjob, chunk, prefs, instance),
    )
    additional = _call(
        template,
        "onBuildAdditionalParameters",
        lambda: template.onBuildAdditionalParameters(
            current_platform(), mjob, chunk, prefs, instance
        ),
    )
    for hook, text in (
        ("onBuildCommandLine", command),
        ("onBuildAdditionalParameters", additional),
    ):
        if text is not None and not isinstance(text, str):
            raise TemplateError(
                f"{_template_name(template)}: {hook} returned {type(text).__name__}, not a string"
            )
    command = " ".join(part for part in (command, additional) if part)
    try:
        tokens = shlex.split(command)
    except ValueError as exc:
        raise TemplateError(
            f"{_template_name(template)}: cannot split the command line {command!r}: {exc}"
        ) from exc
    executable = app_path.getString()
    if executable:
        tokens.insert(0, executable)
    if not tokens:
        raise TemplateError(f"{_template_name(template)} built an empty command line")

    first, last = frame_text(chunk.start), frame_text(chunk.end)
    tokens = [token.replace("{start}", first).replace("{end}", last) for token in tokens]
    if chunk.getSlicesCount():  # image slicing: the tile (the count for the assembly)
        index, count = str(chunk.getSliceIndex()), str(chunk.getSlicesCount())
        tokens = [token.replace("{slice}", index).replace("{slices}", count) for token in tokens]
    if any("{frame}" in token for token in tokens):
        argvs = [
            [token.replace("{frame}", frame_text(value)) for token in tokens]
            for value in _frames(chunk.start, chunk.end, by)
        ]
    else:
        argvs = [tokens]

    env = current_environ() if base_env is None else dict(base_env)
    environ = job.get("environ") or {}
    if not isinstance(environ, Mapping):
        raise TemplateError(f"job environ must be a mapping, not {type(environ).__name__}")
    env.update({str(name): str(value) for name, value in environ.items()})
    existing = MEnvironment(env)
    built = _call(
        template,
        "onBuildEnvironment",
        lambda: template.onBuildEnvironment(mjob, chunk, prefs, existing),
    )
    if built is None:
        built = existing
    if isinstance(built, MEnvironment):
        env = built.to_dict()
    elif isinstance(built, Mapping):
        env = {str(name): str(value) for name, value in built.items()}
    else:
        raise TemplateError(
            f"{_template_name(template)}: onBuildEnvironment returned {type(built).__name__}, "
            "not an environment"
        )

    folder = MStringRef()
    error = _call(
        template,
        "onGetApplicationStartingFolder",
        lambda: template.onGetApplicationStartingFolder(mjob, prefs, folder),
    )
    _check_error(template, "onGetApplicationStartingFolder", error)

    return Invocation(argvs=argvs, env=env, cwd=folder.getString() or None)


def _ask(hook: str, call: Callable[[], object], tracebacks: list[str] | None = None) -> Verdict:
    """One check hook's Verdict; a hook that raises is an error (its traceback goes to
    `tracebacks`)."""
    try:
        answer = call()
    except Exception as exc:
        if tracebacks is not None:
            tracebacks.append(
                "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
            )
        return verdicts.raised(hook, exc)
    return verdicts.classify(hook, answer)


def checks_log(template: MTemplate) -> bool:
    """Whether onCheckLog is asked at all: the template overrides it and its platform
    has the error check enabled (`setEnableErrorCheck`)."""
    return (
        template.overrides("onCheckLog")
        and template.platform_settings(current_platform()).getEnableErrorCheck()
    )


def check_log_block(
    template: MTemplate,
    job: Mapping[str, Any],
    start: Decimal | str,
    end: Decimal | str,
    block: str,
    preferences: Mapping[str, Any] | None = None,
    *,
    chunk_id: int | None = None,
    attempt: int = 0,
    tracebacks: list[str] | None = None,
) -> Verdict:
    """onCheckLog on a block of a running process's log. Only an abort counts on such
    a call: the caller kills the render when the answer `aborts`, and ignores the rest."""
    chunk = _chunk(job, start, end, chunk_id, attempt)
    prefs, mjob = dict(preferences or {}), template_job(job)
    return _ask("onCheckLog", lambda: template.onCheckLog(mjob, chunk, prefs, block), tracebacks)


def asks_progress(template: MTemplate) -> bool:
    """Whether onCheckProgress is asked at all: the template overrides it."""
    return template.overrides("onCheckProgress")


def check_progress(
    template: MTemplate,
    job: Mapping[str, Any],
    start: Decimal | str,
    end: Decimal | str,
    log: str,
    preferences: Mapping[str, Any] | None = None,
    *,
    chunk_id: int | None = None,
    attempt: int = 0,
) -> float | None:
    """onCheckProgress on the log so far: the percent clamped to 0..100, or None while
    the template answers a negative number (it cannot tell yet). A callback that raises
    raises here; an answer that is not a number is a TemplateError."""
    chunk = _chunk(job, start, end, chunk_id, attempt)
    answer = template.onCheckProgress(template_job(job), chunk, dict(preferences or {}), log)
    if isinstance(answer, bool) or not isinstance(answer, int | float | Decimal):
        raise TemplateError(
            f"template {template.getKey()}: onCheckProgress answered {answer!r}, not a percent"
        )
    value = float(answer)
    if math.isnan(value):
        raise TemplateError(f"template {template.getKey()}: onCheckProgress answered NaN")
    return None if value < 0 else min(100.0, value)


def judge_result(
    template: MTemplate,
    job: Mapping[str, Any],
    start: Decimal | str,
    end: Decimal | str,
    exit_code: int,
    log: str,
    preferences: Mapping[str, Any] | None = None,
    *,
    chunk_id: int | None = None,
    attempt: int = 0,
    tracebacks: list[str] | None = None,
) -> Judgement:
    """The template's verdict on a finished process: onCheckExitCode, then onCheckLog on
    the whole log (when the template checks logs), each answer classified the Muster
    way (renderclient/verdicts.py) and onCheckLog's filtered by the job's logs error
    check type."""
    judgement = Judgement()
    try:
        chunk = _chunk(job, start, end, chunk_id, attempt)
    except (ValueError, TemplateError) as exc:
        judgement.fail(f"bad frames: {exc}")
        return judgement
    prefs = dict(preferences or {})
    mjob = template_job(job)
    judgement.add(
        _ask(
            "onCheckExitCode",
            lambda: template.onCheckExitCode(mjob, chunk, prefs, exit_code),
            tracebacks,
        )
    )
    if checks_log(template):
        skip_warnings, skip_errors = verdicts.skips(mjob)
        judgement.add(
            _ask("onCheckLog", lambda: template.onCheckLog(mjob, chunk, prefs, log), tracebacks),
            skip_warnings=skip_warnings,
            skip_errors=skip_errors,
        )
    return judgement


def check_result(
    template: MTemplate,
    job: Mapping[str, Any],
    start: Decimal | str,
    end: Decimal | str,
    exit_code: int,
    log_tail: str,
    preferences: Mapping[str, Any] | None = None,
    *,
    chunk_id: int | None = None,
    attempt: int = 0,
    tracebacks: list[str] | None = None,
) -> tuple[bool, str]:
    """`judge_result` as (ok, reason): reason names each check that failed ("" when ok)."""
    judgement = judge_result(
        template,
        job,
        start,
        end,
        exit_code,
        log_tail,
        preferences,
        chunk_id=chunk_id,
        attempt=attempt,
        tracebacks=tracebacks,
    )
    return judgement.ok, judgement.message


def chunk_frames(job: Mapping[str, Any], start: Decimal | str, end: Decimal | str) -> list[Decimal]:
    """The frames of a chunk (its first to its last, by the job's step)."""
    by = frame(job.get("by", 1))
    return _frames(frame(start), frame(end), by) if by > 0 else [frame(start)]
