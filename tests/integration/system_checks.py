"""The checks of the system, database and log functions, shared by MDispatcherAPI's
tests (a dispatcher-context script) and MConsoleAPI's (a console-context script).

Each check takes the farm set-up `(farm, templates folder, discovery port)` and `run`,
which runs a script body in its context, with `json` imported and the API bound to
`api`, and returns the JSON value the script printed last.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.integration.farm import Farm, wait_for
from tests.integration.hookfarm import write_template

Runner = Callable[[Farm, str], Any]


def check_dispatcher_log(setup: tuple[Farm, Path, int], run: Runner) -> None:
    farm, _, _ = setup
    log = farm.data_dir / "logs" / "dispatcher.log"
    codes = run(
        farm,
        """
codes = [api.logAddMessage("render wall is full").getErrorCode()]
codes.append(api.logAddInternalMessage("cache hit 93%").getErrorCode())
codes.append(api.logAddMessage(42).getErrorCode())
print(json.dumps(codes))
""",
    )
    assert codes == [0, 0, 2]
    text = log.read_text()
    assert "message hook: render wall is full" in text and "internal hook: cache hit 93%" in text
    assert run(farm, "print(json.dumps(api.logClear().getErrorCode()))") == 0
    assert log.read_text() == ""


def check_statistics_and_history(setup: tuple[Farm, Path, int], run: Runner) -> None:
    farm, _, _ = setup
    job = farm.submit(title="history", command=["true"])
    farm.wait_state(job["id"], "done")
    wait_for(lambda: farm.request("GET", "/api/v1/status")["results"] > 0, 10, "a result")
    result = run(
        farm,
        """
import time
time.sleep(0.4)
err, start, end, samples = api.dbGetStatisticsBounds()
clear = api.dbClearStatisticsBounds(start, end)
err2, start2, end2, samples2 = api.dbGetStatisticsBounds()
herr, hstart, hend, hcount = api.dbGetHistoryBounds()
hclear = api.dbClearHistoryBounds(0, time.time())
herr2, _, _, hcount2 = api.dbGetHistoryBounds()
bad = api.dbClearHistoryBounds(10, 5)
reset = api.systemResetStatisticsCounters()
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


