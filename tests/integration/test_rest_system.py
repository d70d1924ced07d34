"""REST v1 system routes (engine, soft restart, configuration, LDAP configuration,
counters, node scan) and the queue's export and import on a real farm: effects seen
through other routes, the hook API and a restart; refusals that change nothing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.farm import Farm, free_udp_port, wait_for
from tests.integration.hookfarm import script_json, start_farm
from tests.integration.restkit import (
    MAX_REQUEST_BYTES,
    Write,
    actions,
    call,
    check_refusals,
    make_user,
    ok,
    state,
)

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Farm, str]]:
    root: Path = tmp_path_factory.mktemp("rest-system")
    farm = start_farm(
        root / "farm",
        "--max-request-bytes",
        str(MAX_REQUEST_BYTES),
        "--discovery-address",
        f"127.0.0.1:{free_udp_port()}",
    )
    yield farm, make_user(farm, "sub", "submit")
    farm.close()


def api(farm: Farm, code: str) -> Any:
    return script_json(farm, "import json, MDispatcherAPI\n" + code)


def test_engine(setup: tuple[Farm, str]) -> None:
    farm, submitter = setup
    assert ok(farm, "GET", "/api/v1/system/engine", token=submitter) == {"running": True}
    assert ok(farm, "PUT", "/api/v1/system/engine", {"running": False}) == {"running": False}
    assert api(farm, "print(json.dumps(MDispatcherAPI.systemQueryEngineStatus()[1]))") == 0
    check_refusals(farm, Write("PUT", "/api/v1/system/engine", {"running": True}), submitter)
    check_refusals(farm, Write("POST", "/api/v1/system/engine/swap", None), submitter)
    assert call(farm, "PUT", "/api/v1/system/engine", {"running": "yes"}).field == "running"
    assert call(farm, "PUT", "/api/v1/system/engine", {}).field == "running"
    assert ok(farm, "POST", "/api/v1/system/engine/swap") == {"running": True}
    assert ok(farm, "GET", "/api/v1/system/engine") == {"running": True}
    assert api(farm, "print(json.dumps(MDispatcherAPI.systemQueryEngineStatus()[1]))") == 1


def test_status_shows_the_collector_settings(setup: tuple[Farm, str]) -> None:
    """The `corral dispatcher` process tunes its collector once its queue is loaded."""
    farm, _ = setup
    collector = ok(farm, "GET", "/api/v1/status")["gc"]
    assert collector["threshold"] == [10_000, 20, 20]
    assert collector["frozen"] > 1_000  # what the process loaded is out of every collection
    assert len(collector["collections"]) == 3
    assert all(isinstance(count, int) and count >= 0 for count in collector["collections"])


def test_configuration(setup: tuple[Farm, str]) -> None:
    farm, submitter = setup
    config = ok(farm, "GET", "/api/v1/system/configuration", token=submitter)
    assert (
        config["values"]["exclude_after_failures"] == 3
        and "exclude_after_failures" in config["live"]
    )
    changed = ok(
        farm, "PATCH", "/api/v1/system/configuration", {"values": {"exclude_after_failures": 7}}
    )
    assert changed == {"changed": ["exclude_after_failures"]}
    assert ok(farm, "GET", "/api/v1/system/configuration")["values"]["exclude_after_failures"] == 7
    seen = api(
        farm,
        "err, c = MDispatcherAPI.systemGetConfiguration()\n"
        "print(json.dumps(c.to_dict()['values']['exclude_after_failures']))",
    )
    assert seen == 7
    body = {"values": {"exclude_after_failures": 5}}
    check_refusals(farm, Write("PATCH", "/api/v1/system/configuration", body), submitter)
    for values, field in [
        ({"no_such": 1}, "no_such"),
        ({"port": 1}, "port"),
        ({"exclude_after_failures": 0}, "exclude_after_failures"),
    ]:
        answer = call(farm, "PATCH", "/api/v1/system/configuration", {"values": values})
        assert answer.status == 400 and answer.field == field, answer.body
    assert (
        call(farm, "PATCH", "/api/v1/system/configuration", {"values": {}, "store": 1}).field
        == "store"
    )
    assert ok(farm, "GET", "/api/v1/system/configuration")["values"]["exclude_after_failures"] == 7


def test_configuration_store_flag_outlives_a_restart(tmp_path: Path) -> None:
    farm = start_farm(tmp_path / "farm")
    try:
        ok(
            farm,
            "PATCH",
            "/api/v1/system/configuration",
            {"values": {"exclude_after_failures": 9}, "store": True},
        )
        ok(farm, "PATCH", "/api/v1/system/configuration", {"values": {"offline_after_missed": 8}})
        farm.stop()
        farm.start()
        values = ok(farm, "GET", "/api/v1/system/configuration")["values"]
        assert values["exclude_after_failures"] == 9 and values["offline_after_missed"] == 3
    finally:
        farm.close()


def test_ldap_configuration(setup: tuple[Farm, str]) -> None:
    farm, submitter = setup
    values = {
        "enabled": False,
        "server": "ldap.studio",
        "port": 636,
        "use_ssl": True,
        "base_dn": "dc=studio",
        "bind_password": "secret-bind",
    }
    answer = ok(farm, "PUT", "/api/v1/system/ldap", {"values": values, "store": True})
    assert answer["server"] == "ldap.studio" and answer["port"] == 636
    assert answer["bind_password"] == ""  # write-only
    assert ok(farm, "GET", "/api/v1/system/ldap", token=submitter) == answer
    seen = api(
        farm, "err, c = MDispatcherAPI.systemGetLDAPConfiguration()\nprint(json.dumps(c.to_dict()))"
    )
    assert seen["server"] == "ldap.studio" and "secret-bind" not in str(seen)
    check_refusals(
        farm, Write("PUT", "/api/v1/system/ldap", {"values": {"server": "other"}}), submitter
    )
    for bad, field in [
        ({"port": 0}, "port"),
        ({"port": "636"}, "port"),
        ({"colour": "red"}, "colour"),
    ]:
        refused = call(farm, "PUT", "/api/v1/system/ldap", {"values": bad})
        assert refused.status == 400 and refused.field == field, refused.body
    assert ok(farm, "GET", "/api/v1/system/ldap")["server"] == "ldap.studio"


def test_soft_restart_counters_and_scan(setup: tuple[Farm, str]) -> None:
    farm, submitter = setup
    job = farm.submit(title="counted", command=["true"])
    farm.client("counter")
    farm.wait_state(job["id"], "done")
    wait_for(lambda: ok(farm, "GET", "/api/v1/status")["results"] > 0, 10, "a result")
    check_refusals(farm, Write("POST", "/api/v1/system/counters/reset", None), submitter)
    assert ok(farm, "GET", "/api/v1/status")["results"] > 0
    ok(farm, "POST", "/api/v1/system/counters/reset", status=204)
    assert ok(farm, "GET", "/api/v1/status")["results"] == 0

    starts = ok(farm, "GET", "/api/v1/status")["hook_host_starts"]
    check_refusals(farm, Write("POST", "/api/v1/system/soft-restart", None), submitter)
    ok(farm, "POST", "/api/v1/system/soft-restart", status=204)
    wait_for(
        lambda: ok(farm, "GET", "/api/v1/status")["hook_host_starts"] > starts,
        20,
        "a new hook host",
    )
    assert '"action": "soft_restart"' in "\n".join(actions(farm))

    check_refusals(farm, Write("POST", "/api/v1/system/nodes-scan", None), submitter)
    assert ok(farm, "POST", "/api/v1/system/nodes-scan") == {"answered": 0}  # nobody listens there
    assert '"action": "nodes_network_scan"' in actions(farm)[-1]


# -- queue export and import -------------------------------------------------------------
def test_export_import_round_trip(setup: tuple[Farm, str]) -> None:
    farm, submitter = setup
    folder = ok(farm, "POST", "/api/v1/folders/", {"title": "exported"}, 201)
    farm.submit(title="kept job", parent=folder["id"], paused=True, frames="1-20", batch=5)
    exported = call(farm, "GET", "/api/v1/queue/export", token=submitter)
    assert exported.status == 200 and exported.headers["Content-Type"].startswith("text/plain")
    text = exported.body
    assert text.startswith("-- corral queue export v1\n") and "kept job" in text
    jobs_before = ok(farm, "GET", "/api/v1/jobs/")

    farm.submit(title="after the export", paused=True)
    ok(farm, "DELETE", f"/api/v1/jobs/{jobs_before[-1]['id']}", status=204)
    assert ok(farm, "GET", "/api/v1/jobs/") != jobs_before

    raw = text.encode()
    for body, status, token in [
        (b"", 400, None),
        (b"DROP TABLE jobs;", 400, None),
        (raw.replace(b"-- end jobs=", b"-- end jobs=9"), 400, None),
        (b"\xff\xfe", 400, None),
        (raw, 403, submitter),
        (raw, 401, ""),
        (raw + b"-- " + b"x" * MAX_REQUEST_BYTES + b"\n", 413, None),
    ]:
        before, logged = state(farm), actions(farm)
        answer = call(
            farm, "POST", "/api/v1/queue/import", raw=body, token=token, content_type="text/plain"
        )
        assert answer.status == status, (body[:40], answer.body)
        assert actions(farm) == logged and state(farm) == before

    imported = ok(farm, "POST", "/api/v1/queue/import", raw=raw, content_type="text/plain")
    assert imported == {"jobs": len(jobs_before)}
    after = ok(farm, "GET", "/api/v1/jobs/")
    keys = ("id", "uuid", "title", "kind", "parent", "state", "chunks", "start", "end", "batch")
    assert [{k: job[k] for k in keys} for job in after] == [
        {k: job[k] for k in keys} for job in jobs_before
    ]
    assert ok(farm, "GET", "/api/v1/queue/export").splitlines()[2:] == text.splitlines()[2:]
    seen = api(
        farm,
        "err, jobs = MDispatcherAPI.jobGetList()\n"
        "print(json.dumps(sorted(j.to_dict()['title'] for j in jobs)))",
    )
    assert seen == sorted(job["title"] for job in jobs_before)
