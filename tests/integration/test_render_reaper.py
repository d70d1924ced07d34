"""Renders die with their render client: after a SIGKILL of the client, every process
of its renders is gone, grandchildren in their own sessions included."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from renderclient import reaper
from tests.integration.farm import Farm, wait_for


def gone(pid: int) -> bool:
    """True when `pid` no longer runs (ended, or a zombie waiting to be reaped)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except (OSError, IndexError):
        return True
    return state in ("Z", "X")


def read_pid(path: Path) -> int:
    text = wait_for(lambda: path.exists() and path.read_text().strip(), 30, f"{path.name}")
    return int(text)


# The command's own process starts a grandchild in a new session that records its pid
# and sleeps; the command then sleeps too.
def escaping_command(pid_file: Path) -> list[str]:
    inner = f"echo $$ > {pid_file}.tmp && mv {pid_file}.tmp {pid_file} && exec sleep 300"
    return ["sh", "-c", f"setsid sh -c '{inner}' & exec sleep 300"]


def test_a_killed_render_client_takes_every_render_process_with_it(
    farm: Farm, tmp_path: Path
) -> None:
    pid_file = tmp_path / "grandchild.pid"
    client = farm.client("doomed")
    farm.wait_nodes(1)
    job = farm.submit(title="escaper", command=escaping_command(pid_file))
    grandchild = read_pid(pid_file)
    assert not gone(grandchild)
    assert os.getsid(grandchild) == grandchild  # it left the render's session
    client.send_signal(signal.SIGKILL)
    client.wait(timeout=10)
    wait_for(lambda: gone(grandchild), 5, "the grandchild to die with its render client")
    assert farm.job(job["id"])["state"] in ("running", "queued")


@pytest.mark.parametrize("kind", ["compiled", "python"])
def test_each_reaper_kills_the_tree_when_its_parent_dies(tmp_path: Path, kind: str) -> None:
    if kind == "compiled":
        built = reaper.build(tmp_path / "cache")
        if built is None:
            pytest.skip("no C compiler here: renders use the Python reaper")
        prefix = [str(built)]
    else:
        prefix = [sys.executable, "-I", "-S", reaper.__file__]
    pid_file = tmp_path / "grandchild.pid"
    # A stand-in render client: it starts the reaper, reports the reaper's pid, waits.
    parent = textwrap.dedent(
        f"""
        import os, subprocess, sys
        argv = {prefix!r} + [str(os.getpid()), "--"] + {escaping_command(pid_file)!r}
        child = subprocess.Popen(argv, start_new_session=True)
        print(child.pid, flush=True)
        child.wait()
        """
    )
    process = subprocess.Popen([sys.executable, "-c", parent], stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    reaper_pid = int(process.stdout.readline())
    grandchild = read_pid(pid_file)
    children = Path(f"/proc/{reaper_pid}/task/{reaper_pid}/children")
    command_pids = [int(pid) for pid in children.read_text().split()] if children.exists() else []
    process.kill()
    process.wait()
    wait_for(lambda: gone(grandchild), 5, "the grandchild to die")
    wait_for(lambda: all(gone(pid) for pid in [*command_pids, reaper_pid]), 5, "the rest")


def leaving_daemons(pid_file: Path, *, deaf: bool) -> list[str]:
    """A command that starts a daemon in a session of its own (deaf to SIGTERM if
    asked), waits for it to record its pid, and exits 6."""
    trap = 'trap "" TERM; ' if deaf else ""
    inner = f"{trap}echo $$ > {pid_file}.tmp && mv {pid_file}.tmp {pid_file} && exec sleep 300"
    wait = f"while [ ! -e {pid_file} ]; do sleep 0.01; done"
    return ["sh", "-c", f"(setsid sh -c '{inner}' &); {wait}; exit 6"]


@pytest.mark.parametrize("deaf", [False, True])
@pytest.mark.parametrize("kind", ["compiled", "python"])
def test_each_reaper_ends_what_its_command_left_once_the_command_ends(
    tmp_path: Path, kind: str, deaf: bool
) -> None:
    if kind == "compiled":
        built = reaper.compiled()
        if built is None:
            pytest.skip("no C compiler here: renders use the Python reaper")
        prefix = [built]
    else:
        prefix = [sys.executable, "-I", "-S", reaper.__file__]
    # SIGTERM first; a daemon deaf to it gets SIGKILL after the grace (2 s).
    pid_file = tmp_path / "daemon.pid"
    argv = [*prefix, str(os.getpid()), "--", *leaving_daemons(pid_file, deaf=deaf)]
    process = subprocess.Popen(argv)
    try:
        daemon = read_pid(pid_file)
        command_ended = time.monotonic()  # (about: it exits once it sees the file)
        assert process.wait(timeout=30) == 6  # the command's own code
    finally:
        process.kill()
        process.wait()
    took_s = time.monotonic() - command_ended
    assert gone(daemon)  # ended before the reaper ended
    # Timed from the command's end, not the reaper's start: only the grace counts.
    limit_s = reaper.END_GRACE_S - 0.5
    assert (took_s >= limit_s) if deaf else (took_s < limit_s), took_s


def test_the_python_reaper_names_what_sigkill_cannot_end_and_goes_on() -> None:
    # A leftover it may not signal (EPERM) stands for one SIGKILL cannot end.
    script = textwrap.dedent(
        """
        import os, signal, time
        from renderclient import reaper
        reaper.KILL_LIMIT_S = 0.3
        child = os.fork()
        if child == 0:
            time.sleep(30)
            os._exit(0)
        kill = os.kill
        def refusing(pid, signum):
            if pid == child:
                raise PermissionError(1, "Operation not permitted")
            kill(pid, signum)
        os.kill = refusing
        reaper._kill_all_children(os.getpid())
        kill(child, signal.SIGKILL)
        print(child, flush=True)
        """
    )
    began = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, done.stderr
    child = int(done.stdout)
    assert f"after SIGKILL, left behind: {child}" in done.stderr
    assert time.monotonic() - began < 10


def _has_interpreter(path: Path) -> bool:
    """Whether an ELF file names a dynamic loader (a PT_INTERP program header)."""
    import struct

    data = path.read_bytes()
    assert data[:4] == b"\x7fELF" and data[4] == 2  # 64-bit
    order = "<" if data[5] == 1 else ">"
    (phoff,) = struct.unpack_from(order + "Q", data, 0x20)
    entry_size, count = struct.unpack_from(order + "HH", data, 0x36)
    kinds = [struct.unpack_from(order + "I", data, phoff + i * entry_size)[0] for i in range(count)]
    return 3 in kinds  # PT_INTERP


def test_the_compiled_reaper_is_static_where_the_c_library_allows(tmp_path: Path) -> None:
    built = reaper.build(tmp_path / "cache")
    if built is None:
        pytest.skip("no C compiler here: renders use the Python reaper")
    probe = tmp_path / "probe.c"
    probe.write_text("int main(void) { return 0; }\n")
    compiler = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    assert compiler is not None
    static_ok = (
        subprocess.run(
            [compiler, "-static", "-o", str(tmp_path / "probe"), str(probe)], capture_output=True
        ).returncode
        == 0
    )
    assert _has_interpreter(built) is not static_ok
    # It works either way: the command's exit code comes back through it.
    done = subprocess.run([str(built), str(os.getpid()), "--", "sh", "-c", "exit 6"], timeout=30)
    assert done.returncode == 6
