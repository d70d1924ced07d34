"""How the CLI shows jobs, chunks and nodes: rich tables for people, JSON for scripts.

JSON output is the REST objects as the dispatcher sent them, keys sorted, so
that scripts see the documented API fields and nothing else.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

STATE_STYLES = {
    "queued": "cyan",
    "running": "yellow",
    "done": "green",
    "failed": "bold red",
    "paused": "magenta",
    "skipped": "dim",
}


# What a terminal could take as a command: C0 controls (tab and newline are kept
# where a text may have several lines), DEL, C1 controls (0x9b is a one-byte CSI),
# and lone surrogates (which cannot even be written as UTF-8).
_CONTROL_ONE_LINE = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_CONTROL_LINES = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")
# json.dumps escapes C0 controls itself; these it would write as they are.
_JSON_UNSAFE = re.compile("[\x7f-\x9f\ud800-\udfff]")


def _visible(found: re.Match[str]) -> str:
    code = ord(found.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(value: Any, *, lines: bool = False) -> str:
    """`value` as text that cannot drive a terminal: every control character shows
    as an escape (`\\x1b`). With `lines`, newlines and tabs stay as they are."""
    pattern = _CONTROL_LINES if lines else _CONTROL_ONE_LINE
    return pattern.sub(_visible, str(value))


def cell(value: Any, *, lines: bool = False) -> str:
    """A stored string for a rich table: control characters and markup both escaped."""
    return escape(printable(value, lines=lines))


def to_json(value: Any) -> str:
    """Stable machine-readable text: sorted keys, two-space indent, UTF-8 kept
    (but no character a terminal would obey)."""
    text = json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False)
    return _JSON_UNSAFE.sub(lambda found: f"\\u{ord(found.group()):04x}", text)


def frame_text(value: Any) -> str:
    """1.0 -> '1', 2.5 -> '2.5', '12' -> '12'."""
    if isinstance(value, bool) or value is None:
        return "-"
    if isinstance(value, int):
        return str(value)
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    if number.is_integer():
        return str(int(number))
    return f"{number:.4f}".rstrip("0").rstrip(".")


def time_text(value: Any) -> str:
    """An ISO 8601 time as local 'YYYY-MM-DD HH:MM:SS'; '-' when absent."""
    if not value:
        return "-"
    if isinstance(value, int | float):
        moment = datetime.fromtimestamp(value)
    else:
        try:
            moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            return str(value)
    if moment.tzinfo is None:  # PyFarm's times are UTC without an offset
        moment = moment.replace(tzinfo=UTC)
    moment = moment.astimezone()
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def duration_text(seconds: float) -> str:
    """3.2 -> '3.2 s', 75 -> '1 min 15 s', 4000 -> '1 h 6 min'."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes} min {secs} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


def chunk_counts(job: dict[str, Any]) -> dict[str, int]:
    """The job's chunk counters with every key present."""
    raw = job.get("chunks") or {}
    keys = ("total", "queued", "running", "done", "failed", "skipped")
    return {key: int(raw.get(key) or 0) for key in keys}


def chunks_done(job: dict[str, Any]) -> int:
    """Chunks that need no more work: done or skipped (what progress counts)."""
    counts = chunk_counts(job)
    return counts["done"] + counts["skipped"]


def progress_percent(job: dict[str, Any]) -> str:
    try:
        value = float(job.get("progress") or 0.0)
    except (TypeError, ValueError):
        value = 0.0
    return f"{value * 100:.0f}%"


def state_cell(state: Any) -> str:
    text = str(state or "-")
    style = STATE_STYLES.get(text)
    return f"[{style}]{cell(text)}[/]" if style else cell(text)


def frames_text(job: dict[str, Any]) -> str:
    first, last, by = job.get("start"), job.get("end"), job.get("by")
    text = frame_text(first) if first == last else f"{frame_text(first)}-{frame_text(last)}"
    if by not in (None, 1, 1.0, "1"):
        text += f" by {frame_text(by)}"
    return text


