"""The chunk runner with real child processes: output, exit codes, time limits, kills."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Any

import pytest

from dispatcher.protocol import Assign, Ref
from hooks.runtime import TemplateSet, bundled_templates_dir
from renderclient.runner import ChunkRun, ProcessRunner


def _gone(pid: int) -> bool:
    """True when the process no longer exists (a zombie nobody reaps counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


async def _wait_gone(pid: int, timeout_s: float = 3.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if _gone(pid):
            return True
        await asyncio.sleep(0.02)
    return _gone(pid)


def _runner(argvs: list[list[str]], chunks: list[bytes], **kwargs: Any) -> ProcessRunner:
    return ProcessRunner(argvs, on_output=chunks.append, log_batch_s=0.01, **kwargs)


async def test_output_is_streamed_while_the_command_runs() -> None:
    chunks: list[bytes] = []
    seen_before_exit: list[bytes] = []
    runner = _runner([["sh", "-c", "echo one; echo err >&2; sleep 0.3; echo two"]], chunks)
    task = asyncio.create_task(runner.run())
    await asyncio.sleep(0.2)
    seen_before_exit.extend(chunks)
    outcome = await task
    assert b"one" in b"".join(seen_before_exit)
    assert b"".join(chunks) == b"one\nerr\ntwo\n"
    assert outcome.exit_code == 0
    assert outcome.error == ""
    assert not outcome.killed and not outcome.timed_out
    assert outcome.log_tail == b"one\nerr\ntwo\n"
    assert outcome.started <= outcome.finished


async def test_exit_code_is_reported() -> None:
    outcome = await _runner([["sh", "-c", "exit 7"]], []).run()
    assert outcome.exit_code == 7
    assert outcome.error == "exit code 7"
    assert not outcome.killed


async def test_missing_executable_is_an_error_not_an_exception(tmp_path: Path) -> None:
    outcome = await _runner([[str(tmp_path / "no-such-program")]], []).run()
    assert outcome.exit_code is None
    assert outcome.error.startswith("could not start")


async def test_time_limit_kills_the_process_group_with_its_grandchild() -> None:
    chunks: list[bytes] = []
    runner = _runner([["sh", "-c", "sleep 30 & echo $!; sleep 30"]], chunks, time_limit_s=0.5)
    started = time.monotonic()
    outcome = await runner.run()
    assert time.monotonic() - started < 5
    assert outcome.timed_out
    assert not outcome.killed
    assert outcome.error == "time limit of 0.5 s exceeded"
    grandchild = int(b"".join(chunks).split()[0])
    assert runner.pid is not None
    assert await _wait_gone(runner.pid)
    assert await _wait_gone(grandchild)


async def test_processes_left_behind_end_with_their_chunk() -> None:
    chunks: list[bytes] = []
    started = time.monotonic()
    outcome = await _runner([["sh", "-c", "sleep 30 & echo $!"]], chunks).run()
    assert time.monotonic() - started < 5
    assert outcome.exit_code == 0
    assert await _wait_gone(int(b"".join(chunks).split()[0]))


async def test_kill_stops_the_sequence() -> None:
    chunks: list[bytes] = []
    runner = _runner([["sleep", "30"], ["sh", "-c", "echo never"]], chunks)
    task = asyncio.create_task(runner.run())
    await asyncio.sleep(0.2)
    runner.kill("killed by the dispatcher")
    outcome = await asyncio.wait_for(task, 5)
    assert outcome.killed
    assert outcome.error == "killed by the dispatcher"
    assert b"never" not in b"".join(chunks)


async def test_sequence_stops_at_the_first_failure() -> None:
    chunks: list[bytes] = []
    argvs = [["sh", "-c", f"echo f{n}; test {n} -lt 3"] for n in range(1, 6)]
    outcome = await _runner(argvs, chunks).run()
    assert b"".join(chunks) == b"f1\nf2\nf3\n"
    assert outcome.exit_code == 1


@pytest.fixture(scope="module")
def templates() -> TemplateSet:
    return TemplateSet.load([bundled_templates_dir()])


def _assign(command: list[str], start: str, end: str, **job: Any) -> Assign:
    spec = {"id": 5, "template": "cmdline", "command": command, "start": 1, "end": 10, "by": 1}
    spec.update(job)
    return Assign(ref=Ref(job=5, chunk=0, attempt=1), job=spec, start=start, end=end)


async def test_frame_sequence_of_a_chunk_stops_at_the_first_failing_frame(
    templates: TemplateSet,
) -> None:
    chunks: list[bytes] = []
    assign = _assign(["sh", "-c", "echo f{frame}; test {frame} -lt 3"], "1", "5")
    result = await ChunkRun(assign, templates, instance=0, on_output=chunks.append).run()
    assert b"".join(chunks) == b"f1\nf2\nf3\n"
    assert not result.ok
    assert result.exit_code == 1
    assert result.ref == assign.ref
    assert "exited with code 1" in result.error


async def test_chunk_with_start_and_end_succeeds(templates: TemplateSet) -> None:
    chunks: list[bytes] = []
    assign = _assign(["sh", "-c", "echo hi {start}-{end}"], "1", "4")
    result = await ChunkRun(assign, templates, instance=0, on_output=chunks.append).run()
    assert b"".join(chunks) == b"hi 1-4\n"
    assert result.ok
    assert result.exit_code == 0
    assert result.error == ""


async def test_unknown_template_is_a_failed_result(templates: TemplateSet) -> None:
    assign = _assign(["true"], "1", "1", template="nope")
    result = await ChunkRun(assign, templates, instance=0, on_output=lambda data: None).run()
    assert not result.ok
    assert result.error == "template nope not installed on this node"


async def test_chunk_time_limit_is_a_failed_result(templates: TemplateSet) -> None:
    assign = _assign(["sleep", "30"], "1", "1")
    assign.time_limit_s = 0.3
    result = await ChunkRun(assign, templates, instance=0, on_output=lambda data: None).run()
    assert not result.ok
    assert not result.killed
    assert result.error == "time limit of 0.3 s exceeded"


def _open_fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


async def test_large_output_arrives_whole_and_no_descriptor_is_left_open() -> None:
    chunks: list[bytes] = []
    await _runner([["true"]], []).run()  # the loop's kept reaper is started by now
    before = _open_fds()
    script = "head -c 1000000 /dev/zero | tr '\\0' x; printf end"
    runner = _runner([["sh", "-c", script], ["sh", "-c", "printf two"]], chunks)
    outcome = await runner.run()
    assert outcome.exit_code == 0
    assert b"".join(chunks) == b"x" * 1_000_000 + b"endtwo"
    assert outcome.log_tail.endswith(b"endtwo")
    assert _open_fds() == before