def check_export_and_import_round_trip(
    setup: tuple[Farm, Path, int], run: Runner, tmp_path: Path
) -> None:
    farm, _, _ = setup
    keep = farm.submit(
        title="keep me", frames="1-4", batch=2, paused=True, command=["true"], priority=33
    )
    result = run(
        farm,
        """
ref = api.MStringRef()
err = api.dbExportQueueSQL(ref)
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
    codes = run(
        farm,
        f"""
bad = [api.dbImportQueueSQL(text).getErrorCode() for text in json.load(open({str(tmp_path / "hostile.json")!r}))]
print(json.dumps(bad))
""",
    )
    assert codes == [2] * len(hostile)
    assert extra["id"] in {
        job["id"] for job in farm.request("GET", "/api/v1/jobs/")
    }  # nothing changed
    (tmp_path / "snapshot.sql").write_text(snapshot)
    ok = run(
        farm,
        f"""
print(json.dumps(api.dbImportQueueSQL(open({str(tmp_path / "snapshot.sql")!r}).read()).getErrorCode()))
""",
    )
    assert ok == 0
    after = {job["id"]: job for job in farm.request("GET", "/api/v1/jobs/")}
    assert set(after) == set(before) and extra["id"] not in after
    assert after[keep["id"]]["priority"] == 33 and after[keep["id"]]["chunks"]["total"] == 2
    with sqlite3.connect(farm.data_dir / "corral.db") as db:
        assert sorted(row[0] for row in db.execute("SELECT id FROM jobs")) == sorted(before)


def check_engine_status(setup: tuple[Farm, Path, int], run: Runner) -> None:
    farm, _, _ = setup
    swap = "err = api.systemSwapEngineStatus(); err, status = api.systemQueryEngineStatus(); print(json.dumps([err.getErrorCode(), status]))"
    assert run(farm, swap) == [0, 0]
    job = farm.submit(title="waits for the engine", command=["true"])
    reasons = farm.request("GET", f"/api/v1/jobs/{job['id']}/why")["reasons"]
    assert any("engine is paused" in reason for reason in reasons)
    assert farm.job(job["id"])["state"] == "queued"
    assert run(farm, swap) == [0, 1]
    assert farm.wait_state(job["id"], "done")["state"] == "done"


def check_soft_restart_and_network_scan(setup: tuple[Farm, Path, int], run: Runner) -> None:
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
    assert run(farm, "print(json.dumps(api.systemSoftRestart().getErrorCode()))") == 0
    listing = wait_for(lambda: (t := farm.request("GET", "/api/v1/templates/"))["hook_host"]["starts"] > starts and t,
                       10, "a fresh hook host")  # fmt: skip
    assert "late" in [template["key"] for template in listing["templates"]]
    # A real render client that answers scans but never connects (its dispatcher address is closed).
    farm.client(
        "scanned-host", "--discovery-port", str(port), instances=2, dispatcher="127.0.0.1:9"
    )
    wait_for(
        lambda: (
            run(
                farm,
                "print(json.dumps(api.systemStartNodesNetworkScan().getErrorCode()))",
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


def check_configuration_and_ldap(setup: tuple[Farm, Path, int], run: Runner) -> None:
    farm, _, _ = setup
    result = run(
        farm,
        """
err, config = api.systemGetConfiguration()
before = config.getHookTimeout()
config.setValue("chunk_hold_recheck_s", 0.5)
config.setExcludeAfterFailures(5)
codes = [err.getErrorCode(), api.systemSetConfiguration(config, True).getErrorCode()]
port = api.MDispatcherConfiguration(config.to_dict()); port.setValue("http_port", 1)
bad = api.MDispatcherConfiguration(config.to_dict()); bad.setExcludeAfterFailures(-1)
fixed = api.MDispatcherConfiguration(config.to_dict()); fixed.setHookTimeout(3.5)
refused = [api.systemSetConfiguration(port, False).getErrorCode(),
           api.systemSetConfiguration(bad, False).getErrorCode(),
           api.systemSetConfiguration(fixed, False).getErrorCode()]
err, again = api.systemGetConfiguration()
ldap = api.MLDAPConfiguration()
ldap.setServer("ldap.studio.example"); ldap.setPort(636); ldap.setUseSSL(True); ldap.setBindPassword("hunter2")
codes.append(api.systemSetLDAPConfiguration(ldap, True).getErrorCode())
err, got = api.systemGetLDAPConfiguration()
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


def check_activity_and_action_logs(setup: tuple[Farm, Path, int], run: Runner) -> None:
    farm, _, _ = setup
    job = farm.submit(title="logged", command=["true"])
    farm.wait_state(job["id"], "done")
    result = run(
        farm,
        f"""
err, names = api.systemGetActivityLogsList()
err2, text = api.systemGetActivityLog(names[-1])
sneaky = api.systemGetActivityLog("../corral.db")
err3, actions = api.systemGetActionLogsList()
err4, action_text = api.systemGetActionLog(actions[0])
removed = [api.systemRemoveActivityLog(name).getErrorCode() for name in names]
err5, left = api.systemGetActivityLogsList()
gone = api.systemRemoveActionLog("actions.log")
print(json.dumps({{"codes": [e.getErrorCode() for e in (err, err2, err3, err4, err5, gone)], "names": names,
    "has_job": "submitted job={job["id"]}" in text and "completed job={job["id"]}" in text, "sneaky": sneaky[0].getErrorCode(),
    "actions": actions, "action_text": '"submit"' in action_text, "removed": removed, "left": left}}))
""",
    )
    assert result["codes"] == [0] * 6
    assert len(result["names"]) >= 1 and result["names"][0].startswith("activity-")
    assert result["has_job"] and result["sneaky"] == 2
    assert result["actions"] == ["actions.log"] and result["action_text"]
    assert result["removed"] == [0] * len(result["names"]) and result["left"] == []
    actions_log = farm.data_dir / "logs" / "actions.log"
    assert not actions_log.exists() or '"submit"' not in actions_log.read_text()
