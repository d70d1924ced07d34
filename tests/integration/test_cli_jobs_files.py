"""Jobs from files and the job and chunk verbs against a live farm with a render node:
`submit --file` (TOML and JSON, dependencies by name, refused whole on a cycle or an
unknown name), `jobs wait`, `jobs notify`, `jobs schema`, `chunks list|show|log|
failed-on|avoid|allow`, and completion of job ids and node names."""

from __future__ import annotations

import io
import json
import os
import subprocess
import time
from pathlib import Path

from rich.console import Console

from console.http import DispatcherClient
from console.job_tools_cli import wait_jobs
from tests.integration.clirun import cli, complete, user_token
from tests.integration.farm import CORRAL, Farm

PIPELINE = Path(__file__).resolve().parents[2] / "examples" / "submit" / "shot_pipeline.toml"


def test_submit_the_example_pipeline_then_wait_for_it(farm: Farm) -> None:
    created = cli(farm, "submit", "--file", str(PIPELINE), "--json").json()
    # Dependency order: sim first; names became the ids of the same submit.
    assert [job["title"] for job in created] == ["shot010 sim", "shot010 render", "shot010 comp"]
    sim, render, comp = (job["id"] for job in created)
    assert farm.job(render)["depends_on"] == [{"job": sim, "mode": "success"}]
    assert farm.job(comp)["depends_on"] == [{"job": render, "mode": "always"}]

    farm.client("node-a")
    farm.wait_nodes(1)
    waited = cli(farm, "jobs", "wait", str(sim), "shot010 comp", "--json", "--timeout", "60")
    assert [job["state"] for job in waited.json()] == ["done", "done"]
    assert farm.job(render)["state"] == "done"

    # The chunks of a finished job.
    chunks = cli(farm, "chunks", "list", str(render), "--json").json()
    assert [chunk["state"] for chunk in chunks] == ["done", "done"]
    assert cli(farm, "chunks", "list", str(render), "--state", "failed", "--json").json() == []
    shown = cli(farm, "chunks", "show", str(render), "1", "--json").json()
    assert shown["state"] == "done" and shown["runs"]
    assert "attempts:" in cli(farm, "chunks", "show", str(render), "1").out
    log = cli(farm, "chunks", "log", str(render), "1")
    assert log.code == 0 and "render 3-4" in log.out
    assert "render 1-2" in cli(farm, "chunks", "log", str(render), "0", "--json").json()["log"]
    requeued = cli(farm, "chunks", "skip", str(render), "0", "7", "--json")
    assert requeued.code == 1
    assert [entry["ok"] for entry in json.loads(requeued.out)] == [True, False]
    followed = cli(farm, "chunks", "log", str(render), "0", "--follow", "--follow-s", "1")
    assert followed.code == 0
    assert cli(farm, "chunks", "show", str(render), "9").code == 7

    # Keeping a chunk off a node, and letting it back.
    assert cli(farm, "chunks", "avoid", str(render), "0", "node-a").code == 0
    failed_on = cli(farm, "chunks", "failed-on", str(render), "0", "--json").json()
    assert [node["hostname"] for node in failed_on] == ["node-a"]
    assert cli(farm, "chunks", "allow", str(render), "0", "node-a").code == 0
    assert cli(farm, "chunks", "failed-on", str(render), "0", "--json").json() == []
    assert cli(farm, "chunks", "avoid", str(render), "0", "no-such-node").code == 7


def test_a_failed_job_ends_the_wait_with_exit_1_and_a_timeout_too(farm: Farm) -> None:
    farm.client("node-b")
    farm.wait_nodes(1)
    bad = farm.submit(title="bad", command=["false"], requeue=0)
    waited = cli(farm, "jobs", "wait", str(bad["id"]))
    assert waited.code == 1 and f"job {bad['id']} failed" in waited.err
    # On a terminal: a bar per job, ending at the job's chunks.
    good = farm.submit(title="good", command=["true"], start=1, end=3)
    screen = io.StringIO()
    client = DispatcherClient(farm.url, farm.token)
    ended = wait_jobs(
        client, [good["id"]], 60, Console(file=screen, force_terminal=True, width=100)
    )
    assert ended[good["id"]]["state"] == "done"
    assert f"job {good['id']}" in screen.getvalue() and "3/3" in screen.getvalue()
    held = farm.submit(title="held", paused=True)
    timed = cli(farm, "jobs", "wait", "held", "--timeout", "0.5")
    assert timed.code == 1 and "timed out" in timed.err
    assert cli(farm, "jobs", "wait", "nope").code == 7
    assert farm.job(held["id"])["state"] == "paused"
    # A job deleted while it is waited for ends the wait.
    waiting = subprocess.Popen([CORRAL, "jobs", "wait", "held"], stderr=subprocess.PIPE,
                               text=True, env={**os.environ, "CORRAL_DISPATCHER": farm.url,
                                               "CORRAL_TOKEN": farm.token})  # fmt: skip
    time.sleep(2.5)  # the command starts and follows the events
    farm.request("DELETE", f"/api/v1/jobs/{held['id']}")
    _, err = waiting.communicate(timeout=30)
    assert waiting.returncode == 1 and "was deleted" in err, err


