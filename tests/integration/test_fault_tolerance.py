"""Failures with real processes: killed and frozen render clients, hung renders, nodes
that always fail, exhausted retries, dispatcher restarts and SIGTERM.

Each chunk writes its own evidence (`start PID ATTEMPT NODE`, `end PID ATTEMPT`)
so the tests judge what really ran, not what the dispatcher says ran.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.integration.farm import Farm, wait_for
from tests.integration.test_node_control import action, alive, cli, evidence, lines, node

FAST_LOSS = ("--node-lost-after-s", "1.5")


def runs(farm: Farm, job_id: int, chunk: int = 0) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = farm.request(
        "GET", f"/api/v1/jobs/{job_id}/tasks/{farm.task(job_id, chunk)}"
    )["runs"]
    return found


def started_on(path: Path) -> tuple[int, str]:
    """(pid, node) of the first attempt once it has started."""
    fields = wait_for(lambda: lines(path, "start"), 15, "the first attempt")[0]
    return int(fields[0]), fields[2]


def test_sigkill_render_client_mid_chunk_completes_elsewhere(
    make_farm: Callable[..., Farm], tmp_path: Path
) -> None:
    farm = make_farm(*FAST_LOSS)
    out = tmp_path / "chunk.txt"
    clients = {"alpha": farm.client("alpha"), "beta": farm.client("beta")}
    farm.wait_nodes(2)
    job = farm.submit(title="survivor", command=evidence(out, then_s=0.2))
    pid, victim = started_on(out)
    clients[victim].send_signal(signal.SIGKILL)
    clients[victim].wait(timeout=10)
    wait_for(lambda: not alive(pid), 5, "the orphaned render to die with its client")
    farm.wait_state(job["id"], "done", timeout_s=15)
    starts = lines(out, "start")
    assert [att for _, att, _ in starts] == ["1", "2"]
    assert starts[1][2] != victim
    assert [att for _, att in lines(out, "end")] == ["2"]
    assert [run["state"] for run in runs(farm, job["id"])] == ["lost", "done"]
    assert farm.chunks(job["id"])[0]["failures"] == 0


def test_sigstop_past_the_lost_limit_then_sigcont(
    make_farm: Callable[..., Farm], tmp_path: Path
) -> None:
    farm = make_farm("--node-lost-after-s", "2.5")
    out = tmp_path / "chunk.txt"
    first = farm.client("alpha")
    farm.wait_nodes(1)
    job = farm.submit(title="frozen", command=evidence(out, sleep_first_s=9, then_s=0.2))
    pid, where = started_on(out)
    assert where == "alpha"
    first.send_signal(signal.SIGSTOP)
    try:
        # Offline after three missed heartbeats (0.6 s), its chunk still held for it.
        wait_for(
            lambda: not node(farm, "alpha")["online"] and node(farm, "alpha")["running"],
            2,
            "the node to show offline before it is lost",
        )
        farm.client("beta")
        farm.wait_state(job["id"], "done", timeout_s=15)  # attempt 2 ran on beta
        assert alive(pid)  # the frozen node's render still runs: it was not told yet
    finally:
        first.send_signal(signal.SIGCONT)
    wait_for(lambda: not alive(pid), 5, "the stale attempt to be killed on reconnect")
    time.sleep(0.5)  # let its (stale) result arrive and be dropped
    assert [att for _, att in lines(out, "end")] == ["2"]
    assert [(run["attempt"], run["state"]) for run in runs(farm, job["id"])] == [
        (1, "lost"),
        (2, "done"),
    ]
    assert farm.job(job["id"])["state"] == "done"
    log = (tmp_path / "farm0-dispatcher.log").read_text()
    assert "action=kill_stale" in log and "action=stale_result" in log


def test_chunk_past_its_time_limit_has_its_tree_killed_and_fails(
    farm: Farm, tmp_path: Path
) -> None:
    pids = tmp_path / "pids.txt"
    script = (
        f'sleep 60 & echo $! >> "{pids}"; setsid sleep 61 & echo $! >> "{pids}"; '
        f'echo $$ >> "{pids}"; wait'
    )
    farm.client("alpha")
    job = farm.submit(title="hangs", requeue=0, time_limit_s=1, command=["sh", "-c", script])
    failed = farm.wait_state(job["id"], "failed", timeout_s=15)
    assert "time limit" in failed["failed_reason"]
    tree = [int(pid) for pid in pids.read_text().split()]
    assert len(tree) == 3
    wait_for(lambda: not any(alive(pid) for pid in tree), 5, "the whole tree to be gone")
    assert [run["state"] for run in runs(farm, job["id"])] == ["failed"]


def test_always_failing_node_is_excluded_and_chunks_retry_elsewhere(
    farm: Farm, tmp_path: Path
) -> None:
    farm.client("bad")
    farm.wait_nodes(1)
    farm.client("good")
    farm.wait_nodes(2)
    script = 'if [ "$CORRAL_NODE" = bad ]; then exit 1; fi; sleep 0.3'
    job = farm.submit(title="picky", frames="1-6", requeue=3, command=["sh", "-c", script])
    farm.wait_state(job["id"], "done", timeout_s=20)
    bad = node(farm, "bad")
    assert bad["excluded_jobs"] == [job["id"]]
    assert bad["failures"] == {str(job["id"]): 3}
    retried = [c for c in farm.chunks(job["id"]) if c["failures"]]
    assert len(retried) == 3
    for chunk in retried:
        history = runs(farm, job["id"], chunk["chunk"])  # its 0-based number
        assert [run["state"] for run in history] == ["failed", "done"], history
        assert history[1]["node_id"] == node(farm, "good")["id"]
    shown = cli(farm, "nodes", "show", "bad").stdout
    assert f"excluded jobs: {job['id']}" in shown
    cli(farm, "nodes", "purge-exclusions", "bad", "--job", str(job["id"]))
    assert node(farm, "bad")["excluded_jobs"] == [] and node(farm, "bad")["failures"] == {}


def test_exhausted_retries_fail_the_job_and_dependants_follow_their_mode(
    farm: Farm, tmp_path: Path
) -> None:
    failing = farm.submit(title="doomed", requeue=1, command=["sh", "-c", "exit 3"])
    on_success = farm.submit(title="needs success", depends_on=[failing["id"]], command=["true"])
    on_failure = farm.submit(
        title="cleanup", depends_on=[{"job": failing["id"], "mode": "failure"}], command=["true"]
    )
    farm.client("alpha")
    failed = farm.wait_state(failing["id"], "failed", timeout_s=15)
    assert failed["failed_reason"].startswith("chunk 0 failed 2 times (last: ")
    assert "code 3" in failed["failed_reason"]
    assert [run["state"] for run in runs(farm, failing["id"])] == ["failed", "failed"]
    farm.wait_state(on_failure["id"], "done", timeout_s=10)
    time.sleep(0.3)
    assert farm.job(on_success["id"])["state"] == "queued"
    reasons = farm.request("GET", f"/api/v1/jobs/{on_success['id']}/why")["reasons"]
    assert any("chunk 0 failed 2 times" in reason for reason in reasons), reasons


def test_an_administrators_kill_counts_toward_neither_retries_nor_exclusion(
    farm: Farm, tmp_path: Path
) -> None:
    out = tmp_path / "chunk.txt"
    farm.client("alpha")
    script = (
        f'echo "start $$ $CORRAL_ATTEMPT" >> "{out}"; '
        'if [ "$CORRAL_ATTEMPT" -le 4 ]; then sleep 30; fi'
    )
    job = farm.submit(title="killed often", requeue=0, command=["sh", "-c", script])
    for attempt in range(1, 5):
        wait_for(lambda a=attempt: len(lines(out, "start")) >= a, 10, f"attempt {attempt}")
        action(farm, "alpha", "kill")
    farm.wait_state(job["id"], "done", timeout_s=15)
    assert farm.chunks(job["id"])[0]["failures"] == 0
    assert [run["state"] for run in runs(farm, job["id"])] == ["killed"] * 4 + ["done"]
    assert node(farm, "alpha")["excluded_jobs"] == []


def test_render_keeps_running_while_the_dispatcher_is_down(
    make_farm: Callable[..., Farm], tmp_path: Path
) -> None:
    farm = make_farm()
    out = tmp_path / "chunk.txt"
    farm.client("alpha", "--reconnect-max-s", "0.5")
    job = farm.submit(title="outlives", command=evidence(out, sleep_first_s=1.5))
    pid, _ = started_on(out)
    farm.stop(signal.SIGKILL)
    wait_for(lambda: lines(out, "end"), 10, "the render to finish without a dispatcher")
    assert lines(out, "end")[0][0] == str(pid)
    farm.start()
    farm.wait_state(job["id"], "done", timeout_s=15)
    assert [(run["attempt"], run["state"]) for run in runs(farm, job["id"])] == [(1, "done")]


def test_restarted_dispatcher_waits_the_reconnect_grace(
    make_farm: Callable[..., Farm], tmp_path: Path
) -> None:
    farm = make_farm("--reconnect-grace-s", "3")
    out = tmp_path / "chunk.txt"
    first = farm.client("alpha")
    script = (
        f'echo "start $$ $CORRAL_ATTEMPT $CORRAL_NODE $(date +%s.%N)" >> "{out}"; '
        'if [ "$CORRAL_ATTEMPT" = 1 ]; then sleep 30; fi'
    )
    job = farm.submit(title="in flight", command=["sh", "-c", script])
    pid, _ = started_on(out)
    farm.stop(signal.SIGKILL)
    first.send_signal(signal.SIGSTOP)  # it cannot come back in time
    try:
        # The grace starts once the new process has loaded, so after this moment
        # (measured after start() returns, a slow start would eat into the margin).
        restarting = time.time()
        farm.start()
        farm.client("beta")
        farm.wait_state(job["id"], "done", timeout_s=15)
        second = [fields for fields in lines(out, "start") if fields[1] == "2"][0]
        assert second[2] == "beta"
        assert float(second[3]) >= restarting + 3, "a new attempt started inside the grace"
    finally:
        first.send_signal(signal.SIGCONT)
    wait_for(lambda: not alive(pid), 10, "the stale attempt to be killed when alpha returns")
    assert [(run["attempt"], run["state"]) for run in runs(farm, job["id"])] == [
        (1, "lost"),
        (2, "done"),
    ]


def test_sigterm_dispatcher_flushes_and_running_work_is_kept(
    make_farm: Callable[..., Farm], tmp_path: Path
) -> None:
    farm = make_farm()
    out = tmp_path / "chunk.txt"
    farm.client("alpha", "--reconnect-max-s", "0.5")
    job = farm.submit(title="graceful", command=evidence(out, sleep_first_s=2))
    started_on(out)
    notes = [
        farm.submit(title=f"queued {n}", paused=True, command=["true"])["id"] for n in range(20)
    ]
    assert farm.stop(signal.SIGTERM) == 0
    farm.start()
    ids = {listed["id"] for listed in farm.request("GET", "/api/v1/jobs/")}
    assert set(notes) <= ids
    farm.wait_state(job["id"], "done", timeout_s=15)
    assert [(run["attempt"], run["state"]) for run in runs(farm, job["id"])] == [(1, "done")]


def test_sigterm_render_client_hands_its_chunk_back(farm: Farm, tmp_path: Path) -> None:
    out = tmp_path / "chunk.txt"
    first = farm.client("alpha", "--shutdown-grace-s", "5")
    farm.wait_nodes(1)
    job = farm.submit(title="handed back", command=evidence(out, then_s=0.1))
    pid, _ = started_on(out)
    farm.client("beta")
    farm.wait_nodes(2)
    first.send_signal(signal.SIGTERM)
    assert first.wait(timeout=15) == 0
    assert not alive(pid)
    farm.wait_state(job["id"], "done", timeout_s=15)
    assert [run["state"] for run in runs(farm, job["id"])] == ["killed", "done"]
    assert farm.chunks(job["id"])[0]["failures"] == 0
    assert [att for _, att in lines(out, "end")] == ["2"]


def test_sigterm_with_finish_on_shutdown_lets_the_chunk_finish(farm: Farm, tmp_path: Path) -> None:
    out = tmp_path / "chunk.txt"
    first = farm.client("alpha", "--finish-on-shutdown", "--shutdown-grace-s", "10")
    job = farm.submit(title="finished", command=evidence(out, sleep_first_s=1.5))
    started_on(out)
    first.send_signal(signal.SIGTERM)
    assert first.wait(timeout=15) == 0
    assert [att for _, att in lines(out, "end")] == ["1"]
    farm.wait_state(job["id"], "done", timeout_s=10)
    assert [(run["attempt"], run["state"]) for run in runs(farm, job["id"])] == [(1, "done")]
