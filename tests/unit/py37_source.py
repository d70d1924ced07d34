"""What keeps a source file from importing inside an application's own Python 3.7+:
syntax newer than 3.7, annotations 3.7 would evaluate and reject, and imports of
anything but the standard library and the names allowed."""

from __future__ import annotations

import ast
import sys
from collections.abc import Collection

BUILTIN_GENERICS = {"list", "dict", "tuple", "set", "frozenset", "type"}


def problems_of(source: str, name: str, allowed: Collection[str]) -> list[str]:
    """One `name:line: what` per problem in `source`; SyntaxError for syntax newer than 3.7.

    `allowed` holds the top-level modules it may import besides the standard library."""
    tree = ast.parse(source, name, feature_version=(3, 7))
    found = []
    for node in ast.walk(tree):
        where = f"{name}:{getattr(node, 'lineno', '?')}"
        if isinstance(node, ast.ImportFrom) and node.module == "__future__":
            # Postponed annotations would hide a 3.9+ annotation from this check.
            found.append(f"{where}: from __future__ import ...")
        if (
            isinstance(node, ast.Subscript)
            and isinstance(node.value, ast.Name)
            and node.value.id in BUILTIN_GENERICS
        ):
            found.append(f"{where}: {node.value.id}[...] fails on 3.7 (use typing)")
        if (
            isinstance(node, ast.BinOp)
            and isinstance(node.op, ast.BitOr)
            and any(isinstance(side, ast.Constant) and side.value is None
                    for side in (node.left, node.right))
        ):  # fmt: skip
            found.append(f"{where}: X | None fails on 3.7 (use Optional)")
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            names = [node.module]
        for imported in names:
            top = imported.split(".")[0]
            if top not in sys.stdlib_module_names and top not in allowed:
                found.append(f"{where}: imports {imported}, not in the standard library")
    return found
