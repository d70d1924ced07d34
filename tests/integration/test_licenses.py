"""Licenses and delays on a real farm: a template with one license never runs two chunks
at once (and `why` says so), and a delay group spaces chunk starts by its delay."""

from __future__ import annotations

import datetime
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.farm import CORRAL, Farm, wait_for

pytestmark = pytest.mark.integration

TEMPLATE = """
import shlex
import MTemplateAPI


class {cls}(MTemplateAPI.MTemplate):
    def __init__(self):
        MTemplateAPI.MTemplate.__init__(self)
        self.setID({id})
        self.setKey("{key}")
        self.setName("{key}")
        self.setTemplateLogic(MTemplateAPI.kTemplateMultiframe)
        self.setMaximumLicenses({licenses})
        self.setLicensesGroup("{group}")
        self.setDelayGroup("{delay_group}")
        self.setDelay({delay})
        for platform in self.platforms():
            platform.setPlatformEnabled(1)

    def onBuildCommandLine(self, platform, job, chunk, clientTemplatePreferences, instanceNum):
        return shlex.join(job.to_dict()["command"])


MTemplateAPI.MManager.getUniqueClass().installPyTemplate({cls}())
"""
SPAN = (
    "import sys, time; open(sys.argv[1], 'a').write('%f begin\\n' % time.time())\n"
    "time.sleep(1.0); open(sys.argv[1], 'a').write('%f end\\n' % time.time())"
)


@pytest.fixture(scope="module")
def farm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Farm]:
    root = tmp_path_factory.mktemp("licenses")
    site = root / "site"
    site.mkdir()
    templates = [
        dict(cls="OneLicense", id=901, key="onelicense", licenses=1, group="", delay_group="",
             delay=0),
        dict(cls="Spaced", id=902, key="spaced", licenses=0, group="", delay_group="io",
             delay=2),
    ]  # fmt: skip
    for fields in templates:
        (site / f"{fields['key']}.py").write_text(textwrap.dedent(TEMPLATE.format(**fields)))
    farm = Farm(root / "farm", ["--templates-dir", str(site)]).start()
    farm.client("lic", instances=3)
    farm.wait_nodes(3)
    yield farm
    farm.close()


def spans(path: Path) -> list[tuple[float, float]]:
    """(begin, end) of each run written to `path`, in order of beginning."""
    begins, ends = [], []
    for line in path.read_text().splitlines():
        stamp, what = line.split()
        (begins if what == "begin" else ends).append(float(stamp))
    return list(zip(sorted(begins), sorted(ends), strict=True))


def test_one_license_means_one_chunk_at_once(farm: Farm, tmp_path: Path) -> None:
    out = tmp_path / "spans.txt"
    command = [sys.executable, "-c", SPAN, str(out)]
    first = farm.submit(template="onelicense", command=command, frames="1-2")
    second = farm.submit(template="onelicense", command=command)
    # While one chunk runs (three nodes are free), the other waits for the license.
    reasons = wait_for(
        lambda: (
            (found := farm.request("GET", f"/api/v1/jobs/{second['id']}/why")["reasons"])
            and any("licenses are all in use (1 of 1" in reason for reason in found)
            and found
        ),
        20,
        "why to name the licenses",
    )
    assert any("onelicense" in reason for reason in reasons), reasons
    why = subprocess.run(
        [CORRAL, "--dispatcher", farm.url, "--token", farm.token, "why", str(first["id"])],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert why.returncode == 0, why.stderr
    for job in (first, second):
        assert farm.wait_state(job["id"], "done", "failed")["state"] == "done"
    runs = spans(out)
    assert len(runs) == 3
    for (_, end), (begin, _) in zip(runs, runs[1:], strict=False):
        assert begin >= end, f"two chunks of a one-license template overlapped: {runs}"


def started_at(farm: Farm, job_id: int, chunk: int) -> float:
    task = farm.request("GET", f"/api/v1/jobs/{job_id}/tasks/{farm.task(job_id, chunk)}")
    return datetime.datetime.fromisoformat(task["time_started"]).timestamp()


def test_a_delay_spaces_chunk_starts(farm: Farm) -> None:
    job = farm.submit(template="spaced", command=["true"], frames="1-2")
    assert farm.wait_state(job["id"], "done", "failed", timeout_s=30)["state"] == "done"
    first, second = sorted(started_at(farm, job["id"], chunk) for chunk in (0, 1))
    assert second - first >= 2.0 - 0.01, (first, second)
