"""A chunk-path hook on a big queue: the hook host is fed in bounded batches and the farm
keeps dispatching (a queue of thousands of jobs once sent one oversized frame)."""

from __future__ import annotations

from pathlib import Path

from tests.integration.farm import wait_for
from tests.integration.hookfarm import FAST_HOOKS, write_template

GATE = """
import MTemplateAPI

class Gate(MTemplateAPI.MTemplate):
    def __init__(self):
        MTemplateAPI.MTemplate.__init__(self)
        self.setID(900)
        self.setKey("gated")
        self.setName("Gated command line")

    def onBuildCommandLine(self, platform, job, chunk, prefs, instance):
        return "true"

    def onValidateChunkDependancies(self, job, chunk):
        return MTemplateAPI.MTemplateError()

MTemplateAPI.MManager.getUniqueClass().installPyTemplate(Gate())
"""


def test_thousands_of_jobs_with_a_chunk_hook_keep_running(make_farm, tmp_path: Path) -> None:
    site = tmp_path / "site"
    write_template(site, "gated.py", GATE)
    farm = make_farm("--templates-dir", str(site), *FAST_HOOKS)
    jobs = [{"title": f"shot {n}", "template": "gated", "frames": "1-100"} for n in range(1500)]
    created = farm.request("POST", "/api/v1/jobs/", jobs)
    assert len(created) == 1500
    farm.client("worker", instances=2)
    first = created[0]["id"]
    assert farm.wait_state(first, "done", timeout_s=60)["state"] == "done"
    status = farm.request("GET", "/api/v1/templates/")["hook_host"]
    assert status["faults"] == 0, status
    wait_for(
        lambda: farm.request("GET", "/api/v1/status")["results"] >= 200, 30, "200 chunk results"
    )
