"""The client library, the Blender add-on and the shelf snippets import inside
applications' own Pythons, 3.7 and newer, with the standard library alone: their
source parses as Python 3.7, uses no annotation 3.7 would evaluate and reject,
and imports only the standard library (and the library itself, and each host's
own module)."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SOURCES = sorted(
    [*ROOT.glob("corral_client/*.py"), ROOT / "addons/blender/corral_submit.py",
     ROOT / "addons/blender/make_zip.py", *ROOT.glob("examples/submit/*.py")]
)  # fmt: skip
HOSTS = {"bpy", "addon_utils", "nuke", "maya", "hou", "corral_client"}
BUILTIN_GENERICS = {"list", "dict", "tuple", "set", "frozenset", "type"}


def test_the_sources_are_there() -> None:
    names = {path.relative_to(ROOT).as_posix() for path in SOURCES}
    assert {"corral_client/client.py", "examples/submit/nuke_submit.py",
            "examples/submit/maya_submit.py", "examples/submit/houdini_submit.py"} <= names  # fmt: skip


@pytest.mark.parametrize("path", SOURCES, ids=lambda path: path.relative_to(ROOT).as_posix())
def test_source_is_python_37(path: Path) -> None:
    tree = ast.parse(path.read_text(), str(path), feature_version=(3, 7))
    problems = []
    for node in ast.walk(tree):
        where = f"{path.name}:{getattr(node, 'lineno', '?')}"
        if isinstance(node, ast.ImportFrom) and node.module == "__future__":
            # Postponed annotations would hide a 3.9+ annotation from this check.
            problems.append(f"{where}: from __future__ import ...")
        if (
            isinstance(node, ast.Subscript)
            and isinstance(node.value, ast.Name)
            and node.value.id in BUILTIN_GENERICS
        ):
            problems.append(f"{where}: {node.value.id}[...] fails on 3.7 (use typing)")
        if (
            isinstance(node, ast.BinOp)
            and isinstance(node.op, ast.BitOr)
            and any(isinstance(side, ast.Constant) and side.value is None
                    for side in (node.left, node.right))
        ):  # fmt: skip
            problems.append(f"{where}: X | None fails on 3.7 (use Optional)")
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            names = [node.module]
        for name in names:
            top = name.split(".")[0]
            if top not in sys.stdlib_module_names and top not in HOSTS:
                problems.append(f"{where}: imports {name}, not in the standard library")
    assert not problems, problems


def test_parse_refuses_newer_syntax() -> None:
    """The check above would catch a walrus or a match (it is not a no-op)."""
    with pytest.raises(SyntaxError):
        ast.parse("if (n := 1):\n    pass\n", feature_version=(3, 7))
    with pytest.raises(SyntaxError):
        ast.parse("match x:\n    case 1:\n        pass\n", feature_version=(3, 7))
