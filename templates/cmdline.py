"""Command line: runs the job's own command, one process per chunk or per frame.

The job's `command` is a list of arguments. `{start}` and `{end}` in it
become the chunk's first and last frame; `{frame}` makes one process per
frame. The command is never handed to a shell.
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
        if exitCode == 0:
            return MTemplateAPI.MTemplateError()
        return MTemplateAPI.MTemplateError(exitCode, f"the command exited with code {exitCode}")


MTemplateAPI.MManager.getUniqueClass().installPyTemplate(CommandLineTemplate())
