"""MDispatcherAPI database, system and log functions on a live farm."""

from __future__ import annotations

import json
import socket
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.farm import Farm, wait_for
from tests.integration.hookfarm import covers, run_script, script_json, start_farm, write_template


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


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
    return script_json(farm, "import json, MDispatcherAPI\n" + code)


@covers("logClear", "logAddMessage", "logAddInternalMessage")
def test_dispatcher_log(setup: tuple[Farm, Path, int]) -> None:
    farm, _, _ = setup
    log = farm.data_dir / "logs" / "dispatcher.log"
    codes = values(
        farm,
        """
codes = [MDispatcherAPI.logAddMessage("render wall is full").getErrorCode()]
codes.append(MDispatcherAPI.logAddInternalMessage("cache hit 93%").getErrorCode())
codes.append(MDispatcherAPI.logAddMessage(42).getErrorCode())
print(json.dumps(codes))
""",
    )
    assert codes == [0, 0, 2]
    text = log.read_text()
    assert "message hook: render wall is full" in text and "internal hook: cache hit 93%" in text
    assert values(farm, "print(json.dumps(MDispatcherAPI.logClear().getErrorCode()))") == 0
    assert log.read_text() == ""


@covers("dbGetStatisticsBounds", "dbClearStatisticsBounds", "dbGetHistoryBounds", "dbClearHistoryBounds",
        "systemResetStatisticsCounters")  # fmt: skip
def test_statistics_and_history(setup: tuple[Farm, Path, int]) -> None:
    farm, _, _ = setup
    job = farm.submit(title="history", command=["true"])
    farm.wait_state(job["id"], "done")
    wait_for(lambda: farm.request("GET", "/api/v1/status")["results"] > 0, 10, "a result")
    result = values(
        farm,
        """
import time
time.sleep(0.4)
err, start, end, samples = MDispatcherAPI.dbGetStatisticsBounds()
clear = MDispatcherAPI.dbClearStatisticsBounds(start, end)
err2, start2, end2, samples2 = MDispatcherAPI.dbGetStatisticsBounds()
herr, hstart, hend, hcount = MDispatcherAPI.dbGetHistoryBounds()
hclear = MDispatcherAPI.dbClearHistoryBounds(0, time.time())
herr2, _, _, hcount2 = MDispatcherAPI.dbGetHistoryBounds()
bad = MDispatcherAPI.dbClearHistoryBounds(10, 5)
reset = MDispatcherAPI.systemResetStatisticsCounters()
print(json.dumps({"codes": [e.getErrorCode() for e in (err, clear, err2, herr, hclear, herr2, reset)],
    "stats": [start, end, samples, start2, samples2], "history": [hstart, hend, hcount, hcount2], "bad": bad.getErrorCode()}))
""",
    )
    assert result["codes"] == [0] * 7 and result["bad"] == 2
    start, end, samples, start2, samples2 = result["stats"]
    assert samples >= 2 and start <= end
    assert samples2 < samples and (samples2 == 0 or start2 > end)
    hstart, hend, hcount, hcount2 = result["history"]
    assert hcount >= 3 and hstart <= hend and hcount2 == 0  # submitted, started, completed
    status = farm.request("GET", "/api/v1/status")
    assert status["results"] == 0 and status["chunks_assigned"] == 0


