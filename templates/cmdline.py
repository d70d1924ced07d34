"""Command line: runs the job's own command, one process per chunk or per frame.

The job's `command` is a list of arguments. `{start}` and `{end}` in it
become the chunk's first and last frame; `{frame}` makes one process per
frame. The command is never handed to a shell, and names its own program, so
there is no application path to configure. Exit code 0 is success unless the
job lists others in `ok_exit_codes` ("0,1" for a tool that answers 1 for
"copied files"); the log is not read.
"""

from __future__ import annotations

import shlex
from typing import TYPE_CHECKING, Any

import MTemplateAPI

if TYPE_CHECKING:
    from hooks.api.objects import MChunk, MJob


class CommandLineTemplate(MTemplateAPI.MTemplate):
    def __init__(self) -> None:
        MTemplateAPI.MTemplate.__init__(self)
        self.setID(1)
        self.setKey("cmdline")
        self.setName("Command line")
        self.setDescription("Runs the job's command with {start}, {end} or {frame} filled in")
        self.setTemplateLogic(MTemplateAPI.kTemplateMultiframe)
        self.setDefaultPriority(50)
        codes = MTemplateAPI.MTemplateItemString(
            "CMDOKCODES",
            "Success exit codes",
            "Comma-separated exit codes that mean success",
            "0",
            1,
            0,
            1,
        )
        self.addSubmissionItem(codes)
        self.addMapping("CMDOKCODES", "ok_exit_codes")
        for platform in self.platforms():
            platform.setPlatformEnabled(1)
            platform.setEnabledByDefault(1)
            platform.setEnableErrorCheck(1)
            platform.setDetectionLogic(MTemplateAPI.kProcessDirect)

    def onBuildCommandLine(
        self,
        platform: int,
        job: MJob,
        chunk: MChunk,
        clientTemplatePreferences: dict[str, Any],
        instanceNum: int,
    ) -> str:
        # The placeholders stay as they are: the render client fills them in.
        return shlex.join(job.to_dict()["command"])

    def onCheckExitCode(
        self, job: MJob, chunk: MChunk, clientTemplatePreferences: dict[str, Any], exitCode: int
    ) -> MTemplateAPI.MTemplateError:
        if exitCode in self.success_codes(job):
            return MTemplateAPI.MTemplateError()
        return MTemplateAPI.MTemplateError(
            exitCode or 1,
            f"the command exited with code {exitCode}",
            MTemplateAPI.kTemplateErrorTypeError,
        )

    def success_codes(self, job: MJob) -> set[int]:
        """The exit codes that mean success: the job's `ok_exit_codes`, else 0."""
        text = job.attributeGetString("ok_exit_codes") or job.attributeGetString("CMDOKCODES")
        codes = set()
        for part in (text or "0").replace(";", ",").split(","):
            if part.strip():
                try:
                    codes.add(int(part))
                except ValueError:
                    raise ValueError(
                        f"ok_exit_codes: {part.strip()!r} is not an exit code"
                    ) from None
        return codes or {0}


MTemplateAPI.MManager.getUniqueClass().installPyTemplate(CommandLineTemplate())
