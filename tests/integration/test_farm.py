"""End to end: a real dispatcher, real render clients, real child processes."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.integration.farm import CORRAL, ApiError, Farm, killed_during_submits


def record(path: Path, text: str = "run") -> list[str]:
    """A command that appends one line to `path` (a chunk's own evidence file)."""
    return ["sh", "-c", f'echo "{text}" >> "{path}"']


def timed(path: Path, sleep_s: float) -> list[str]:
    """A command that appends start and end times (ns) to `path` around a sleep."""
    return [
        "sh",
        "-c",
        f'echo "start $(date +%s%N)" >> "{path}"; sleep {sleep_s}; echo "end $(date +%s%N)" >> "{path}"',
    ]


def intervals(path: Path) -> tuple[int, int]:
    lines = dict(line.split() for line in path.read_text().splitlines())
    return int(lines["start"]), int(lines["end"])


def test_hundred_frames_every_chunk_started_exactly_once(farm: Farm, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    farm.client("alpha", instances=2)
    farm.client("beta", instances=2)
    job = farm.submit(
        title="hundred", frames="1-100", batch=10, command=record(out / "chunk_{start}-{end}.txt")
    )
    assert job["chunks"]["total"] == 10
    done = farm.wait_state(job["id"], "done", "failed")
    assert done["state"] == "done"
    files = sorted(out.iterdir())
    assert [f.name for f in files] == sorted(f"chunk_{s}-{s + 9}.txt" for s in range(1, 101, 10))
    for path in files:
        assert path.read_text().splitlines() == ["run"], path
    chunks = farm.chunks(job["id"])
    assert {chunk["state"] for chunk in chunks} == {"done"}
    assert all(chunk["attempts"] == 1 for chunk in chunks)


def test_frames_negative_fractional_and_by(farm: Farm, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    farm.client("alpha")
    job = farm.submit(title="odd frames", start=-2, end=1.5, by=0.5, batch=3,
                      command=record(out / "c_{start}_{end}.txt", "{frame}"))  # fmt: skip
    assert job["chunks"]["total"] == 3  # 8 frames in chunks of 3
    assert farm.wait_state(job["id"], "done", "failed")["state"] == "done"
    assert sorted(p.name for p in out.iterdir()) == ["c_-0.5_0.5.txt", "c_-2_-1.txt", "c_1_1.5.txt"]
    # {frame} runs one process per frame, in order.
    assert (out / "c_-2_-1.txt").read_text().split() == ["-2", "-1.5", "-1"]


def test_priority_then_submit_order(farm: Farm, tmp_path: Path) -> None:
    order = tmp_path / "order.txt"
    low = farm.submit(title="low", priority=10, frames="1-3", command=record(order, "low"))
    high = farm.submit(title="high", priority=90, frames="1-3", command=record(order, "high"))
    high2 = farm.submit(title="high2", priority=90, frames="1-3", command=record(order, "high2"))
    farm.client("solo")
    for job in (low, high, high2):
        farm.wait_state(job["id"], "done")
    assert order.read_text().split() == ["high"] * 3 + ["high2"] * 3 + ["low"] * 3


def test_pools_and_max_nodes(farm: Farm, tmp_path: Path) -> None:
    farm.client("gpu-box", "--pool", "gpu")
    farm.client("cpu-box", instances=2)
    farm.wait_nodes(3)
    gpu = farm.submit(title="gpu only", frames="1-6", pools=["gpu"], command=["true"])
    assert farm.wait_state(gpu["id"], "done")["state"] == "done"
    assert {chunk["node"] for chunk in farm.chunks(gpu["id"])} == {"gpu-box"}

    stamps = tmp_path / "stamps"
    stamps.mkdir()
    single = farm.submit(
        title="one at a time", frames="1-5", max_nodes=1, command=timed(stamps / "{start}.txt", 0.2)
    )
    farm.wait_state(single["id"], "done")
    spans = sorted(intervals(path) for path in stamps.iterdir())
    assert len(spans) == 5
    for (_, end), (start, _) in zip(spans, spans[1:], strict=False):
        assert start >= end, "two chunks of a max-nodes-1 job ran at once"


def test_dependency_modes(farm: Farm, tmp_path: Path) -> None:
    order = tmp_path / "order.txt"
    failing = farm.submit(title="fails", frames="1", requeue=0, command=["sh", "-c", "exit 3"])
    on_success = farm.submit(
        title="on success", depends_on=[failing["id"]], command=record(order, "success")
    )
    on_failure = farm.submit(title="on failure", depends_on=[{"job": failing["id"], "mode": "failure"}],
                             command=record(order, "failure"))  # fmt: skip
    always = farm.submit(title="always", depends_on=[{"job": failing["id"], "mode": "always"}],
                         command=record(order, "always"))  # fmt: skip
    farm.client("worker", instances=2)
    assert farm.wait_state(failing["id"], "failed")["failed_reason"]
    failed_chunk = farm.chunks(failing["id"])[0]
    assert failed_chunk["exit_code"] == 3 and failed_chunk["state"] == "failed"
    farm.wait_state(on_failure["id"], "done")
    farm.wait_state(always["id"], "done")
    assert sorted(order.read_text().split()) == ["always", "failure"]
    assert farm.job(on_success["id"])["state"] == "queued"
    why = farm.request("GET", f"/api/v1/jobs/{on_success['id']}/why")
    assert any(f"job {failing['id']}" in reason for reason in why["reasons"]), why


def test_per_frame_dependency_releases_frame_by_frame(farm: Farm, tmp_path: Path) -> None:
    stamps = tmp_path / "stamps"
    stamps.mkdir()
    first = farm.submit(title="A", frames="1-4", command=timed(stamps / "a{start}.txt", 0.4))
    second = farm.submit(title="B", frames="1-4", per_frame=True, depends_on=[first["id"]], priority=90,
                         command=timed(stamps / "b{start}.txt", 0.05))  # fmt: skip
    farm.client("w", instances=2)
    farm.wait_state(second["id"], "done")
    a = {n: intervals(stamps / f"a{n}.txt") for n in range(1, 5)}
    b = {n: intervals(stamps / f"b{n}.txt") for n in range(1, 5)}
    for n in range(1, 5):
        assert b[n][0] >= a[n][1], f"B frame {n} started before A frame {n} ended"
    # B's first frame did not wait for the whole of A.
    assert b[1][0] < a[4][1]


def test_submit_with_dependency_on_unknown_job_is_404(farm: Farm) -> None:
    with pytest.raises(ApiError) as caught:
        farm.submit(title="orphan", command=["true"], depends_on=[999])
    assert caught.value.status == 404
    assert farm.request("GET", "/api/v1/jobs/") == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"title": ""}, "title"),
        ({"title": "x", "batch": 0}, "batch"),
        ({"title": "x", "batch": "ten"}, "batch"),
        ({"title": "x", "frames": "1-"}, "frames"),
        ({"title": "x", "start": 10, "end": 1}, "end"),
        ({"title": "x", "by": -1}, "by"),
        ({"title": "x", "priority": 10**9}, "priority"),
        ({"title": "x", "template": "no-such-template"}, "template"),
        ({"title": "x", "bogus": 1}, "bogus"),
        ({"title": "x", "environ": {"A": 1}}, "environ.A"),
        ({"title": "x"}, "command"),  # a cmdline job runs its command: it needs one
        ({"no_title": True}, "title"),
        ([], None),
        ("just a string", None),
    ],
)
def test_malformed_submit_is_400_and_changes_nothing(
    farm: Farm, body: object, field: str | None
) -> None:
    with pytest.raises(ApiError) as caught:
        farm.request("POST", "/api/v1/jobs/", body)
    assert caught.value.status == 400, caught.value.body
    problem = caught.value.body
    assert problem["status"] == 400 and problem["detail"]
    if field is not None:
        assert problem.get("field") == field, problem
    assert farm.request("GET", "/api/v1/jobs/") == []


