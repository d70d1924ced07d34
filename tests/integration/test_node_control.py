"""Every node action against a live render client, each with an effect we can observe:
processes that die or get reniced, chunks that run again, logs, files, restarts."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tests.integration.farm import CORRAL, ApiError, Farm, wait_for


def evidence(path: Path, sleep_first_s: float = 30.0, then_s: float = 0.0) -> list[str]:
    """A chunk that appends `start PID ATTEMPT` and `end PID ATTEMPT` to `path`; its
    first attempt sleeps `sleep_first_s`, later ones `then_s`."""
    script = (
        f'echo "start $$ $CORRAL_ATTEMPT $CORRAL_NODE" >> "{path}"; '
        f'if [ "$CORRAL_ATTEMPT" = 1 ]; then sleep {sleep_first_s}; else sleep {then_s}; fi; '
        f'echo "end $$ $CORRAL_ATTEMPT" >> "{path}"'
    )
    return ["sh", "-c", script]


def lines(path: Path, kind: str) -> list[list[str]]:
    if not path.exists():
        return []
    return [line.split()[1:] for line in path.read_text().splitlines() if line.startswith(kind)]


def action(farm: Farm, node: str | int, name: str, body: Any = None) -> dict[str, Any]:
    result: dict[str, Any] = farm.request("POST", f"/api/v1/nodes/{node}/actions/{name}", body)
    return result


def node(farm: Farm, name: str) -> dict[str, Any]:
    result: dict[str, Any] = farm.request("GET", f"/api/v1/nodes/{name}")
    return result


def running_pid(path: Path, attempt: int = 1) -> int:
    found = wait_for(
        lambda: [int(pid) for pid, att, *_ in lines(path, "start") if int(att) == attempt],
        15,
        f"attempt {attempt} to start",
    )
    return int(found[0])


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def chunk_log(farm: Farm, job_id: int, chunk: int = 0) -> str:
    """A chunk's log so far; "" while it has none."""
    try:
        return str(
            farm.request("GET", f"/api/v1/jobs/{job_id}/tasks/{farm.task(job_id, chunk)}/log")
        )
    except ApiError as exc:
        if exc.status == 404:
            return ""
        raise


def cli(
    farm: Farm, *args: str, check: bool = True, stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [CORRAL, "--dispatcher", farm.url, "--token", farm.token, *args],
        capture_output=True,
        text=True,
        timeout=60,
        input=stdin,
    )
    if check:
        assert result.returncode == 0, result.stderr
    return result


def test_kill_requeues_without_counting_and_the_process_dies(farm: Farm, tmp_path: Path) -> None:
    out = tmp_path / "chunk.txt"
    farm.client("alpha")
    job = farm.submit(title="kill me", command=evidence(out))
    pid = running_pid(out)
    answer = cli(farm, "nodes", "kill", "alpha").stdout
    assert "job 1 chunk 0" in answer
    wait_for(lambda: not alive(pid), 10, "the killed render to exit")
    done = farm.wait_state(job["id"], "done", timeout_s=15)
    chunk = farm.request("GET", f"/api/v1/jobs/{job['id']}/tasks/{farm.task(job['id'], 0)}")
    assert [run["state"] for run in chunk["runs"]] == ["killed", "done"]
    assert chunk["failures"] == 0 and done["chunks"]["done"] == 1
    assert [att for _, att in lines(out, "end")] == ["2"]  # the killed attempt never ended
    assert node(farm, "alpha")["excluded_jobs"] == []


def test_kill_pause_then_resume(farm: Farm, tmp_path: Path) -> None:
    out = tmp_path / "chunk.txt"
    farm.client("alpha")
    job = farm.submit(title="kill and pause", command=evidence(out))
    pid = running_pid(out)
    action(farm, "alpha", "kill-pause")
    wait_for(lambda: not alive(pid), 10, "the killed render to exit")
    wait_for(lambda: farm.job(job["id"])["chunks"]["queued"] == 1, 10, "the chunk to be queued")
    assert node(farm, "alpha")["paused"] is True
    time.sleep(0.5)
    assert farm.job(job["id"])["state"] == "queued"  # a paused node takes no work
    reasons = farm.request("GET", f"/api/v1/jobs/{job['id']}/why")["reasons"]
    assert any("paused" in reason for reason in reasons), reasons
    cli(farm, "nodes", "resume", "alpha")
    farm.wait_state(job["id"], "done", timeout_s=15)
    assert node(farm, "alpha")["paused"] is False


