"""Every example in examples/hooks/ on a live farm, loaded as a site template folder."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.farm import ApiError, Farm, wait_for
from tests.integration.hookfarm import start_farm

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "hooks"


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Farm, Path]]:
    root = tmp_path_factory.mktemp("examples")
    report = root / "idle.txt"
    previous = os.environ.get("CORRAL_IDLE_REPORT")
    os.environ["CORRAL_IDLE_REPORT"] = str(report)  # the dispatcher and its hook host inherit it
    try:
        farm = start_farm(root / "farm", "--templates-dir", str(EXAMPLES))
    finally:
        if previous is None:
            del os.environ["CORRAL_IDLE_REPORT"]
        else:
            os.environ["CORRAL_IDLE_REPORT"] = previous
    farm.client("alpha")
    farm.wait_nodes(1)
    yield farm, report
    farm.close()


def test_all_examples_load(setup: tuple[Farm, Path]) -> None:
    farm, _ = setup
    listing = farm.request("GET", "/api/v1/templates/")
    assert listing["errors"] == []
    hooks = {template["key"]: template["hooks"] for template in listing["templates"]}
    assert hooks["auto_priority"] == ["onSubmitJob"]
    assert hooks["require_output"] == ["onValidateJobSubmission"]
    assert hooks["notify_done"] == ["onJobCompleted"]
    assert hooks["idle_report"] == ["onDispatcherIdling"]
    assert hooks["frame_gate"] == ["onValidateChunkDependancies"]


def test_auto_priority_by_owner(setup: tuple[Farm, Path]) -> None:
    farm, _ = setup
    boss = farm.submit(
        title="boss",
        template="auto_priority",
        user="director",
        priority=5,
        paused=True,
        command=["true"],
    )
    other = farm.submit(
        title="other",
        template="auto_priority",
        user="someone",
        priority=5,
        paused=True,
        command=["true"],
    )
    assert (boss["priority"], other["priority"]) == (95, 5)


def test_refuse_jobs_without_an_output_folder(setup: tuple[Farm, Path], tmp_path: Path) -> None:
    farm, _ = setup
    with pytest.raises(ApiError) as refused:
        farm.submit(title="no output", template="require_output", command=["true"])
    assert refused.value.status == 422 and "output_folder" in refused.value.body["detail"]
    job = farm.submit(title="with output", template="require_output", command=["true"],
                      data={"output_folder": str(tmp_path)})  # fmt: skip
    assert farm.wait_state(job["id"], "done")["state"] == "done"


def test_notification_on_completion(setup: tuple[Farm, Path], tmp_path: Path) -> None:
    farm, _ = setup
    inbox = tmp_path / "inbox.txt"
    job = farm.submit(title="shot 10", template="notify_done", frames="1-4", batch=2, command=["true"],
                      data={"notify_file": str(inbox)})  # fmt: skip
    farm.wait_state(job["id"], "done")
    text = wait_for(lambda: inbox.exists() and inbox.read_text(), 10, "the notification")
    assert f"job {job['id']} 'shot 10' of admin is done (2 chunks)" in text


def test_dispatcher_idling_report(setup: tuple[Farm, Path]) -> None:
    farm, report = setup
    farm.submit(title="parked", paused=True, command=["true"])
    text = wait_for(
        lambda: report.exists() and "parked" in report.read_text() and report.read_text(),
        10,
        "a report",
    )
    assert "idle nodes: alpha" in text


def test_per_chunk_dependency_rule(setup: tuple[Farm, Path], tmp_path: Path) -> None:
    farm, _ = setup
    plates = tmp_path / "plates"
    plates.mkdir()
    for frame in (1, 2):
        (plates / f"in.{frame}").touch()
    job = farm.submit(title="comp", template="frame_gate", frames="1-4", batch=2, command=["true"],
                      data={"input_pattern": str(plates / "in.{frame}")})  # fmt: skip
    wait_for(
        lambda: [c["state"] for c in farm.chunks(job["id"])] == ["done", "queued"],
        20,
        "the first chunk only",
    )
    for frame in (3, 4):
        (plates / f"in.{frame}").touch()
    assert farm.wait_state(job["id"], "done", timeout_s=20)["state"] == "done"
