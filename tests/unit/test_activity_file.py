"""The activity log's file: its own removals are noticed at once, others' within a second."""

import time
from pathlib import Path

import pytest

from dispatcher import activity
from dispatcher.activity import ActivityLog
from dispatcher.store.sqlite import SqliteStore


def _lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


def test_a_removed_activity_file_is_made_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = SqliteStore(tmp_path / "corral.db")  # (recorded in memory only: never opened)
    log = ActivityLog(tmp_path / "logs", store)
    log.record("submitted", 1, title="a")
    (name,) = log.files.names()
    path = log.folder / name
    assert _lines(path)[-1].endswith("submitted job=1 title='a'")

    log.files.remove(name)  # removed by the dispatcher itself: the next line makes it again
    log.record("started", 1, title="a")
    assert len(_lines(path)) == 1 and "started job=1" in _lines(path)[0]

    path.unlink()  # removed behind its back: noticed at the next look, a second apart
    monkeypatch.setattr(activity, "FILE_RECHECK_S", 0.0)
    time.sleep(0.01)
    log.record("completed", 1, title="a")
    assert len(_lines(path)) == 1 and "completed job=1" in _lines(path)[0]
    log.close()
    assert [op for op, _ in store._pending.ops] == ["put_history"] * 3
