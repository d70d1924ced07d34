"""The kept reaper (renderclient/launcher.py): one compiled reaper per event loop starts
every render on request, with the semantics of a render started under a reaper of its own."""

from __future__ import annotations

import array
import asyncio
import contextlib
import errno
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from renderclient import launcher, reaper, spawn
from renderclient.runner import ProcessRunner

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


@pytest.fixture
def output_fd() -> Iterator[int]:
    """The write end of a pipe nobody reads, for commands' output; both ends closed after."""
    read_fd, write_fd = os.pipe()
    yield write_fd
    os.close(read_fd)
    os.close(write_fd)


def _read_all(fd: int) -> bytes:
    output = b""
    while part := os.read(fd, 65536):
        output += part
    return output


async def _run(
    kept: launcher.Launcher, argv: list[str], *, env: dict[str, str] | None = None, cwd: str = ""
) -> tuple[int, bytes, int]:
    """(exit code, output, pid) of one command."""
    read_fd, write_fd = os.pipe()
    try:
        child = await kept.spawn(argv, output_fd=write_fd, env=env, cwd=cwd or None)
    finally:
        os.close(write_fd)
    try:
        code = await asyncio.wait_for(child.wait(), 10)
        output = _read_all(read_fd)
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
async def test_one_reaper_starts_them_all_and_is_their_parent(
    kept: launcher.Launcher, output_fd: int
) -> None:
    first = await kept.spawn(["sleep", "5"], output_fd=output_fd, env=None, cwd=None)
    second = await kept.spawn(["sleep", "5"], output_fd=output_fd, env=None, cwd=None)
    assert _ppid(first.pid) == _ppid(second.pid) == kept.reaper_pid != os.getpid()
    os.killpg(first.pid, signal.SIGKILL)
    assert await asyncio.wait_for(first.wait(), 5) == -signal.SIGKILL
    assert second.returncode is None
    os.killpg(second.pid, signal.SIGKILL)
    assert await asyncio.wait_for(second.wait(), 5) == -signal.SIGKILL
    assert launcher.for_loop() is kept


@needs_compiled
async def test_commands_that_cannot_start_end_with_127_and_the_reason(
    kept: launcher.Launcher, tmp_path: Path
) -> None:
    plain = tmp_path / "plain.txt"
    plain.write_text("not a program\n")
    for argv, env, cwd, reason in (
        (["no-such-program-here"], None, "", b"No such file"),
        ([str(tmp_path / "missing")], None, "", b"No such file"),
        ([str(plain)], None, "", b"Permission denied"),
        (["true"], None, str(tmp_path / "no-folder"), b"cannot enter"),
        (["true"], {"PATH": str(tmp_path)}, "", b"No such file"),  # the command's PATH
    ):
        code, output, _ = await _run(kept, argv, env=env, cwd=cwd)
        assert code == 127 and reason in output, (argv, output)
    with pytest.raises(ValueError):
        await kept.spawn(["echo", "a\0b"], output_fd=2, env=None, cwd=None)
    with pytest.raises(ValueError):
        await kept.spawn(["true"], output_fd=2, env={"A=B": "c"}, cwd=None)
    with pytest.raises(launcher.RequestTooLarge):
        await kept.spawn(["true"], output_fd=2, env={"BIG": "x" * 4_000_000}, cwd=None)
    assert (await _run(kept, ["true"]))[0] == 0  # the reaper is still fine


@needs_compiled
async def test_a_script_without_shebang_runs_under_sh(
    kept: launcher.Launcher, tmp_path: Path
) -> None:
    script = tmp_path / "plain-script"
    script.write_text("echo from-sh; exit 3\n")
    script.chmod(0o755)
    code, output, _ = await _run(kept, [str(script)])
    assert (code, output) == (3, b"from-sh\n")


async def _pid_from(pid_file: Path) -> int:
    for _ in range(250):
        if pid_file.exists():
            break
        await asyncio.sleep(0.02)
    return int(pid_file.read_text())


def _escaping(pid_file: Path) -> list[str]:
    """A command that starts a daemon in a session of its own, whose parent exits."""
    inner = f"echo $$ > {pid_file}.tmp && mv {pid_file}.tmp {pid_file} && exec sleep 30"
    return ["sh", "-c", f"(setsid sh -c '{inner}' &); exec sleep 30"]