@covers("dbExportQueueSQL", "dbImportQueueSQL")
def test_export_and_import_round_trip(setup: tuple[Farm, Path, int], tmp_path: Path) -> None:
    farm, _, _ = setup
    keep = farm.submit(
        title="keep me", frames="1-4", batch=2, paused=True, command=["true"], priority=33
    )
    result = values(
        farm,
        """
ref = MDispatcherAPI.MStringRef()
err = MDispatcherAPI.dbExportQueueSQL(ref)
print(json.dumps([err.getErrorCode(), ref.getString()]))
""",
    )
    assert result[0] == 0 and result[1].startswith("-- corral queue export v1\n")
    snapshot = result[1]
    before = {job["id"]: job for job in farm.request("GET", "/api/v1/jobs/")}
    extra = farm.submit(title="added after the export", paused=True, command=["true"])
    hostile = [
        "not a snapshot at all",
        snapshot.replace("INSERT INTO jobs", "INSERT INTO users", 1),
        snapshot.rstrip("\n").rsplit("\n", 1)[0],  # cut short
        snapshot.replace("-- end", "ATTACH DATABASE '/tmp/x' AS x;\n-- end"),
        snapshot.replace("}', X'", "}', X'09", 1),  # a chunk status byte too many, and unknown
    ]
    (tmp_path / "hostile.json").write_text(json.dumps(hostile))
    codes = values(
        farm,
        f"""
bad = [MDispatcherAPI.dbImportQueueSQL(text).getErrorCode() for text in json.load(open({str(tmp_path / "hostile.json")!r}))]
print(json.dumps(bad))
""",
    )
    assert codes == [2] * len(hostile)
    assert extra["id"] in {
        job["id"] for job in farm.request("GET", "/api/v1/jobs/")
    }  # nothing changed
    (tmp_path / "snapshot.sql").write_text(snapshot)
    ok = values(
        farm,
        f"""
print(json.dumps(MDispatcherAPI.dbImportQueueSQL(open({str(tmp_path / "snapshot.sql")!r}).read()).getErrorCode()))
""",
    )
    assert ok == 0
    after = {job["id"]: job for job in farm.request("GET", "/api/v1/jobs/")}
    assert set(after) == set(before) and extra["id"] not in after
    assert after[keep["id"]]["priority"] == 33 and after[keep["id"]]["chunks"]["total"] == 2
    with sqlite3.connect(farm.data_dir / "corral.db") as db:
        assert sorted(row[0] for row in db.execute("SELECT id FROM jobs")) == sorted(before)


@covers("systemQueryEngineStatus", "systemSwapEngineStatus")
def test_engine_status(setup: tuple[Farm, Path, int]) -> None:
    farm, _, _ = setup
    swap = "err = MDispatcherAPI.systemSwapEngineStatus(); err, status = MDispatcherAPI.systemQueryEngineStatus(); print(json.dumps([err.getErrorCode(), status]))"
    assert values(farm, swap) == [0, 0]
    job = farm.submit(title="waits for the engine", command=["true"])
    reasons = farm.request("GET", f"/api/v1/jobs/{job['id']}/why")["reasons"]
    assert any("engine is paused" in reason for reason in reasons)
    assert farm.job(job["id"])["state"] == "queued"
    assert values(farm, swap) == [0, 1]
    assert farm.wait_state(job["id"], "done")["state"] == "done"


@covers("systemSoftRestart", "systemStartNodesNetworkScan")
def test_soft_restart_and_network_scan(setup: tuple[Farm, Path, int]) -> None:
    farm, templates, port = setup
    starts = farm.request("GET", "/api/v1/templates/")["hook_host"]["starts"]
    write_template(
        templates,
        "late.py",
        """
        import MTemplateAPI
        class Late(MTemplateAPI.MTemplate):
            def __init__(self):
                MTemplateAPI.MTemplate.__init__(self)
                self.setID(777)
                self.setKey("late")
        MTemplateAPI.MManager.getUniqueClass().installPyTemplate(Late())
    """,
    )
    assert values(farm, "print(json.dumps(MDispatcherAPI.systemSoftRestart().getErrorCode()))") == 0
    listing = wait_for(lambda: (t := farm.request("GET", "/api/v1/templates/"))["hook_host"]["starts"] > starts and t,
                       10, "a fresh hook host")  # fmt: skip
    assert "late" in [template["key"] for template in listing["templates"]]
    # A real render client that answers scans but never connects (its dispatcher address is closed).
    farm.client(
        "scanned-host", "--discovery-port", str(port), instances=2, dispatcher="127.0.0.1:9"
    )
    wait_for(
        lambda: (
            values(
                farm,
                "print(json.dumps(MDispatcherAPI.systemStartNodesNetworkScan().getErrorCode()))",
            )
            == 0
            and any(n["host_name"] == "scanned-host" for n in farm.nodes())
        ),
        20,
        "the scanned node",
    )
    scanned = sorted(n["name"] for n in farm.nodes() if n["host_name"] == "scanned-host")
    assert scanned == ["scanned-host", "scanned-host#1"]
    assert not any(n["online"] for n in farm.nodes() if n["host_name"] == "scanned-host")


