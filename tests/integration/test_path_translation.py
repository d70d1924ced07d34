"""Path translation on a real farm: a job submitted with Windows paths in fields marked
`subst` runs on a Linux render client with the Linux paths of the repository in its
command line; unmarked fields and paths under no repository stay as they were."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator

import pytest

from tests.integration.farm import ApiError, Farm

pytestmark = pytest.mark.integration

SCENE = """
import shlex
import sys
import MTemplateAPI


class Scene(MTemplateAPI.MTemplate):
    def __init__(self):
        MTemplateAPI.MTemplate.__init__(self)
        self.setID(903)
        self.setKey("scene")
        self.setName("Scene")
        for platform in self.platforms():
            platform.setPlatformEnabled(1)

    def onBuildCommandLine(self, platform, job, chunk, clientTemplatePreferences, instanceNum):
        names = ("job_file", "output_folder", "reference", "elsewhere")
        return shlex.join([sys.executable, "-c", "import sys; print('SCENE', *sys.argv[1:])",
                           *(job.attributeGetString(name) for name in names)])


MTemplateAPI.MManager.getUniqueClass().installPyTemplate(Scene())
"""


@pytest.fixture(scope="module")
def farm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Farm]:
    root = tmp_path_factory.mktemp("paths")
    site = root / "site"
    site.mkdir()
    (site / "scene.py").write_text(textwrap.dedent(SCENE))
    farm = Farm(root / "farm", ["--templates-dir", str(site)]).start()
    farm.client("linux1")
    farm.wait_nodes(1)
    yield farm
    farm.close()


def log_of(farm: Farm, job_id: int) -> str:
    return str(farm.request("GET", f"/api/v1/jobs/{job_id}/tasks/{farm.task(job_id, 0)}/log"))


def test_a_windows_path_in_a_subst_field_reaches_a_linux_node_as_a_linux_path(
    farm: Farm,
) -> None:
    assert sys.platform.startswith("linux")  # the render client reports its sys.platform
    farm.request(
        "POST",
        "/api/v1/repositories/",
        {"name": "proj", "windows": "P:\\proj", "linux": "/mnt/proj", "mac": "/Volumes/proj"},
    )
    job = farm.submit(
        template="scene",
        subst=["job_file", "output_folder", "elsewhere"],
        data={
            "job_file": "P:\\proj\\shots\\sh010\\light.katana",
            "output_folder": "p:/Proj/renders/sh010/",
            "reference": "P:\\proj\\ref.katana",  # not marked: stays
            "elsewhere": "Q:\\other\\x.exr",  # marked, under no repository: stays
        },
    )
    done = farm.wait_state(job["id"], "done", "failed")
    assert done["state"] == "done", done
    line = next(line for line in log_of(farm, job["id"]).splitlines() if "SCENE" in line)
    assert line.split()[1:] == [
        "/mnt/proj/shots/sh010/light.katana",
        "/mnt/proj/renders/sh010/",
        "P:\\proj\\ref.katana",
        "Q:\\other\\x.exr",
    ]
    # The job keeps what was submitted: translation is per node, at assignment.
    stored = farm.request("GET", f"/api/v1/jobs/{job['id']}")
    assert stored["data"]["job_file"] == "P:\\proj\\shots\\sh010\\light.katana"


def test_subst_must_be_a_list_of_names(farm: Farm) -> None:
    with pytest.raises(ApiError) as caught:
        farm.submit(template="scene", subst="job_file")
    assert caught.value.status == 400 and "subst" in str(caught.value.body)
