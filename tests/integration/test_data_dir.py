"""The data directory with real `corral dispatcher` processes: one dispatcher per folder,
clear start-up errors, WAL checkpoints, `corral store check|backup`, and what failures
taught surviving a restart."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path

from tests.integration.farm import CORRAL, Farm, wait_for
from tests.integration.mounts import read_only

EXIT_LOCKED = 5
EXIT_STORE = 6


def start_fails(data_dir: Path) -> tuple[int, str]:
    """Run a dispatcher that must refuse to start: (exit code, its one error line)."""
    result = subprocess.run(
        [CORRAL, "dispatcher", "--data-dir", str(data_dir), "--port", "0", "--http-port", "0",
         "--compat-port", "0"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert "Traceback" not in result.stderr, result.stderr
    assert not result.stdout.startswith("listening"), result.stdout
    errors = [line for line in result.stderr.splitlines() if line.startswith("corral: error:")]
    assert len(errors) == 1, result.stderr
    return result.returncode, errors[0]


def corral(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CORRAL, *args], capture_output=True, text=True, timeout=120)


def titles(farm: Farm) -> dict[str, int]:
    return {job["title"]: job["id"] for job in farm.request("GET", "/api/v1/jobs/")}


def stopped_farm(tmp_path: Path, jobs: int = 3) -> tuple[Path, dict[str, int]]:
    farm = Farm(tmp_path / "farm").start()
    try:
        for n in range(jobs):
            farm.submit(title=f"job {n}", data={"pad": "x" * 500})
        found = titles(farm)
    finally:
        farm.close()
    return farm.data_dir, found


def test_a_second_dispatcher_on_the_same_folder_exits_naming_the_first(tmp_path: Path) -> None:
    first = Farm(tmp_path / "farm").start()
    try:
        assert first.process is not None
        started = time.monotonic()
        code, line = start_fails(first.data_dir)
        assert code == EXIT_LOCKED and time.monotonic() - started < 20
        assert f"pid {first.process.pid}" in line and "another dispatcher" in line
        assert first.submit(title="still served")["id"] == 1
        first.stop(signal.SIGKILL)  # the kernel drops the lock of a killed holder
        first.start()
        assert "still served" in titles(first)
    finally:
        first.close()


def test_an_empty_database_next_to_a_farm_is_refused_and_the_token_kept(tmp_path: Path) -> None:
    data, _ = stopped_farm(tmp_path)
    token = (data / "admin.token").read_text()
    (data / "corral.db").write_bytes(b"")
    code, line = start_fails(data)
    assert code == EXIT_STORE and str(data / "corral.db") in line and "existing farm" in line
    assert (data / "admin.token").read_text() == token
    (data / "corral.db").unlink()
    code, line = start_fails(data)
    assert code == EXIT_STORE and "is missing" in line


def test_a_damaged_header_a_damaged_page_and_a_cut_file_are_named(tmp_path: Path) -> None:
    data, _ = stopped_farm(tmp_path, jobs=60)
    db = data / "corral.db"
    good = db.read_bytes()
    assert len(good) > 8 * 4096

    db.write_bytes(b"garbage!" * 16 + good[128:])
    code, line = start_fails(data)
    assert code == EXIT_STORE and str(db) in line and "header" in line

    page = 4096
    db.write_bytes(good[:page] + os.urandom(len(good) - page))
    code, line = start_fails(data)
    assert code == EXIT_STORE and str(db) in line and "damaged" in line

    db.write_bytes(good[: len(good) // 2])
    code, line = start_fails(data)
    assert code == EXIT_STORE and str(db) in line and "cut short" in line

    db.write_bytes(good)  # and the sound file starts
    Farm(data).start().close()


def test_a_read_only_data_directory_is_named(tmp_path: Path) -> None:
    data, _ = stopped_farm(tmp_path)
    with read_only(data, tmp_path / "ro") as seen:
        code, line = start_fails(seen)
    assert code == EXIT_STORE and str(seen) in line and "read-only" in line


def test_losing_the_wal_after_a_crash_loses_only_what_came_after_the_checkpoint(
    tmp_path: Path,
) -> None:
    farm = Farm(tmp_path / "farm", ["--checkpoint-interval-s", "0.5"]).start()
    try:
        for n in range(40):
            farm.submit(title=f"job {n}")
        time.sleep(1.0)
        farm.submit(title="trigger")  # its batch is followed by a checkpoint
        acked = set(titles(farm))
        farm.stop(signal.SIGKILL)
        wal = farm.data_dir / "corral.db-wal"
        assert wal.exists()
        wal.unlink()
        code, line = start_fails(farm.data_dir)
        assert code == EXIT_STORE and str(wal) in line and "corral.db-shm" in line
        (farm.data_dir / "corral.db-shm").unlink()  # the operator accepts the loss
        farm.start()
        survived = titles(farm)
        assert {f"job {n}" for n in range(40)} <= set(survived) <= acked
        assert farm.submit(title="new")["id"] > max(survived.values())
    finally:
        farm.close()


def test_store_check_and_an_online_backup_of_a_live_farm(tmp_path: Path) -> None:
    farm = Farm(tmp_path / "farm").start()
    try:
        for n in range(20):
            farm.submit(title=f"job {n}", data={"pad": "x" * 2000})
        before = set(titles(farm))
        checked = corral("store", "check", "--data-dir", str(farm.data_dir), "--json")
        assert checked.returncode == 0, checked.stderr
        report = json.loads(checked.stdout)
        assert report["ok"] is True and report["jobs"] == 20 and report["problems"] == []

        busy = threading.Event()

        def submit_meanwhile() -> None:
            while not busy.is_set():
                farm.submit(data={"pad": "y" * 2000})  # each under a title of its own

        writer = threading.Thread(target=submit_meanwhile)
        writer.start()
        try:
            copy = tmp_path / "backup.db"
            result = corral("store", "backup", str(copy), "--data-dir", str(farm.data_dir))
        finally:
            busy.set()
            writer.join()
        assert result.returncode == 0, result.stderr
        assert "backup" in result.stderr  # the progress bar
        assert (
            corral("store", "backup", str(copy), "--data-dir", str(farm.data_dir)).returncode == 1
        )
        assert corral("store", "check", "--db", str(copy)).returncode == 0
    finally:
        farm.close()

    # Restore: the copy replaces the farm's database (the farm is stopped).
    for name in ("corral.db-wal", "corral.db-shm"):
        (farm.data_dir / name).unlink(missing_ok=True)
    shutil.copy(copy, farm.data_dir / "corral.db")
    again = Farm(farm.data_dir).start()
    try:
        assert before <= set(titles(again))
    finally:
        again.close()

    damaged = tmp_path / "damaged.db"
    good = copy.read_bytes()
    damaged.write_bytes(good[:4096] + os.urandom(len(good) - 4096))
    result = corral("store", "check", "--db", str(damaged))
    assert result.returncode == 1 and "problem" in result.stderr


def test_what_failures_taught_survives_a_restart(tmp_path: Path) -> None:
    farm = Farm(tmp_path / "farm", ["--exclude-after-failures", "10"]).start()
    try:
        farm.client("bad")
        farm.wait_nodes(1)
        job = farm.submit(title="fails", requeue=2, command=["sh", "-c", "exit 3"])
        farm.wait_state(job["id"], "failed", timeout_s=30)

        def failures() -> dict[str, int]:
            (bad,) = [n for n in farm.nodes() if n["name"] == "bad"]
            detail: dict[str, int] = farm.request("GET", f"/api/v1/nodes/{bad['id']}")["failures"]
            return detail

        assert failures() == {str(job["id"]): 3}
        assert farm.stop() == 0
        farm.start()
        wait_for(lambda: failures() == {str(job["id"]): 3}, 5, "the failure count after restart")
    finally:
        farm.close()
