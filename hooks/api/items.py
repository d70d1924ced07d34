"""Template items: the fields of a template's submission form and node configuration.

Re-exported by `hooks.api.template` (and so by `MTemplateAPI`).
"""

from __future__ import annotations

import fnmatch
import re
from typing import Any, ClassVar

__all__ = [
    "MTemplateItem",
    "MTemplateItemBoolean",
    "MTemplateItemCombo",
    "MTemplateItemDouble",
    "MTemplateItemFile",
    "MTemplateItemFolder",
    "MTemplateItemInteger",
    "MTemplateItemString",
]


class MTemplateItem:
    """A field of the submission form or of a node's template configuration.

    Muster's constructors take (name, label, description, default, advanced,
    required, visible), then a file item's filter. Public templates pass
    (0, 1, 1) for the one field a job cannot do without (the scene file) and
    (0, 0, 1) for the others, so Corral reads the three integers as
    advanced (shown folded away in a form), required (a job must give a
    non-empty value) and visible (shown in a form at all): a GUESS, kept
    stable from here on (docs/templates.md, "Submission items").
    """

    kind: ClassVar[str] = "item"

    def __init__(
        self,
        name: str,
        label: str,
        description: str,
        default: Any,
        advanced: int = 0,
        required: int = 0,
        visible: int = 1,
    ) -> None:
        self._name = str(name)
        self._label = str(label)
        self._description = str(description)
        self._default = default
        self._flags = (int(advanced), int(required), int(visible))

    def getName(self) -> str:
        return self._name

    def getLabel(self) -> str:
        return self._label

    def getDescription(self) -> str:
        return self._description

    def getDefaultValue(self) -> Any:
        return self._default

    def getFlags(self) -> tuple[int, int, int]:
        return self._flags

    def isAdvanced(self) -> bool:
        return bool(self._flags[0])

    def isRequired(self) -> bool:
        return bool(self._flags[1])

    def isVisible(self) -> bool:
        return bool(self._flags[2])

    def getType(self) -> str:
        return self.kind

    def to_dict(self) -> dict[str, Any]:
        """The item as the REST API and the console's submission form describe it."""
        return {
            "name": self._name,
            "type": self.kind,
            "label": self._label,
            "description": self._description,
            "default": self._default,
            "advanced": self.isAdvanced(),
            "required": self.isRequired(),
            "visible": self.isVisible(),
        }

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._name!r}, {self._label!r})"


class MTemplateItemString(MTemplateItem):
    kind = "string"

    def __init__(
        self,
        name: str,
        label: str,
        description: str,
        default: str = "",
        advanced: int = 0,
        required: int = 0,
        visible: int = 1,
    ) -> None:
        super().__init__(name, label, description, str(default), advanced, required, visible)


class MTemplateItemFolder(MTemplateItemString):
    kind = "folder"


class MTemplateItemFile(MTemplateItem):
    """A file field; `filter` is a glob pattern list such as "*.blend" or "*.*"."""

    kind = "file"

    def __init__(
        self,
        name: str,
        label: str,
        description: str,
        default: str = "",
        advanced: int = 0,
        required: int = 0,
        visible: int = 1,
        filter: str = "*.*",
    ) -> None:
        super().__init__(name, label, description, str(default), advanced, required, visible)
        self._filter = str(filter)

    def getFilter(self) -> str:
        return self._filter

    def accepts(self, path: str) -> bool:
        """True when the file name of `path` matches the filter (`filter_accepts`)."""
        return filter_accepts(self._filter, path)

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "filter": self._filter}


class _Numeric(MTemplateItem):
    """A number with optional bounds (Corral's: Muster's constructors have none;
    give them as `minimum=`/`maximum=` or with `setRange`)."""

    _minimum: float | None = None
    _maximum: float | None = None

    def setRange(self, minimum: float | None, maximum: float | None) -> None:
        """The smallest and largest value a job may give (None: no bound)."""
        if minimum is not None and maximum is not None and minimum > maximum:
            raise ValueError(f"{self._name}: minimum {minimum} is above maximum {maximum}")
        self._minimum = None if minimum is None else self._number(minimum)
        self._maximum = None if maximum is None else self._number(maximum)

    def setMinValue(self, minimum: float | None) -> None:
        self.setRange(minimum, self._maximum)

    def setMaxValue(self, maximum: float | None) -> None:
        self.setRange(self._minimum, maximum)

    def getMinValue(self) -> float | None:
        return self._minimum

    def getMaxValue(self) -> float | None:
        return self._maximum

    @staticmethod
    def _number(value: float) -> float:
        return value

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "minimum": self._minimum, "maximum": self._maximum}


class MTemplateItemInteger(_Numeric):
    kind = "integer"

    def __init__(
        self,
        name: str,
        label: str,
        description: str,
        default: int = 0,
        advanced: int = 0,
        required: int = 0,
        visible: int = 1,
        *,
        minimum: int | None = None,
        maximum: int | None = None,
    ) -> None:
        super().__init__(name, label, description, int(default), advanced, required, visible)
        self.setRange(minimum, maximum)

    @staticmethod
    def _number(value: float) -> float:
        return int(value)


class MTemplateItemDouble(_Numeric):
    kind = "double"

    def __init__(
        self,
        name: str,
        label: str,
        description: str,
        default: float = 0.0,
        advanced: int = 0,
        required: int = 0,
        visible: int = 1,
        *,
        minimum: float | None = None,
        maximum: float | None = None,
    ) -> None:
        super().__init__(name, label, description, float(default), advanced, required, visible)
        self.setRange(minimum, maximum)

    @staticmethod
    def _number(value: float) -> float:
        return float(value)


class MTemplateItemBoolean(MTemplateItem):
    kind = "boolean"

    def __init__(
        self,
        name: str,
        label: str,
        description: str,
        default: bool = False,
        advanced: int = 0,
        required: int = 0,
        visible: int = 1,
    ) -> None:
        super().__init__(name, label, description, bool(default), advanced, required, visible)


class MTemplateItemCombo(MTemplateItem):
    """A choice among `options` (a list, or a comma-separated string)."""

    kind = "combo"

    def __init__(
        self,
        name: str,
        label: str,
        description: str,
        default: str = "",
        options: list[str] | tuple[str, ...] | str = (),
        advanced: int = 0,
        required: int = 0,
        visible: int = 1,
    ) -> None:
        super().__init__(name, label, description, str(default), advanced, required, visible)
        if isinstance(options, str):
            options = [part.strip() for part in options.split(",") if part.strip()]
        self._options = [str(option) for option in options]

    def getOptions(self) -> list[str]:
        return list(self._options)

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "options": list(self._options)}


# A filter's patterns: "*.katana", "*.mb;*.ma", "*.exr *.tif", "Scenes (*.ma)|*.ma".
_PATTERN = re.compile(r"[^\s;,|()]+")
_ANY = {"*", "*.*"}


def filter_patterns(text: str) -> list[str]:
    """The glob patterns of a file item's filter; [] means any file."""
    patterns = [part for part in _PATTERN.findall(text) if "*" in part or "?" in part]
    return [] if not patterns or _ANY & set(patterns) else patterns


def filter_accepts(text: str, path: str) -> bool:
    """True when the file name of `path` (either slash) matches one of the filter's
    patterns, ignoring case; "*" and "*.*" take any file, as on Muster's Windows forms."""
    patterns = filter_patterns(text)
    if not patterns:
        return True
    name = re.split(r"[\\/]", path)[-1].lower()
    return any(fnmatch.fnmatchcase(name, pattern.lower()) for pattern in patterns)
