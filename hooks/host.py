"""The hook host: the process that runs template hooks and scripts for the dispatcher.

`python -m hooks.host --fd N --templates-dir DIR ...` is started by the
dispatcher's `HookHost` (hooks/supervisor.py) with one end of a socket pair
as fd N. It loads the templates, says `Ready`, then runs what it is sent one
at a time: a batch of hook calls (`Invoke`) or a script (`RunScript`),
answering each with `Done`. MDispatcherAPI calls made meanwhile travel back
over the same socket (hooks.api.link).

Faults stay here: an exception becomes a failed `Done` with its traceback; a
call over its time limit (SIGALRM), sys.exit and MemoryError are reported and
then end this process, which the dispatcher restarts. The address space is
capped (RLIMIT_AS) so a hook that floods memory fails instead of the machine;
a crash in C (a segfault) ends the process with faulthandler's traceback on
stderr, which the dispatcher logs.

The host leads its own process group (the dispatcher starts it in a new
session) and everything a hook starts belongs to it: the dispatcher kills the
whole group whenever it stops or restarts the host, and the host kills its
group itself when its pipe closes. On Linux the host also asks for a
parent-death signal (prctl PR_SET_PDEATHSIG), so that a dispatcher that dies
without a word (kill -9) takes it along even while a hook runs.
"""

from __future__ import annotations

import argparse
import contextlib
import faulthandler
import io
import logging
import os
import signal
import socket
import sys
import traceback
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import Any

from hooks import wire
from hooks.api.context import set_context
from hooks.api.link import Link, LinkClosed, set_link
from hooks.api.objects import MChunk, MJob, MStringRef
from hooks.api.template import MTemplateError
from hooks.runtime import TemplateSet

log = logging.getLogger(__name__)

MAX_OUTPUT_CHARS = 1 << 20
REF_KEY = "__ref__"  # an argument {"__ref__": "text"} arrives as an MStringRef


class HookTimedOut(BaseException):
    """Raised into a hook that ran past its time limit (a BaseException: `except Exception` keeps out)."""


class _Fatal(Exception):
    """This host must end after reporting the call."""


def _on_alarm(signum: int, frame: FrameType | None) -> None:
    raise HookTimedOut("the hook ran past its time limit")


@contextlib.contextmanager
def _time_limit(seconds: float) -> Iterator[None]:
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)


class _Capture(io.StringIO):
    """print() output of one call, capped."""

    def write(self, text: str) -> int:
        if self.tell() < MAX_OUTPUT_CHARS:
            super().write(text[: MAX_OUTPUT_CHARS - self.tell()])
        return len(text)


def interpret(result: Any) -> tuple[bool, int, str]:
    """A hook's return value as (ok, code, description)."""
    if result is None or result is True:
        return True, 0, ""
    if isinstance(result, MTemplateError):
        code = result.getErrorCode()
        return code == 0, code, result.getDescription()
    if result is False:
        return False, 1, "the hook returned False"
    if isinstance(result, int):
        return result == 0, result, "" if result == 0 else f"the hook returned {result}"
    return True, 0, ""


