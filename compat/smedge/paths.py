"""Smedge's path translations over Corral's repositories.

A translation group is a root on Windows, Linux and Mac; in Corral that is a
repository (a name and a root per platform), which the dispatcher uses to
translate the marked paths of each chunk it sends for the node's platform.
Groups added here become repositories named ``translation-`` and a digest of
their roots; every repository is listed as a group. Adding and removing need
the administer permission.
"""

import hashlib
from collections import namedtuple
from typing import List, Union
from urllib.parse import quote

from ._link import call

PathTranslation = namedtuple("PathTranslation", ["windows", "linux", "mac"])
TranslationType = Union[PathTranslation, list, tuple]
TranslationListType = Union[TranslationType, List[TranslationType]]
NAME_PREFIX = "translation-"


def _group(value: object) -> PathTranslation:
    if not isinstance(value, (list, tuple)):
        raise TypeError(
            "a translation group is a PathTranslation, list or tuple of three roots, not %s"
            % type(value).__name__
        )
    if len(value) != 3 or not all(isinstance(root, str) for root in value):
        raise TypeError("a translation group holds three str roots: windows, linux, mac")
    return PathTranslation(*value)


def _groups(translations: object) -> List[PathTranslation]:
    if isinstance(translations, (list, tuple)) and all(isinstance(i, str) for i in translations):
        return [_group(translations)]  # one group given bare
    if not isinstance(translations, (list, tuple)):
        raise TypeError(
            "translations: a translation group or a list of them, not %s"
            % type(translations).__name__
        )
    return [_group(item) for item in translations]


def _name(group: PathTranslation) -> str:
    digest = hashlib.sha1("\0".join(group).encode("utf-8")).hexdigest()[:12]
    return NAME_PREFIX + digest


def get_path_translations() -> List[PathTranslation]:
    """Every repository as a translation group (missing roots are empty)."""
    return [
        PathTranslation(view.get("windows", ""), view.get("linux", ""), view.get("mac", ""))
        for view in call("GET", "/repositories/")
    ]


def add_path_translations(translations: TranslationListType) -> None:
    """Add translation groups (one, or a list); a group already there is left as it is."""
    groups = _groups(translations)
    for group in groups:
        if not any(group):
            raise ValueError("a translation group needs at least one root")
    present = set(get_path_translations())
    for group in groups:
        if group in present:
            continue
        call("POST", "/repositories/", {
            "name": _name(group), "description": "Smedge path translation",
            "windows": group.windows, "linux": group.linux, "mac": group.mac,
        })  # fmt: skip
        present.add(group)


def remove_path_translations(roots: Union[str, List[str]]) -> None:
    """Remove every group (repository) that has one of ``roots`` on any platform."""
    wanted = [roots] if isinstance(roots, str) else roots
    if not isinstance(wanted, (list, tuple)) or not all(isinstance(r, str) for r in wanted):
        raise TypeError("roots: a root (str) or a list of them")
    targets = {root for root in wanted if root}
    for view in call("GET", "/repositories/"):
        if targets & {view.get("windows"), view.get("linux"), view.get("mac")}:
            call("DELETE", "/repositories/%s" % quote(view["name"], safe=""))
