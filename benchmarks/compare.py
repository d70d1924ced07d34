"""Two runs' cases side by side: `python -m benchmarks.compare BEFORE.json AFTER.json`
prints one Markdown table (case, figure, target, before, after, met after)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any


def rows(path: Path) -> dict[tuple[str, str], dict[str, Any]]:
    result = json.loads(path.read_text())
    return {(row["figure"], row["metric"]): row for row in result.get("cases", [])}


def table(
    before: dict[tuple[str, str], dict[str, Any]], after: dict[tuple[str, str], dict[str, Any]]
) -> str:
    keys = list(after) + [key for key in before if key not in after]
    header = ["case", "figure", "target", "before", "after", "met"]
    body = []
    for key in keys:
        old, new = before.get(key), after.get(key)
        row = new or old
        assert row is not None
        met = "" if new is None or new["met"] is None else ("yes" if new["met"] else "no")
        body.append([row["case"], row["label"], row["target"], old["shown"] if old else "-",
                     new["shown"] if new else "-", met])  # fmt: skip
    widths = [max(len(line[i]) for line in [header, *body]) for i in range(len(header))]
    lines = [
        "| " + " | ".join(cell.ljust(widths[i]) for i, cell in enumerate(header)) + " |",
        "|" + "|".join("-" * (width + 2) for width in widths) + "|",
    ]
    for line in body:
        lines.append("| " + " | ".join(cell.ljust(widths[i]) for i, cell in enumerate(line)) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print("usage: python -m benchmarks.compare BEFORE.json AFTER.json", file=sys.stderr)
        return 2
    print(table(rows(Path(args[0])), rows(Path(args[1]))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
