"""The dispatcher's node commands as a render client carries them out.

`kill` stays with the session (it owns the chunk queue); every other command
comes here: process priority, the real-time log switch, a status update, a
soft restart, Python code to run in the render-client context, system
events, and engine event commands (run after a chunk, as the dispatcher's
settings for this node say). A command that carries a `request` number is answered with a Reply,
so the dispatcher can tell its caller what happened.

System events (shutdown, reboot, logoff) never touch the machine by default:
they are refused and logged unless the node was started with an event
command, which then runs with the event's name as its last argument.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from dispatcher.protocol import Command, Message, Reply
from dispatcher.tasks import cancel_all
from renderclient import processes

logger = logging.getLogger(__name__)

SYSTEM_EVENTS = ("shutdown", "reboot", "logoff")
MAX_OUTPUT_BYTES = 1024 * 1024
DEFAULT_PYTHON_TIMEOUT_S = 60.0
EVENT_TIMEOUT_S = 60.0

# Runs node code in a fresh interpreter that says it is the render client's context.
PYTHON_BOOTSTRAP = (
    "import sys\n"
    "from hooks.api.context import set_context\n"
    "set_context('renderclient')\n"
    "code = sys.argv[1]\n"
    "sys.argv = ['<node code>']\n"
    "exec(compile(code, '<node code>', 'exec'), {'__name__': '__main__'})\n"
)


class CommandTarget(Protocol):
    """What the commands need of an instance session."""

    nice: int | None
    realtime_log: bool

    def send(self, message: Message) -> bool: ...

    def renice_running(self, nice: int) -> list[int]: ...

    def heartbeat_now(self) -> None: ...

    def environment(self) -> dict[str, str]: ...

    def set_template_config(self, values: dict[str, dict[str, Any]]) -> str: ...


@dataclass(frozen=True, slots=True)
class CommandSettings:
    """How a node carries out commands (from the render client's options).

    on_soft_restart: asks the client to close and re-execute itself.
    system_event_command: argv run for a system event (None: refuse events).
    python_timeout_s: the longest node code may run before it is killed.
    """

    on_soft_restart: Callable[[str], None]
    system_event_command: Sequence[str] | None = None
    python_timeout_s: float = DEFAULT_PYTHON_TIMEOUT_S


class NodeCommands:
    """Carries out one session's commands; owns the tasks of the slow ones."""

    def __init__(self, target: CommandTarget, settings: CommandSettings, label: str) -> None:
        self._target = target
        self._settings = settings
        self._label = label
        self._tasks: set[asyncio.Task[None]] = set()

    def handle(self, command: Command) -> None:
        action = command.action
        request = command.args.get("request")
        if request is not None and (isinstance(request, bool) or not isinstance(request, int)):
            logger.warning("action=command_ignored %s bad request number %r", self._label, request)
            return
        handler = _SYNC.get(action)
        if handler is not None:
            try:
                ok, output = handler(self, command.args)
            except (TypeError, ValueError) as exc:
                ok, output = False, f"bad {action} command: {exc}"
            logger.info("action=command %s command=%s ok=%s %s", self._label, action, ok, output)
            self._answer(request, ok, output)
            return
        slow = _ASYNC.get(action)
        if slow is None:
            logger.warning("action=command_ignored %s unsupported command %s", self._label, action)
            self._answer(request, False, f"unsupported command {action!r}")
            return
        self._spawn(self._run_slow(slow, command.args, request), f"command-{action}")

    def _answer(self, request: int | None, ok: bool, output: str) -> None:
        if request is not None:
            self._target.send(Reply(request=request, ok=ok, output=output))

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.get_running_loop().create_task(coro, name=f"corral-renderclient-{name}")
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error(
                "action=command_failed %s task=%s error=%r",
                self._label,
                task.get_name(),
                task.exception(),
            )

    async def _run_slow(
        self,
        handler: Callable[[NodeCommands, dict[str, Any]], Coroutine[Any, Any, tuple[bool, str]]],
        args: dict[str, Any],
        request: int | None,
    ) -> None:
        try:
            ok, output = await handler(self, args)
        except (TypeError, ValueError) as exc:
            ok, output = False, f"bad command: {exc}"
        self._answer(request, ok, output)

    async def close(self) -> None:
        await cancel_all(list(self._tasks))

    # -- quick commands -----------------------------------------------------
    def _priority(self, args: dict[str, Any]) -> tuple[bool, str]:
        nice = _int_arg(args, "nice")
        if not processes.NICE_MIN <= nice <= processes.NICE_MAX:
            raise ValueError(f"nice {nice} is outside {processes.NICE_MIN}..{processes.NICE_MAX}")
        self._target.nice = nice
        pids = self._target.renice_running(nice)
        where = f"pids {' '.join(map(str, pids))}" if pids else "no render running"
        return True, f"nice {nice}: {where}"

    def _realtime_log(self, args: dict[str, Any]) -> tuple[bool, str]:
        on = args.get("on")
        if not isinstance(on, bool):
            raise ValueError("'on' must be true or false")
        self._target.realtime_log = on
        return True, f"real-time log {'on' if on else 'off'}"

    def _update(self, args: dict[str, Any]) -> tuple[bool, str]:
        self._target.heartbeat_now()
        return True, "status sent"

    def _template_config(self, args: dict[str, Any]) -> tuple[bool, str]:
        values = args.get("values")
        if not isinstance(values, dict) or not all(
            isinstance(items, dict) for items in values.values()
        ):
            raise ValueError("'values' must map template keys to items and values")
        return True, self._target.set_template_config(values)

    def _soft_restart(self, args: dict[str, Any]) -> tuple[bool, str]:
        self._settings.on_soft_restart("soft restart requested by the dispatcher")
        return True, "restarting"

    # -- slow commands ------------------------------------------------------
    async def _run_python(self, args: dict[str, Any]) -> tuple[bool, str]:
        code = args.get("code")
        if not isinstance(code, str):
            raise ValueError("'code' must be text")
        timeout_s = min(float(args.get("timeout_s") or 0) or 1e9, self._settings.python_timeout_s)
        argv = [sys.executable, "-c", PYTHON_BOOTSTRAP, code]
        code_, output = await _run(argv, self._target.environment(), timeout_s)
        if code_ is None:
            return False, output + f"\n[killed after {timeout_s:g} s]"
        if code_ != 0:
            return False, output + f"\n[exit code {code_}]"
        return True, output

    async def _engine_event(self, args: dict[str, Any]) -> tuple[bool, str]:
        """An engine event command (its arguments made by the dispatcher), run here."""
        event, argv = args.get("event"), args.get("argv")
        if not isinstance(event, str) or not event:
            raise ValueError("'event' must name the event")
        if not isinstance(argv, list) or not argv or not all(isinstance(a, str) for a in argv):
            raise ValueError("'argv' must be a non-empty list of arguments")
        timeout_s = min(float(args.get("timeout_s") or 0) or 1e9, EVENT_TIMEOUT_S)
        env = {**self._target.environment(), "CORRAL_ENGINE_EVENT": event}
        code, output = await _run([str(arg) for arg in argv], env, timeout_s)
        logger.info(
            "action=engine_event %s event=%s exit=%s output=%r",
            self._label, event, code, output[-2000:],
        )  # fmt: skip
        if code is None:
            return False, output + f"\n[killed after {timeout_s:g} s]"
        if code != 0:
            return False, f"{output}\n[exit code {code}]".strip()
        return True, output

    async def _system_event(self, args: dict[str, Any]) -> tuple[bool, str]:
        event = args.get("event")
        if event not in SYSTEM_EVENTS:
            raise ValueError(f"unknown system event {event!r}; known: {', '.join(SYSTEM_EVENTS)}")
        command = self._settings.system_event_command
        if not command:
            logger.warning(
                "action=system_event_refused %s event=%s: no system event command is set",
                self._label,
                event,
            )
            return False, f"{event} refused: this node has no system event command"
        env = {**self._target.environment(), "CORRAL_SYSTEM_EVENT": str(event)}
        code, output = await _run([*command, str(event)], env, EVENT_TIMEOUT_S)
        logger.warning("action=system_event %s event=%s exit=%s", self._label, event, code)
        return code == 0, output if code == 0 else f"{output}\n[exit code {code}]".strip()


_SYNC: dict[str, Callable[[NodeCommands, dict[str, Any]], tuple[bool, str]]] = {
    "priority": NodeCommands._priority,
    "realtime_log": NodeCommands._realtime_log,
    "update": NodeCommands._update,
    "soft_restart": NodeCommands._soft_restart,
    "template_config": NodeCommands._template_config,
}
_ASYNC: dict[
    str, Callable[[NodeCommands, dict[str, Any]], Coroutine[Any, Any, tuple[bool, str]]]
] = {
    "run_python": NodeCommands._run_python,
    "system_event": NodeCommands._system_event,
    "engine_event": NodeCommands._engine_event,
}


def _int_arg(args: dict[str, Any], name: str) -> int:
    value = args.get(name)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name!r} must be a whole number")
    return value


async def _run(argv: list[str], env: dict[str, str], timeout_s: float) -> tuple[int | None, str]:
    """Run a helper; (exit code or None when killed at the timeout, merged output)."""
    try:
        process = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    except OSError as exc:
        return 127, f"cannot start {argv[0]}: {exc.strerror or exc}"
    assert process.stdout is not None
    chunks: list[bytes] = []
    size = 0

    async def read_all() -> None:
        nonlocal size
        assert process.stdout is not None
        while data := await process.stdout.read(65536):
            if size < MAX_OUTPUT_BYTES:
                chunks.append(data[: MAX_OUTPUT_BYTES - size])
            size += len(data)
        await process.wait()

    try:
        await asyncio.wait_for(read_all(), timeout_s)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, 9)
        await process.wait()
        return None, b"".join(chunks).decode("utf-8", "replace")
    text = b"".join(chunks).decode("utf-8", "replace")
    if size > MAX_OUTPUT_BYTES:
        text += f"\n[output cut at {MAX_OUTPUT_BYTES} bytes of {size}]"
    return process.returncode, text