@needs_compiled
async def test_each_render_has_a_reaper_of_its_own_that_holds_its_escaped_daemons(
    kept: launcher.Launcher, tmp_path: Path
) -> None:
    pid_file = tmp_path / "daemon.pid"
    child = await kept.spawn(_escaping(pid_file), output_fd=2, env=None, cwd=None)
    daemon = await _pid_from(pid_file)
    assert os.getsid(daemon) == daemon and _ppid(daemon) == child.pid
    assert _ppid(child.pid) == kept.reaper_pid
    os.killpg(child.pid, signal.SIGKILL)
    assert await asyncio.wait_for(child.wait(), 5) == -signal.SIGKILL


@needs_compiled
async def test_a_render_that_ends_by_itself_takes_its_escaped_daemon_with_it(
    kept: launcher.Launcher, tmp_path: Path
) -> None:
    pid_file = tmp_path / "daemon.pid"
    inner = f"echo $$ > {pid_file}.tmp && mv {pid_file}.tmp {pid_file} && exec sleep 30"
    wait = f"while [ ! -e {pid_file} ]; do sleep 0.01; done"
    argv = ["sh", "-c", f"(setsid sh -c '{inner}' &); {wait}; exit 3"]
    code, _, _ = await _run(kept, argv)
    assert code == 3  # the command's own
    assert _state(int(pid_file.read_text())) == "gone"  # ended (and reaped) before it


@needs_compiled
async def test_killing_a_render_kills_its_escaped_daemon(
    kept: launcher.Launcher, tmp_path: Path
) -> None:
    pid_file = tmp_path / "daemon.pid"
    running = ProcessRunner([_escaping(pid_file)], on_output=lambda _: None, term_grace_s=0.2)
    outcome = asyncio.ensure_future(running.run())
    daemon = await _pid_from(pid_file)
    running.kill("stopped by the test")
    assert (await asyncio.wait_for(outcome, 5)).killed
    assert await _gone(daemon)


@needs_compiled
async def test_a_killed_kept_reaper_gives_a_failed_result(kept: launcher.Launcher) -> None:
    running = ProcessRunner([["sleep", "30"]], on_output=lambda _: None)
    outcome = asyncio.ensure_future(running.run())
    for _ in range(250):
        if running.pid:
            break
        await asyncio.sleep(0.02)
    os.kill(kept.reaper_pid, signal.SIGKILL)
    result = await asyncio.wait_for(outcome, 5)
    assert result.exit_code is None and "reaper failed" in result.error


@contextlib.contextmanager
def _stopped(kept: launcher.Launcher) -> Iterator[int]:
    """The kept reaper (started if need be) stopped, as a fork that takes its time leaves
    it; its pid. It is let go after, unless it was killed as stuck meanwhile."""
    kept.start()
    the_reaper = kept.reaper_pid
    assert the_reaper > 0  # (0 would stop our own process group)
    os.kill(the_reaper, signal.SIGSTOP)
    try:
        yield the_reaper
    finally:
        with contextlib.suppress(ProcessLookupError):  # (it was stuck: it was killed)
            os.kill(the_reaper, signal.SIGCONT)


