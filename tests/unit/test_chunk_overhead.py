"""What a render client does per chunk without redoing it: kept callback threads, the
environment worked out once while it does not change, a log file only for output, and
the OOM counter read from /proc/vmstat's raw bytes."""

from __future__ import annotations

import asyncio
import contextvars
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from dispatcher.errors import TemplateError
from renderclient import hookcalls
from renderclient.cgroups import kernel_oom_kills
from renderclient.chunklog import ChunkLog
from renderclient.environment import current_environ, environ_without_secrets
from renderclient.hookcalls import run_limited

SECRET = b"farm-secret-0123456789"
MARK: contextvars.ContextVar[str] = contextvars.ContextVar("mark", default="unset")


# -- kept worker threads ---------------------------------------------------------
def test_calls_one_after_another_reuse_one_worker_thread() -> None:
    async def scenario() -> list[int]:
        idents = []
        for _ in range(5):
            idents.append(await run_limited(threading.get_ident, timeout_s=5, what="ident"))
        return idents

    idents = asyncio.run(scenario())
    assert idents[0] != threading.get_ident()
    assert len(set(idents)) == 1
    assert hookcalls._pool.idle_count() >= 1


def test_each_call_starts_in_an_empty_context_as_in_a_new_thread() -> None:
    def set_and_read() -> str:
        before = MARK.get()
        MARK.set("set by a callback")
        return before

    async def scenario() -> list[str]:
        return [await run_limited(set_and_read, timeout_s=5, what="mark") for _ in range(3)]

    assert asyncio.run(scenario()) == ["unset", "unset", "unset"]


def test_a_stuck_worker_is_never_given_another_call() -> None:
    release = threading.Event()

    async def scenario() -> tuple[int, int]:
        def stuck() -> int:
            release.wait(10)
            return threading.get_ident()

        with pytest.raises(TemplateError, match="did not return within 0.2 s"):
            await run_limited(stuck, timeout_s=0.2, what="stuck")
        stuck_thread = hookcalls.abandoned[-1]
        assert stuck_thread.is_alive()
        # Calls made while it is stuck run elsewhere, and so do those after it returned.
        during = await run_limited(threading.get_ident, timeout_s=5, what="during")
        release.set()
        stuck_thread.join(5)
        assert not stuck_thread.is_alive()  # it ended instead of waiting for work
        after = await run_limited(threading.get_ident, timeout_s=5, what="after")
        assert stuck_thread.ident not in (during, after)
        return during, after

    asyncio.run(scenario())


def test_calls_at_the_same_time_run_in_parallel_threads() -> None:
    gate = threading.Barrier(3, timeout=5)

    async def scenario() -> list[int]:
        def meet() -> int:
            gate.wait()  # only returns when all three run at once
            return threading.get_ident()

        return await asyncio.gather(
            *(run_limited(meet, timeout_s=5, what=f"meet {n}") for n in range(3))
        )

    assert len(set(asyncio.run(scenario()))) == 3


def test_an_idle_worker_ends_after_its_idle_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hookcalls, "WORKER_IDLE_S", 0.1)
    monkeypatch.setattr(hookcalls, "_pool", hookcalls._Pool())

    async def scenario() -> threading.Thread:
        ident = await run_limited(threading.get_ident, timeout_s=5, what="once")
        return next(thread for thread in threading.enumerate() if thread.ident == ident)

    thread = asyncio.run(scenario())
    thread.join(5)
    assert not thread.is_alive()
    assert hookcalls._pool.idle_count() == 0


# -- the environment -------------------------------------------------------------
@pytest.fixture
def scratch_env() -> Iterator[None]:
    saved = dict(os.environ)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


