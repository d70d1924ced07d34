"""A render node's client configuration: the values of its templates' configuration items.

The node's own values come from `--template-config TEMPLATE:KEY=VALUE`
options and from `template-config.json` or `template-config.toml` in the
state folder (the options win); the dispatcher's values (for this node and
its pools) arrive in the Welcome and in `template_config` commands. The
merge rule is in hooks/api/preferences.py: dispatcher > own > item default.
"""

from __future__ import annotations

import json
import logging
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from hooks.api.preferences import PLATFORM_NAMES, Layer, coerce, declared_items, merge
from hooks.api.template import MTemplate, current_platform

logger = logging.getLogger(__name__)

FILE_NAMES = ("template-config.json", "template-config.toml")
MAX_FILE_BYTES = 1024 * 1024
MAX_LOCAL_BYTES = 16 * 1024


class TemplateConfigError(ValueError):
    """A `--template-config` option or configuration file that cannot be read."""


def parse_option(text: str) -> tuple[str, str, str]:
    """`TEMPLATE:KEY=VALUE` as (template, key, value); raises TemplateConfigError."""
    template, colon, rest = text.partition(":")
    key, equals, value = rest.partition("=")
    if not colon or not equals or not template.strip() or not key.strip():
        raise TemplateConfigError(
            f"--template-config {text!r}: expected TEMPLATE:KEY=VALUE (e.g. katana:KATAPP=/opt/katana)"
        )
    return template.strip(), key.strip(), value


def parse_options(texts: Sequence[str]) -> Layer:
    """Every option as one layer; a later option for the same item wins."""
    layer: Layer = {}
    for text in texts:
        template, key, value = parse_option(text)
        layer.setdefault(template, {})[key] = value
    return layer


def read_file(state_dir: Path) -> tuple[Layer, Path | None]:
    """The layer of the state folder's configuration file, and the file (None: there is none).

    JSON or TOML, shaped `{template: {item: value}}`; both present is an error,
    so that no one edits a file that is not read.
    """
    present = [state_dir / name for name in FILE_NAMES if (state_dir / name).is_file()]
    if not present:
        return {}, None
    if len(present) > 1:
        raise TemplateConfigError(f"both {present[0]} and {present[1]} exist; keep one of them")
    path = present[0]
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise TemplateConfigError(f"{path} is over {MAX_FILE_BYTES} bytes")
        text = path.read_text(encoding="utf-8")
        data: Any = json.loads(text) if path.suffix == ".json" else tomllib.loads(text)
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise TemplateConfigError(f"cannot read {path}: {exc}") from exc
    if not isinstance(data, dict) or not all(
        isinstance(values, dict) and all(isinstance(key, str) for key in values)
        for values in data.values()
    ):
        raise TemplateConfigError(f"{path}: expected a table of templates, each a table of items")
    layer: Layer = {}
    for template, values in data.items():
        for key, value in values.items():
            if not isinstance(value, str | int | float | bool):
                raise TemplateConfigError(
                    f"{path}: {template}.{key} must be text, a number or a boolean"
                )
            layer.setdefault(str(template), {})[key] = value
    return layer, path


def _platform_first() -> str:
    return PLATFORM_NAMES.get(current_platform(), "linux")


class NodeTemplateConfig:
    """The node's own layer, and the preferences a template's callbacks get.

    `local` is keyed by template key or id as the administrator wrote it; the
    dispatcher's layer (one per instance session) is keyed by template key.
    """

    def __init__(self, local: Layer | None = None) -> None:
        self.local: Layer = {template: dict(values) for template, values in (local or {}).items()}
        self._warned: set[tuple[str, str]] = set()

    @classmethod
    def load(cls, state_dir: Path, options: Sequence[str]) -> NodeTemplateConfig:
        """The file's values with the options over them; raises TemplateConfigError."""
        from_file, path = read_file(state_dir)
        layer = {template: dict(values) for template, values in from_file.items()}
        for template, values in parse_options(options).items():
            layer.setdefault(template, {}).update(values)
        if path is not None:
            logger.info("action=template_config_file file=%s templates=%d", path, len(from_file))
        # The values travel in the handshake, whose frames are small until it is done.
        size = len(json.dumps(layer))
        if size > MAX_LOCAL_BYTES:
            raise TemplateConfigError(
                f"the node's client configuration is {size} bytes; at most {MAX_LOCAL_BYTES}"
            )
        return cls(layer)

    def check(self, templates: Sequence[MTemplate]) -> list[str]:
        """Warnings for local values no loaded template declares (logged; the dispatcher
        may still send the template later)."""
        problems = []
        for name, values in self.local.items():
            template = next((t for t in templates if name in (t.getKey(), str(t.getID()))), None)
            if template is None:
                problems.append(f"template {name!r} is not installed on this node (yet)")
                continue
            items = declared_items(template.to_dict())
            for key, value in values.items():
                if key not in items:
                    problems.append(f"template {name!r} has no client configuration item {key!r}")
                    continue
                try:
                    coerce(items[key], value)
                except ValueError as exc:
                    problems.append(f"{name}:{key}: {exc}")
        for problem in problems:
            logger.warning("action=template_config_ignored %s", problem)
        return problems

    def own_values(self, template: MTemplate) -> dict[str, Any]:
        """This node's own values for `template` (by key, then by id)."""
        values: dict[str, Any] = {}
        values.update(self.local.get(str(template.getID()), {}))
        values.update(self.local.get(template.getKey(), {}))
        return values

    def preferences(self, template: MTemplate, dispatcher: Layer | None = None) -> dict[str, Any]:
        """`clientTemplatePreferences` for `template`: dispatcher > own values > defaults.

        Defaults are those of this platform's items; a value an item's type
        refuses is logged once and left out (the next layer or the default applies).
        """
        info = template.to_dict()
        items = declared_items(info, _platform_first())
        for name, item in declared_items(info).items():
            items.setdefault(name, item)
        defaults = {name: item.get("default") for name, item in items.items()}
        own = self._checked(template, items, self.own_values(template), "own")
        sent = (dispatcher or {}).get(template.getKey(), {})
        return merge(defaults, own, self._checked(template, items, sent, "dispatcher"))

    def _checked(
        self,
        template: MTemplate,
        items: Mapping[str, Mapping[str, Any]],
        values: Mapping[str, Any],
        where: str,
    ) -> dict[str, Any]:
        kept: dict[str, Any] = {}
        for key, value in values.items():
            item = items.get(key)
            try:
                if item is None:
                    raise ValueError("the template declares no such client configuration item")
                kept[key] = coerce(item, value)
            except ValueError as exc:
                if (template.getKey(), key) not in self._warned:
                    self._warned.add((template.getKey(), key))
                    logger.warning(
                        "action=template_config_ignored template=%s item=%s from=%s: %s",
                        template.getKey(),
                        key,
                        where,
                        exc,
                    )
        return kept
