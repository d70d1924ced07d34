"""The `corral` command as a user types it, against a live dispatcher and render client."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.integration.farm import CORRAL, Farm


def corral(farm: Farm, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CORRAL_DISPATCHER": farm.url, "CORRAL_TOKEN": farm.token}
    return subprocess.run(
        [CORRAL, *args], capture_output=True, text=True, env=env, input=stdin, timeout=60
    )


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_submit_watch_list_show_logs(farm: Farm, tmp_path: Path) -> None:
    farm.client("cli-node", instances=2)
    created = json.loads(ok(corral(farm, "submit", "--name", "cli job", "--frames", "1-20", "--packet", "5",
                                   "--priority", "70", "--json", "--", "sh", "-c", "echo frame {start}-{end}")))  # fmt: skip
    job_id = created["id"]
    assert created["chunks"]["total"] == 4 and created["priority"] == 70
    watched = corral(farm, "watch", str(job_id), "--interval", "0.1")
    assert watched.returncode == 0, watched.stderr
    listed = json.loads(ok(corral(farm, "jobs", "list", "--json")))
    assert [(job["id"], job["state"]) for job in listed] == [(job_id, "done")]
    shown = json.loads(ok(corral(farm, "jobs", "show", "cli job", "--json")))
    assert shown["id"] == job_id and shown["progress"] == 1.0
    assert "frame 6-10" in ok(corral(farm, "logs", str(job_id), "1"))
    table = ok(corral(farm, "jobs", "list"))
    assert "cli job" in table and "done" in table
    nodes = json.loads(ok(corral(farm, "nodes", "list", "--json")))
    assert sorted(node["name"] for node in nodes) == ["cli-node", "cli-node#1"]


def test_watch_exits_1_when_the_job_fails(farm: Farm) -> None:
    farm.client("fails")
    created = json.loads(
        ok(corral(farm, "submit", "--name", "bad", "--requeue", "0", "--json", "--", "false"))
    )
    watched = corral(farm, "watch", str(created["id"]), "--interval", "0.1")
    assert watched.returncode == 1


def test_pause_resume_set_reinit_delete_and_why(farm: Farm) -> None:
    created = json.loads(
        ok(
            corral(
                farm,
                "submit",
                "--name",
                "managed",
                "--frames",
                "1-4",
                "--paused",
                "--json",
                "--",
                "true",
            )
        )
    )
    job_id = str(created["id"])
    assert created["state"] == "paused"
    why = json.loads(ok(corral(farm, "why", job_id, "--json")))
    assert "the job is paused" in why["reasons"]
    ok(corral(farm, "jobs", "set", job_id, "--priority", "99", "--name", "renamed"))
    assert farm.job(int(job_id))["priority"] == 99 and farm.job(int(job_id))["title"] == "renamed"
    ok(corral(farm, "jobs", "resume", job_id))
    farm.client("worker")
    farm.wait_state(int(job_id), "done")
    ok(corral(farm, "jobs", "reinit", job_id))
    farm.wait_state(int(job_id), "done")
    assert {chunk["attempts"] for chunk in farm.chunks(int(job_id))} == {2}
    ok(corral(farm, "jobs", "delete", job_id))
    assert json.loads(ok(corral(farm, "jobs", "list", "--json"))) == []


def test_submit_file_and_dependencies(farm: Farm, tmp_path: Path) -> None:
    jobs = [{"title": "first", "frames": "1-2", "command": ["true"]}]
    first = json.loads(ok(corral(farm, "submit", "--file", "-", "--json", stdin=json.dumps(jobs))))
    assert isinstance(first, list) and first[0]["title"] == "first"
    second = json.loads(ok(corral(farm, "submit", "--name", "second", "--depends-on", str(first[0]["id"]),
                                  "--json", "--", "true")))  # fmt: skip
    assert second["depends_on"] == [{"job": first[0]["id"], "mode": "success"}]


@pytest.mark.parametrize(
    ("args", "code", "words"),
    [
        (("submit", "--name", "x", "--frames", "9-1", "--", "true"), 2, "last frame"),
        (("submit", "--name", "x", "--template", "nope", "--", "true"), 1, "template"),
        (("jobs", "show", "424242"), 7, "no job"),
        (("submit", "--name", "x"), 2, "command"),
        (("jobs", "pause"), 2, ""),
    ],
)
def test_bad_input_one_line_error_and_exit_code(
    farm: Farm, args: tuple[str, ...], code: int, words: str
) -> None:
    result = corral(farm, *args)
    assert result.returncode == code, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    assert words in result.stderr.lower()
    assert farm.request("GET", "/api/v1/jobs/") == []


def test_wrong_token_exits_4(farm: Farm) -> None:
    env = {**os.environ, "CORRAL_DISPATCHER": farm.url, "CORRAL_TOKEN": "wrong"}
    result = subprocess.run(
        [CORRAL, "jobs", "list"], capture_output=True, text=True, env=env, timeout=30
    )
    assert result.returncode == 4 and "Traceback" not in result.stderr


def test_data_dir_finds_url_and_token(farm: Farm) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CORRAL_")}
    result = subprocess.run([CORRAL, "--data-dir", str(farm.data_dir), "jobs", "list", "--json"],
                            capture_output=True, text=True, env=env, timeout=30)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == []


def test_dispatcher_sigterm_exits_0_and_restart_keeps_queue(farm: Farm) -> None:
    job = farm.submit(title="kept", frames="1-3", command=["true"], paused=True)
    assert farm.stop() == 0
    farm.start()
    assert farm.job(job["id"])["title"] == "kept"
    info = json.loads((farm.data_dir / "dispatcher.json").read_text())
    assert info["http_url"] == farm.url and info["pid"] > 0
