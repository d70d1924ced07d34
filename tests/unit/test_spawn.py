"""Renders started with vfork+exec and watched through a pidfd (renderclient/spawn.py),
and the runner taking that way whenever nothing must run in the child before exec."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from renderclient import reaper, spawn
from renderclient.runner import ProcessRunner

pytestmark = pytest.mark.skipif(not spawn.PIDFD, reason="this kernel has no pidfd_open")


def _zombie_or_gone(pid: int) -> str:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return "gone"
    return "zombie" if stat.rsplit(")", 1)[1].split()[0] == "Z" else "running"


async def test_exit_code_output_and_reaping() -> None:
    read_fd, write_fd = os.pipe()
    try:
        child = await spawn.spawn(
            ["sh", "-c", "echo out; echo err >&2; pwd; exit 3"],
            output_fd=write_fd,
            env={"PATH": os.environ["PATH"]},
            cwd="/",
        )
        os.close(write_fd)
        assert child.returncode is None
        assert await asyncio.wait_for(child.wait(), 10) == 3
        assert child.returncode == 3
        assert os.read(read_fd, 4096) == b"out\nerr\n/\n"
    finally:
        os.close(read_fd)
    assert _zombie_or_gone(child.pid) == "gone"  # reaped as it exited
    assert await child.wait() == 3  # again: the same code


async def test_a_signal_gives_its_negative_number_and_waiters_may_be_cancelled() -> None:
    child = await spawn.spawn(["sleep", "30"], output_fd=2, env=None, cwd=None)
    assert os.getpgid(child.pid) == child.pid  # its own session and group
    cancelled = asyncio.create_task(child.wait())
    await asyncio.sleep(0.05)
    cancelled.cancel()
    os.kill(child.pid, signal.SIGKILL)
    assert await asyncio.wait_for(child.wait(), 10) == -signal.SIGKILL


async def test_a_child_nobody_waits_for_is_reaped_anyway() -> None:
    child = await spawn.spawn(["true"], output_fd=2, env=None, cwd=None)
    for _ in range(200):
        if _zombie_or_gone(child.pid) == "gone":
            break
        await asyncio.sleep(0.01)
    assert _zombie_or_gone(child.pid) == "gone"
    assert child.returncode == 0


async def test_a_missing_program_raises_as_exec_does() -> None:
    with pytest.raises(FileNotFoundError):
        await spawn.spawn(["/nonexistent/program"], output_fd=2, env=None, cwd=None)


def test_fast_spawn_only_when_nothing_runs_before_exec() -> None:
    assert spawn.fast_spawn_usable(in_cgroup=False, nice=None)
    assert not spawn.fast_spawn_usable(in_cgroup=True, nice=None)
    assert not spawn.fast_spawn_usable(in_cgroup=False, nice=5)


async def test_the_runner_starts_commands_the_fast_way(monkeypatch: pytest.MonkeyPatch) -> None:
    started: list[spawn.Started] = []
    real = spawn.spawn

    async def recording(*args: object, **kwargs: object) -> spawn.Started:
        child = await real(*args, **kwargs)  # type: ignore[arg-type]
        started.append(child)
        return child

    monkeypatch.setattr(spawn, "spawn", recording)
    chunks: list[bytes] = []
    outcome = await ProcessRunner(
        [["sh", "-c", "echo hi; exit 4"]], on_output=chunks.append, log_batch_s=0.01
    ).run()
    assert outcome.exit_code == 4 and b"".join(chunks) == b"hi\n"
    assert len(started) == 1 and started[0].returncode == 4
    niced = ProcessRunner([["true"]], on_output=chunks.append, nice=1)
    assert (await niced.run()).exit_code == 0
    assert len(started) == 1  # a nice value keeps the forked start


async def test_a_path_program_in_our_folder_starts_through_posix_spawn(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[str] = []
    real_spawn, real_popen = os.posix_spawn, spawn.subprocess.Popen

    def posix_spawn(*args: object, **kwargs: object) -> int:
        calls.append("posix_spawn")
        return real_spawn(*args, **kwargs)  # type: ignore[arg-type]

    def popen(*args: object, **kwargs: object) -> object:
        calls.append("popen")
        return real_popen(*args, **kwargs)  # type: ignore[call-overload]

    monkeypatch.setattr(spawn.os, "posix_spawn", posix_spawn)
    monkeypatch.setattr(spawn.subprocess, "Popen", popen)
    read_fd, write_fd = os.pipe()
    try:
        env = {"PATH": os.environ["PATH"], "MARK": "env reached"}
        sh = shutil.which("sh")
        assert sh is not None
        child = await spawn.spawn(
            [sh, "-c", 'echo "$MARK"; read line; echo "stdin: $line"; exit 5'],
            output_fd=write_fd,
            env=env,
            cwd=None,
        )
        assert os.getsid(child.pid) == child.pid  # its own session
        # A folder, or a program looked up in PATH, take subprocess.Popen.
        in_root = await spawn.spawn(["sh", "-c", "pwd"], output_fd=write_fd, env=env, cwd="/")
        os.close(write_fd)
        assert await asyncio.wait_for(child.wait(), 10) == 5
        assert await asyncio.wait_for(in_root.wait(), 10) == 0
        output = b""
        while chunk := os.read(read_fd, 4096):
            output += chunk
    finally:
        os.close(read_fd)
    assert calls == ["posix_spawn", "popen"]
    assert b"env reached\n" in output and b"stdin: \n" in output and b"/\n" in output
    assert _zombie_or_gone(child.pid) == "gone" and _zombie_or_gone(in_root.pid) == "gone"
    with pytest.raises(FileNotFoundError):
        await spawn.spawn(["/nonexistent/program"], output_fd=2, env=None, cwd=None)


FD_OPEN = "import os, sys\ntry:\n    os.fstat(int(sys.argv[1]))\nexcept OSError:\n    sys.exit(9)\n"


async def test_a_render_gets_no_descriptor_the_client_left_inheritable(tmp_path: Path) -> None:
    leaked = os.open(tmp_path / "leaked", os.O_CREAT | os.O_WRONLY)
    os.set_inheritable(leaked, True)
    try:
        check = [sys.executable, "-c", FD_OPEN, str(leaked)]
        # The descriptor itself is fine: a plain child that inherits it sees it.
        assert subprocess.run(check, close_fds=False).returncode == 0
        outcome = await ProcessRunner([check], on_output=lambda _: None).run()
        assert outcome.exit_code == 9  # closed before the command ran
    finally:
        os.close(leaked)


def test_the_python_reaper_closes_inherited_descriptors_too(tmp_path: Path) -> None:
    leaked = os.open(tmp_path / "leaked", os.O_CREAT | os.O_WRONLY)
    try:
        script = str(Path(reaper.__file__))
        check = [sys.executable, "-c", FD_OPEN, str(leaked)]
        done = subprocess.run(
            [sys.executable, "-I", "-S", script, str(os.getpid()), "--", *check],
            pass_fds=(leaked,),
            timeout=30,
        )
        assert done.returncode == 9
    finally:
        os.close(leaked)


# The command prints its ignored-signals mask: none may be ignored (Python ignores
# SIGPIPE and SIGXFSZ; a render in a pipeline must die of a closed pipe as in a shell).
SIG_IGNORED = "grep SigIgn /proc/self/status"
PIPE_AND_XFSZ = (1 << (signal.SIGPIPE - 1)) | (1 << (signal.SIGXFSZ - 1))


def _ignored(line: bytes) -> int:
    return int(line.split()[-1], 16)


async def test_a_render_gets_the_default_action_for_sigpipe_and_sigxfsz() -> None:
    assert signal.getsignal(signal.SIGPIPE) == signal.SIG_IGN  # as in every Python client
    output: list[bytes] = []
    outcome = await ProcessRunner([["/bin/sh", "-c", SIG_IGNORED]], on_output=output.append).run()
    assert outcome.exit_code == 0
    assert _ignored(b"".join(output)) & PIPE_AND_XFSZ == 0
    read, write = os.pipe()
    try:  # the fast start on its own, with no reaper in between
        child = await spawn.spawn(
            ["/bin/sh", "-c", SIG_IGNORED], output_fd=write, env=None, cwd=None
        )
        os.close(write)
        assert await child.wait() == 0
        assert _ignored(os.read(read, 4096)) & PIPE_AND_XFSZ == 0
    finally:
        os.close(read)


def test_the_python_reaper_gives_the_command_default_signal_actions() -> None:
    script = str(Path(reaper.__file__))
    done = subprocess.run(
        [sys.executable, "-I", "-S", script, str(os.getpid()), "--", "/bin/sh", "-c", SIG_IGNORED],
        capture_output=True,
        timeout=30,
        restore_signals=False,  # the reaper itself starts with them ignored, as Python's do
    )
    assert done.returncode == 0 and _ignored(done.stdout) & PIPE_AND_XFSZ == 0
