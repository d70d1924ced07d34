"""Template files run in a throwaway process: a hostile one cannot stop the dispatcher."""

from __future__ import annotations

from pathlib import Path

import pytest

from hooks.catalog import TemplateCatalog
from hooks.runtime import bundled_templates_dir
from tests.integration.farm import Farm

GOOD = """
import MTemplateAPI

class Good(MTemplateAPI.MTemplate):
    def __init__(self):
        MTemplateAPI.MTemplate.__init__(self)
        self.setID(77)
        self.setName("Good one")
        self.setKey("good")

    def onSubmitJob(self, job):
        return MTemplateAPI.MTemplateError()

MTemplateAPI.MManager.getUniqueClass().installPyTemplate(Good())
"""

HOSTILE = {
    "exits": "import os\nos._exit(3)\n",
    "crashes": "import ctypes\nctypes.string_at(0)\n",
    "eats_memory": "hog = bytearray(4 << 30)\n",
    "raises": "raise RuntimeError('broken on purpose')\n",
}


def test_catalog_reports_keys_ids_hooks_and_sources() -> None:
    catalog = TemplateCatalog.load([bundled_templates_dir()])
    assert catalog.errors == []
    assert {"cmdline", "demo"} <= set(catalog.keys())
    assert catalog.get(1) is catalog.get("cmdline") is catalog.get("1")
    assert "tools/raytrace.py" in catalog.sources and len(catalog.digest) == 64


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_a_hostile_template_file_is_reported_not_obeyed(tmp_path: Path, name: str) -> None:
    site = tmp_path / "site"
    site.mkdir()
    (site / "good.py").write_text(GOOD)
    (site / f"{name}.py").write_text(HOSTILE[name])
    catalog = TemplateCatalog.load([bundled_templates_dir(), site], timeout_s=20)
    assert catalog.errors, "the bad file must be reported"
    if name == "raises":  # the loader survives a plain exception: the others still load
        assert catalog.get("good") is not None and catalog.get("good").overrides("onSubmitJob")


def test_a_looping_template_file_times_out(tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    (site / "loops.py").write_text("while True:\n    pass\n")
    catalog = TemplateCatalog.load([site], timeout_s=1)
    assert (
        catalog.templates == []
        and "took over 1 s" in catalog.errors[0]
        and "loops.py" in catalog.errors[0]
    )


def test_dispatcher_starts_and_serves_with_a_crashing_site_template(
    make_farm, tmp_path: Path
) -> None:
    site = tmp_path / "site"
    site.mkdir()
    (site / "crash.py").write_text(HOSTILE["crashes"])
    farm: Farm = make_farm("--templates-dir", str(site))
    assert farm.request("GET", "/api/v1/status")["jobs"] == 0
    farm.client("survivor")
    job = farm.submit(title="after a bad template", frames="1-2", command=["true"])
    assert farm.wait_state(job["id"], "done")["state"] == "done"
