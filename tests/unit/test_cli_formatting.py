"""How the CLI shows numbers, times, jobs and progress."""

from __future__ import annotations

import io
from typing import Any

import pytest
from rich.console import Console

from console.events import StreamEvent
from console.formatting import (
    duration_text,
    frame_text,
    frames_text,
    host_port,
    jobs_table,
    log_tail,
    status_line,
    time_text,
    to_json,
)
from console.watch_cli import watch_job


@pytest.mark.parametrize(
    ("value", "text"),
    [(1, "1"), (1.0, "1"), (-10.0, "-10"), (2.5, "2.5"), (1.0001, "1.0001"), (None, "-")],
)
def test_frame_text(value: Any, text: str) -> None:
    assert frame_text(value) == text


def test_frames_text() -> None:
    assert frames_text({"start": 1, "end": 100, "by": 1}) == "1-100"
    assert frames_text({"start": -10, "end": -1, "by": 2.0}) == "-10--1 by 2"
    assert frames_text({"start": 5, "end": 5}) == "5"


def test_time_and_duration_text() -> None:
    assert time_text(None) == "-"
    assert time_text("not a time") == "not a time"
    assert len(time_text("2024-05-01T10:00:00+00:00")) == len("2024-05-01 10:00:00")
    assert duration_text(3.24) == "3.2 s"
    assert duration_text(75) == "1 min 15 s"
    assert duration_text(4000) == "1 h 6 min"


def test_to_json_is_stable() -> None:
    assert to_json({"b": 1, "a": "é"}) == '{\n  "a": "é",\n  "b": 1\n}'


def test_host_port_and_log_tail() -> None:
    assert host_port("farm", 9681) == "farm:9681"
    assert host_port("::1", 9681) == "[::1]:9681"
    assert log_tail("a\nb\nc\n", 2) == "b\nc"


def _render(table: Any) -> str:
    console = Console(file=io.StringIO(), width=120, color_system=None)
    console.print(table)
    return str(console.file.getvalue())  # type: ignore[attr-defined]


def test_jobs_table_marks_folders_and_escapes_markup() -> None:
    jobs = [
        {"id": 1, "title": "[red]x[/]", "state": "queued", "kind": "job", "priority": 50,
         "user": "ann", "template": "cmdline", "progress": 0.25,
         "chunks": {"total": 4, "done": 1}},
        {"id": 2, "title": "shots", "state": "queued", "kind": "folder", "priority": 50,
         "user": "ann", "template": "cmdline", "chunks": {"total": 0}},
    ]  # fmt: skip
    text = _render(jobs_table(jobs))
    assert "[red]x[/]" in text and "25%" in text and "1/4" in text
    assert "shots/" in text


def test_status_line() -> None:
    job = {
        "id": 4,
        "state": "running",
        "chunks": {"total": 10, "done": 3, "skipped": 1, "running": 2},
    }
    assert status_line(job) == "job 4 running: 4/10 chunks done, 2 running, 0 failed"


class Events:
    """A stand-in client: the job as first read, then the events of its stream."""

    def __init__(self, job: dict[str, Any], *events: StreamEvent | None) -> None:
        self.first = job
        self.events = list(events)
        self.filters: dict[str, Any] = {}

    def job(self, ref: int | str) -> dict[str, Any]:
        return self.first

    def follow(self, **filters: Any) -> Events:
        self.filters = filters
        return self

    def __enter__(self) -> Events:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def wait_connected(self, timeout_s: float) -> bool:
        return True

    def __iter__(self) -> Any:
        yield from self.events
        while True:
            yield None  # idle ticks, as the real stream gives


def progress(state: str, **chunks: int) -> StreamEvent:
    return StreamEvent(7, "progress", {"type": "progress", "action": "job_progress", "job": 1,
                                       "state": state, "chunks": chunks})  # fmt: skip


def test_watch_draws_a_progress_bar_on_a_terminal() -> None:
    client = Events(
        {"id": 1, "state": "queued", "chunks": {"total": 4}},
        progress("running", total=4, done=1, running=2),
        None,
        progress("done", total=4, done=4),
    )
    console = Console(file=io.StringIO(), force_terminal=True, width=100)
    final = watch_job(client, 1, console=console)  # type: ignore[arg-type]
    assert final["state"] == "done" and client.filters == {"jobs": [1]}
    assert "4/4" in console.file.getvalue()  # type: ignore[attr-defined]


def test_watch_check_can_stop_it() -> None:
    client = Events({"id": 1, "state": "queued", "chunks": {"total": 4}})
    calls = []

    def check() -> None:
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("the render client died")

    console = Console(file=io.StringIO())
    with pytest.raises(RuntimeError):
        watch_job(client, 1, console=console, check=check)  # type: ignore[arg-type]
    assert console.file.getvalue().count("queued") == 1  # type: ignore[attr-defined]
