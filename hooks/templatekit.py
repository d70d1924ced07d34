"""What Corral's bundled templates share, so each template file reads as a description
of its application: submission fields read through the template's mappings, the
application's path as a client configuration item per platform, log rules, and
progress read from the log.

Site templates may import it too (`from hooks import templatekit`); it only uses
the Muster API objects, so a template written with it behaves like one written
without it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from dispatcher.model import frame
from hooks.api.items import (
    MTemplateItem,
    MTemplateItemFile,
    MTemplateItemFolder,
    MTemplateItemInteger,
    MTemplateItemString,
)
from hooks.api.objects import MChunk, MJob, MStringRef
from hooks.api.template import (
    MTemplate,
    MTemplateError,
    kPlatformLinux,
    kPlatformMac,
    kPlatformWindows,
    kProcessDirect,
    kTemplateErrorAbortRender,
    kTemplateErrorTypeError,
    kTemplateErrorTypeWarning,
)

__all__ = [
    "UNKNOWN_PROGRESS",
    "LogRule",
    "add_application_item",
    "add_environment_item",
    "add_mapped_items",
    "add_threads_item",
    "application",
    "check_log",
    "chunk_frames",
    "enable_platforms",
    "exit_code_check",
    "field",
    "field_flag",
    "field_number",
    "progress_percent",
    "set_environment",
]

# What onCheckProgress answers while the log says nothing about progress yet.
UNKNOWN_PROGRESS = -1.0

_TRUE = {"1", "true", "yes", "on"}


def enable_platforms(template: MTemplate, *, frames_floating: bool = False) -> None:
    """Enable the template on Linux, Windows and macOS, error checks on."""
    for platform in template.platforms():
        platform.setPlatformEnabled(1)
        platform.setEnabledByDefault(1)
        platform.setEnableErrorCheck(1)
        platform.setFramesFloating(int(frames_floating))
        platform.setDetectionLogic(kProcessDirect)


def add_application_item(
    template: MTemplate,
    name: str,
    label: str,
    defaults: Mapping[int, str],
) -> None:
    """Declare the client configuration item `name` holding the application's path,
    with its default per platform (`{kPlatformLinux: "/usr/bin/blender", ...}`)."""
    filters = {kPlatformWindows: "*.exe", kPlatformMac: "*", kPlatformLinux: "*"}
    for platform in template.platforms():
        constant = platform.getPlatform()
        platform.addClientConfigurationItem(
            MTemplateItemFile(
                name,
                label,
                "Where the application is installed on this node",
                defaults.get(constant, ""),
                0,
                0,
                1,
                filters[constant],
            )
        )


def add_threads_item(template: MTemplate, name: str, default: int = 0) -> None:
    """Declare a per-node thread count item on every platform (0: the application decides)."""
    for platform in template.platforms():
        platform.addClientConfigurationItem(
            MTemplateItemInteger(
                name,
                "Render threads",
                "Threads one render may use on this node; 0 lets the application decide",
                default,
                0,
                0,
                1,
            )
        )


def add_mapped_items(template: MTemplate, items: Iterable[tuple[MTemplateItem, str]]) -> None:
    """Declare submission items, each mapped to its Muster job attribute (`job_file`, ...)."""
    for item, attribute in items:
        template.addSubmissionItem(item)
        template.addMapping(item.getName(), attribute)


def add_environment_item(
    template: MTemplate, name: str, label: str, description: str, *, folder: bool = False
) -> None:
    """Declare on every platform a per-node text (or folder) item, empty by default, whose
    value the template's onBuildEnvironment passes on (`set_environment`)."""
    kind = MTemplateItemFolder if folder else MTemplateItemString
    for platform in template.platforms():
        platform.addClientConfigurationItem(kind(name, label, description, "", 0, 0, 1))


def set_environment(
    environment: Any, preferences: Mapping[str, Any], variables: Mapping[str, str]
) -> None:
    """Set each environment variable from the node's item that feeds it, where the node
    gives a value (`{"NUKELICENSE": "foundry_LICENSE"}`); an empty one keeps the node's."""
    for item, variable in variables.items():
        value = str(preferences.get(item) or "")
        if value:
            environment.setValue(variable, value)


def exit_code_check(exit_code: int, program: str) -> MTemplateError:
    """Success for exit code 0, else an error naming `program` and the code (or the signal
    that killed it: a negative code, or a shell's 128 + N)."""
    if exit_code == 0:
        return MTemplateError()
    if exit_code < 0 or exit_code > 128:
        what = f"{program} was killed by signal {abs(exit_code) % 128}"
    else:
        what = f"{program} exited with code {exit_code}"
    return MTemplateError(exit_code, what, kTemplateErrorTypeError)


