"""MDispatcherAPI database, system and log functions on a live farm."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.farm import Farm, free_udp_port
from tests.integration.hookfarm import covers, script_json, start_farm
from tests.integration.system_checks import (
    check_activity_and_action_logs,
    check_configuration_and_ldap,
    check_dispatcher_log,
    check_engine_status,
    check_export_and_import_round_trip,
    check_soft_restart_and_network_scan,
    check_statistics_and_history,
)


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Farm, Path, int]]:
    root = tmp_path_factory.mktemp("api-system")
    port = free_udp_port()
    (root / "templates").mkdir()
    farm = start_farm(root / "farm", "--templates-dir", str(root / "templates"),
                      "--discovery-address", f"127.0.0.1:{port}")  # fmt: skip
    farm.client("alpha")
    farm.wait_nodes(1)
    yield farm, root / "templates", port
    farm.close()


def values(farm: Farm, code: str) -> Any:
    return script_json(farm, "import json, MDispatcherAPI as api\n" + code)


@covers("logClear", "logAddMessage", "logAddInternalMessage")
def test_dispatcher_log(setup: tuple[Farm, Path, int]) -> None:
    check_dispatcher_log(setup, values)


@covers("dbGetStatisticsBounds", "dbClearStatisticsBounds", "dbGetHistoryBounds", "dbClearHistoryBounds",
        "systemResetStatisticsCounters")  # fmt: skip
def test_statistics_and_history(setup: tuple[Farm, Path, int]) -> None:
    check_statistics_and_history(setup, values)


@covers("dbExportQueueSQL", "dbImportQueueSQL")
def test_export_and_import_round_trip(setup: tuple[Farm, Path, int], tmp_path: Path) -> None:
    check_export_and_import_round_trip(setup, values, tmp_path)


@covers("systemQueryEngineStatus", "systemSwapEngineStatus")
def test_engine_status(setup: tuple[Farm, Path, int]) -> None:
    check_engine_status(setup, values)


@covers("systemSoftRestart", "systemStartNodesNetworkScan")
def test_soft_restart_and_network_scan(setup: tuple[Farm, Path, int]) -> None:
    check_soft_restart_and_network_scan(setup, values)


@covers(
    "systemGetConfiguration",
    "systemSetConfiguration",
    "systemGetLDAPConfiguration",
    "systemSetLDAPConfiguration",
)
def test_configuration_and_ldap(setup: tuple[Farm, Path, int]) -> None:
    check_configuration_and_ldap(setup, values)


@covers("systemGetActivityLogsList", "systemGetActivityLog", "systemRemoveActivityLog",
        "systemGetActionLogsList", "systemGetActionLog", "systemRemoveActionLog")  # fmt: skip
def test_activity_and_action_logs(setup: tuple[Farm, Path, int]) -> None:
    check_activity_and_action_logs(setup, values)
