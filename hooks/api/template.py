"""Muster's template API (imported by template files as `MTemplateAPI`).

A template file defines an `MTemplate` subclass and installs one instance::

    class Blender(MTemplateAPI.MTemplate):
        def __init__(self):
            MTemplateAPI.MTemplate.__init__(self)
            self.setID(20)
            self.setName("Blender")

    MTemplateAPI.MManager.getUniqueClass().installPyTemplate(Blender())

The `on...` methods are virtual: the render client calls the command-line,
environment and result hooks; the dispatcher-side hooks arrive later. A hook
a template does not override keeps the default behaviour documented here.

Names marked GUESS in the comments follow Muster's naming where no public
source shows the value; Corral keeps them stable from here on.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, ClassVar

from hooks.api.items import (
    MTemplateItem,
    MTemplateItemBoolean,
    MTemplateItemCombo,
    MTemplateItemDouble,
    MTemplateItemFile,
    MTemplateItemFolder,
    MTemplateItemInteger,
    MTemplateItemString,
)
from hooks.api.objects import MChunk, MJob, MStringRef
from hooks.api.template_values import (
    MEnvironment,
    MTemplateError,
    MTemplatePlatform,
    current_platform,
    kPlatformLinux,
    kPlatformMac,
    kPlatformWindows,
    kProcessAny,
    kProcessChild,
    kProcessDirect,
    kTemplateBroadcast,
    kTemplateErrorAbortRender,
    kTemplateErrorExcludeNode,
    kTemplateErrorPauseJob,
    kTemplateErrorRequeueChunk,
    kTemplateErrorTypeError,
    kTemplateErrorTypeInfo,
    kTemplateErrorTypeWarning,
    kTemplateImageSlicing,
    kTemplateMultiframe,
    kTemplateTargetHost,
)

__all__ = [
    "MEnvironment",
    "MManager",
    "MStringRef",
    "MTemplate",
    "MTemplateError",
    "MTemplateItem",
    "MTemplateItemBoolean",
    "MTemplateItemCombo",
    "MTemplateItemDouble",
    "MTemplateItemFile",
    "MTemplateItemFolder",
    "MTemplateItemInteger",
    "MTemplateItemString",
    "MTemplatePlatform",
    "current_platform",
    "kPlatformLinux",
    "kPlatformMac",
    "kPlatformWindows",
    "kProcessAny",
    "kProcessChild",
    "kProcessDirect",
    "kTemplateBroadcast",
    "kTemplateErrorAbortRender",
    "kTemplateErrorExcludeNode",
    "kTemplateErrorPauseJob",
    "kTemplateErrorRequeueChunk",
    "kTemplateErrorTypeError",
    "kTemplateErrorTypeInfo",
    "kTemplateErrorTypeWarning",
    "kTemplateImageSlicing",
    "kTemplateMultiframe",
    "kTemplateTargetHost",
]

logger = logging.getLogger(__name__)


def default_key(name: str) -> str:
    """A template key made from its name: "Maya (Arnold)" -> "maya__arnold_"."""
    return re.sub(r"[^a-z0-9]", "_", name.lower())


class MTemplate:
    """Base class of every template; subclasses call `MTemplate.__init__(self)` first."""

    def __init__(self) -> None:
        self._id = 0
        self._name = ""
        self._key: str | None = None
        self._description = ""
        self._logic = kTemplateMultiframe
        # Corral's own default priority until the template sets one (setDefaultPriority).
        self._default_priority = 50
        self._default_pools = ""
        self._default_excluded_pools = ""
        self._default_maximum_nodes = 0
        self._maximum_licenses = 0
        self._licenses_group = ""
        self._delay_group = ""
        self._delay_s = 0
        self._items: list[MTemplateItem] = []
        self._mappings: dict[str, str] = {}
        self._progress_pattern = ""
        self._frame_pattern = ""
        self._output_pattern = ""
        self.platformWindows = MTemplatePlatform(kPlatformWindows)
        self.platformMac = MTemplatePlatform(kPlatformMac)
        self.platformLinux = MTemplatePlatform(kPlatformLinux)

    # Identity.

    def setID(self, template_id: int) -> None:
        self._id = int(template_id)

    def getID(self) -> int:
        return self._id

    def setName(self, name: str) -> None:
        self._name = str(name)

    def getName(self) -> str:
        return self._name

    def setKey(self, key: str) -> None:
        """Corral's unique string key ("cmdline"); defaults to the name made identifier-like."""
        self._key = str(key)

    def getKey(self) -> str:
        if self._key:
            return self._key
        return default_key(self._name) or f"template_{self._id}"

    def setDescription(self, description: str) -> None:
        self._description = str(description)

    def getDescription(self) -> str:
        return self._description

    # Defaults and limits.

    def setTemplateLogic(self, logic: int) -> None:
        self._logic = int(logic)

    def getTemplateLogic(self) -> int:
        return self._logic

    def setDefaultPriority(self, priority: int) -> None:
        self._default_priority = int(priority)

    def getDefaultPriority(self) -> int:
        return self._default_priority

    def setDefaultPools(self, pools: str) -> None:
        self._default_pools = str(pools)

    def getDefaultPools(self) -> str:
        return self._default_pools

    def setDefaultExcludedPools(self, pools: str) -> None:
        self._default_excluded_pools = str(pools)

    def getDefaultExcludedPools(self) -> str:
        return self._default_excluded_pools

    def setDefaultMaximumNodes(self, count: int) -> None:
        """How many nodes a job of this template may use at once when it does not say;
        0 means no limit (Corral's, by analogy with MJob.setMaximumNodes)."""
        self._default_maximum_nodes = int(count)

    def getDefaultMaximumNodes(self) -> int:
        return self._default_maximum_nodes

    def setMaximumLicenses(self, count: int) -> None:
        """How many chunks of this template may run at once farm-wide; 0 means no limit."""
        self._maximum_licenses = int(count)

    def getMaximumLicenses(self) -> int:
        return self._maximum_licenses

    def setLicensesGroup(self, group: str) -> None:
        self._licenses_group = str(group)

    def getLicensesGroup(self) -> str:
        return self._licenses_group

    def setDelayGroup(self, group: str) -> None:
        self._delay_group = str(group)

    def getDelayGroup(self) -> str:
        return self._delay_group

    def setDelay(self, seconds: int) -> None:
        """Seconds between two chunk starts in the same delay group."""
        self._delay_s = int(seconds)

    def getDelay(self) -> int:
        return self._delay_s

    # What the render client reads from the log and checks after a chunk (Corral's own;
    # docs/templates.md "Progress, frames and outputs").

    def setProgressPattern(self, pattern: str) -> None:
        """A regular expression whose first group is the render's percent (0-100), read
        from the log as it streams; the last match wins."""
        self._progress_pattern = str(pattern)

    def getProgressPattern(self) -> str:
        return self._progress_pattern

    def setFramePattern(self, pattern: str) -> None:
        """A regular expression matching one log line per finished frame."""
        self._frame_pattern = str(pattern)

    def getFramePattern(self) -> str:
        return self._frame_pattern

    def setOutputPattern(self, pattern: str) -> None:
        """The file each frame writes, checked after a chunk: `{attribute}` is a job
        attribute, a run of `#` the zero-padded frame, `{frame}` the frame as is
        ("{output_folder}/frame_####.png")."""
        self._output_pattern = str(pattern)

    def getOutputPattern(self) -> str:
        return self._output_pattern

    # Submission form.

    def addSubmissionItem(self, item: MTemplateItem) -> None:
        self._items.append(item)

    def getSubmissionItems(self) -> list[MTemplateItem]:
        return list(self._items)

    def addMapping(self, field: str, attribute: str) -> None:
        """Store the submission field `field` in the job attribute `attribute`."""
        self._mappings[str(field)] = str(attribute)

    def getMappings(self) -> dict[str, str]:
        return dict(self._mappings)

    def platforms(self) -> list[MTemplatePlatform]:
        return [self.platformWindows, self.platformMac, self.platformLinux]

    def overrides(self, method: str) -> bool:
        """True when this template's class replaces the base hook `method`."""
        base = getattr(MTemplate, method, None)
        return base is not None and getattr(type(self), method, None) is not base

    def to_dict(self) -> dict[str, Any]:
        """A summary for the REST API and the console."""
        return {
            "id": self._id,
            "key": self.getKey(),
            "name": self._name,
            "description": self._description,
            "logic": self._logic,
            "default_priority": self._default_priority,
            "default_pools": self._default_pools,
            "default_excluded_pools": self._default_excluded_pools,
            "default_maximum_nodes": self._default_maximum_nodes,
            "maximum_licenses": self._maximum_licenses,
            "licenses_group": self._licenses_group,
            "delay_group": self._delay_group,
            "delay_s": self._delay_s,
            "items": [item.to_dict() for item in self._items],
            "mappings": dict(self._mappings),
            "progress_pattern": self._progress_pattern,
            "frame_pattern": self._frame_pattern,
            "output_pattern": self._output_pattern,
            "platforms": {
                name: platform.to_dict()
                for name, platform in (
                    ("windows", self.platformWindows),
                    ("mac", self.platformMac),
                    ("linux", self.platformLinux),
                )
            },
            "client_configuration": {
                name: [item.to_dict() for item in platform.getClientConfigurationItems()]
                for name, platform in (
                    ("windows", self.platformWindows),
                    ("mac", self.platformMac),
                    ("linux", self.platformLinux),
                )
            },
        }

    def platform_settings(self, platform: int) -> MTemplatePlatform:
        """The `platformWindows` / `platformMac` / `platformLinux` of a platform constant."""
        by_constant = {
            kPlatformWindows: self.platformWindows,
            kPlatformMac: self.platformMac,
            kPlatformLinux: self.platformLinux,
        }
        return by_constant.get(platform, self.platformLinux)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} id={self._id} key={self.getKey()!r}>"

    # Render-client hooks. The defaults describe a template that does nothing special.

    def onBuildCommandLine(
        self,
        platform: int,
        job: MJob,
        chunk: MChunk,
        clientTemplatePreferences: dict[str, Any],
        instanceNum: int,
    ) -> str:
        """The arguments to run (the executable comes from onGetApplicationPath)."""
        return ""

    def onBuildAdditionalParameters(
        self,
        platform: int,
        job: MJob,
        chunk: MChunk,
        clientTemplatePreferences: dict[str, Any],
        instanceNum: int,
    ) -> str:
        """More arguments, appended after onBuildCommandLine's (signature a GUESS)."""
        return ""

    def onBuildEnvironment(
        self,
        job: MJob,
        chunk: MChunk,
        clientTemplatePreferences: dict[str, Any],
        existingEnvironment: MEnvironment,
    ) -> MEnvironment:
        """The process environment; change `existingEnvironment` and return it."""
        return existingEnvironment

    def onGetApplicationPath(
        self, job: MJob, clientTemplatePreferences: dict[str, Any], pathOut: MStringRef
    ) -> MTemplateError:
        """Write the executable into `pathOut`; leave it empty when the command line has it."""
        return MTemplateError()

    def onGetApplicationStartingFolder(
        self, job: MJob, clientTemplatePreferences: dict[str, Any], pathOut: MStringRef
    ) -> MTemplateError:
        """Write the process's working folder into `pathOut`; empty keeps the client's."""
        return MTemplateError()

    def onCheckLog(
        self, job: MJob, chunk: MChunk, clientTemplatePreferences: dict[str, Any], log: str
    ) -> MTemplateError:
        """Judge the end of the process's log; the default finds nothing wrong."""
        return MTemplateError()

    def onCheckExitCode(
        self, job: MJob, chunk: MChunk, clientTemplatePreferences: dict[str, Any], exitCode: int
    ) -> MTemplateError:
        """Judge the exit code; the default fails any code but 0."""
        if exitCode == 0:
            return MTemplateError()
        return MTemplateError(exitCode, f"the process exited with code {exitCode}")

    def onCheckProgress(
        self, job: MJob, chunk: MChunk, clientTemplatePreferences: dict[str, Any], log: str
    ) -> float:
        """Corral's own (Muster has no progress callback): the percent (0-100) of the
        chunk that `log`, the log so far, shows done, or -1 while it shows nothing.
        Called while the process runs, only when a template overrides it; an answer of
        0 or more replaces what the progress pattern reads (docs/templates.md)."""
        return -1.0

    def onClientIdling(
        self, clientTemplatePreferences: dict[str, Any], instanceNum: int
    ) -> MTemplateError:
        """In the render client, every idle interval while the instance runs nothing
        (signature a GUESS); MInstanceAPI works here."""
        return MTemplateError()

    # Dispatcher hooks: they run in the dispatcher's hook host with MDispatcherAPI.
    # The dispatcher calls only the ones a template overrides (docs/hooks.md);
    # these defaults say what not overriding one means.

    def onDispatcherOverrideImpersonationUser(
        self, userName: str, ownerOut: MStringRef
    ) -> MTemplateError:
        """Job-less: write the owner a submission by `userName` gets into `ownerOut`."""
        return MTemplateError()

    def onValidateJobSubmission(self, job: MJob) -> MTemplateError:
        """A non-zero code refuses the submission; its description reaches the submitter."""
        return MTemplateError()

    def onSubmitJob(self, job: MJob) -> MTemplateError:
        """Change `job` in place before it is queued; a non-zero code refuses it."""
        return MTemplateError()

    def onEditJob(self, job: MJob) -> MTemplateError:
        """`job` as an edit would leave it: change it further, or refuse with a non-zero code."""
        return MTemplateError()

    def onJobPropertiesChanged(self, job: MJob) -> MTemplateError:
        """After an edit, pause, resume or move of the job."""
        return MTemplateError()

    def onDeleteJob(self, job: MJob) -> MTemplateError:
        """After the job was deleted (`job` is its last state)."""
        return MTemplateError()

    def onReinitJob(self, job: MJob) -> MTemplateError:
        """After every chunk of the job was queued again."""
        return MTemplateError()

    def onJobStart(self, job: MJob) -> MTemplateError:
        """When the job's first chunk is assigned (again after a reinit)."""
        return MTemplateError()

    def onJobCompleted(self, job: MJob) -> MTemplateError:
        """When every chunk is done or skipped (not when the job failed)."""
        return MTemplateError()

    def onJobEnd(self, job: MJob) -> MTemplateError:
        """When the job ends, done or failed (after onJobCompleted)."""
        return MTemplateError()

    def onValidateJobDependancies(self, job: MJob) -> MTemplateError:
        """A non-zero code holds the whole job back; it is asked again later."""
        return MTemplateError()

    def onValidateChunkDependancies(self, job: MJob, chunk: MChunk) -> MTemplateError:
        """A non-zero code holds this chunk back; it is asked again later."""
        return MTemplateError()

    def onDispatcherIdling(self) -> MTemplateError:
        """Job-less: every idle_hook_interval_s while a connected node runs nothing."""
        return MTemplateError()