@needs_compiled
async def test_a_start_with_no_answer_says_so_in_the_result(
    kept: launcher.Launcher, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(launcher, "START_TIMEOUT_S", 0.2)
    with _stopped(kept):
        result = await ProcessRunner([["sleep", "30"]], on_output=lambda _: None).run()
    assert result.exit_code is None
    assert result.error == "the reaper gave no answer to the start of sleep within 0.2 s"


@needs_compiled
async def test_a_kill_while_the_start_waits_takes_effect_once_it_starts(
    kept: launcher.Launcher,
) -> None:
    running = ProcessRunner([["sleep", "30"]], on_output=lambda _: None, term_grace_s=5)
    with _stopped(kept):
        outcome = asyncio.ensure_future(running.run())
        await asyncio.sleep(0.1)
        running.kill("stopped by the test")
    result = await asyncio.wait_for(outcome, 5)
    assert result.killed and result.error == "stopped by the test"
    assert running.pid is not None and await _gone(running.pid)


async def _ticking(ticks: list[float]) -> None:
    while True:
        await asyncio.sleep(0.01)
        ticks.append(time.monotonic())


@needs_compiled
async def test_a_delayed_start_holds_neither_the_loop_nor_the_other_renders(
    kept: launcher.Launcher,
) -> None:
    running = await kept.spawn(["sleep", "30"], output_fd=2, env=None, cwd=None)
    ticks: list[float] = []
    ticker = asyncio.create_task(_ticking(ticks))
    with _stopped(kept) as the_reaper:  # a fork that takes its time
        starting = asyncio.create_task(
            kept.spawn(["sh", "-c", "exit 7"], output_fd=2, env=None, cwd=None)
        )
        await asyncio.sleep(0.5)
        assert not starting.done() and len(ticks) >= 10  # the loop ran meanwhile
        assert not running.exit_future.done()
    started = await asyncio.wait_for(starting, 5)
    assert await asyncio.wait_for(started.wait(), 5) == 7
    assert running.returncode is None and kept.reaper_pid == the_reaper
    os.killpg(running.pid, signal.SIGKILL)
    assert await asyncio.wait_for(running.wait(), 5) == -signal.SIGKILL
    ticker.cancel()


async def _late_kill(caplog: pytest.LogCaptureFixture) -> int:
    """The pid of the render the launcher killed for a start nobody waited for."""
    for _ in range(250):  # its answer comes once the reaper runs again
        for record in caplog.records:
            found = re.match(r"action=launcher_late_start_killed pid=(\d+)", record.getMessage())
            if found:
                return int(found[1])
        await asyncio.sleep(0.02)
    raise AssertionError("no late start was killed")


async def _sent(kept: launcher.Launcher) -> None:
    """Until a start was sent and waits for its answer."""
    for _ in range(100):
        if kept._starts:
            return
        await asyncio.sleep(0)
    raise AssertionError("no start was sent")


@needs_compiled
async def test_a_start_that_times_out_while_the_reaper_answers_fails_alone(
    kept: launcher.Launcher, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(launcher, "START_TIMEOUT_S", 0.3)
    running = await kept.spawn(["sleep", "30"], output_fd=2, env=None, cwd=None)
    with _stopped(kept) as the_reaper:
        starting = asyncio.create_task(kept.spawn(["sleep", "30"], output_fd=2, env=None, cwd=None))
        await _sent(kept)
        kept._settle(launcher.ANSWER.pack(b"X", 0, 0))  # it answered something meanwhile
        with pytest.raises(launcher.StartTimedOut, match="no answer to the start of sleep"):
            await starting
        assert not running.exit_future.done()
    late = await _late_kill(caplog)
    assert await _gone(late)
    assert running.returncode is None and kept.reaper_pid == the_reaper
    assert (await _run(kept, ["sh", "-c", "exit 4"]))[0] == 4  # answers still in order
    os.killpg(running.pid, signal.SIGKILL)
    assert await asyncio.wait_for(running.wait(), 5) == -signal.SIGKILL


@needs_compiled
async def test_a_stuck_reaper_fails_with_its_renders_and_the_next_start_replaces_it(
    kept: launcher.Launcher, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(launcher, "START_TIMEOUT_S", 0.3)
    running = await kept.spawn(["sleep", "30"], output_fd=2, env=None, cwd=None)
    the_reaper = kept.reaper_pid
    assert the_reaper > 0  # (0 would stop our own process group)
    os.kill(the_reaper, signal.SIGSTOP)  # alive, and answering nothing for good
    # More starts than its socket queues: some wait to be sent.
    starts = [kept.spawn(["true"], output_fd=2, env=_big_env(), cwd=None) for _ in range(15)]
    results = await asyncio.wait_for(asyncio.gather(*starts, return_exceptions=True), 5)
    failed = [result for result in results if isinstance(result, BaseException)]
    assert all(isinstance(error, launcher.LauncherError) for error in failed), failed
    assert any(isinstance(error, launcher.StartTimedOut) for error in failed)
    for result in results:  # some sent once it was replaced: started by the new one
        if not isinstance(result, BaseException):
            assert await asyncio.wait_for(result.wait(), 5) == 0
    with pytest.raises(launcher.LauncherError):
        await asyncio.wait_for(running.wait(), 5)
    assert "stuck" in caplog.text
    assert await _gone(the_reaper) and await _gone(running.pid)
    assert (await _run(kept, ["sh", "-c", "exit 4"]))[0] == 4
    assert kept.reaper_pid not in (0, the_reaper)


def _big_env() -> dict[str, str]:
    """An environment of 240 kB: 15 requests with it are more than the socket queues
    (each string under exec's 128 kB limit)."""
    filler = {f"FILLER{index}": "x" * 60_000 for index in range(4)}
    return {"PATH": os.environ.get("PATH", os.defpath), **filler}


@contextlib.asynccontextmanager
async def _stopped_and_full(kept: launcher.Launcher) -> AsyncIterator[tuple[int, list[Any]]]:
    """The kept reaper stopped, with more large starts sent than its socket queues (the
    rest wait to be sent); the reaper's pid and the starts. It is let go after."""
    with _stopped(kept) as the_reaper:
        starts = [
            asyncio.create_task(kept.spawn(["true"], output_fd=2, env=_big_env(), cwd=None))
            for _ in range(12)
        ]
        await asyncio.sleep(0.05)
        yield the_reaper, starts


@needs_compiled
async def test_a_stuck_reaper_whose_starts_were_all_cancelled_is_replaced(
    kept: launcher.Launcher, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(launcher, "START_TIMEOUT_S", 0.3)
    async with _stopped_and_full(kept) as (the_reaper, starts):
        for start in starts:
            start.cancel()
        await asyncio.gather(*starts, return_exceptions=True)
        assert (await asyncio.wait_for(_run(kept, ["sh", "-c", "exit 4"]), 5))[0] == 4
    assert kept.reaper_pid not in (0, the_reaper) and await _gone(the_reaper)


@needs_compiled
async def test_a_start_waiting_to_be_sent_replaces_a_reaper_stuck_since_and_is_sent(
    kept: launcher.Launcher, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(launcher, "START_TIMEOUT_S", 0.3)
    async with _stopped_and_full(kept) as (the_reaper, starts):
        assert kept._send_waiters  # the socket is full
        kept._settle(launcher.ANSWER.pack(b"X", 0, 0))  # an answer: those are slow, not stuck
        last = asyncio.create_task(_run(kept, ["sh", "-c", "exit 6"]))  # it waits too
        results = await asyncio.wait_for(asyncio.gather(*starts, return_exceptions=True), 5)
        assert all(isinstance(result, launcher.StartTimedOut) for result in results), results
        assert (await asyncio.wait_for(last, 5))[0] == 6  # nothing since it began: stuck
    assert kept.reaper_pid not in (0, the_reaper) and await _gone(the_reaper)


async def test_a_reaper_that_took_the_request_and_gives_no_answer_is_slow_not_stuck(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # A stand-in for a kept reaper whose fork stalls, which the compiled one cannot be
    # made to do on cue: it reads one request, and answers nothing.
    program = tmp_path / "slow-reaper"
    program.write_text("#!/bin/sh\ndd bs=1 count=1 of=/dev/null 2>/dev/null\nexec sleep 30\n")
    program.chmod(0o755)
    monkeypatch.setattr(launcher, "START_TIMEOUT_S", 0.5)
    slow = launcher.Launcher(str(program))
    slow.start()
    stand_in = slow.reaper_pid
    try:
        with pytest.raises(launcher.StartTimedOut, match="no answer to the start of true"):
            await slow.spawn(["true"], output_fd=2, env=None, cwd=None)
        assert slow.reaper_pid == stand_in and _state(stand_in) not in ("gone", "Z", "X")
        assert "stuck=False" in caplog.text
    finally:
        os.kill(stand_in, signal.SIGKILL)
        slow.close()


@needs_compiled
async def test_a_start_whose_answer_waits_unread_as_its_time_ends_is_started(
    kept: launcher.Launcher, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(launcher, "START_TIMEOUT_S", 0.3)
    kept.start()
    the_reaper = kept.reaper_pid
    assert the_reaper > 0  # (0 would stop our own process group)
    os.kill(the_reaper, signal.SIGSTOP)
    starting = asyncio.create_task(_run(kept, ["sh", "-c", "exit 3"]))
    await _sent(kept)
    expires = kept._starts[0].timer.when()
    loop = asyncio.get_running_loop()

    def answered() -> None:  # the answer comes while the loop is busy
        os.kill(the_reaper, signal.SIGCONT)
        assert select.select([kept._sock], [], [], 5)[0]

    # A busy loop: both callbacks come due on the same turn, before the socket is read.
    loop.call_at(expires - 0.1, time.sleep, 0.15)
    loop.call_at(expires - 0.05, answered)
    assert (await asyncio.wait_for(starting, 5))[0] == 3
    assert kept.reaper_pid == the_reaper


def test_a_late_render_is_never_looked_for_in_our_own_group_or_init() -> None:
    # In a session of its own: a signal to "group 0" would end that process alone.
    check = "from renderclient import launcher; print(launcher._kill_child_of(0, 0))"
    done = subprocess.run(
        [sys.executable, "-c", check], capture_output=True, start_new_session=True, timeout=30
    )
    assert (done.returncode, done.stdout) == (0, b"False\n")


@needs_compiled
async def test_starts_past_what_the_socket_queues_wait_to_be_sent(
    kept: launcher.Launcher,
) -> None:
    with _stopped(kept) as the_reaper:
        argvs = [["sh", "-c", f"exit {code}"] for code in range(15)]
        starts = [
            asyncio.create_task(kept.spawn(argv, output_fd=2, env=_big_env(), cwd=None))
            for argv in argvs
        ]
        await asyncio.sleep(0.2)
        assert not any(start.done() for start in starts)
    started = await asyncio.wait_for(asyncio.gather(*starts), 5)
    codes = [await asyncio.wait_for(child.wait(), 5) for child in started]
    assert codes == list(range(15)) and kept.reaper_pid == the_reaper


@needs_compiled
async def test_a_start_cancelled_once_its_answer_came_has_its_render_killed(
    kept: launcher.Launcher, caplog: pytest.LogCaptureFixture
) -> None:
    with _stopped(kept) as the_reaper:
        starting = asyncio.create_task(kept.spawn(["sleep", "30"], output_fd=2, env=None, cwd=None))
        await asyncio.sleep(0.05)  # sent: it waits for its answer
    assert kept._sock is not None
    ready, _, _ = select.select([kept._sock], [], [], 5)  # the answer is there, unread
    assert ready
    kept._on_readable()  # the reader settles the start, then its caller is cancelled
    starting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await starting
    assert await _gone(await _late_kill(caplog))
    assert (await _run(kept, ["true"]))[0] == 0 and kept.reaper_pid == the_reaper


@needs_compiled
async def test_a_render_whose_reaper_is_killed_has_its_escaped_daemon_killed_too(
    kept: launcher.Launcher, tmp_path: Path
) -> None:
    pid_file = tmp_path / "daemon.pid"
    child = await kept.spawn(_escaping(pid_file), output_fd=2, env=None, cwd=None)
    daemon = await _pid_from(pid_file)
    os.kill(child.pid, signal.SIGKILL)  # the render's reaper alone: its tree is not ended
    assert await asyncio.wait_for(child.wait(), 5) == -signal.SIGKILL
    assert await _gone(daemon)  # the kept reaper, its new parent, killed it


def test_a_late_render_is_killed_only_while_the_reaper_is_its_parent() -> None:
    # Not the reaper's child (its pid may have been taken by another process): spared.
    other = subprocess.Popen(["sleep", "30"])
    try:
        launcher._kill_render(other.pid, "sleep", other.pid + 1)
        assert _state(other.pid) not in ("gone", "Z", "X")
        # Ours and in our own group: it dies, and our group is left alone.
        launcher._kill_render(other.pid, "sleep", os.getpid())
        assert other.wait(5) == -signal.SIGKILL
    finally:
        other.kill()
        other.wait()
    # A group leader: its group dies with it.
    leader = subprocess.Popen(
        ["sh", "-c", "sleep 30 & echo $!; wait"], stdout=subprocess.PIPE, start_new_session=True
    )
    try:
        assert leader.stdout is not None
        member = int(leader.stdout.readline())
        launcher._kill_render(leader.pid, "sh", os.getpid())
        assert leader.wait(5) == -signal.SIGKILL
        deadline = time.monotonic() + 5
        while _state(member) not in ("gone", "Z", "X") and time.monotonic() < deadline:
            time.sleep(0.01)
        assert _state(member) in ("gone", "Z", "X")
    finally:
        leader.kill()
        leader.wait()
        if leader.stdout is not None:
            leader.stdout.close()


@needs_compiled
async def test_a_start_whose_caller_is_cancelled_has_its_render_killed(
    kept: launcher.Launcher, caplog: pytest.LogCaptureFixture
) -> None:
    with _stopped(kept) as the_reaper:
        starting = asyncio.create_task(kept.spawn(["sleep", "30"], output_fd=2, env=None, cwd=None))
        await asyncio.sleep(0.05)
        starting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await starting
    assert await _gone(await _late_kill(caplog))
    assert (await _run(kept, ["true"]))[0] == 0 and kept.reaper_pid == the_reaper


@needs_compiled
async def test_a_start_waiting_on_a_reaper_that_dies_fails_at_once(
    kept: launcher.Launcher,
) -> None:
    assert (await _run(kept, ["true"]))[0] == 0
    the_reaper = kept.reaper_pid
    assert the_reaper > 0  # (0 would stop our own process group)
    os.kill(the_reaper, signal.SIGSTOP)
    starting = asyncio.create_task(kept.spawn(["true"], output_fd=2, env=None, cwd=None))
    await asyncio.sleep(0.1)
    os.kill(the_reaper, signal.SIGKILL)
    with pytest.raises(launcher.LauncherError, match="did not start true") as raised:
        await asyncio.wait_for(starting, 5)
    assert not isinstance(raised.value, launcher.StartTimedOut)


def _serving(*closed: int) -> tuple[socket.socket, int]:
    """A kept reaper of our own, with descriptors `closed` closed in it from the start."""
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    program = str(reaper.compiled())
    actions = [(os.POSIX_SPAWN_DUP2, theirs.fileno(), 0)]
    actions += [(os.POSIX_SPAWN_CLOSE, fd) for fd in closed]
    pid = os.posix_spawn(
        program, [program, str(os.getpid()), "--serve"], {}, file_actions=actions, setsid=True
    )
    theirs.close()
    ours.settimeout(5)
    return ours, pid


def _answer(sock: socket.socket) -> tuple[bytes, int, int]:
    return launcher.ANSWER.unpack(sock.recv(64))


@needs_compiled
async def test_a_bad_request_is_refused_and_the_reaper_keeps_serving() -> None:
    ours, pid = _serving()
    try:
        fds = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [2]))]
        huge = launcher.REQUEST_HEAD.pack(b"S", 0xFFFFFFFF, 0xFFFFFFFF) + b"x\0"
        ours.sendmsg([huge], fds)
        assert _answer(ours) == (b"E", errno.EINVAL, 0)
        ours.sendmsg([launcher._request(["true"], {}, None)], fds)
        kind, started, _ = _answer(ours)
        assert kind == b"P" and _answer(ours) == (b"X", started, 0)
    finally:
        ours.close()
        os.waitpid(pid, 0)


@needs_compiled
async def test_a_client_without_stdout_and_stderr_still_gives_both_to_a_command() -> None:
    ours, pid = _serving(1, 2)
    read_fd, write_fd = os.pipe()
    try:
        fds = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [write_fd]))]
        argv = ["/bin/sh", "-c", "echo out; echo err >&2"]
        ours.sendmsg([launcher._request(argv, {}, None)], fds)
        os.close(write_fd)
        kind, started, _ = _answer(ours)
        assert kind == b"P" and _answer(ours) == (b"X", started, 0)
        assert _read_all(read_fd) == b"out\nerr\n"
    finally:
        os.close(read_fd)
        ours.close()
        os.waitpid(pid, 0)


@needs_compiled
async def test_a_reaper_that_died_unnoticed_is_replaced_on_the_next_start(
    kept: launcher.Launcher,
) -> None:
    assert (await _run(kept, ["true"]))[0] == 0
    dead = kept.reaper_pid
    os.kill(dead, signal.SIGKILL)
    os.waitpid(dead, 0)  # gone before the loop could notice
    code, _, _ = await _run(kept, ["true"])
    assert code == 0 and kept.reaper_pid not in (0, dead)


@needs_compiled
async def test_an_exit_reported_before_the_reaper_died_is_kept(
    kept: launcher.Launcher, output_fd: int
) -> None:
    done = await kept.spawn(["true"], output_fd=output_fd, env=None, cwd=None)
    time.sleep(0.3)  # (blocking: its exit report waits unread on the socket)
    dead = kept.reaper_pid
    os.kill(dead, signal.SIGKILL)
    os.waitpid(dead, 0)
    again = await kept.spawn(["true"], output_fd=output_fd, env=None, cwd=None)  # broken pipe
    assert await asyncio.wait_for(done.wait(), 5) == 0  # not "the reaper was gone"
    assert await asyncio.wait_for(again.wait(), 5) == 0


@needs_compiled
async def test_a_killed_reaper_fails_the_waiters_takes_its_commands_and_is_replaced(
    kept: launcher.Launcher, output_fd: int
) -> None:
    child = await kept.spawn(["sleep", "30"], output_fd=output_fd, env=None, cwd=None)
    first_reaper = kept.reaper_pid
    os.kill(first_reaper, signal.SIGKILL)
    with pytest.raises(launcher.LauncherError, match="closed its end") as raised:
        await asyncio.wait_for(child.wait(), 5)
    assert raised.value.status is not None and os.WTERMSIG(raised.value.status) == 9
    assert await _gone(child.pid)  # its parent-death signal
    assert _state(first_reaper) == "gone"  # reaped
    code, _, pid = await _run(kept, ["true"])
    assert code == 0 and kept.reaper_pid not in (0, first_reaper)


@needs_compiled
async def test_closing_kills_what_runs_and_reaps_the_reaper(tmp_path: Path) -> None:
    kept = launcher.Launcher(str(reaper.compiled()))
    pid_file = tmp_path / "escaped.pid"
    inner = f"echo $$ > {pid_file}.tmp && mv {pid_file}.tmp {pid_file} && exec sleep 30"
    child = await kept.spawn(
        ["sh", "-c", f"setsid sh -c '{inner}' & exec sleep 30"], output_fd=2, env=None, cwd=None
    )
    escaped = await _pid_from(pid_file)
    assert os.getsid(escaped) == escaped
    the_reaper = kept.reaper_pid
    kept.close()
    assert await _gone(child.pid) and await _gone(escaped)
    for _ in range(250):  # reaped off the loop's path, without blocking it
        if _state(the_reaper) == "gone":
            break
        await asyncio.sleep(0.02)
    assert _state(the_reaper) == "gone"
    with pytest.raises(launcher.LauncherError):
        await child.wait()


@needs_compiled
async def test_spawn_takes_the_kept_reaper_and_falls_back_to_one_of_its_own(
    monkeypatch: pytest.MonkeyPatch, output_fd: int
) -> None:
    kept = launcher.for_loop()
    assert kept is not None
    try:
        child = await spawn.spawn(
            ["sleep", "5"], output_fd=output_fd, env=None, cwd=None, reaped=True
        )
        assert isinstance(child, launcher.LaunchedProcess)
        assert _ppid(child.pid) == kept.reaper_pid
        os.killpg(child.pid, signal.SIGKILL)
        assert await child.wait() == -signal.SIGKILL
        # Too large for one request: a reaper of its own runs it, as our child.
        env = {f"BIG{index}": "x" * 60_000 for index in range(20)}
        check = [sys.executable, "-c", "import os, sys; sys.exit(len(os.environ['BIG19']))"]
        own = await spawn.spawn(check, output_fd=output_fd, env=env, cwd=None, reaped=True)
        assert isinstance(own, spawn.SpawnedProcess) and _ppid(own.pid) == os.getpid()
        assert await own.wait() == 60_000 % 256
        # Past the socket's buffer, whatever this machine allows it: either way it runs.
        env = {f"BIG{index}": "x" * 60_000 for index in range(8)}
        check[-1] = check[-1].replace("BIG19", "BIG7")
        either = await spawn.spawn(check, output_fd=output_fd, env=env, cwd=None, reaped=True)
        assert await either.wait() == 60_000 % 256
        monkeypatch.setattr(reaper, "compiled", lambda: None)
        monkeypatch.setattr(launcher, "_launchers", launcher.weakref.WeakKeyDictionary())
        assert launcher.for_loop() is None
        own = await spawn.spawn(["true"], output_fd=output_fd, env=None, cwd=None, reaped=True)
        assert isinstance(own, spawn.SpawnedProcess) and await own.wait() == 0
    finally:
        kept.close()