def test_kill_restart_runs_the_same_chunk_again_on_the_same_node(
    farm: Farm, tmp_path: Path
) -> None:
    out = tmp_path / "chunk.txt"
    farm.client("alpha")
    farm.client("beta")
    farm.wait_nodes(2)
    job = farm.submit(title="redo", command=evidence(out, then_s=0.5))
    running_pid(out)
    first_node = lines(out, "start")[0][2]
    cli(farm, "nodes", "kill-restart", first_node)
    farm.wait_state(job["id"], "done", timeout_s=15)
    starts = lines(out, "start")
    assert [(att, where) for _, att, where in starts] == [("1", first_node), ("2", first_node)]


def test_pause_keeps_work_away_and_resume_brings_it(farm: Farm, tmp_path: Path) -> None:
    farm.client("alpha")
    farm.wait_nodes(1)
    action(farm, "alpha", "pause")
    job = farm.submit(title="waits", command=["true"])
    time.sleep(0.6)
    assert farm.job(job["id"])["state"] == "queued"
    action(farm, "alpha", "resume")
    farm.wait_state(job["id"], "done", timeout_s=10)


def test_update_reports_fresh_resources(farm: Farm) -> None:
    farm.client("alpha")
    farm.wait_nodes(1)
    before = wait_for(lambda: node(farm, "alpha")["resources"], 10, "resources")
    assert before["memory_total_bytes"] > 0 and before["cpus"] >= 1
    assert before["gpus"] is None  # no nvidia-smi here
    time.sleep(0.6)
    cli(farm, "nodes", "update", "alpha")
    wait_for(
        lambda: node(farm, "alpha")["resources"]["sampled"] > before["sampled"],
        5,
        "a newer sample",
    )


def test_soft_restart_comes_back_under_the_same_id(farm: Farm, tmp_path: Path) -> None:
    process = farm.client("alpha")
    farm.wait_nodes(1)
    first = node(farm, "alpha")
    cli(farm, "nodes", "soft-restart", "alpha")
    log = tmp_path / "client-alpha.log"
    wait_for(lambda: log.read_text().count("action=client_started") == 2, 15, "the re-exec")
    again = wait_for(
        lambda: (
            (n := node(farm, "alpha"))["online"]
            and n["connected_since"] != first["connected_since"]
            and n
        ),
        15,
        "the node to reconnect",
    )
    assert again["id"] == first["id"] and len(farm.nodes()) == 1
    assert process.poll() is None  # the same process, re-executed
    job = farm.submit(title="after restart", command=["true"])
    farm.wait_state(job["id"], "done", timeout_s=10)


def test_priority_renices_the_running_tree(farm: Farm, tmp_path: Path) -> None:
    out = tmp_path / "chunk.txt"
    farm.client("alpha")
    farm.submit(title="nice", command=["sh", "-c", f'echo "start $$ 1" >> "{out}"; sleep 30'])
    pid = running_pid(out)
    wait_for(lambda: [p for p in Path("/proc").iterdir() if _ppid(p) == pid], 5, "the sleep")
    cli(farm, "nodes", "priority", "alpha", "7")
    children = [p for p in Path("/proc").iterdir() if _ppid(p) == pid]
    for target in [Path(f"/proc/{pid}"), *children]:
        wait_for(lambda t=target: _nice(t) == 7, 5, f"nice 7 on {target}")  # type: ignore[misc]
    assert node(farm, "alpha")["process_priority"] == 7
    action(farm, "alpha", "kill")
    wait_for(lambda: not alive(pid), 10, "the render to end")


