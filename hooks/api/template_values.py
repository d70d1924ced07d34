"""The values of Muster's template API: its constants, a hook's verdict
(`MTemplateError`), a render's environment (`MEnvironment`) and a template's
settings for one platform (`MTemplatePlatform`). `hooks.api.template` (and so
`MTemplateAPI`) re-exports every name.

Names marked GUESS in the comments follow Muster's naming where no public
source shows the value; Corral keeps them stable from here on.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any

from hooks.api.items import MTemplateItem

# Template logic: how a job's frames become work. Multiframe is 1 as in the
# packetType Muster's REST API sends for such a job; the rest are GUESS.
kTemplateMultiframe = 1
kTemplateImageSlicing = 2
kTemplateBroadcast = 3
kTemplateTargetHost = 4

# How the render client finds the rendering process (GUESS values).
kProcessDirect = 0
kProcessChild = 1
kProcessAny = 2

# Platforms (GUESS values).
kPlatformWindows = 0
kPlatformMac = 1
kPlatformLinux = 2

# MTemplateError types and actions. Only the type "error" and the action
# "abort render" appear in public templates; the others are Corral's (what each
# does: docs/templates.md, "Errors").
kTemplateErrorTypeError = 0
kTemplateErrorTypeWarning = 1
kTemplateErrorTypeInfo = 2
kTemplateErrorAbortRender = 1
kTemplateErrorRequeueChunk = 2
kTemplateErrorExcludeNode = 3
kTemplateErrorPauseJob = 4


def current_platform() -> int:
    """The platform constant of the machine this code runs on."""
    if sys.platform.startswith("win"):
        return kPlatformWindows
    if sys.platform == "darwin":
        return kPlatformMac
    return kPlatformLinux


class MTemplateError:
    """A hook's verdict: code 0 means success, anything else names a failure."""

    kTemplateErrorTypeError = kTemplateErrorTypeError
    kTemplateErrorTypeWarning = kTemplateErrorTypeWarning
    kTemplateErrorTypeInfo = kTemplateErrorTypeInfo
    kTemplateErrorAbortRender = kTemplateErrorAbortRender
    kTemplateErrorRequeueChunk = kTemplateErrorRequeueChunk
    kTemplateErrorExcludeNode = kTemplateErrorExcludeNode
    kTemplateErrorPauseJob = kTemplateErrorPauseJob

    def __init__(
        self, code: int = 0, description: str = "", type: int = kTemplateErrorTypeError
    ) -> None:
        self._code = int(code)
        self._description = str(description)
        self._type = int(type)
        self._actions: list[int] = []

    def getErrorCode(self) -> int:
        return self._code

    def getDescription(self) -> str:
        return self._description

    def getType(self) -> int:
        return self._type

    def addErrorAction(self, action: int) -> None:
        if action not in self._actions:
            self._actions.append(int(action))

    def getErrorActions(self) -> list[int]:
        return list(self._actions)

    def __repr__(self) -> str:
        return f"MTemplateError({self._code}, {self._description!r}, type={self._type})"


class MEnvironment:
    """The environment a render process gets; hooks change it with setValue."""

    def __init__(self, values: Mapping[str, str] | None = None) -> None:
        self._values: dict[str, str] = dict(values or {})

    def setValue(self, name: str, value: str) -> None:
        self._values[str(name)] = str(value)

    def getValue(self, name: str) -> str:
        """The variable's value, "" when it is not set."""
        return self._values.get(name, "")

    def removeValue(self, name: str) -> None:
        self._values.pop(name, None)

    def items(self) -> list[tuple[str, str]]:
        return list(self._values.items())

    def __contains__(self, name: object) -> bool:
        return name in self._values

    def to_dict(self) -> dict[str, str]:
        return dict(self._values)


class MTemplatePlatform:
    """A template's settings for one platform (`platformLinux`, ...)."""

    def __init__(self, platform: int) -> None:
        self._platform = platform
        self._enabled = False
        self._error_check = True
        self._enabled_by_default = False
        self._frames_floating = False
        self._detection_logic = kProcessDirect
        self._configuration: list[MTemplateItem] = []

    def getPlatform(self) -> int:
        return self._platform

    def setPlatformEnabled(self, enabled: int | bool) -> None:
        self._enabled = bool(enabled)

    def getPlatformEnabled(self) -> bool:
        return self._enabled

    def setEnableErrorCheck(self, enabled: int | bool) -> None:
        self._error_check = bool(enabled)

    def getEnableErrorCheck(self) -> bool:
        return self._error_check

    def setEnabledByDefault(self, enabled: int | bool) -> None:
        self._enabled_by_default = bool(enabled)

    def getEnabledByDefault(self) -> bool:
        return self._enabled_by_default

    def setFramesFloating(self, floating: int | bool) -> None:
        self._frames_floating = bool(floating)

    def getFramesFloating(self) -> bool:
        return self._frames_floating

    def setDetectionLogic(self, logic: int) -> None:
        self._detection_logic = int(logic)

    def getDetectionLogic(self) -> int:
        return self._detection_logic

    def addClientConfigurationItem(self, item: MTemplateItem) -> None:
        """A per-node setting (e.g. the application's folder), read as preferences."""
        self._configuration.append(item)

    def getClientConfigurationItems(self) -> list[MTemplateItem]:
        return list(self._configuration)

    def to_dict(self) -> dict[str, Any]:
        """The platform's switches, as the dispatcher's catalog keeps them."""
        return {
            "enabled": self._enabled,
            "error_check": self._error_check,
            "enabled_by_default": self._enabled_by_default,
            "frames_floating": self._frames_floating,
            "detection_logic": self._detection_logic,
        }