@pytest.mark.usefixtures("scratch_env")
def test_current_environ_follows_every_change_of_os_environ() -> None:
    assert current_environ() == dict(os.environ)
    os.environ["CORRAL_TEST_OVERHEAD"] = "one"
    assert current_environ()["CORRAL_TEST_OVERHEAD"] == "one"
    os.environ["CORRAL_TEST_OVERHEAD"] = "two"
    assert current_environ()["CORRAL_TEST_OVERHEAD"] == "two"
    del os.environ["CORRAL_TEST_OVERHEAD"]
    assert "CORRAL_TEST_OVERHEAD" not in current_environ()
    # A copy: changing it changes neither os.environ nor the next answer.
    copy = current_environ()
    copy["CORRAL_TEST_OVERHEAD"] = "mine"
    assert "CORRAL_TEST_OVERHEAD" not in current_environ()


@pytest.mark.usefixtures("scratch_env")
def test_environ_without_secrets_drops_secrets_added_at_any_time() -> None:
    os.environ["RENDER_SETTING"] = "kept"
    first = environ_without_secrets(SECRET)
    assert first["RENDER_SETTING"] == "kept"
    os.environ["CORRAL_API_TOKEN"] = "t0k3n"
    os.environ["HOLDS_IT"] = "x" + SECRET.decode() + "y"
    second = environ_without_secrets(SECRET)
    assert "CORRAL_API_TOKEN" not in second and "HOLDS_IT" not in second
    assert second["RENDER_SETTING"] == "kept"
    second["RENDER_SETTING"] = "changed by a caller"
    assert environ_without_secrets(SECRET)["RENDER_SETTING"] == "kept"
    # Another secret is judged on its own.
    assert "HOLDS_IT" in environ_without_secrets(b"another-secret-value")


# -- the chunk's log file --------------------------------------------------------
def _open_logs() -> int:
    """Open files of this process (a chunk log's spool file is one)."""
    return len(os.listdir("/proc/self/fd"))


def test_a_silent_command_costs_no_log_file() -> None:
    before = _open_logs()
    log = ChunkLog()
    log.add(b"")
    assert _open_logs() == before
    assert log.whole() == "" and log.take_block(final=True) == ""
    log.close()
    log.add(b"after the end")  # output after close is not spooled
    assert _open_logs() == before and log.whole() == ""


def test_the_log_file_is_made_at_the_first_output_and_keeps_all_of_it() -> None:
    log = ChunkLog(max_bytes=64, tail_bytes=16)
    before = _open_logs()
    log.add(b"first line\n")
    assert _open_logs() == before + 1
    log.add(b"second line\n")
    assert log.whole() == "first line\nsecond line\n"
    log.add(b"x" * 100 + b"\nthe end\n")
    whole = log.whole()
    assert whole.startswith("first line\nsecond line\n") and whole.endswith("the end\n")
    assert "left out here" in whole
    log.close()
    assert _open_logs() == before


# -- the OOM counter -------------------------------------------------------------
def test_kernel_oom_kills_reads_the_counter_wherever_it_is(tmp_path: Path) -> None:
    vmstat = tmp_path / "vmstat"
    vmstat.write_text("nr_free_pages 12\noom_kill_x 5\noom_kill 7\npgfault 99\n")
    assert kernel_oom_kills(vmstat) == 7
    vmstat.write_text("oom_kill 3")  # first line, no newline at the end
    assert kernel_oom_kills(vmstat) == 3
    vmstat.write_text("nr_free_pages 12\n")
    assert kernel_oom_kills(vmstat) is None
    vmstat.write_text("oom_kill many\n")
    assert kernel_oom_kills(vmstat) is None
    assert kernel_oom_kills(tmp_path / "missing") is None


def test_a_log_whose_spool_file_cannot_be_made_goes_on_and_says_why(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def no_room(*_: object, **__: object) -> None:
        raise OSError(28, "No space left on device")  # (a full /tmp cannot be made here)

    monkeypatch.setattr("renderclient.chunklog.tempfile.TemporaryFile", no_room)
    log = ChunkLog()
    log.add(b"frame 1 done\n")  # called from the pipe's callback: it must not raise
    log.add(b"frame 2 done\n")
    assert log.size == 26 and log.take_block() == "frame 1 done\nframe 2 done\n"
    assert "could not be spooled" in log.whole() and "No space left" in log.whole()
    log.close()