class BundledTemplate(MTemplate):
    """A template whose application is a client configuration item (`APPLICATION_ITEM`),
    whose log is judged by `RULES` and whose exit code 0 alone is success (errors name
    `PROGRAM`). A template overrides any of the three callbacks it judges otherwise.
    """

    APPLICATION_ITEM = ""
    PROGRAM = "the program"
    RULES: Sequence[LogRule] = ()

    def onGetApplicationPath(
        self, job: MJob, clientTemplatePreferences: dict[str, Any], pathOut: MStringRef
    ) -> MTemplateError:
        pathOut.setString(application(self, clientTemplatePreferences, self.APPLICATION_ITEM))
        return MTemplateError()

    def onCheckLog(
        self, job: MJob, chunk: MChunk, clientTemplatePreferences: dict[str, Any], log: str
    ) -> MTemplateError:
        return check_log(self.RULES, log)

    def onCheckExitCode(
        self, job: MJob, chunk: MChunk, clientTemplatePreferences: dict[str, Any], exitCode: int
    ) -> MTemplateError:
        return exit_code_check(exitCode, self.PROGRAM)


def application(template: MTemplate, preferences: Mapping[str, Any], name: str) -> str:
    """The node's value of the application item `name`; raises ValueError when empty."""
    value = str(preferences.get(name) or "").strip()
    if not value:
        raise ValueError(
            f"the {template.getName()} application is not configured on this node: "
            f"set {template.getKey()}:{name}"
        )
    return value


def field(template: MTemplate, job: MJob, name: str) -> str:
    """The job's value of the submission item `name`.

    Read from the job attribute the item is mapped to (what
    `resolveMappingToJob` answers), else from the item's own name; the item's
    default when the job has neither.
    """
    attribute = template.getMappings().get(name, name)
    value = job.attributeGetString(attribute)
    if value == "" and attribute != name:
        value = job.attributeGetString(name)
    if value != "":
        return value
    for item in template.getSubmissionItems():
        if item.getName() == name:
            default = item.getDefaultValue()
            return "" if default is None else str(default)
    return ""


def field_number(template: MTemplate, job: MJob, name: str) -> float:
    """A numeric submission item; 0 when empty; ValueError naming it when not a number."""
    text = field(template, job, name).strip()
    if not text:
        return 0.0
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"{name} must be a number, not {text!r}") from None


def field_flag(template: MTemplate, job: MJob, name: str) -> bool:
    """A boolean submission item ("1", "true", "yes" or "on" are true)."""
    return field(template, job, name).strip().lower() in _TRUE


def chunk_frames(job: MJob, chunk: MChunk) -> list[Decimal]:
    """The frames of `chunk`, stepping by the job's frame step."""
    by = frame(job.to_dict().get("by", 1))
    if by <= 0:
        raise ValueError(f"the frame step must be positive, not {by}")
    frames, current = [], frame(chunk.getStartFrame())
    last = frame(chunk.getEndFrame())
    while current <= last:
        frames.append(current)
        current += by
    return frames


@dataclass(frozen=True, slots=True)
class LogRule:
    """A log line that means something: `pattern` is searched line by line.

    `message` may use the match's groups (`{0}` the whole line, `{1}`...).
    An error fails the chunk; `abort` also stops the render at once when the
    line is seen while the process still runs. A warning is logged and counted.
    """

    pattern: re.Pattern[str]
    message: str
    warning: bool = False
    abort: bool = False
    code: int = 1

    @classmethod
    def error(cls, pattern: str, message: str, *, abort: bool = False, code: int = 1) -> LogRule:
        return cls(re.compile(pattern), message, False, abort, code)

    @classmethod
    def warn(cls, pattern: str, message: str, *, code: int = 2) -> LogRule:
        return cls(re.compile(pattern), message, True, False, code)

    def verdict(self, match: re.Match[str]) -> MTemplateError:
        text = self.message.format(match.group(0).strip(), *match.groups(default=""))
        kind = kTemplateErrorTypeWarning if self.warning else kTemplateErrorTypeError
        error = MTemplateError(self.code, text, kind)
        if self.abort:
            error.addErrorAction(kTemplateErrorAbortRender)
        return error


def _lines(log: str) -> Iterable[str]:
    # Progress counters redraw with a carriage return: each redraw is a line.
    return re.split(r"\r\n|\r|\n", log)


def check_log(rules: Sequence[LogRule], log: str) -> MTemplateError:
    """The first error a rule finds in `log`, else the first warning, else success."""
    warning: MTemplateError | None = None
    for line in _lines(log):
        for rule in rules:
            match = rule.pattern.search(line)
            if match is None:
                continue
            if not rule.warning:
                return rule.verdict(match)
            if warning is None:
                warning = rule.verdict(match)
    return warning if warning is not None else MTemplateError()


def progress_percent(done: float, total: float) -> float:
    """`done` of `total` as a percent clamped to 0..100 (UNKNOWN_PROGRESS without a total)."""
    if total <= 0:
        return UNKNOWN_PROGRESS
    return max(0.0, min(100.0, 100.0 * done / total))
