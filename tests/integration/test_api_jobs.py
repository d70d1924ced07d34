"""MDispatcherAPI jobs and chunks, called from dispatcher-context scripts on a live farm."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.farm import Farm
from tests.integration.hookfarm import covers, script_json, start_farm
from tests.integration.job_checks import (
    check_folders_edit_and_delete,
    check_reinit_chunk_status_and_update,
    check_submit_list_get_and_chunks,
)


@pytest.fixture(scope="module")
def farm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Farm]:
    root = tmp_path_factory.mktemp("api-jobs")
    farm = start_farm(root / "farm")
    farm.client("alpha", instances=2)
    farm.wait_nodes(2)
    yield farm
    farm.close()


def dispatcher_json(farm: Farm, code: str) -> Any:
    """Run a script body in the dispatcher context with MDispatcherAPI as `api`."""
    return script_json(farm, "import MDispatcherAPI as api\n" + textwrap.dedent(code))


@covers("jobSubmit", "jobGetList", "jobGet", "chunkGetList", "chunkGet")
def test_submit_list_get_and_chunks(farm: Farm, tmp_path: Path) -> None:
    check_submit_list_get_and_chunks(farm, dispatcher_json, tmp_path)


@covers("jobAddFolder", "jobReparent", "jobEdit", "jobDelete")
def test_folders_edit_and_delete(farm: Farm) -> None:
    check_folders_edit_and_delete(farm, dispatcher_json)


@covers("jobReinit", "chunkSetStatus", "jobUpdateStatus", "jobUpdate")
def test_reinit_chunk_status_and_update(farm: Farm, tmp_path: Path) -> None:
    check_reinit_chunk_status_and_update(farm, dispatcher_json, tmp_path)