def test_invalid_json_and_oversized_bodies(farm: Farm) -> None:
    import urllib.request

    for data, status in ((b"{not json", 400), (b"[" + b"1," * (9 * 1024 * 1024) + b"1]", 413)):
        request = urllib.request.Request(farm.url + "/api/v1/jobs/", data=data, method="POST")
        request.add_header("Authorization", f"Bearer {farm.token}")
        request.add_header("Content-Type", "application/json")
        with pytest.raises(urllib.error.HTTPError) as caught:
            urllib.request.urlopen(request, timeout=30)
        assert caught.value.code == status
    assert farm.request("GET", "/api/v1/jobs/") == []


def test_missing_or_wrong_token_is_401(farm: Farm) -> None:
    for token in ("", "not-the-token"):
        with pytest.raises(ApiError) as caught:
            farm.request("GET", "/api/v1/jobs/", token=token)
        assert caught.value.status == 401
        assert caught.value.body["title"] == "Unauthorized"
    with pytest.raises(ApiError) as caught:
        farm.request("POST", "/api/v1/jobs/", {"title": "sneaky"}, token="wrong")
    assert caught.value.status == 401
    assert farm.request("GET", "/api/v1/jobs/") == []
    assert oct((farm.data_dir / "admin.token").stat().st_mode & 0o777) == "0o600"
    assert oct((farm.data_dir / "farm.secret").stat().st_mode & 0o777) == "0o600"


def test_render_client_with_wrong_secret_is_refused(farm: Farm, tmp_path: Path) -> None:
    wrong = tmp_path / "wrong.secret"
    wrong.write_text("not the farm secret\n")
    host, port = farm.render.rsplit(":", 1)
    result = subprocess.run(
        [CORRAL, "renderclient", "--dispatcher", f"127.0.0.1:{port}", "--name", "intruder",
         "--secret-file", str(wrong)],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert result.returncode == 3, result.stderr
    assert "secret" in (result.stderr + result.stdout).lower()
    assert farm.nodes() == []


def test_dispatcher_sigkill_during_submits_loses_nothing_acknowledged(
    make_farm, tmp_path: Path
) -> None:
    farm = make_farm()
    survivors = killed_during_submits(farm, threads=4, at_least=40, frames="1-2", command=["true"])
    assert survivors
    farm.start()
    ids = {job["id"] for job in farm.request("GET", "/api/v1/jobs/")}
    missing = set(survivors) - ids
    assert not missing, f"acknowledged jobs lost after kill -9: {sorted(missing)}"
    farm.client("after-crash", instances=2)
    for job_id in survivors:
        assert farm.wait_state(job_id, "done", "failed")["state"] == "done"


def test_why_explains_and_jobs_can_be_paused_and_deleted(farm: Farm) -> None:
    job = farm.submit(title="waiting", frames="1-2", command=["true"], paused=True)
    assert job["state"] == "paused"
    reasons = farm.request("GET", f"/api/v1/jobs/{job['id']}/why")["reasons"]
    assert "the job is paused" in reasons and "no render node is connected" in reasons
    farm.request("POST", f"/api/v1/jobs/{job['id']}/actions/resume")
    farm.client("late")
    assert farm.wait_state(job["id"], "done")["state"] == "done"
    farm.request("DELETE", f"/api/v1/jobs/{job['id']}")
    with pytest.raises(ApiError) as caught:
        farm.job(job["id"])
    assert caught.value.status == 404
