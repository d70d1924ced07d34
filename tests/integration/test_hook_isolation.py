"""A hook that raises, loops, exits, crashes or floods memory is contained: the farm
keeps rendering through the fault, the host restarts, and the next hook call works."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.farm import ApiError, Farm, wait_for
from tests.integration.hookfarm import TEMPLATE_HEAD, start_farm, write_template

FAULTY = (
    TEMPLATE_HEAD
    + """
import ctypes, signal, sys

class Faulty(Base):
    def __init__(self):
        self.setup(600, "faulty")

    def onValidateJobSubmission(self, job):
        kind = job.getName()
        if kind == "raise":
            raise RuntimeError("boom from a hook")
        if kind == "loop":
            while True:
                pass
        if kind == "deadline":
            signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
            while True:
                pass
        if kind == "memory":
            hoard, size = [], 64 * 1024 * 1024
            while True:  # grows past the host's 400 MB address-space limit on the 2nd round
                hoard.append(bytearray(size))
                size *= 8
        return MTemplateAPI.MTemplateError()

    def onSubmitJob(self, job):
        if job.getName() == "exit":
            sys.exit(3)
        job.setNotes("hooked")

    def onJobPropertiesChanged(self, job):
        if job.getNotes() == "segfault":
            ctypes.string_at(0)

MTemplateAPI.MManager.getUniqueClass().installPyTemplate(Faulty())
"""
)


@pytest.fixture(scope="module")
def farm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Farm, Path]]:
    root = tmp_path_factory.mktemp("isolation")
    stamps = root / "stamps.txt"
    write_template(root / "templates", "faulty.py", FAULTY)
    farm = start_farm(root / "farm", "--templates-dir", str(root / "templates"), "--hook-timeout-s", "1",
                      "--hook-memory-limit-mb", "400")  # fmt: skip
    farm.client("alpha", instances=2)
    farm.wait_nodes(2)
    # Background work that must keep completing through every fault.
    farm.submit(
        title="background", frames="1-100000", command=["sh", "-c", f"date +%s.%N >> {stamps}"]
    )
    wait_for(
        lambda: stamps.exists() and len(stamps.read_text().split()) > 5,
        20,
        "the background job to run",
    )
    yield farm, stamps
    farm.close()


def host_starts(farm: Farm) -> int:
    return int(farm.request("GET", "/api/v1/templates/")["hook_host"]["starts"])


def next_call_works(farm: Farm) -> None:
    job = farm.submit(template="faulty", paused=True, command=["true"])  # a title of its own
    assert job["notes"] == "hooked"  # onValidateJobSubmission and onSubmitJob both ran


def rendered_between(stamps: Path, start: float, end: float) -> int:
    return sum(1 for word in stamps.read_text().split() if start <= float(word) <= end)


def kept_rendering(stamps: Path, start: float, end: float) -> None:
    """Chunks completed inside the fault window (a window of a few ms: right after it)."""
    if end - start > 0.3:
        assert rendered_between(stamps, start, end) > 0, "no chunk completed during the fault"
    else:
        wait_for(
            lambda: rendered_between(stamps, start, time.time()) > 0, 10, "chunks after the fault"
        )


def dispatcher_log(farm: Farm) -> str:
    return (farm.data_dir.parent / f"{farm.data_dir.name}-dispatcher.log").read_text()


@pytest.mark.parametrize(
    ("kind", "reason", "restarts"),
    [
        ("raise", "boom from a hook", False),
        ("loop", "time limit of 1 s exceeded", True),
        ("deadline", "hard deadline", True),
        ("memory", "out of memory", True),
    ],
)
def test_failed_validation_refuses_and_the_farm_goes_on(
    farm: tuple[Farm, Path], kind: str, reason: str, restarts: bool
) -> None:
    cluster, stamps = farm
    before = host_starts(cluster)
    started = time.time()
    with pytest.raises(ApiError) as refused:
        cluster.submit(title=kind, template="faulty", command=["true"])
    assert refused.value.status == 422
    assert reason in refused.value.body["detail"]
    next_call_works(cluster)
    ended = time.time()
    kept_rendering(stamps, started, ended)
    assert (host_starts(cluster) > before) == restarts
    assert "action=hook_failed template=faulty hook=onValidateJobSubmission" in dispatcher_log(
        cluster
    )
    assert not [job for job in cluster.request("GET", "/api/v1/jobs/") if job["title"] == kind]


def test_sys_exit_in_onsubmitjob_skips_the_hook_and_restarts_the_host(
    farm: tuple[Farm, Path],
) -> None:
    cluster, stamps = farm
    before = host_starts(cluster)
    started = time.time()
    job = cluster.submit(title="exit", template="faulty", paused=True, command=["true"])
    assert job["notes"] == ""  # the failed hook was skipped: the job is queued unchanged
    next_call_works(cluster)
    kept_rendering(stamps, started, time.time())
    assert host_starts(cluster) > before
    assert "it called sys.exit(3)" in dispatcher_log(cluster)


def test_segfault_is_logged_with_traceback_and_the_host_restarts(farm: tuple[Farm, Path]) -> None:
    cluster, stamps = farm
    job = cluster.submit(title="victim", template="faulty", paused=True, command=["true"])
    before = host_starts(cluster)
    started = time.time()
    cluster.request("PATCH", f"/api/v1/jobs/{job['id']}", {"notes": "segfault"})
    wait_for(lambda: "killed by signal 11" in dispatcher_log(cluster), 10, "the crash to be logged")
    next_call_works(cluster)
    assert host_starts(cluster) > before
    log = dispatcher_log(cluster)
    assert (
        "Segmentation fault" in log and "onJobPropertiesChanged" in log
    )  # faulthandler's traceback
    done_before = len(stamps.read_text().split())
    wait_for(
        lambda: len(stamps.read_text().split()) > done_before + 5, 10, "more chunks after the crash"
    )
    kept_rendering(stamps, started, time.time())
