"""Which loaded templates are Corral's own, unchanged: their callbacks may run on the loop.

A template's callbacks normally run in a worker thread under a time limit
(renderclient/hookcalls.py), because a template author's code may block or
loop. The trip to that thread costs more than a short callback itself, and far
more on a busy machine, where the loop waits for the thread to be scheduled
and then for the interpreter lock back. The callbacks of the stock templates
named in `STOCK_FILES` are short, never block and ship with Corral: when the
file a template came from is byte for byte the bundled one and nothing
replaced its callbacks since, they are called where the chunk runs.

Anything else (a site template, an edited copy sent by the dispatcher, a
template whose methods another file patched) keeps the thread and its time
limit.
"""

from __future__ import annotations

import inspect
import logging
import weakref
from pathlib import Path, PurePath

from hooks.api.template import MTemplate
from hooks.runtime import TemplateSet, bundled_templates_dir

logger = logging.getLogger(__name__)

STOCK_FILES = frozenset({"cmdline.py"})
"""Bundled template files whose callbacks are short and never block."""

_BASE_HOOKS = {
    name: value
    for name, value in vars(MTemplate).items()
    if name.startswith("on") and inspect.isfunction(value)
}

_bundled_text: dict[str, str | None] = {}
_stock_ids: weakref.WeakKeyDictionary[TemplateSet, frozenset[int]] = weakref.WeakKeyDictionary()


def is_stock(templates: TemplateSet, template: MTemplate) -> bool:
    """True when `template` (of `templates`) is an unchanged stock template.

    Decided once per template set (the set's templates do not change once loaded).
    """
    ids = _stock_ids.get(templates)
    if ids is None:
        ids = frozenset(id(found) for found in templates.templates if _unchanged(templates, found))
        _stock_ids[templates] = ids
    return id(template) in ids


def _unchanged(templates: TemplateSet, template: MTemplate) -> bool:
    origin = templates.origins.get(template.getKey())
    if origin is None or PurePath(origin).name not in STOCK_FILES:
        return False
    name = PurePath(origin).name
    text = _relative_source(templates, Path(origin))
    if text is None or text != _bundled(name):
        return False
    return _own_callbacks(template, origin)


def _relative_source(templates: TemplateSet, origin: Path) -> str | None:
    """The source text the set read for `origin` (None when another file took its name)."""
    for folder in templates.dirs:
        try:
            relative = origin.relative_to(folder).as_posix()
        except ValueError:
            continue
        text = templates.sources.get(relative)
        # A later folder with a file of the same name replaced the text in `sources`.
        later = templates.dirs[templates.dirs.index(folder) + 1 :]
        if any((other / relative).is_file() for other in later):
            return None
        return text
    return None


def _bundled(name: str) -> str | None:
    if name not in _bundled_text:
        try:
            _bundled_text[name] = (bundled_templates_dir() / name).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            _bundled_text[name] = None
    return _bundled_text[name]


def _own_callbacks(template: MTemplate, origin: str) -> bool:
    """Nothing replaced since the file ran: the class's methods all written in `origin`,
    straight on the base class, no callable put on the object, the base hooks as they were."""
    cls = type(template)
    if cls.__mro__ != (cls, MTemplate, object):
        return False
    for value in vars(cls).values():
        if isinstance(value, staticmethod | classmethod | property):
            return False
        if callable(value) and not (
            inspect.isfunction(value) and value.__code__.co_filename == origin
        ):
            return False
    if any(callable(value) for value in vars(template).values()):
        return False
    return all(vars(MTemplate).get(hook) is base for hook, base in _BASE_HOOKS.items())
