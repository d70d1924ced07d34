"""The kept reaper (renderclient/launcher.py): one compiled reaper per event loop starts
every render on request, with the semantics of a render started under a reaper of its own."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from renderclient import launcher, reaper, spawn

needs_compiled = pytest.mark.skipif(
    reaper.compiled() is None, reason="no C compiler here: renders use the Python reaper"
)


def test_the_kept_reaper_is_the_compiled_one_where_a_compiler_is() -> None:
    has_compiler = any(shutil.which(name) for name in ("cc", "gcc", "clang"))
    built = reaper.build(reaper.cache_dir()) if has_compiler else None
    assert reaper.compiled() == (str(built) if built else None)


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except (OSError, IndexError):
        return "gone"


def _ppid(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[1])


async def _gone(pid: int, timeout_s: float = 5.0) -> bool:
    for _ in range(int(timeout_s / 0.02)):
        if _state(pid) in ("gone", "Z", "X"):
            return True
        await asyncio.sleep(0.02)
    return False


@pytest.fixture
async def kept() -> AsyncIterator[launcher.Launcher]:
    made = launcher.for_loop()
    assert made is not None
    yield made
    made.close()


async def _run(
    kept: launcher.Launcher, argv: list[str], *, env: dict[str, str] | None = None, cwd: str = ""
) -> tuple[int, bytes, int]:
    """(exit code, output, pid) of one command."""
    read_fd, write_fd = os.pipe()
    try:
        child = kept.spawn(argv, output_fd=write_fd, env=env, cwd=cwd or None)
    finally:
        os.close(write_fd)
    try:
        code = await asyncio.wait_for(child.wait(), 10)
        output = b""
        while part := os.read(read_fd, 65536):
            output += part
    finally:
        os.close(read_fd)
    assert child.returncode == code
    return code, output, child.pid


@needs_compiled
async def test_exit_codes_signals_output_folder_and_environment(
    kept: launcher.Launcher, tmp_path: Path
) -> None:
    script = 'echo "$MARK $(pwd)"; read line; echo "stdin:$line."; ps -o sid= -p $$; exit 5'
    env = {"PATH": os.environ["PATH"], "MARK": "reached"}
    code, output, pid = await _run(kept, ["sh", "-c", script], env=env, cwd=str(tmp_path))
    assert code == 5
    lines = output.decode().split("\n")
    assert lines[0] == f"reached {tmp_path}" and lines[1] == "stdin:."
    assert int(lines[2]) == pid  # the leader of a session of its own
    assert (await _run(kept, ["sh", "-c", "kill -TERM $$"]))[0] == -signal.SIGTERM
    assert _state(pid) == "gone"  # reaped by the reaper, nothing left as a zombie


@needs_compiled
async def test_one_reaper_starts_them_all_and_is_their_parent(kept: launcher.Launcher) -> None:
    read_fd, write_fd = os.pipe()
    try:
        first = kept.spawn(["sleep", "5"], output_fd=write_fd, env=None, cwd=None)
        second = kept.spawn(["sleep", "5"], output_fd=write_fd, env=None, cwd=None)
        assert _ppid(first.pid) == _ppid(second.pid) == kept.reaper_pid != os.getpid()
        os.killpg(first.pid, signal.SIGKILL)
        assert await asyncio.wait_for(first.wait(), 5) == -signal.SIGKILL
        assert second.returncode is None
        os.killpg(second.pid, signal.SIGKILL)
        assert await asyncio.wait_for(second.wait(), 5) == -signal.SIGKILL
    finally:
        os.close(read_fd)
        os.close(write_fd)
    assert launcher.for_loop() is kept


@needs_compiled
async def test_start_errors_are_raised_as_exec_says(
    kept: launcher.Launcher, tmp_path: Path
) -> None:
    plain = tmp_path / "plain.txt"
    plain.write_text("not a program\n")
    with pytest.raises(FileNotFoundError):
        kept.spawn(["no-such-program-here"], output_fd=2, env=None, cwd=None)
    with pytest.raises(FileNotFoundError):
        kept.spawn([str(tmp_path / "missing")], output_fd=2, env=None, cwd=None)
    with pytest.raises(PermissionError):
        kept.spawn([str(plain)], output_fd=2, env=None, cwd=None)
    with pytest.raises(FileNotFoundError):
        kept.spawn(["true"], output_fd=2, env=None, cwd=str(tmp_path / "no-folder"))
    with pytest.raises(FileNotFoundError):  # PATH is the command's, not ours
        kept.spawn(["true"], output_fd=2, env={"PATH": str(tmp_path)}, cwd=None)
    with pytest.raises(ValueError):
        kept.spawn(["echo", "a\0b"], output_fd=2, env=None, cwd=None)
    with pytest.raises(ValueError):
        kept.spawn(["true"], output_fd=2, env={"A=B": "c"}, cwd=None)
    with pytest.raises(launcher.RequestTooLarge):
        kept.spawn(["true"], output_fd=2, env={"BIG": "x" * 4_000_000}, cwd=None)
    assert (await _run(kept, ["true"]))[0] == 0  # the reaper is still fine


@needs_compiled
async def test_a_killed_reaper_fails_the_waiters_takes_its_commands_and_is_replaced(
    kept: launcher.Launcher,
) -> None:
    read_fd, write_fd = os.pipe()
    try:
        child = kept.spawn(["sleep", "30"], output_fd=write_fd, env=None, cwd=None)
        first_reaper = kept.reaper_pid
        os.kill(first_reaper, signal.SIGKILL)
        with pytest.raises(launcher.LauncherError, match="closed its end") as raised:
            await asyncio.wait_for(child.wait(), 5)
        assert raised.value.status is not None and os.WTERMSIG(raised.value.status) == 9
        assert await _gone(child.pid)  # its parent-death signal
        assert _state(first_reaper) == "gone"  # reaped
    finally:
        os.close(read_fd)
        os.close(write_fd)
    code, _, pid = await _run(kept, ["true"])
    assert code == 0 and kept.reaper_pid not in (0, first_reaper)


@needs_compiled
async def test_closing_kills_what_runs_and_reaps_the_reaper(tmp_path: Path) -> None:
    kept = launcher.Launcher(str(reaper.compiled()))
    pid_file = tmp_path / "escaped.pid"
    inner = f"echo $$ > {pid_file}.tmp && mv {pid_file}.tmp {pid_file} && exec sleep 30"
    child = kept.spawn(
        ["sh", "-c", f"setsid sh -c '{inner}' & exec sleep 30"], output_fd=2, env=None, cwd=None
    )
    for _ in range(250):
        if pid_file.exists():
            break
        await asyncio.sleep(0.02)
    escaped = int(pid_file.read_text())
    assert os.getsid(escaped) == escaped
    the_reaper = kept.reaper_pid
    kept.close()
    assert await _gone(child.pid) and await _gone(escaped)
    assert _state(the_reaper) == "gone"
    with pytest.raises(launcher.LauncherError):
        await child.wait()


@needs_compiled
async def test_spawn_takes_the_kept_reaper_and_falls_back_to_one_of_its_own(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    kept = launcher.for_loop()
    assert kept is not None
    try:
        read_fd, write_fd = os.pipe()
        try:
            child = spawn.spawn(["sleep", "5"], output_fd=write_fd, env=None, cwd=None, reaped=True)
            assert isinstance(child, launcher.LaunchedProcess)
            assert _ppid(child.pid) == kept.reaper_pid
            os.killpg(child.pid, signal.SIGKILL)
            assert await child.wait() == -signal.SIGKILL
            # Too large for one request: a reaper of its own runs it, as our child.
            env = {f"BIG{index}": "x" * 60_000 for index in range(20)}
            check = [sys.executable, "-c", "import os, sys; sys.exit(len(os.environ['BIG19']))"]
            own = spawn.spawn(check, output_fd=write_fd, env=env, cwd=None, reaped=True)
            assert isinstance(own, spawn.SpawnedProcess) and _ppid(own.pid) == os.getpid()
            assert await own.wait() == 60_000 % 256
            # Past the socket's buffer, whatever this machine allows it: either way it runs.
            env = {f"BIG{index}": "x" * 60_000 for index in range(8)}
            check[-1] = check[-1].replace("BIG19", "BIG7")
            either = spawn.spawn(check, output_fd=write_fd, env=env, cwd=None, reaped=True)
            assert await either.wait() == 60_000 % 256
            monkeypatch.setattr(reaper, "compiled", lambda: None)
            monkeypatch.setattr(launcher, "_launchers", launcher.weakref.WeakKeyDictionary())
            assert launcher.for_loop() is None
            own = spawn.spawn(["true"], output_fd=write_fd, env=None, cwd=None, reaped=True)
            assert isinstance(own, spawn.SpawnedProcess) and await own.wait() == 0
        finally:
            os.close(read_fd)
            os.close(write_fd)
    finally:
        kept.close()
