"""`corral system|stats|config|templates|nodes VERB` against a live dispatcher: the
engine, the dispatcher's logs, queue export and import, statistics, live settings,
software and job types, node exclusions and pools."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.clirun import cli, complete, corral, user_token
from tests.integration.farm import CORRAL, Farm


@pytest.fixture(scope="module")
def farm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Farm]:
    """One dispatcher for the tests of this module (each uses its own names)."""
    shared = Farm(tmp_path_factory.mktemp("cli") / "farm").start()
    yield shared
    shared.close()


def test_engine_status_counters_and_the_dispatcher_log(farm: Farm) -> None:
    status = cli(farm, "system", "status", "--json").json()
    assert status["user"] == "admin" and "uptime_s" in status
    assert "uptime_s" in cli(farm, "system", "status").out
    assert cli(farm, "system", "engine", "--json").json() == {"running": True}
    assert cli(farm, "system", "engine", "pause").out.strip() == "engine paused"
    assert farm.request("GET", "/api/v1/system/engine") == {"running": False}
    assert cli(farm, "system", "engine", "swap", "--json").json() == {"running": True}
    assert cli(farm, "system", "engine", "stop").code == 2
    viewer = user_token(farm, "viewer", "submit")
    assert cli(farm, "system", "engine", "pause", token=viewer).code == 4
    assert farm.request("GET", "/api/v1/system/engine") == {"running": True}
    assert cli(farm, "system", "reset-counters").code == 0
    assert cli(farm, "system", "soft-restart").code == 0
    assert cli(farm, "system", "scan-nodes", "--json").json() == {"answered": 0}

    assert cli(farm, "system", "message", "maintenance at 18:00", token=viewer).code == 0
    assert "maintenance at 18:00" in cli(farm, "system", "logs").out
    as_json = cli(farm, "system", "logs", "--json").json()
    assert "maintenance at 18:00" in as_json["text"]
    assert cli(farm, "system", "message", "  ").code == 2
    followed = cli(farm, "system", "logs", "--follow", "--follow-s", "1")
    assert followed.code == 0
    names = cli(farm, "system", "logs", "action", "--json").json()
    assert names, "the action log of today"
    assert "engine" in cli(farm, "system", "logs", "action", names[-1]).out
    assert cli(farm, "system", "logs", "action", "actions-old.log").code == 7
    assert cli(farm, "system", "log-clear", token=viewer).code == 4
    assert cli(farm, "system", "log-clear").code == 0
    assert "maintenance" not in cli(farm, "system", "logs").out
    assert cli(farm, "system", "log-remove", "activity", "activity-1999-01-01.log").code == 7
    assert cli(farm, "system", "log-remove", "activity", "../corral.db").code == 1


def test_queue_export_and_import(farm: Farm, tmp_path: Path) -> None:
    def titles() -> list[str]:
        return sorted(job["title"] for job in farm.request("GET", "/api/v1/jobs/"))

    farm.submit(title="keep me", paused=True)
    exported_titles = titles()  # the farm may hold other tests' jobs too
    target = tmp_path / "queue.sql"
    exported = cli(farm, "system", "export", str(target), "--json").json()
    assert exported == {"file": str(target), "bytes": target.stat().st_size} and exported["bytes"]
    assert cli(farm, "system", "export", str(target)).code == 1  # exists, no --force
    assert "keep me" in cli(farm, "system", "export").out
    farm.submit(title="added later", paused=True)
    before = titles()
    refused = cli(farm, "system", "import", str(target))
    assert refused.code == 2 and "--yes" in refused.err
    assert titles() == before
    garbage = tmp_path / "garbage.sql"
    garbage.write_text("DROP TABLE jobs;\n")
    assert cli(farm, "system", "import", str(garbage), "--yes").code == 1
    assert titles() == before
    imported = cli(farm, "system", "import", str(target), "--yes", "--json").json()
    assert imported == {"jobs": len(exported_titles)}
    assert titles() == exported_titles and "added later" not in titles()


def test_stats_and_live_settings(farm: Farm) -> None:
    bounds = cli(farm, "stats", "bounds", "--json").json()
    assert set(bounds) == {"samples", "history"}
    farm.submit(title="counted", paused=True)
    history = cli(farm, "stats", "history", "--json").json()
    assert history, "the submit is in the history"
    assert len(cli(farm, "stats", "history", "--limit", "1", "--json").json()) == 1
    assert cli(farm, "stats", "samples", "--from", "2026-01-01T00:00", "--json").code == 0
    assert cli(farm, "stats", "samples", "--from", "yesterday").code == 2
    assert cli(farm, "stats", "clear", "history", "--from", "10", "--to", "5").code == 2
    assert cli(farm, "stats", "clear", "history", "--from", "0", "--to", "4102444800").code == 0
    assert farm.request("GET", "/api/v1/history/bounds")["count"] == 0
    assert "# TYPE" in cli(farm, "stats", "metrics").out

    got = cli(farm, "config", "get", "heartbeat_interval_s", "--json").json()
    assert got == {"values": {"heartbeat_interval_s": 0.2}, "live": ["heartbeat_interval_s"]}
    assert cli(farm, "config", "get", "no_such_setting").code == 2
    changed = cli(farm, "config", "set", "heartbeat_interval_s=0.3", "--json").json()
    assert changed == {"changed": ["heartbeat_interval_s"]}
    values = farm.request("GET", "/api/v1/system/configuration")["values"]
    assert values["heartbeat_interval_s"] == 0.3
    assert cli(farm, "config", "set", "heartbeat_interval_s").code == 2
    assert cli(farm, "config", "set", "heartbeat_interval_s=fast").code == 1
    assert cli(farm, "config", "set", "data_dir=/tmp").code == 1  # not a live setting
    assert (
        farm.request("GET", "/api/v1/system/configuration")["values"]["heartbeat_interval_s"] == 0.3
    )
    assert cli(farm, "config", "ldap", "--json").code == 0
    viewer = user_token(farm, "watcher", "submit")
    assert cli(farm, "config", "set", "heartbeat_interval_s=1", token=viewer).code == 4
    assert (
        cli(farm, "stats", "clear", "samples", "--from", "0", "--to", "1", token=viewer).code == 4
    )
    assert (
        farm.request("GET", "/api/v1/system/configuration")["values"]["heartbeat_interval_s"] == 0.3
    )
    assert "heartbeat_interval_s" in cli(farm, "config", "get").out


def test_software_jobtypes_and_node_extras(farm: Farm) -> None:
    added = cli(farm, "templates", "software", "add", "blender", "4.0", "4.1", "--json").json()
    assert added["software"] == "blender"
    listed = cli(farm, "templates", "software", "list", "--json").json()
    assert "blender" in {item["software"] for item in listed}
    assert "4.1" in cli(farm, "templates", "software", "list").out
    shown = cli(farm, "templates", "software", "show", "blender", "--json").json()
    assert shown["software"] == "blender" and len(shown["versions"]) == 2
    assert cli(farm, "templates", "software", "remove", "blender").code == 0
    assert cli(farm, "templates", "software", "remove", "blender").code == 7
    made = cli(farm, "templates", "jobtypes", "add", "Shell", "cmdline", "--json").json()
    assert made["template"] == "cmdline"
    assert "Shell" in cli(farm, "templates", "jobtypes", "list").out
    assert cli(farm, "templates", "jobtypes", "add", "X", "no-such-template").code == 1
    viewer = user_token(farm, "onlooker", "submit")
    assert cli(farm, "templates", "jobtypes", "remove", "Shell", token=viewer).code == 4
    assert cli(farm, "templates", "software", "add", "maya", token=viewer).code == 4
    assert cli(farm, "templates", "jobtypes", "remove", "Shell").code == 0
    assert cli(farm, "templates", "jobtypes", "list", "--json").json() == []

    farm.client("node-x", "--pool", "lighting")
    farm.wait_nodes(1)
    assert cli(farm, "nodes", "pools", "node-x", "--json").json()[0]["name"] == "lighting"
    assert "lighting" in cli(farm, "nodes", "pools", "node-x").out
    assert complete(farm, "corral nodes show node-") == ["node-x"]
    assert "lighting" in complete(farm, "corral pools show ")
    excluded = cli(farm, "nodes", "exclude", "node-x", "cmdline", "--json").json()
    assert excluded["ok"] is True and excluded["node"]["excluded_templates"] == ["cmdline"]
    assert farm.request("GET", "/api/v1/nodes/node-x")["excluded_templates"] == ["cmdline"]
    assert cli(farm, "nodes", "exclude", "ghost", "cmdline").code == 7
    assert corral(farm, "nodes", "exclude", "node-x", "demo", token=viewer).code == 4
    assert json.loads(corral(farm, "nodes", "pools", "node-x", "--json").out)


def test_an_interrupted_command_exits_130(tmp_path: Path) -> None:
    """Ctrl-C while a command waits for the dispatcher: one line and exit 130 (docs/cli.md)."""
    with socket.create_server(("127.0.0.1", 0), backlog=8) as silent:
        silent.settimeout(60)
        env = {key: value for key, value in os.environ.items() if not key.startswith("CORRAL_")}
        env.update(CORRAL_DISPATCHER=f"http://127.0.0.1:{silent.getsockname()[1]}",
                   CORRAL_TOKEN="a-token", HOME=str(tmp_path))  # fmt: skip
        waiting = subprocess.Popen([CORRAL, "jobs", "list"], env=env, text=True,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
        try:
            connection, _ = silent.accept()  # the command is inside its request now
            with connection:
                waiting.send_signal(signal.SIGINT)
                out, err = waiting.communicate(timeout=30)
        finally:
            if waiting.poll() is None:
                waiting.kill()
                waiting.wait()
    assert waiting.returncode == 130, (out, err)
    assert err.strip() == "corral: error: interrupted" and out == ""