def jobs_table(jobs: list[dict[str, Any]]) -> Table:
    table = Table(box=None, header_style="bold", pad_edge=False)
    table.add_column("ID", justify="right")
    table.add_column("TITLE", overflow="fold")
    table.add_column("STATE")
    table.add_column("PROGRESS", justify="right")
    table.add_column("CHUNKS", justify="right")
    table.add_column("PRIORITY", justify="right")
    table.add_column("USER")
    table.add_column("TEMPLATE")
    for job in jobs:
        counts = chunk_counts(job)
        folder = job.get("kind") == "folder"
        table.add_row(
            str(job.get("id", "")),
            cell(job.get("title", "")) + ("/" if folder else ""),
            state_cell(job.get("state")),
            "" if folder else progress_percent(job),
            "" if folder else f"{chunks_done(job)}/{counts['total']}",
            str(job.get("priority", "")),
            cell(job.get("user", "")),
            cell(job.get("template", "")),
        )
    return table


def _dependency_text(dep: Any) -> str:
    if isinstance(dep, dict):
        mode = dep.get("mode", "success")
        return cell(f"{dep.get('job')}" + ("" if mode == "success" else f" (on {mode})"))
    return cell(dep)


def _mapping_text(value: Any) -> str:
    if not value:
        return "-"
    if isinstance(value, dict):
        return "\n".join(f"{key}={json_scalar(item)}" for key, item in value.items())
    return str(value)


