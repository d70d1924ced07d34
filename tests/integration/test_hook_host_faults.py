"""The hook host's supervisor under faults, with a real host process: every call gets its
answer or an error by its deadline, replies are matched to calls by id, and whatever a
hook starts dies with the host."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hooks import wire
from hooks.supervisor import HookHost
from tests.integration.hookfarm import write_template

FAULTS = """
import os, sys, time, json
import MTemplateAPI, MDispatcherAPI
from hooks import wire
from hooks.api.link import current_link

def _invoke_message():
    frame = sys._getframe()
    while frame is not None:
        if frame.f_code.co_name == "serve" and isinstance(frame.f_locals.get("message"), wire.Invoke):
            return frame.f_locals["message"]
        frame = frame.f_back
    raise RuntimeError("no Invoke on the stack")

class Faults(MTemplateAPI.MTemplate):
    def __init__(self):
        MTemplateAPI.MTemplate.__init__(self)
        self.setID(700)
        self.setKey("faults")

    def onJobPropertiesChanged(self, job):
        kind = job.getName()
        print("ran", kind)
        if kind == "forge":
            message = _invoke_message()
            second = message.calls[1]
            forged = wire.Done(message.batch, 1, ok=False, description="forged")
            if hasattr(second, "id"):
                forged.call = second.id
            current_link().send(forged)
        elif kind == "stderr-crash":
            os.write(2, b"x" * 100_000 + b"\\n")
            os._exit(7)
        elif kind == "stderr-long":
            os.write(2, b"y" * 200_000)
        elif kind == "fork":
            pid = os.fork()
            if pid == 0:
                while True:
                    with open(job.attributeGetString("stamp"), "a") as out:
                        out.write(f"{os.getpid()} {time.time()}\\n")
                    time.sleep(0.1)
            with open(job.attributeGetString("pid_file"), "w") as out:
                out.write(str(pid))
        elif kind == "sleep":
            time.sleep(float(job.attributeGetString("seconds")))

MTemplateAPI.MManager.getUniqueClass().installPyTemplate(Faults())
"""


def call(name: str, **data: str) -> wire.HookCall:
    return wire.HookCall("faults", "onJobPropertiesChanged", {"id": 1, "title": name, "data": data})


@pytest.fixture
async def host(tmp_path: Path) -> AsyncIterator[HookHost]:
    write_template(tmp_path / "templates", "faults.py", FAULTS)

    async def no_api(request: wire.ApiCall) -> wire.ApiReply:
        return wire.ApiReply(request.call, 11, "no API in this test")

    supervisor = HookHost(
        no_api, templates_dirs=lambda: [tmp_path / "templates"], timeout_s=2.0, memory_limit_mb=0
    )
    await supervisor.start()
    yield supervisor
    await supervisor.close()


async def answered(host: HookHost, calls: list[wire.HookCall]) -> list[wire.Done]:
    """The calls' results; a hang fails the test instead of the run."""
    return await asyncio.wait_for(host.invoke(calls), 30)


async def test_a_call_that_cannot_be_encoded_fails_alone(host: HookHost) -> None:
    bad = wire.HookCall("faults", "onJobPropertiesChanged", {"id": 1, "title": "\ud800"})
    results = await answered(host, [call("before"), bad, call("after")])
    assert [done.ok for done in results] == [True, False, True]
    assert "could not be sent" in results[1].error and "surrogates" in results[1].error
    assert "ran after" in results[2].output
    assert (await answered(host, [call("next")]))[0].ok


async def test_a_long_stderr_line_and_a_crash_fail_only_that_call(
    host: HookHost, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="hooks.supervisor")
    results = await answered(host, [call("stderr-long"), call("stderr-crash"), call("after")])
    assert results[0].ok
    assert not results[1].ok and "exited with code 7" in results[1].error
    assert results[2].ok and "ran after" in results[2].output
    assert (await answered(host, [call("next")]))[0].ok
    long_lines = [
        r.getMessage() for r in caplog.records if "action=hook_host_stderr" in r.getMessage()
    ]
    assert long_lines and all(len(line) < 20_000 for line in long_lines)
    assert any("truncated" in line for line in long_lines)


async def test_replies_are_matched_to_their_calls_by_id(
    host: HookHost, caplog: pytest.LogCaptureFixture
) -> None:
    results = await answered(host, [call("forge"), call("second"), call("third")])
    # The forged frame names the second call: it may answer that call, never the first.
    assert results[0].ok and "ran forge" in results[0].output
    assert "ran third" in results[2].output and results[2].ok
    assert results[1].description == "forged" or "ran second" in results[1].output
    assert (await answered(host, [call("next")]))[0].ok


async def test_a_worker_fault_fails_its_waiters_and_the_worker_restarts(
    host: HookHost, caplog: pytest.LogCaptureFixture
) -> None:
    assert (await answered(host, [call("warm")]))[0].ok

    def broken_report(*args: object) -> None:
        raise RuntimeError("a bug in the supervisor")

    host._report = broken_report  # type: ignore[method-assign]
    results = await answered(host, [call("one"), call("two")])
    # The first call's result was in before the fault; the second fails with the real cause.
    assert not results[1].ok and "a bug in the supervisor" in results[1].error
    del host._report
    assert (await answered(host, [call("again")]))[0].ok
    assert "action=hook_host_worker_fault" in caplog.text


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


async def test_a_process_forked_by_a_hook_dies_with_the_host(
    host: HookHost, tmp_path: Path
) -> None:
    pid_file, stamp = tmp_path / "child.pid", tmp_path / "stamp"
    result = await answered(host, [call("fork", pid_file=str(pid_file), stamp=str(stamp))])
    assert result[0].ok, result[0].error
    child = int(pid_file.read_text())
    try:
        assert _alive(child)
        host.request_restart()
        assert (await answered(host, [call("after restart")]))[0].ok
        deadline = time.monotonic() + 10
        while _alive(child) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert not _alive(child), "the hook's child outlived a host restart"
    finally:
        if _alive(child):
            os.kill(child, signal.SIGKILL)
