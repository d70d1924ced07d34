"""The hook host on a live farm keeps no caller waiting: its children die with it, its limits
are start options, a slow idle hook does not delay submissions, the depth limit refuses,
a hook cannot reinit a job for ever, unsendable job data fails alone, and a flood of API
calls is read with flow control."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest

from benchmarks.hook_flood import StatusProbe, flood_script, peak_rss_bytes
from hooks.lifecycle import MAX_HOOK_REINITS
from tests.integration.farm import Farm, wait_for
from tests.integration.hookfarm import TEMPLATE_HEAD, run_script, start_farm, write_template

TEMPLATES = (
    TEMPLATE_HEAD
    + """
import os, sys
LOG = {log!r}

class Forker(Base):
    def __init__(self):
        self.setup(710, "forker")

    def onJobPropertiesChanged(self, job):
        pid = os.fork()
        if pid == 0:
            while True:  # a hook's child that would go on for ever
                note(LOG, "child-alive", os.getpid())
                time.sleep(0.2)
        note(LOG, "forked", pid)

class SlowIdle(Base):
    def __init__(self):
        self.setup(711, "slowidle")

    def onDispatcherIdling(self):
        note(LOG, "idle", time.time())
        time.sleep(1.0)

    def onValidateJobSubmission(self, job):
        note(LOG, "validate", job.getName().replace(" ", "_"))

class Deep(Base):
    def __init__(self):
        self.setup(712, "deep")

    def onValidateJobSubmission(self, job):
        note(LOG, "validate", job.getName().replace(" ", "_"))

    def onJobPropertiesChanged(self, job):
        if job.getPriority() < 22:  # depth 1 sees 20, depth 2 sees 21, depth 3 sees 22
            job.setPriority(job.getPriority() + 1)
            note(LOG, "deep-edit", job.getPriority(), MDispatcherAPI.jobEdit(job).getErrorCode())
            return
        child = MDispatcherAPI.MJob()
        child.setName("deep child")
        child.setTemplateID("deep")
        child.setCommand(["true"])
        err = MDispatcherAPI.jobSubmit(child, "hook")
        note(LOG, "deep-submit", err.getErrorCode())

class Looper(Base):
    def __init__(self):
        self.setup(713, "looper")

    def onJobEnd(self, job):
        err = MDispatcherAPI.jobReinit(job.getJobId())
        note(LOG, "looper-reinit", job.getJobId(), err.getErrorCode())

class Holder(Base):
    def __init__(self):
        self.setup(714, "holder")

    def onValidateJobDependancies(self, job):
        note(LOG, "hold-asked", job.getJobId())

for template in (Forker(), SlowIdle(), Deep(), Looper(), Holder()):
    MTemplateAPI.MManager.getUniqueClass().installPyTemplate(template)