class MManager:
    """The registry templates install themselves into.

    `getUniqueClass()` is process-wide; a template loader swaps in a fresh
    manager while it runs template files (see `MManager.use`).
    """

    _unique: ClassVar[MManager | None] = None
    _swap_lock: ClassVar[threading.RLock] = threading.RLock()

    def __init__(self) -> None:
        self._templates: dict[str, MTemplate] = {}

    @classmethod
    def getUniqueClass(cls) -> MManager:
        manager = cls._unique
        if manager is None:
            with cls._swap_lock:
                if cls._unique is None:
                    cls._unique = cls()
                manager = cls._unique
        return manager

    @classmethod
    def set_unique(cls, manager: MManager) -> None:
        """Make `manager` the process-wide one (a render client's loaded template set)."""
        with cls._swap_lock:
            cls._unique = manager

    @classmethod
    @contextmanager
    def use(cls, manager: MManager) -> Iterator[MManager]:
        """Make `manager` the process-wide one for the block, then restore the previous one."""
        with cls._swap_lock:
            previous = cls._unique
            cls._unique = manager
            try:
                yield manager
            finally:
                cls._unique = previous

    def installPyTemplate(self, template: MTemplate) -> None:
        """Install `template`; it replaces any installed template with the same id or key."""
        if not isinstance(template, MTemplate):
            raise TypeError(f"installPyTemplate needs an MTemplate, not {type(template).__name__}")
        if template.getID() <= 0:
            raise ValueError(f"template {template.getName()!r} has no positive id (call setID)")
        key = template.getKey()
        for old_key, old in list(self._templates.items()):
            if old_key == key or old.getID() == template.getID():
                logger.info(
                    "template %s (id %d) replaces %s (id %d)",
                    key,
                    template.getID(),
                    old_key,
                    old.getID(),
                    extra={"action": "template_replaced"},
                )
                del self._templates[old_key]
        self._templates[key] = template

    def resolveMappingToJob(self, templateId: int, field: str) -> str:
        """The job attribute the template's submission field `field` is stored in.

        A field without a mapping is stored under its own name; "" when no
        template with that id is installed.
        """
        template = self.get_template(int(templateId))
        if template is None:
            return ""
        return template.getMappings().get(field, field)

    def get_template(self, key_or_id: str | int) -> MTemplate | None:
        """The installed template with this key or id ("cmdline", "1" or 1)."""
        if isinstance(key_or_id, str):
            found = self._templates.get(key_or_id)
            if found is not None:
                return found
            text = key_or_id.strip()
            if not text.lstrip("-").isdecimal():
                return None
            key_or_id = int(text)
        for template in self._templates.values():
            if template.getID() == key_or_id:
                return template
        return None

    def list_templates(self) -> list[MTemplate]:
        """The installed templates, by id."""
        return sorted(self._templates.values(), key=lambda template: template.getID())

    def clear(self) -> None:
        self._templates.clear()
