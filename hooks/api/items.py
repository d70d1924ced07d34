"""Template items: the fields of a template's submission form and node configuration.

Re-exported by `hooks.api.template` (and so by `MTemplateAPI`).
"""

from __future__ import annotations

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

    The three integer flags follow Muster's constructors; public templates pass
    (0, 1, 1) for a required file and (0, 0, 1) otherwise, so Corral reads them
    as (advanced, required, visible), a GUESS.
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

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "filter": self._filter}


class MTemplateItemInteger(MTemplateItem):
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
    ) -> None:
        super().__init__(name, label, description, int(default), advanced, required, visible)


class MTemplateItemDouble(MTemplateItem):
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
    ) -> None:
        super().__init__(name, label, description, float(default), advanced, required, visible)


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