def _stat_fields(proc: Path) -> list[str]:
    try:
        return (proc / "stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return []


def _ppid(proc: Path) -> int:
    fields = _stat_fields(proc) if proc.name.isdigit() else []
    return int(fields[1]) if fields else -1


def _nice(proc: Path) -> int | None:
    fields = _stat_fields(proc)
    return int(fields[16]) if fields else None


def test_template_exclusion_and_purge(farm: Farm) -> None:
    farm.client("alpha")
    farm.wait_nodes(1)
    action(farm, "alpha", "exclude", {"template": "cmdline"})
    job = farm.submit(title="excluded", command=["true"])
    time.sleep(0.5)
    assert farm.job(job["id"])["state"] == "queued"
    reasons = farm.request("GET", f"/api/v1/jobs/{job['id']}/why")["reasons"]
    assert any("excludes template cmdline" in reason for reason in reasons), reasons
    assert node(farm, "alpha")["excluded_templates"] == ["cmdline"]
    output = cli(farm, "nodes", "purge-exclusions", "alpha", "--template", "cmdline").stdout
    assert "template cmdline" in output
    farm.wait_state(job["id"], "done", timeout_s=10)


def test_realtime_log_off_holds_output_until_the_chunk_ends(farm: Farm) -> None:
    farm.client("alpha")
    farm.wait_nodes(1)
    cli(farm, "nodes", "realtime-log", "alpha", "off")
    assert node(farm, "alpha")["realtime_log"] is False
    job = farm.submit(title="quiet", command=["sh", "-c", "echo hello-held; sleep 1.5"])
    wait_for(lambda: farm.job(job["id"])["chunks"]["running"], 10, "the chunk to run")
    time.sleep(0.8)
    assert "hello-held" not in chunk_log(farm, job["id"])
    farm.wait_state(job["id"], "done", timeout_s=10)
    log = chunk_log(farm, job["id"])
    assert "hello-held" in log
    cli(farm, "nodes", "realtime-log", "alpha", "on")
    live = farm.submit(title="loud", command=["sh", "-c", "echo hello-live; sleep 1.5"])
    wait_for(
        lambda: "hello-live" in chunk_log(farm, live["id"]),
        5,
        "streamed output",
    )
    assert farm.job(live["id"])["state"] == "running"


def test_system_events_are_refused_by_default_and_go_to_the_handler(
    farm: Farm, tmp_path: Path
) -> None:
    farm.client("plain")
    events = tmp_path / "events.txt"
    handler = tmp_path / "handler.sh"
    handler.write_text(f'#!/bin/sh\necho "$1 $CORRAL_NODE" >> "{events}"\necho handled "$1"\n')
    handler.chmod(0o755)
    farm.client("handled", "--system-event-command", str(handler))
    farm.wait_nodes(2)
    refused = cli(farm, "nodes", "system-event", "plain", "reboot", check=False)
    assert refused.returncode == 1 and "refused" in refused.stdout
    answer = action(farm, "handled", "system-event", {"event": "shutdown"})
    assert answer["ok"] is True and "handled shutdown" in answer["output"]
    assert events.read_text().split() == ["shutdown", "handled"]
    with pytest.raises(ApiError) as caught:
        action(farm, "handled", "system-event", {"event": "explode"})
    assert caught.value.status == 400
    assert events.read_text().split() == ["shutdown", "handled"]


def test_run_python_in_the_render_client_context(farm: Farm, tmp_path: Path) -> None:
    farm.client("alpha")
    farm.wait_nodes(1)
    code = tmp_path / "probe.py"
    code.write_text(
        "import muster, os\nprint(muster.runningContext(), os.environ['CORRAL_NODE'])\n"
    )
    assert cli(farm, "nodes", "run-python", "alpha", str(code)).stdout.split() == [
        "renderclient",
        "alpha",
    ]
    failing = cli(farm, "nodes", "run-python", "alpha", "-", check=False)
    assert failing.returncode != 0  # empty code from stdin is refused
    crash = action(farm, "alpha", "run-python", {"code": "raise SystemExit(3)"})
    assert crash["ok"] is False and "exit code 3" in crash["output"]
    with pytest.raises(ApiError) as caught:
        action(farm, "alpha", "run-python", {"code": "def broken(:"})
    assert caught.value.status == 400


def test_notes_persist_across_a_restart(make_farm: Any, tmp_path: Path) -> None:
    farm = make_farm()
    farm.client("alpha")
    farm.wait_nodes(1)
    cli(farm, "nodes", "notes", "alpha", "fan is loud")
    farm.stop()
    farm.start()
    assert node(farm, "alpha")["notes"] == "fan is loud"


def test_remove_registration_only_when_offline(farm: Farm) -> None:
    process = farm.client("alpha")
    farm.wait_nodes(1)
    refused = cli(farm, "nodes", "remove", "alpha", check=False)
    assert refused.returncode == 1 and "connected" in refused.stderr
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=15)
    wait_for(lambda: not node(farm, "alpha")["online"], 10, "the node to go offline")
    cli(farm, "nodes", "remove", "alpha")
    assert farm.nodes() == []
    with pytest.raises(ApiError) as caught:
        node(farm, "alpha")
    assert caught.value.status == 404