def json_scalar(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def job_details(job: dict[str, Any]) -> Table:
    """A two-column sheet of one job's fields."""
    counts = chunk_counts(job)
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    limit = float(job.get("time_limit_s") or 0)
    rows: list[tuple[str, str]] = [
        ("id", str(job.get("id", ""))),
        ("title", cell(job.get("title", ""))),
        ("state", state_cell(job.get("state"))),
        ("kind", str(job.get("kind", "job"))),
        ("parent", str(job.get("parent", -1))),
        ("template", cell(job.get("template", ""))),
        ("user", cell(job.get("user", ""))),
        ("priority", str(job.get("priority", ""))),
        ("paused", "yes" if job.get("paused") else "no"),
        ("frames", frames_text(job)),
        ("packet", str(job.get("batch", ""))),
        (
            "chunks",
            f"{chunks_done(job)}/{counts['total']} done ({progress_percent(job)}), "
            f"{counts['running']} running, {counts['queued']} queued, "
            f"{counts['failed']} failed, {counts['skipped']} skipped",
        ),
        ("pools", cell(", ".join(job.get("pools") or []) or "any")),
        ("excluded pools", cell(", ".join(job.get("excluded_pools") or []) or "-")),
        ("max nodes", str(job.get("max_nodes") or "no limit")),
        ("depends on", ", ".join(_dependency_text(d) for d in job.get("depends_on") or []) or "-"),
        ("per frame", "yes" if job.get("per_frame") else "no"),
        ("requeue", str(job.get("requeue", ""))),
        ("time limit", duration_text(limit) if limit else "none"),
        ("command", cell(" ".join(str(part) for part in job.get("command") or []) or "-")),
        ("environ", cell(_mapping_text(job.get("environ")), lines=True)),
        ("data", cell(_mapping_text(job.get("data")), lines=True)),
        ("project", cell(job.get("project") or "-")),
        ("department", cell(job.get("department") or "-")),
        ("notes", cell(job.get("notes") or "-", lines=True)),
        ("submitted", time_text(job.get("time_submitted"))),
        ("started", time_text(job.get("time_started"))),
        ("finished", time_text(job.get("time_finished"))),
    ]
    if job.get("failed_reason"):
        rows.append(("failed reason", f"[red]{cell(job['failed_reason'])}[/]"))
    for name, value in rows:
        table.add_row(name, value)
    return table


def tasks_table(tasks: list[dict[str, Any]]) -> Table:
    table = Table(box=None, header_style="bold", pad_edge=False)
    table.add_column("CHUNK", justify="right")
    table.add_column("TASK", justify="right")
    table.add_column("FRAMES")
    table.add_column("STATE")
    table.add_column("NODE")
    table.add_column("ATTEMPTS", justify="right")
    table.add_column("EXIT", justify="right")
    table.add_column("ERROR", overflow="fold")
    for task in tasks:
        exit_code = task.get("exit_code")
        table.add_row(
            str(task.get("chunk", "")),
            str(task.get("id", "")),
            frames_text(task),
            state_cell(task.get("state")),
            cell(task.get("node") or "-"),
            str(task.get("attempts", 0)),
            "-" if exit_code is None else str(exit_code),
            cell(task.get("error") or ""),
        )
    return table


def _running_text(running: Any) -> str:
    if not running:
        return "-"
    parts = []
    for item in running:
        if isinstance(item, dict):
            parts.append(cell(f"job {item.get('job')} chunk {item.get('chunk')}"))
        else:
            parts.append(cell(item))
    return ", ".join(parts)


def nodes_table(nodes: list[dict[str, Any]]) -> Table:
    table = Table(box=None, header_style="bold", pad_edge=False)
    table.add_column("ID", justify="right")
    table.add_column("NAME")
    table.add_column("HOST")
    table.add_column("STATE")
    table.add_column("POOLS")
    table.add_column("RUNNING", overflow="fold")
    table.add_column("LAST SEEN")
    for node in nodes:
        name = str(node.get("name", ""))  # the dispatcher's label: host#instance
        if not node.get("online"):
            state = "[dim]offline[/]"
        elif node.get("paused"):
            state = "[magenta]paused[/]"
        elif node.get("running"):
            state = "[yellow]busy[/]"
        else:
            state = "[green]idle[/]"
        table.add_row(
            str(node.get("id", "")),
            cell(name),
            cell(node.get("host") or "-"),
            state,
            cell(", ".join(node.get("pools") or []) or "-"),
            _running_text(node.get("running")),
            time_text(node.get("last_seen")),
        )
    return table


def why_lines(answer: dict[str, Any], title: str = "") -> list[str]:
    """'job 3 "x" is queued:' followed by one indented line per reason."""
    label = printable(f"job {answer.get('job')}" + (f' "{title}"' if title else ""))
    reasons = [printable(reason) for reason in answer.get("reasons") or []]
    state = printable(answer.get("state", "?"))
    if not reasons:
        return [f"{label} is {state}: no reason given by the dispatcher"]
    return [f"{label} is {state}:"] + [f"  - {reason}" for reason in reasons]


def submitted_line(job: dict[str, Any]) -> str:
    total = chunk_counts(job)["total"]
    return printable(f'submitted job {job.get("id")} "{job.get("title", "")}" ({total} chunks)')


def status_line(job: dict[str, Any]) -> str:
    """One plain line of a job's progress, for watching without a terminal."""
    counts = chunk_counts(job)
    running = job.get("running_progress") or {}
    at = ", ".join(f"{index} at {float(value):g}%" for index, value in sorted(running.items()))
    return printable(
        f"job {job.get('id')} {job.get('state')}: "
        f"{chunks_done(job)}/{counts['total']} chunks done, "
        f"{counts['running']} running{f' (chunk {at})' if at else ''}, {counts['failed']} failed"
    )


def make_progress(console: Console | None = None) -> Progress:
    """The progress bar `watch` and `demo` share; tasks carry `running` and `state` fields."""
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("chunks"),
        TextColumn("{task.fields[running]} running"),
        TextColumn("{task.fields[state]}"),
        TimeElapsedColumn(),
        console=console,
    )


def host_port(host: str, port: int) -> str:
    """'farm', 9681 -> 'farm:9681'; an IPv6 address goes in brackets."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def log_tail(text: str, lines: int = 20) -> str:
    return "\n".join(text.rstrip("\n").splitlines()[-lines:])
