"""The reaper: a small process between the render client and each render command,
so that every process of a render dies when the render client dies, however it
dies (SIGKILL included) and wherever the render's processes went (their own
sessions included).

Nothing in a SIGKILLed client can act, and a parent-death signal reaches only
the client's direct children. The reaper is that direct child: it is the
subreaper of the command's whole tree, gets SIGUSR1 when the client dies and
then kills its children until none is left. reaper.c is the reaper; it is
compiled once per source version into a cache folder, statically linked where
the C library allows it. Compiled, it is kept running for the client's life and
starts each render on request (`reaper CLIENT_PID --serve`, driven by
renderclient/launcher.py); a render that cannot go that way (a nice value or a
memory cgroup to take before exec) runs under a reaper of its own. Where no C
compiler is found, this module is the reaper of each render, run by the same
Python (a few tens of milliseconds per spawn); the logic is the same.

    reaper CLIENT_PID -- COMMAND [ARGUMENT...]
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import hashlib
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

logger = logging.getLogger(__name__)

SOURCE = Path(__file__).with_name("reaper.c")
PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36
BUILD_TIMEOUT_S = 60.0
END_GRACE_S = 2.0  # what a render's command left behind has this long after SIGTERM
# A leftover SIGKILL cannot end (uninterruptible sleep, not ours to signal) must not hold
# the render for ever: past this it is named on the render's output and left.
KILL_LIMIT_S = 5.0
BUILD_VERSION = b"static-first"  # how it is built: a change names a new cached file

_command: list[str] | None = None


def cache_dir() -> Path:
    """Where the compiled reaper is kept: the user's cache folder, private to them."""
    return Path.home() / ".cache" / "corral"


def build(folder: Path) -> Path | None:
    """The compiled reaper for this source (built now if missing), or None without a compiler."""
    source = SOURCE.read_bytes() + BUILD_VERSION
    target = folder / f"reaper-{hashlib.sha256(source).hexdigest()[:16]}"
    if os.access(target, os.X_OK):
        return target
    compiler = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if compiler is None:
        return None
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd, partial = tempfile.mkstemp(prefix=".reaper-", dir=folder)
    os.close(fd)
    try:
        # Linked statically where the C library allows it: a static reaper starts
        # without the dynamic loader, about a quarter less CPU for each render.
        for flags in (["-static"], []):
            done = subprocess.run(
                [compiler, "-O2", *flags, "-o", partial, str(SOURCE)],
                check=not flags,
                capture_output=True,
                timeout=BUILD_TIMEOUT_S,
            )
            if done.returncode == 0:
                break
        os.chmod(partial, 0o700)
        os.replace(partial, target)  # atomic: clients building at once all get a whole file
    except (OSError, subprocess.SubprocessError) as exc:
        detail = getattr(exc, "stderr", b"") or b""
        logger.warning(
            "action=reaper_build_failed error=%r detail=%r; renders use the Python reaper",
            str(exc),
            detail.decode(errors="replace")[-500:],
        )
        Path(partial).unlink(missing_ok=True)
        return None
    return target


def command() -> list[str]:
    """The argv prefix that runs a render under a reaper (decided once per process)."""
    global _command
    if _command is None:
        try:
            built = build(cache_dir())
        except OSError as exc:
            logger.warning("action=reaper_build_failed error=%r", str(exc))
            built = None
        _command = [str(built)] if built else [sys.executable, "-I", "-S", str(Path(__file__))]
        logger.info("action=reaper reaper=%s", _command[-1])
    return list(_command)


def compiled() -> str | None:
    """The compiled reaper's path, or None where renders use the Python one."""
    prefix = command()
    return prefix[0] if len(prefix) == 1 else None


def wrap(argv: list[str]) -> list[str]:
    """`argv` run under a reaper that watches this process."""
    return [*command(), str(os.getpid()), "--", *argv]