@pytest.mark.parametrize("then", ["pause", "redo", "go-on"])
def test_kill_nodes_working_on_a_job(farm: Farm, tmp_path: Path, then: str) -> None:
    out = tmp_path / "chunks"
    out.mkdir()
    farm.client("alpha")
    farm.client("beta")
    farm.wait_nodes(2)
    job = farm.submit(title="busy", frames="1-2", command=evidence(out / "c{start}.txt", then_s=0))
    for frame in (1, 2):
        running_pid(out / f"c{frame}.txt")
    answer = cli(farm, "jobs", "kill-nodes", str(job["id"]), "--then", then).stdout
    assert "alpha" in answer and "beta" in answer
    if then == "pause":
        wait_for(lambda: farm.job(job["id"])["chunks"]["queued"] == 2, 10, "both chunks queued")
        assert all(n["paused"] for n in farm.nodes())
        for name in ("alpha", "beta"):
            action(farm, name, "resume")
    farm.wait_state(job["id"], "done", timeout_s=15)
    for frame in (1, 2):
        starts = lines(out / f"c{frame}.txt", "start")
        assert [att for _, att, _ in starts] == ["1", "2"]
        if then == "redo":
            assert starts[0][2] == starts[1][2]  # the same node ran it again
    chunks = farm.chunks(job["id"])
    assert all(chunk["failures"] == 0 for chunk in chunks)


def test_chunk_commands_requeue_skip_complete(farm: Farm, tmp_path: Path) -> None:
    out = tmp_path / "runs.txt"
    job = farm.submit(
        title="chunks", frames="1-4", command=["sh", "-c", f'echo "{{start}}" >> "{out}"']
    )
    cli(farm, "chunks", "skip", str(job["id"]), "0")
    cli(farm, "chunks", "complete", str(job["id"]), "1", "2")
    states = [chunk["state"] for chunk in farm.chunks(job["id"])]
    assert states == ["skipped", "done", "done", "queued"]
    farm.client("alpha")
    farm.wait_state(job["id"], "done", timeout_s=10)
    assert out.read_text().split() == ["4"]
    result = cli(farm, "chunks", "requeue", str(job["id"]), "1")
    assert "chunk 1" in result.stdout
    wait_for(lambda: out.read_text().split() == ["4", "2"], 10, "chunk 1 to run again")
    farm.wait_state(job["id"], "done", timeout_s=10)
    bad = cli(farm, "chunks", "skip", str(job["id"]), "99", check=False)
    assert bad.returncode == 1 and "no chunk 99" in bad.stderr


def test_bad_node_requests_are_refused_and_change_nothing(farm: Farm) -> None:
    process = farm.client("alpha")
    farm.wait_nodes(1)
    before = node(farm, "alpha")
    cases: list[tuple[str, str, Any, int]] = [
        ("nobody", "kill", None, 404),
        ("alpha", "explode", None, 404),
        ("alpha", "priority", {"priority": 99}, 400),
        ("alpha", "priority", {"priority": "high"}, 400),
        ("alpha", "priority", {}, 400),
        ("alpha", "pause", {"surprise": 1}, 400),
        ("alpha", "realtime-log", {"on": "yes"}, 400),
        ("alpha", "notes", {"notes": 5}, 400),
        ("alpha", "purge-exclusions", {"job": "x"}, 400),
        ("alpha", "pause", [1, 2], 400),
    ]
    for name, verb, body, status in cases:
        with pytest.raises(ApiError) as caught:
            action(farm, name, verb, body)
        assert caught.value.status == status, (verb, body, caught.value.body)
    with pytest.raises(ApiError) as caught:
        farm.request("POST", "/api/v1/jobs/999/kill-nodes", {"then": "pause"})
    assert caught.value.status == 404
    assert cli(farm, "nodes", "priority", "alpha", "42", check=False).returncode == 2
    after = node(farm, "alpha")
    for key in ("paused", "notes", "process_priority", "realtime_log", "excluded_templates"):
        assert after[key] == before[key], key
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=15)
    wait_for(lambda: not node(farm, "alpha")["online"], 10, "the node to go offline")
    with pytest.raises(ApiError) as caught:
        action(farm, "alpha", "kill")
    assert caught.value.status == 409


def test_two_instances_are_two_nodes_with_one_host_view(farm: Farm) -> None:
    farm.client("box", instances=2)
    online = farm.wait_nodes(2)
    assert sorted(n["name"] for n in online) == ["box", "box#1"]
    hosts = wait_for(
        lambda: (h := farm.request("GET", "/api/v1/hosts/")) and h[0]["resources"] and h,
        10,
        "a host view",
    )
    assert len(hosts) == 1
    assert [n["name"] for n in hosts[0]["nodes"]] == ["box", "box#1"]
    assert hosts[0]["resources"]["memory_total_bytes"] > 0
    assert "box, box#1" in cli(farm, "nodes", "hosts").stdout
