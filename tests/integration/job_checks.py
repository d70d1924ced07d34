"""The checks of the jobs and chunks functions, shared by MDispatcherAPI's tests (a
dispatcher-context script) and MConsoleAPI's (a console-context script).

Each check takes the farm (render node alpha with two instances) and `run`, which
runs a script body in its context, with the API bound to `api`, and returns the JSON
value the script printed last.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tests.integration.farm import ApiError, Farm, wait_for
from tests.integration.system_checks import Runner


def check_submit_list_get_and_chunks(farm: Farm, run: Runner, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    result = run(
        farm,
        f"""
        import json
        job = api.MJob()
        job.setName("from a script")
        job.setPriority(70)
        job.attributeSetFloat("start_frame", 1)
        job.attributeSetFloat("end_frame", 6)
        job.setPacketSize(2)
        job.setCommand(["sh", "-c", "touch {out}/c_{{start}}"])
        err = api.jobSubmit(job, "wrangler")
        new_id = job.getJobId()
        err_list, jobs = api.jobGetList()
        err_get, got = api.jobGet(new_id)
        err_chunks, chunks = api.chunkGetList(new_id)
        err_chunk, chunk = api.chunkGet(new_id, 2)
        print(json.dumps({{
            "codes": [e.getErrorCode() for e in (err, err_list, err_get, err_chunks, err_chunk)],
            "id": new_id, "names": [j.getName() for j in jobs], "owner": got.getOwner(),
            "priority": got.getPriority(), "chunks": [[c.getChunkId(), c.getStartFrame(), c.getEndFrame()] for c in chunks],
            "chunk": [chunk.getStartFrame(), chunk.getEndFrame(), chunk.getJobId()],
        }}))
    """,
    )
    assert result["codes"] == [0, 0, 0, 0, 0]
    assert "from a script" in result["names"]
    job = farm.job(result["id"])
    assert (job["title"], job["user"], job["priority"]) == ("from a script", "wrangler", 70)
    assert (result["owner"], result["priority"]) == ("wrangler", 70)
    assert result["chunks"] == [[0, 1.0, 2.0], [1, 3.0, 4.0], [2, 5.0, 6.0]]
    assert result["chunk"] == [5.0, 6.0, result["id"]]
    assert farm.wait_state(result["id"], "done")["state"] == "done"
    assert sorted(path.name for path in out.iterdir()) == ["c_1", "c_3", "c_5"]


def check_folders_edit_and_delete(farm: Farm, run: Runner) -> None:
    job = farm.submit(title="to edit", paused=True, command=["true"])
    result = run(
        farm,
        f"""
        import json
        err_folder, folder = api.jobAddFolder(-1, "wrangler", "shots")
        err_parent = api.jobReparent({job["id"]}, folder)
        err, job = api.jobGet({job["id"]})
        job.setPriority(91)
        job.setName("edited")
        job.setIncludedPools("gpu,cpu")
        err_edit = api.jobEdit(job)
        print(json.dumps({{"codes": [err_folder.getErrorCode(), err_parent.getErrorCode(), err_edit.getErrorCode()],
                          "folder": folder}}))
    """,
    )
    assert result["codes"] == [0, 0, 0]
    folder = farm.job(result["folder"])
    assert (folder["kind"], folder["title"], folder["user"]) == ("folder", "shots", "wrangler")
    edited = farm.job(job["id"])
    assert (edited["parent"], edited["priority"], edited["title"]) == (
        result["folder"],
        91,
        "edited",
    )
    assert edited["pools"] == ["gpu", "cpu"]
    deleted = run(
        farm,
        f"""
        import json
        refused = api.jobDelete({result["folder"]})
        ok = api.jobDelete({job["id"]})
        again = api.jobDelete({job["id"]})
        print(json.dumps([refused.getErrorCode(), ok.getErrorCode(), again.getErrorCode(), again.getDescription()]))
    """,
    )
    assert deleted[:3] == [4, 0, 3], deleted  # the folder is not empty; then gone
    assert "no job" in deleted[3]
    with pytest.raises(ApiError) as gone:
        farm.job(job["id"])
    assert gone.value.status == 404


def check_reinit_chunk_status_and_update(farm: Farm, run: Runner, tmp_path: Path) -> None:
    mark = tmp_path / "runs.txt"
    job = farm.submit(title="reinit me", frames="1-2", command=["sh", "-c", f"echo x >> {mark}"])
    farm.wait_state(job["id"], "done")
    held = farm.submit(title="held", frames="1-4", batch=2, paused=True, command=["true"])
    result = run(
        farm,
        f"""
        import json
        codes = [api.jobReinit({job["id"]}).getErrorCode()]
        codes.append(api.chunkSetStatus({held["id"]}, 0, api.MChunk.kChunkSkipped).getErrorCode())
        codes.append(api.chunkSetStatus({held["id"]}, 1, "done").getErrorCode())
        codes.append(api.jobUpdateStatus({held["id"]}).getErrorCode())
        bad = api.chunkSetStatus({held["id"]}, 9, "done")
        wrong = api.chunkSetStatus({held["id"]}, 0, "running")
        err, job = api.jobGet({held["id"]})
        codes.append(api.jobUpdate({held["id"]}).getErrorCode())
        print(json.dumps({{"codes": codes, "bad": bad.getErrorCode(), "wrong": wrong.getErrorCode(),
                          "state": str(job.getStatus())}}))
    """,
    )
    assert result["codes"] == [0, 0, 0, 0, 0]
    assert (result["bad"], result["wrong"]) == (3, 2)
    assert result["state"] == "done"
    assert farm.job(held["id"])["state"] == "done"
    assert [chunk["state"] for chunk in farm.chunks(held["id"])] == ["skipped", "done"]
    wait_for(
        lambda: mark.exists() and len(mark.read_text().split()) == 4,
        20,
        "the reinitialised job to run again",
    )
    assert farm.wait_state(job["id"], "done")["state"] == "done"
    assert all(chunk["attempts"] == 2 for chunk in farm.chunks(job["id"]))
    # jobUpdate made the job durable: another connection reads it from the file.
    with sqlite3.connect(farm.data_dir / "corral.db") as db:
        row = db.execute("SELECT chunk_status FROM jobs WHERE id = ?", (held["id"],)).fetchone()
    assert bytes(row[0]) == bytes([4, 2])
