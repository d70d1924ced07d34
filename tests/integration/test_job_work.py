"""POST /api/v1/jobs/actions/{action} on a live farm with a render client running a long
chunk: preempt, usurp, reset-failures, pause with stop_work and delete only when idle,
each all or none (an unknown job, a missing permission or bad input changes nothing), and
the `corral jobs preempt|usurp|reset-failures` commands."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.clirun import cli, user_token
from tests.integration.farm import ApiError, Farm, wait_for

pytestmark = pytest.mark.integration
ACTIONS = "/api/v1/jobs/actions/"


@pytest.fixture(scope="module")
def farm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Farm]:
    root = tmp_path_factory.mktemp("jobwork")
    farm = Farm(root / "data").start()
    try:
        farm.client("render-w")
        farm.wait_nodes(1)
        yield farm
    finally:
        farm.close()


@pytest.fixture(autouse=True)
def clean(farm: Farm) -> Iterator[None]:
    """Each test starts and ends with an empty queue (one node: one chunk runs at a time)."""
    yield
    jobs = [job["id"] for job in farm.request("GET", "/api/v1/jobs/")]
    if jobs:
        farm.request("POST", ACTIONS + "delete", {"jobs": jobs})


def running(farm: Farm, job_id: int) -> list[dict[str, Any]]:
    return [task for task in farm.chunks(job_id) if task["state"] == "running"]


def sleeper(farm: Farm, **fields: Any) -> int:
    """A one-chunk job that sleeps a minute, running on the node."""
    job_id = int(farm.submit(command=["sleep", "60"], **fields)["id"])
    wait_for(lambda: running(farm, job_id), 60, f"job {job_id} to run")
    return job_id


def attempts(farm: Farm, job_id: int) -> int:
    return int(farm.chunks(job_id)[0]["attempts"])


def refused(farm: Farm, action: str, body: Any, token: str | None = None) -> int:
    with pytest.raises(ApiError) as caught:
        farm.request("POST", ACTIONS + action, body, token=token)
    return caught.value.status


def test_preempt_requeues_the_running_chunk_and_leaves_the_job_queued(farm: Farm) -> None:
    job_id = sleeper(farm)
    answer = farm.request("POST", ACTIONS + "preempt", {"jobs": [job_id]})
    assert answer == {"jobs": [job_id], "chunks": {str(job_id): 1}}
    view = farm.job(job_id)
    assert not view["paused"] and view["state"] in ("queued", "running")
    wait_for(lambda: running(farm, job_id) and attempts(farm, job_id) >= 2, 60, "a new attempt")
    idle = int(farm.submit(paused=True)["id"])
    assert farm.request("POST", ACTIONS + "preempt", {"jobs": [idle]})["chunks"] == {str(idle): 0}


def test_an_unknown_job_among_several_changes_nothing(farm: Farm) -> None:
    job_id = sleeper(farm)
    other = int(farm.submit(paused=True)["id"])
    before = attempts(farm, job_id)
    for action, body in [
        ("preempt", {"jobs": [job_id, 999999]}),
        ("pause", {"jobs": [job_id, other, "no such title"], "stop_work": True}),
        ("delete", {"jobs": [other, 999999]}),
        ("reset-failures", {"jobs": [job_id, 999999]}),
        ("usurp", {"jobs": [999999]}),
    ]:
        assert refused(farm, action, body) == 404, action
    assert running(farm, job_id) and attempts(farm, job_id) == before
    assert not farm.job(job_id)["paused"] and farm.job(other)["id"] == other


def test_bad_bodies_are_400_and_an_unknown_action_404(farm: Farm) -> None:
    job_id = sleeper(farm)
    before = attempts(farm, job_id)
    for body in [
        {"jobs": []},
        {"jobs": "all"},
        {"jobs": [True]},
        {"jobs": [[job_id]]},
        {"jobs": [job_id], "surprise": 1},
        {"jobs": [job_id], "minimum_priority": "high"},
        [job_id],
        {"jobs": [job_id] * 10_001},
    ]:
        assert refused(farm, "preempt", body) == 400, body
    assert refused(farm, "usurp", {"jobs": [job_id], "minimum_priority": 1.5}) == 400
    assert refused(farm, "explode", {"jobs": [job_id]}) == 404
    assert running(farm, job_id) and attempts(farm, job_id) == before


def test_a_user_without_permission_changes_nothing(farm: Farm) -> None:
    theirs = sleeper(farm)
    token = user_token(farm, "worker", "submit", "manage_own")
    mine = int(farm.request("POST", "/api/v1/jobs/",
                            {"title": "worker's", "command": ["true"], "paused": True},
                            token=token)["id"])  # fmt: skip
    before = attempts(farm, theirs)
    assert refused(farm, "preempt", {"jobs": [mine, theirs]}, token) == 403
    assert refused(farm, "pause", {"jobs": [mine, theirs], "stop_work": True}, token) == 403
    assert refused(farm, "delete", {"jobs": [mine, theirs]}, token) == 403
    assert refused(farm, "reset-failures", {"jobs": [mine]}, token) == 403  # manage-nodes
    # usurping would preempt the admin's running job: refused as a whole
    assert refused(farm, "usurp", {"jobs": [mine], "minimum_priority": 100}, token) == 403
    assert running(farm, theirs) and attempts(farm, theirs) == before
    assert not farm.job(theirs)["paused"] and farm.job(mine)["id"] == mine
    assert farm.request("POST", ACTIONS + "preempt", {"jobs": [mine]}, token=token)["jobs"] == [
        mine
    ]
    with pytest.raises(ApiError) as caught:
        farm.request("POST", ACTIONS + "preempt", {"jobs": [theirs]}, token="not-a-token")
    assert caught.value.status == 401


def test_usurp_preempts_lower_priority_work_only(farm: Farm) -> None:
    low = sleeper(farm, priority=10)
    high = int(farm.submit(command=["sleep", "60"], priority=90)["id"])
    before = attempts(farm, low)
    answer = farm.request("POST", ACTIONS + "usurp", {"jobs": [high], "minimum_priority": 5})
    assert answer == {"jobs": [], "chunks": {}}  # 10 is not below 5
    assert running(farm, low) and attempts(farm, low) == before
    answer = farm.request("POST", ACTIONS + "usurp", {"jobs": [high]})
    assert answer == {"jobs": [low], "chunks": {str(low): 1}}
    wait_for(lambda: running(farm, high), 60, "the high job to take the node")
    assert not running(farm, low) and not farm.job(low)["paused"]


def test_pause_with_stop_work_and_delete_only_when_idle(farm: Farm) -> None:
    busy = sleeper(farm)
    idle = int(farm.submit(paused=True)["id"])
    assert refused(farm, "delete", {"jobs": [idle, busy], "stop_work": False}) == 409
    assert farm.job(idle)["id"] == idle and running(farm, busy)
    answer = farm.request("POST", ACTIONS + "pause", {"jobs": [busy, idle], "stop_work": True})
    assert answer["chunks"] == {str(busy): 1, str(idle): 0}
    assert farm.job(busy)["paused"] and not running(farm, busy)
    answer = farm.request("POST", ACTIONS + "delete", {"jobs": [busy, idle], "stop_work": False})
    assert answer == {"jobs": [busy, idle]}
    for job_id in (busy, idle):
        with pytest.raises(ApiError) as gone:
            farm.job(job_id)
        assert gone.value.status == 404
    again = sleeper(farm)
    answer = farm.request("POST", ACTIONS + "pause", {"jobs": [again]})  # work goes on
    assert answer["chunks"] == {str(again): 0} and running(farm, again)


def test_reset_failures_queues_failed_work_and_lifts_the_nodes_exclusion(
    farm: Farm, tmp_path: Path
) -> None:
    counter = tmp_path / "tries"
    # fails its first three runs (the node excludes the job after 3), then succeeds
    script = f'n=$(cat {counter} 2>/dev/null || echo 0); echo $((n+1)) > {counter}; [ "$n" -ge 3 ]'
    job_id = int(farm.submit(command=["sh", "-c", script], requeue=2)["id"])
    farm.wait_state(job_id, "failed")
    [node] = farm.nodes()
    assert job_id in node["excluded_jobs"]
    answer = farm.request("POST", ACTIONS + "reset-failures", {"jobs": [job_id]})
    assert answer == {"jobs": [job_id], "chunks": {str(job_id): 1}}
    farm.wait_state(job_id, "done")
    [node] = farm.nodes()
    assert job_id not in node["excluded_jobs"] and str(job_id) not in node["failures"]


def test_the_corral_commands(farm: Farm) -> None:
    low = sleeper(farm, priority=10)
    ran = cli(farm, "jobs", "preempt", str(low))
    assert ran.code == 0 and f"job {low}: 1 chunk(s) requeued" in ran.out
    wait_for(lambda: running(farm, low), 60, "the job to run again")
    high = int(farm.submit(command=["true"], priority=90, paused=True)["id"])
    answer = cli(farm, "jobs", "usurp", str(high), "--minimum-priority", "50", "--json").json()
    assert answer == {"jobs": [low], "chunks": {str(low): 1}}
    answer = cli(farm, "jobs", "reset-failures", str(high), "--json").json()
    assert answer == {"jobs": [high], "chunks": {str(high): 0}}
    missing = cli(farm, "jobs", "preempt", str(low), "no-such-job")
    assert missing.code != 0 and "no-such-job" in missing.err