def test_a_file_is_refused_whole_on_a_cycle_or_an_unknown_name(farm: Farm, tmp_path: Path) -> None:
    cycle = tmp_path / "cycle.json"
    cycle.write_text(json.dumps([
        {"name": "a", "title": "a", "command": ["true"], "depends_on": ["b"]},
        {"name": "b", "title": "b", "command": ["true"], "depends_on": ["a"]},
    ]))  # fmt: skip
    refused = cli(farm, "submit", "--file", str(cycle))
    assert refused.code == 2 and "cycle: 'a' -> 'b' -> 'a'" in refused.err, refused.err
    unknown = tmp_path / "unknown.toml"
    unknown.write_text('[[job]]\ntitle = "x"\ncommand = ["true"]\ndepends_on = ["ghost"]\n')
    refused = cli(farm, "submit", "--file", str(unknown))
    assert refused.code == 2 and "'ghost'" in refused.err
    broken = tmp_path / "broken.toml"
    broken.write_text("[[job]\n")
    refused = cli(farm, "submit", "--file", str(broken))
    assert refused.code == 2 and "not valid TOML" in refused.err
    twice = tmp_path / "twice.json"
    twice.write_text(json.dumps([{"title": "same", "command": ["true"]}] * 2))
    assert cli(farm, "submit", "--file", str(twice)).code == 2
    assert farm.request("GET", "/api/v1/jobs/") == []
    # A job the dispatcher refuses (a bad field) refuses the whole file too: exit 1.
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{"title": "ok", "command": ["true"]},
                               {"title": "no", "command": ["true"], "priority": -5}]))  # fmt: skip
    assert cli(farm, "submit", "--file", str(bad)).code == 1
    assert farm.request("GET", "/api/v1/jobs/") == []
    # From standard input, TOML is recognised too.
    one = cli(farm, "submit", "--file", "-", "--json", stdin='title = "solo"\ncommand = ["true"]\n')
    assert one.json()["title"] == "solo"


def test_notify_schema_and_completion(farm: Farm) -> None:
    job = farm.submit(title="lit", paused=True)
    user_token(farm, "carol", "submit")
    farm.request("PATCH", "/api/v1/users/carol", {"email": "carol@example.com"})
    added = cli(farm, "jobs", "notify", "add", "lit", "carol", "--on-deletion", "--json").json()
    assert added["username"] == "carol" and added["on_deletion"] is True
    listed = cli(farm, "jobs", "notify", "list", str(job["id"]), "--json").json()
    assert [entry["username"] for entry in listed] == ["carol"]
    assert "carol@example.com" in cli(farm, "jobs", "notify", "list", "lit").out
    assert cli(farm, "jobs", "notify", "add", "lit", "nobody").code == 7
    assert cli(farm, "jobs", "notify", "remove", "lit", "carol").code == 0
    assert farm.request("GET", f"/api/v1/jobs/{job['id']}/notified_users/") == []

    schema = cli(farm, "jobs", "schema", "--json").json()
    assert "title" in schema and "priority" in schema

    # Completion asks the dispatcher for job ids.
    assert str(job["id"]) in complete(farm, "corral jobs show ")
    assert complete(farm, "corral jobs show 999") == []
    script = cli(farm, "completion", "bash")
    assert script.code == 0 and "_CORRAL_COMPLETE" in script.out
    assert cli(farm, "completion", "tcsh").code == 2
    assert os.environ.get("_CORRAL_COMPLETE") is None
    # A dispatcher that does not answer: nothing to offer, no error.
    farm.stop()
    assert complete(farm, "corral jobs show ") == []
