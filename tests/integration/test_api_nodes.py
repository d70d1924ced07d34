"""MDispatcherAPI node functions acting on live render clients."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.farm import Farm
from tests.integration.hookfarm import covers, script_json, start_farm
from tests.integration.node_checks import (
    check_kill_a_nodes_process,
    check_kill_the_nodes_working_on_a_job,
    check_lookup_notes_pause_resume_update,
    check_priority_realtime_log_python_and_system_events,
    check_purge_exclusions,
    check_soft_restart_and_remove_registration,
)


@pytest.fixture(scope="module")
def farm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Farm]:
    root = tmp_path_factory.mktemp("api-nodes")
    farm = start_farm(root / "farm")
    events = root / "events.txt"
    farm.client("alpha")
    farm.client("beta", "--system-event-command", f"sh -c 'echo $0 >> {events}'")
    farm.wait_nodes(2)
    yield farm
    farm.close()


def dispatcher_json(farm: Farm, code: str) -> Any:
    """Run a script body in the dispatcher context with MDispatcherAPI as `api`."""
    return script_json(farm, "import json, MDispatcherAPI as api\n" + textwrap.dedent(code))


@covers(
    "nodeGetList",
    "nodeGet",
    "nodeGetByName",
    "nodeSetNotes",
    "nodePause",
    "nodeResume",
    "nodeForceUpdate",
)
def test_lookup_notes_pause_resume_update(farm: Farm) -> None:
    check_lookup_notes_pause_resume_update(farm, dispatcher_json)


@covers("nodeSetProcessPriority", "nodeSetRealtimeLog", "nodeRunPythonCode", "nodeSendSystemEvent")
def test_priority_realtime_log_python_and_system_events(farm: Farm, tmp_path: Path) -> None:
    check_priority_realtime_log_python_and_system_events(farm, dispatcher_json, tmp_path)


@covers("nodeKillProcess", "nodeKillProcessAndPause", "nodeKillProcessAndRestart")
def test_kill_a_nodes_process(farm: Farm) -> None:
    check_kill_a_nodes_process(farm, dispatcher_json)


@covers(
    "nodeKillAndPauseNodesWorkingOnJob",
    "nodeKillAndRedoNodesWorkingOnJob",
    "nodeKillAndGoOnNodesWorkingOnJob",
)
def test_kill_the_nodes_working_on_a_job(farm: Farm) -> None:
    check_kill_the_nodes_working_on_a_job(farm, dispatcher_json)


@covers("nodePurgeTemplatesExclusion", "nodePurgeJobsExclusions")
def test_purge_exclusions(farm: Farm) -> None:
    check_purge_exclusions(farm, dispatcher_json)


@covers("nodeSoftRestart", "nodeRemoveRegistration")
def test_soft_restart_and_remove_registration(farm: Farm) -> None:
    check_soft_restart_and_remove_registration(farm, dispatcher_json)