# -- the Python reaper (same logic as reaper.c) -------------------------------
def _children(me: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as file:
                fields = file.read().rpartition(")")[2].split()
        except OSError:
            continue
        if len(fields) > 1 and fields[1] == str(me):
            found.append(int(entry))
    return found


def _signal_child(pid: int, signum: int) -> None:
    """Signal a child, and the group it leads if it leads one (not ours); unreaped, its
    pid and its group's id are still its own."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        if os.getpgid(pid) == pid and pid != os.getpgrp():
            os.killpg(pid, signum)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, signum)


def _kill_all_children(me: int) -> None:
    """SIGKILL children until none is left (the killed ones' orphans come to us), or
    until KILL_LIMIT_S has passed: then the ones left are named on stderr."""
    deadline = time.monotonic() + KILL_LIMIT_S
    while True:
        for pid in _children(me):
            _signal_child(pid, signal.SIGKILL)
        try:
            while os.waitpid(-1, os.WNOHANG)[0] > 0:
                pass
        except ChildProcessError:
            return
        if time.monotonic() >= deadline:
            break
        time.sleep(0.01)
    left = " ".join(str(pid) for pid in _children(me))
    print(
        f"reaper: still running {KILL_LIMIT_S:g} s after SIGKILL, left behind: {left}",
        file=sys.stderr,
        flush=True,
    )


def _kill_everything_and_exit(me: int) -> None:
    _kill_all_children(me)
    os._exit(137)


def _reaped_all() -> bool:
    try:
        while os.waitpid(-1, os.WNOHANG)[0] > 0:
            pass
    except ChildProcessError:
        return True
    return False


def _end_tree_like(client: int, me: int, status: int, watched: set[signal.Signals]) -> None:
    """The command ended: what it left in the tree gets SIGTERM, SIGKILL after
    END_GRACE_S; then end like the command."""
    termed: set[int] = set()
    deadline = time.monotonic() + END_GRACE_S
    while not _reaped_all():
        if time.monotonic() >= deadline:
            _kill_all_children(me)
            break
        for pid in set(_children(me)) - termed:
            _signal_child(pid, signal.SIGTERM)
            termed.add(pid)
        signal.sigtimedwait(watched, 0.1)
        if os.getppid() != client:
            _kill_everything_and_exit(me)
    _end_like(status)


def _end_like(status: int) -> None:
    if os.WIFEXITED(status):
        os._exit(os.WEXITSTATUS(status))
    sig = os.WTERMSIG(status)
    import resource

    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    signal.signal(sig, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {sig})
    os.kill(os.getpid(), sig)
    os._exit(128 + sig)


def main(argv: list[str]) -> int:
    if len(argv) < 3 or argv[1] != "--":
        print("usage: reaper CLIENT_PID -- COMMAND [ARGUMENT...]", file=sys.stderr)
        return 2
    client, me = int(argv[0]), os.getpid()
    watched = {signal.SIGCHLD, signal.SIGUSR1, signal.SIGTERM, signal.SIGINT, signal.SIGHUP}
    watched.add(signal.SIGQUIT)
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, watched)
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGUSR1, 0, 0, 0)
    if os.getppid() != client:
        return 137
    child = os.fork()
    if child == 0:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        os.closerange(3, os.sysconf("SC_OPEN_MAX"))  # the command gets 0, 1 and 2 only
        for ignored in ("SIGPIPE", "SIGXFSZ"):  # Python ignores them; a command must not
            signal.signal(getattr(signal, ignored), signal.SIG_DFL)
        try:
            os.execvp(argv[2], argv[2:])
        except OSError as exc:
            print(f"reaper: cannot run {argv[2]}: {exc.strerror}", file=sys.stderr)
        os._exit(127)
    while True:
        sig = signal.sigtimedwait(watched, 1.0)
        if os.getppid() != client:
            _kill_everything_and_exit(me)
        if sig is not None and sig.si_signo == signal.SIGCHLD:
            try:
                while True:
                    pid, status = os.waitpid(-1, os.WNOHANG)
                    if pid == 0:
                        break
                    if pid == child:
                        _end_tree_like(client, me, status, watched)
            except ChildProcessError:
                pass


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except OSError as exc:
        print(f"reaper: {os.strerror(exc.errno or errno.EIO)}", file=sys.stderr)
        sys.exit(127)
