"""The client library, the Blender add-on and the shelf snippets import inside
applications' own Pythons, 3.7 and newer, with the standard library alone: their
source parses as Python 3.7, uses no annotation 3.7 would evaluate and reject,
and imports only the standard library (and the library itself, and each host's
own module)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.unit.py37_source import problems_of

ROOT = Path(__file__).resolve().parents[2]
SOURCES = sorted(
    [*ROOT.glob("corral_client/*.py"), ROOT / "addons/blender/corral_submit.py",
     ROOT / "addons/blender/make_zip.py", *ROOT.glob("examples/submit/*.py")]
)  # fmt: skip
HOSTS = {"bpy", "addon_utils", "nuke", "maya", "hou", "corral_client"}


def test_the_sources_are_there() -> None:
    names = {path.relative_to(ROOT).as_posix() for path in SOURCES}
    assert {"corral_client/client.py", "examples/submit/nuke_submit.py",
            "examples/submit/maya_submit.py", "examples/submit/houdini_submit.py"} <= names  # fmt: skip


@pytest.mark.parametrize("path", SOURCES, ids=lambda path: path.relative_to(ROOT).as_posix())
def test_source_is_python_37(path: Path) -> None:
    problems = problems_of(path.read_text(), path.name, HOSTS)
    assert not problems, problems


def test_parse_refuses_newer_syntax() -> None:
    """The check above would catch a walrus or a match (it is not a no-op)."""
    with pytest.raises(SyntaxError):
        ast.parse("if (n := 1):\n    pass\n", feature_version=(3, 7))
    with pytest.raises(SyntaxError):
        ast.parse("match x:\n    case 1:\n        pass\n", feature_version=(3, 7))