class Host:
    """Runs calls for the dispatcher until the pipe closes."""

    def __init__(self, link: Link, templates: TemplateSet, timeout_s: float) -> None:
        self.link = link
        self.templates = templates
        self.timeout_s = timeout_s

    def serve(self) -> int:
        self.link.send(
            wire.Ready(
                pid=os.getpid(), templates=self.templates.keys(), errors=self.templates.errors
            )
        )
        while True:
            try:
                message = self.link.receive()
            except LinkClosed:
                return 0
            if isinstance(message, wire.Invoke):
                for index, call in enumerate(message.calls):
                    done = self.run_hook(message.batch, index, call)
                    done.call = call.id
                    self._finish(done)
            elif isinstance(message, wire.RunScript):
                done = self.run_script(message)
                done.call = message.call
                self._finish(done)

    def _finish(self, done: wire.Done) -> None:
        try:
            frame = wire.encode(done)
        except wire.EncodeError as exc:  # e.g. a hook left an object in its job
            done = wire.Done(done.batch, done.index, ok=False, call=done.call, fatal=done.fatal,
                             error=f"its result could not be sent: {exc}")  # fmt: skip
            frame = wire.encode(done)
        self.link.sock.sendall(frame)
        if done.fatal:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(3)

    def run_hook(self, batch: int, index: int, call: wire.HookCall) -> wire.Done:
        template = self.templates.get(call.template)
        if template is None:
            return wire.Done(
                batch, index, ok=False, error=f"template {call.template!r} is not installed"
            )
        method = getattr(template, call.method, None)
        if method is None or not template.overrides(call.method):
            return wire.Done(
                batch, index, ok=False, error=f"{call.template} has no hook {call.method}"
            )
        job = MJob(call.job) if call.job is not None else None
        arguments: list[Any] = [] if job is None else [job]
        if call.chunk is not None:
            arguments.append(MChunk.from_dict(call.chunk))
        ref: MStringRef | None = None
        for arg in call.args:
            if isinstance(arg, dict) and REF_KEY in arg:
                ref = MStringRef(str(arg[REF_KEY]))
                arguments.append(ref)
            else:
                arguments.append(arg)
        self.link.template = call.template
        try:
            done = self._run(batch, index, lambda: method(*arguments))
        finally:
            self.link.template = ""
        if done.ok or not done.error:
            done.job = None if job is None else job.to_dict()
            done.value = None if ref is None else ref.getString()
        return done

    def run_script(self, script: wire.RunScript) -> wire.Done:
        self.link.api_errors = []
        namespace: dict[str, Any] = {"__name__": "__main__", "__file__": script.name}

        def execute() -> None:
            exec(compile(script.code, script.name, "exec"), namespace)

        done = self._run(script.batch, 0, execute)
        done.api_errors = list(self.link.api_errors)
        return done

    def _run(self, batch: int, index: int, call: Any) -> wire.Done:
        output = _Capture()
        try:
            with (
                contextlib.redirect_stdout(output),
                contextlib.redirect_stderr(output),
                _time_limit(self.timeout_s),
            ):
                result = call()
        except HookTimedOut:
            return self._failed(
                batch, index, output, f"time limit of {self.timeout_s:g} s exceeded", True
            )
        except SystemExit as exc:
            return self._failed(batch, index, output, f"it called sys.exit({exc.code!r})", True)
        except MemoryError:
            return self._failed(
                batch, index, output, "it ran out of memory (the host's limit)", True
            )
        except BaseException:
            return self._failed(batch, index, output, "it raised an exception", False)
        ok, code, description = interpret(result)
        return wire.Done(
            batch, index, ok=ok, code=code, description=description, output=output.getvalue()
        )

    def _failed(
        self, batch: int, index: int, output: _Capture, reason: str, fatal: bool
    ) -> wire.Done:
        text = traceback.format_exc(limit=20)
        return wire.Done(
            batch, index, ok=False, error=f"{reason}\n{text}", output=output.getvalue(), fatal=fatal
        )


PR_SET_PDEATHSIG = 1


def _kill_group(signum: int, frame: FrameType | None) -> None:
    """The dispatcher died: end this host and everything its hooks started."""
    os.killpg(os.getpgrp(), signal.SIGKILL)


def _die_with_parent(parent_pid: int) -> None:
    """Ask Linux for SIGTERM when the dispatcher dies; on it, kill the whole group.

    SIGTERM, not SIGKILL, so that the handler can take the hooks' children along
    (they do not inherit a parent-death signal). A process forked by a hook gets
    the default SIGTERM back, so that killing it cannot take the host down.
    """
    signal.signal(signal.SIGTERM, _kill_group)
    os.register_at_fork(after_in_child=lambda: signal.signal(signal.SIGTERM, signal.SIG_DFL))
    if sys.platform.startswith("linux"):
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0:
            log.warning("prctl(PR_SET_PDEATHSIG) failed: errno %d", ctypes.get_errno())
    if parent_pid and os.getppid() != parent_pid:  # it died before the signal was asked for
        _kill_group(signal.SIGTERM, None)


def _limit_memory(megabytes: int) -> None:
    if megabytes <= 0:
        return
    import resource

    limit = megabytes * 1024 * 1024
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hooks.host")
    parser.add_argument("--fd", type=int, required=True, help="the socket the dispatcher passed")
    parser.add_argument("--templates-dir", action="append", default=[], type=Path)
    parser.add_argument("--timeout-s", type=float, default=10.0)
    parser.add_argument("--memory-mb", type=int, default=0)
    parser.add_argument("--parent-pid", type=int, default=0, help="the dispatcher's pid")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING,
        stream=sys.stderr,
        format="hook host: %(levelname)s %(name)s: %(message)s",
    )
    faulthandler.enable(file=sys.stderr)
    _die_with_parent(args.parent_pid)
    signal.signal(signal.SIGALRM, _on_alarm)
    signal.signal(
        signal.SIGINT, signal.SIG_IGN
    )  # the dispatcher ends the host, not a terminal's ^C
    sock = socket.socket(fileno=args.fd)
    link = Link(sock)
    set_context("dispatcher")
    set_link(link)
    _limit_memory(args.memory_mb)
    templates = TemplateSet.load(args.templates_dir)
    templates.activate()
    try:
        Host(link, templates, args.timeout_s).serve()
    except (OSError, wire.WireError) as exc:
        log.error("the pipe to the dispatcher failed: %s", exc)
    # The pipe closed: the dispatcher is done with this host (or dead, and its socket
    # closes before the parent-death signal comes). Take the hooks' children along.
    sys.stdout.flush()
    sys.stderr.flush()
    _kill_group(signal.SIGTERM, None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