@covers(
    "systemGetConfiguration",
    "systemSetConfiguration",
    "systemGetLDAPConfiguration",
    "systemSetLDAPConfiguration",
)
def test_configuration_and_ldap(setup: tuple[Farm, Path, int]) -> None:
    farm, _, _ = setup
    result = values(
        farm,
        """
err, config = MDispatcherAPI.systemGetConfiguration()
before = config.getHookTimeout()
config.setValue("chunk_hold_recheck_s", 0.5)
config.setExcludeAfterFailures(5)
codes = [err.getErrorCode(), MDispatcherAPI.systemSetConfiguration(config, True).getErrorCode()]
port = MDispatcherAPI.MDispatcherConfiguration(config.to_dict()); port.setValue("http_port", 1)
bad = MDispatcherAPI.MDispatcherConfiguration(config.to_dict()); bad.setExcludeAfterFailures(-1)
fixed = MDispatcherAPI.MDispatcherConfiguration(config.to_dict()); fixed.setHookTimeout(3.5)
refused = [MDispatcherAPI.systemSetConfiguration(port, False).getErrorCode(),
           MDispatcherAPI.systemSetConfiguration(bad, False).getErrorCode(),
           MDispatcherAPI.systemSetConfiguration(fixed, False).getErrorCode()]
err, again = MDispatcherAPI.systemGetConfiguration()
ldap = MDispatcherAPI.MLDAPConfiguration()
ldap.setServer("ldap.studio.example"); ldap.setPort(636); ldap.setUseSSL(True); ldap.setBindPassword("hunter2")
codes.append(MDispatcherAPI.systemSetLDAPConfiguration(ldap, True).getErrorCode())
err, got = MDispatcherAPI.systemGetLDAPConfiguration()
print(json.dumps({"codes": codes, "refused": refused, "before": before, "after": again.getValue("chunk_hold_recheck_s"),
    "exclude": again.getExcludeAfterFailures(), "ldap": [got.getServer(), got.getPort(), got.getUseSSL(), got.to_dict()["bind_password"]]}))
""",
    )
    # The last refusal: the hook time limit is a start option.
    assert result["codes"] == [0, 0, 0] and result["refused"] == [2, 2, 2]
    assert (result["before"], result["after"], result["exclude"]) == (2.0, 0.5, 5)
    assert result["ldap"] == ["ldap.studio.example", 636, True, ""]
    with sqlite3.connect(farm.data_dir / "corral.db") as db:
        stored = dict(
            db.execute("SELECT kind, info FROM records WHERE kind IN ('config', 'ldap')").fetchall()
        )
    stored_config = json.loads(stored["config"])
    assert stored_config == {"chunk_hold_recheck_s": 0.5, "exclude_after_failures": 5}
    assert json.loads(stored["ldap"])["bind_password"] == "hunter2"


@covers("systemGetActivityLogsList", "systemGetActivityLog", "systemRemoveActivityLog",
        "systemGetActionLogsList", "systemGetActionLog", "systemRemoveActionLog")  # fmt: skip
def test_activity_and_action_logs(setup: tuple[Farm, Path, int]) -> None:
    farm, _, _ = setup
    job = farm.submit(title="logged", command=["true"])
    farm.wait_state(job["id"], "done")
    result = values(
        farm,
        f"""
err, names = MDispatcherAPI.systemGetActivityLogsList()
err2, text = MDispatcherAPI.systemGetActivityLog(names[-1])
sneaky = MDispatcherAPI.systemGetActivityLog("../corral.db")
err3, actions = MDispatcherAPI.systemGetActionLogsList()
err4, action_text = MDispatcherAPI.systemGetActionLog(actions[0])
removed = [MDispatcherAPI.systemRemoveActivityLog(name).getErrorCode() for name in names]
err5, left = MDispatcherAPI.systemGetActivityLogsList()
gone = MDispatcherAPI.systemRemoveActionLog("actions.log")
print(json.dumps({{"codes": [e.getErrorCode() for e in (err, err2, err3, err4, err5, gone)], "names": names,
    "has_job": "submitted job={job["id"]}" in text and "completed job={job["id"]}" in text, "sneaky": sneaky[0].getErrorCode(),
    "actions": actions, "action_text": "run_script" in action_text, "removed": removed, "left": left}}))
""",
    )
    assert result["codes"] == [0] * 6
    assert len(result["names"]) >= 1 and result["names"][0].startswith("activity-")
    assert result["has_job"] and result["sneaky"] == 2
    assert result["actions"] == ["actions.log"] and result["action_text"]
    assert result["removed"] == [0] * len(result["names"]) and result["left"] == []
    assert "run_script" not in (farm.data_dir / "logs" / "actions.log").read_text()
    assert run_script(farm, "print(1)")["ok"]