"""
)


def lines(log: Path, kind: str) -> list[list[str]]:
    if not log.exists():
        return []
    return [line.split()[1:] for line in log.read_text().splitlines() if line.split()[0] == kind]


def dispatcher_log(farm: Farm) -> str:
    return (farm.data_dir.parent / f"{farm.data_dir.name}-dispatcher.log").read_text()


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def make(tmp_path: Path, *args: str) -> tuple[Farm, Path]:
    log = tmp_path / "hooks.log"
    write_template(tmp_path / "templates", "limits.py", TEMPLATES.format(log=str(log)))
    farm = start_farm(tmp_path / "farm", "--templates-dir", str(tmp_path / "templates"), *args)
    return farm, log


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGKILL], ids=["exit", "kill-9"])
def test_a_process_forked_by_a_hook_dies_with_the_dispatcher(tmp_path: Path, stop: int) -> None:
    farm, log = make(tmp_path)
    child = 0
    try:
        job = farm.submit(title="fork", template="forker", paused=True, command=["true"])
        farm.request("PATCH", f"/api/v1/jobs/{job['id']}", {"notes": "go"})
        child = int(wait_for(lambda: lines(log, "forked"), 20, "the hook to fork")[0][0])
        wait_for(lambda: [str(child)] in lines(log, "child-alive"), 10, "the child to run")
        host = farm.request("GET", "/api/v1/status")["hook_host_pid"]
        farm.stop(stop)
        wait_for(lambda: not alive(child), 10, "the hook's child to die with the dispatcher")
        wait_for(lambda: not alive(host), 10, "the hook host to die with the dispatcher")
    finally:
        if child and alive(child):
            os.kill(child, signal.SIGKILL)
        farm.close()


def test_hook_limits_are_start_options(tmp_path: Path) -> None:
    farm, _ = make(tmp_path, "--hook-timeout-s", "1")
    try:
        result = run_script(
            farm,
            """
            import json, MDispatcherAPI
            err, config = MDispatcherAPI.systemGetConfiguration()
            config.setHookTimeout(3600)
            raised = MDispatcherAPI.systemSetConfiguration(config, True)
            err, config = MDispatcherAPI.systemGetConfiguration()
            config.setValue("hook_memory_limit_mb", 0)
            unlimited = MDispatcherAPI.systemSetConfiguration(config, True)
            err, config = MDispatcherAPI.systemGetConfiguration()
            print(json.dumps({"codes": [raised.getErrorCode(), unlimited.getErrorCode()],
                              "why": raised.getDescription(), "timeout": config.getHookTimeout(),
                              "changeable": config.isChangeable("hook_timeout_s")}))
            """,
        )
        assert result["ok"], result
        answer = json.loads(result["output"].strip().splitlines()[-1])
        assert answer["codes"][0] != 0 and answer["codes"][1] != 0
        assert "start option" in answer["why"]
        assert answer["timeout"] == 1.0 and answer["changeable"] is False
        slow = run_script(farm, "import time\ntime.sleep(3)\n")
        assert not slow["ok"] and "time limit of 1 s exceeded" in slow["error"]
    finally:
        farm.close()


def test_a_slow_idle_hook_does_not_delay_submissions(tmp_path: Path) -> None:
    farm, log = make(tmp_path, "--idle-hook-interval-s", "0.1")
    try:
        farm.client("idler")
        farm.wait_nodes(1)
        wait_for(lambda: len(lines(log, "idle")) >= 2, 20, "the idle hook to run")
        time.sleep(5)  # 50 idle ticks of a 1 s hook
        began = time.monotonic()
        farm.submit(title="prompt", template="slowidle", paused=True, command=["true"])
        took = time.monotonic() - began
        assert ["prompt"] in lines(log, "validate")
        assert took < 3.0, f"a submission waited {took:.1f} s behind idle calls"
        stamps = [float(line[0]) for line in lines(log, "idle")]
        gaps = [later - earlier for earlier, later in zip(stamps, stamps[1:], strict=False)]
        assert min(gaps) >= 0.95  # one idle call at a time: each starts after the last ended
    finally:
        farm.close()


def test_a_submission_from_a_hook_past_the_depth_limit_is_refused(tmp_path: Path) -> None:
    farm, log = make(tmp_path)
    try:
        job = farm.submit(title="deep", template="deep", paused=True, command=["true"], priority=10)
        farm.request("PATCH", f"/api/v1/jobs/{job['id']}", {"priority": 20})
        submitted = wait_for(lambda: lines(log, "deep-submit"), 20, "the depth-3 hook's submission")
        assert submitted[0][0] == "5"  # kErrRefused: its validation hook would run at depth 4
        assert lines(log, "deep-edit") == [["21", "0"], ["22", "0"]]
        assert ["deep_child"] not in lines(log, "validate")
        assert not [j for j in farm.request("GET", "/api/v1/jobs/") if j["title"] == "deep child"]
        assert "action=hook_depth_refused" in dispatcher_log(farm)
    finally:
        farm.close()


def test_a_jobreinit_from_onjobend_cannot_loop_for_ever(tmp_path: Path) -> None:
    farm, log = make(tmp_path)
    try:
        farm.client("runner")
        farm.wait_nodes(1)
        job = farm.submit(title="loop", template="looper", command=["true"])
        me = str(job["id"])

        def refused() -> list[list[str]]:
            return [
                line for line in lines(log, "looper-reinit") if line[0] == me and line[1] != "0"
            ]

        wait_for(refused, 60, "the reinit loop to be stopped")
        time.sleep(1.5)
        reinits = [line for line in lines(log, "looper-reinit") if line[0] == me]
        assert len(reinits) == MAX_HOOK_REINITS + 1
        assert [line[1] for line in reinits[:-1]] == ["0"] * MAX_HOOK_REINITS
        assert farm.job(job["id"])["state"] == "done"
        assert "action=hook_reinit_refused" in dispatcher_log(farm)
    finally:
        farm.close()


def test_job_data_that_cannot_be_sent_fails_only_its_own_hook(tmp_path: Path) -> None:
    farm, log = make(tmp_path)
    try:
        farm.client("runner")
        farm.wait_nodes(1)
        bad = farm.submit(title="huge", template="holder", command=["true"], data={"n": 2**70})
        good = farm.submit(title="fine", template="holder", command=["true"])
        assert farm.wait_state(good["id"], "done", timeout_s=30)["state"] == "done"
        assert [str(good["id"])] in lines(log, "hold-asked")
        assert farm.job(bad["id"])["state"] == "queued"
        failed = f"action=hold_hook_failed job={bad['id']}"
        wait_for(lambda: dispatcher_log(farm).count(failed) >= 2, 20, "the question asked again")
        assert "could not be sent" in dispatcher_log(farm)
    finally:
        farm.close()


def test_a_flood_of_api_calls_is_read_with_flow_control(tmp_path: Path) -> None:
    farm, _ = make(tmp_path, "--hook-timeout-s", "120")
    try:
        farm.request("POST", "/api/v1/jobs/", [{"title": f"shot {n}", "paused": True, "command": ["true"]}
                                               for n in range(50)])  # fmt: skip
        run_script(farm, "pass")
        assert farm.process is not None
        before = peak_rss_bytes(farm.process.pid)
        with StatusProbe(farm.url, farm.token) as probe:
            result = run_script(farm, flood_script(3000), name="flood.py")
        grown_mb = (peak_rss_bytes(farm.process.pid) - before) / 2**20
        assert result["ok"], result
        answer = json.loads(result["output"].strip().splitlines()[-1])
        assert answer == {"answered": 3000, "sender_done": True}
        assert grown_mb < 30, f"the dispatcher grew by {grown_mb:.0f} MB"
        assert probe.slowest_s < 1.0, f"GET /api/v1/status took {probe.slowest_s:.2f} s"
    finally:
        farm.close()
