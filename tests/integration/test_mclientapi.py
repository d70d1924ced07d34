"""MClientAPI against a live dispatcher with a real render client.

Studio submission scripts shaped like Muster's (MUSTER-NOTES section 1: a job built with
MJob's setters, sent with ActionSendJob, a second job depending on the first) run as
written in the system `python3` with PYTHONPATH set to what `corral compat-path` prints;
the jobs render with the bundled Python script template. Then the queries, the session's
failures (a bad host or port in bounded time, a wrong password) and bad jobs (clear
errors, nothing queued)."""

from __future__ import annotations

import http.server
import json
import os
import shutil
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import MClientAPI
from tests.integration.farm import CORRAL, Farm

SYSTEM_PYTHON = shutil.which("python3", path="/usr/local/bin:/usr/bin:/bin") or "python3"
PYTHON_TEMPLATE_ID = 3  # the bundled "Python script" template (templates/python_script.py)

# The "scene" the Python script template runs: each frame writes a file and a log line.
RENDER = """
import os, sys, time
out = {out!r}
start, end = int(float(sys.argv[1])), int(float(sys.argv[2]))
for frame in range(start, end + 1):
    time.sleep({delay})
    with open(os.path.join(out, "frame_%04d.txt" % frame), "w") as handle:
        handle.write("frame %d of %s" % (frame, os.environ.get("CORRAL_START_FRAME")))
    print("rendered frame %d" % frame)
"""

# Shaped like S3: one job from MJob's setters, with MClientAPI's error checks.
S3_SCRIPT = """
import sys
import MClientAPI

err = MClientAPI.InitializeLibrary("")
if err.getErrorCode() != 0:
    print("InitializeLibrary failed: " + err.getDescription())
    sys.exit(1)
session = MClientAPI.InitializeSession()
err = MClientAPI.Connect(session, "{host}", {port})
if err.getErrorCode() != 0:
    print("Connect failed: " + err.getDescription())
    sys.exit(2)
err = MClientAPI.Authenticate(session, "{user}", "{password}")
if err.getErrorCode() != 0:
    print("Authenticate failed: " + err.getDescription())
    sys.exit(3)

job = MClientAPI.MJob()
job.setName("{name}")
job.setParentId(-1)
job.setDependMode(MClientAPI.MJob.kJobDependSuccess)
job.setJobType(MClientAPI.MJob.kJobTypeJob)
job.setPriority(65535)
job.setTemplateID({template})
job.setIncludedPools("common")
job.setPacketSize(2)
job.setMaximumNodes(0)
job.setProject("myproject")
job.setDepartment("lighting")
job.setLogsErrorCheckType(MClientAPI.MJob.kSkipWarnings)
job.attributeSetString("job_file", "{scene}")
job.attributeSetString("job_project", "/projects/myproject")
job.attributeSetString("output_folder", "{out}")
job.attributeSetString("job_notes", "submitted from a studio script")
job.attributeSetFloat("start_frame", 1)
job.attributeSetFloat("end_frame", 4)
job.attributeSetFloat("by_frame", 1)
err = MClientAPI.ActionSendJob(session, job)
if err.getErrorCode() != 0:
    print("ActionSendJob failed: " + err.getDescription())
    sys.exit(4)
print("job id: " + str(job.getJobId()))
MClientAPI.Disconnect(session)
"""

# Shaped like S4: a render job, then a job that waits for it (setDepends + success).
S4_SCRIPT = """
import sys
import MClientAPI

def check(err, what):
    if err.getErrorCode() != 0:
        print(what + " failed: " + err.getDescription())
        sys.exit(1)

check(MClientAPI.InitializeLibrary(""), "InitializeLibrary")
session = MClientAPI.InitializeSession()
check(MClientAPI.Connect(session, "{host}", {port}), "Connect")
check(MClientAPI.Authenticate(session, "{user}", "{password}"), "Authenticate")

render = MClientAPI.MJob()
render.setName("{name} render")
render.setTemplateID({template})
render.setParentId(-1)
render.setJobType(MClientAPI.MJob.kJobTypeJob)
render.setPriority(100)
render.setIncludedPools("common")
render.setPacketSize(1)
render.setPacketType(MClientAPI.kTemplateMultiframe)
render.setMaximumNodes(2)
render.attributeSetString("job_file", "{scene}")
render.attributeSetFloat("start_frame", 10)
render.attributeSetFloat("end_frame", 12)
render.attributeSetFloat("by_frame", 1)
check(MClientAPI.ActionSendJob(session, render), "ActionSendJob render")

publish = MClientAPI.MJob()
publish.setName("{name} publish")
publish.setTemplateID({template})
publish.setParentId(-1)
publish.setJobType(MClientAPI.MJob.kJobTypeJob)
publish.setPriority(100)
publish.setIncludedPools("common")
publish.setDepends(str(render.getJobId()))
publish.setDependMode(MClientAPI.MJob.kJobDependSuccess)
publish.attributeSetString("job_file", "{publish}")
publish.attributeSetFloat("start_frame", 1)
publish.attributeSetFloat("end_frame", 1)
check(MClientAPI.ActionSendJob(session, publish), "ActionSendJob publish")
print("jobs: %d %d" % (render.getJobId(), publish.getJobId()))
MClientAPI.Disconnect(session)
"""

PUBLISH = """
import os, sys
out = {out!r}
frames = sorted(name for name in os.listdir(out) if name.startswith("frame_"))
with open(os.path.join(out, "published.txt"), "w") as handle:
    handle.write(",".join(frames))
print("published %d frames" % len(frames))
"""


@pytest.fixture(scope="module")
def farm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Farm]:
    root = tmp_path_factory.mktemp("mclientapi")
    (root / "farm").mkdir()
    farm = Farm(root / "farm").start()
    farm.client("render1", "--pool", "common", instances=2)
    farm.wait_nodes(2)
    for name, permissions in (("td", ["submit", "manage_own"]), ("viewer", [])):
        farm.request(
            "POST",
            "/api/v1/users/",
            {"name": name, "password": f"{name} secret", "permissions": permissions},
        )
    yield farm
    farm.close()


def compat_port(farm: Farm) -> int:
    state = json.loads((farm.data_dir / "dispatcher.json").read_text())
    return int(state["compat_port"])


def compat_path() -> str:
    out = subprocess.run([CORRAL, "compat-path"], capture_output=True, text=True, check=True)
    return out.stdout.strip()


def run_script(source: str, home: Path, timeout_s: float = 120) -> subprocess.CompletedProcess[str]:
    """A studio script in the system python3, with only the compat folder added."""
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "PYTHONPATH": compat_path(), "HOME": str(home)}
    return subprocess.run(
        [SYSTEM_PYTHON, "-c", source], capture_output=True, text=True, env=env, timeout=timeout_s
    )


def session_of(farm: Farm, user: str = "td") -> MClientAPI.MSession:
    session = MClientAPI.InitializeSession()
    assert MClientAPI.Connect(session, "127.0.0.1", compat_port(farm)).getErrorCode() == 0
    assert MClientAPI.Authenticate(session, user, f"{user} secret").getErrorCode() == 0
    return session


def job_ids(farm: Farm) -> list[int]:
    return sorted(job["id"] for job in farm.request("GET", "/api/v1/jobs/"))


def scene(tmp_path: Path, out: Path, delay: float = 0.0) -> Path:
    path = tmp_path / "render.py"
    path.write_text(RENDER.format(out=str(out), delay=delay))
    return path


def test_s3_script_submits_a_job_that_renders(farm: Farm, tmp_path: Path) -> None:
    out = tmp_path / "frames"
    out.mkdir()
    source = S3_SCRIPT.format(
        host="127.0.0.1", port=compat_port(farm), user="td", password="td secret",
        name="shot010 lighting", template=PYTHON_TEMPLATE_ID, scene=scene(tmp_path, out),
        out=out,
    )  # fmt: skip
    result = run_script(source, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    job_id = int(result.stdout.strip().rsplit(" ", 1)[1])

    job = farm.job(job_id)
    assert (job["title"], job["template"], job["user"], job["priority"]) == (
        "shot010 lighting", "python", "td", 65535,
    )  # fmt: skip
    assert (job["start"], job["end"], job["batch"], job["pools"]) == (1, 4, 2, ["common"])
    assert (job["project"], job["department"], job["parent"]) == ("myproject", "lighting", -1)
    assert job["notes"] == "submitted from a studio script"
    assert job["data"]["logs_error_check"] == MClientAPI.MJob.kSkipWarnings
    assert job["data"]["job_file"] == str(tmp_path / "render.py")

    farm.wait_state(job_id, "done", timeout_s=90)
    assert sorted(path.name for path in out.iterdir()) == [
        f"frame_{frame:04d}.txt" for frame in range(1, 5)
    ]
    assert (out / "frame_0003.txt").read_text() == "frame 3 of 3"

    # The queries from the same library: the job, its chunks, their logs.
    session = session_of(farm)
    err, queried = MClientAPI.ActionGetJob(session, job_id)
    assert err.getErrorCode() == 0, err
    assert queried is not None
    assert (queried.getJobId(), queried.getName(), queried.getStatus()) == (
        job_id, "shot010 lighting", "done",
    )  # fmt: skip
    assert (queried.getTemplateID(), queried.getTemplateKey(), queried.getOwner()) == (
        PYTHON_TEMPLATE_ID, "python", "td",
    )  # fmt: skip
    assert queried.getProgress() == 100.0 and queried.getPacketSize() == 2
    assert queried.getLogsErrorCheckType() == MClientAPI.MJob.kSkipWarnings
    assert queried.attributeGetFloat("end_frame") == 4.0
    assert queried.getChunksCount()["done"] == 2

    err, chunks = MClientAPI.ActionGetChunks(session, job_id)
    assert err.getErrorCode() == 0, err
    assert [(c.getChunkId(), c.getStartFrame(), c.getEndFrame()) for c in chunks] == [
        (0, 1.0, 2.0), (1, 3.0, 4.0),
    ]  # fmt: skip
    assert all(c.getStatus() == MClientAPI.MChunk.kChunkDone for c in chunks)
    assert all(c.getNodeName().startswith("render1") and c.getExitCode() == 0 for c in chunks)
    assert all(c.getAttempts() == 1 and c.getEndTime() for c in chunks)
    err, text = MClientAPI.ActionGetChunkLog(session, job_id, 1)
    assert err.getErrorCode() == 0, err
    assert "rendered frame 3" in text and "rendered frame 4" in text
    assert "rendered frame 1" not in text
    err, text = MClientAPI.ActionGetChunkLog(session, job_id, 1, attempt=99)
    assert err.getErrorCode() == 404 and text == ""
    err, text = MClientAPI.ActionGetChunkLog(session, job_id, 7)
    assert err.getErrorCode() == 404, err
    assert MClientAPI.Disconnect(session).getErrorCode() == 0


def test_s4_script_dependency_waits_for_success(farm: Farm, tmp_path: Path) -> None:
    out = tmp_path / "frames"
    out.mkdir()
    publish = tmp_path / "publish.py"
    publish.write_text(PUBLISH.format(out=str(out)))
    source = S4_SCRIPT.format(
        host="127.0.0.1", port=compat_port(farm), user="td", password="td secret",
        name="shot020", template=PYTHON_TEMPLATE_ID, scene=scene(tmp_path, out, delay=0.5),
        publish=publish,
    )  # fmt: skip
    result = run_script(source, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    render_id, publish_id = (int(part) for part in result.stdout.split(":")[1].split())

    waiting = farm.job(publish_id)
    assert waiting["depends_on"] == [{"job": render_id, "mode": "success"}]
    assert farm.job(render_id)["max_nodes"] == 2
    done = farm.wait_state(render_id, "done", timeout_s=90)
    published = farm.wait_state(publish_id, "done", timeout_s=90)
    assert published["time_started"] >= done["time_finished"]
    # The publish job ran after every frame was there.
    assert (out / "published.txt").read_text() == ",".join(
        f"frame_{frame:04d}.txt" for frame in (10, 11, 12)
    )


def test_dependency_on_a_failed_job_never_runs(farm: Farm, tmp_path: Path) -> None:
    session = session_of(farm)
    broken = tmp_path / "broken.py"
    broken.write_text("raise RuntimeError('the scene is broken')\n")
    first = MClientAPI.MJob()
    first.setName("broken render")
    first.setTemplateID(PYTHON_TEMPLATE_ID)
    first.setIncludedPools("common")
    first.attributeSetString("job_file", str(broken))
    first.attributeSetFloat("start_frame", 1)
    first.attributeSetFloat("end_frame", 1)
    assert MClientAPI.ActionSendJob(session, first).getErrorCode() == 0
    after = MClientAPI.MJob()
    after.setName("after the broken render")
    after.setTemplateID("python")
    after.setIncludedPools("common")
    after.setDepends(first.getJobId())
    after.setDependMode(MClientAPI.MJob.kJobDependSuccess)
    marker = tmp_path / "ran.txt"
    (tmp_path / "mark.py").write_text(f"open({str(marker)!r}, 'w').write('ran')\n")
    after.attributeSetString("job_file", str(tmp_path / "mark.py"))
    assert MClientAPI.ActionSendJob(session, after).getErrorCode() == 0
    farm.request("PATCH", f"/api/v1/jobs/{first.getJobId()}", {"requeue": 0})
    farm.wait_state(first.getJobId(), "failed", timeout_s=60)
    err, chunks = MClientAPI.ActionGetChunks(session, first.getJobId())
    assert chunks[0].getStatus() == MClientAPI.MChunk.kChunkFailed
    err, text = MClientAPI.ActionGetChunkLog(session, first.getJobId(), 0)
    assert "the scene is broken" in text
    time.sleep(1.5)  # several scheduling rounds
    err, waiting = MClientAPI.ActionGetJob(session, after.getJobId())
    assert waiting is not None and waiting.getStatus() == "queued" and not marker.exists()
    assert waiting.getDepends() == str(first.getJobId())
    assert waiting.getDependMode() == MClientAPI.MJob.kJobDependSuccess
    MClientAPI.ActionDeleteJob(session, after.getJobId())


def test_queries_and_queue_actions(farm: Farm, tmp_path: Path) -> None:
    session = session_of(farm)
    err, templates = MClientAPI.ActionGetTemplates(session)
    assert err.getErrorCode() == 0
    by_id = {template.getID(): template for template in templates}
    assert by_id[PYTHON_TEMPLATE_ID].getKey() == "python"
    assert by_id[PYTHON_TEMPLATE_ID].getName() == "Python script"

    err, nodes = MClientAPI.ActionGetNodes(session)
    assert err.getErrorCode() == 0
    assert sorted(node.getInstance() for node in nodes) == [0, 1]
    assert all(node.getHostName() == "render1" and node.isOnline() for node in nodes)
    assert all(node.getPools() == "common" and node.getStatus() in (1, 2) for node in nodes)
    assert {node.getID() for node in nodes} == {node["id"] for node in farm.nodes()}

    # A folder, and a job in it that no node can take (its pool has none).
    folder = MClientAPI.MJob()
    folder.setName("sequence 030")
    folder.setJobType(MClientAPI.MJob.kJobTypeFolder)
    assert MClientAPI.ActionSendJob(session, folder).getErrorCode() == 0
    job = MClientAPI.MJob()
    job.setName("queued in a folder")
    job.setTemplateID(PYTHON_TEMPLATE_ID)
    job.setParentId(folder.getJobId())
    job.setIncludedPools("nowhere")
    job.setExcludedPools("slow")
    job.attributeSetString("job_file", "/nowhere/render.py")
    job.attributeSetFloat("start_frame", 1)
    job.attributeSetFloat("end_frame", 6)
    job.setPacketSize(3)
    assert MClientAPI.ActionSendJob(session, job).getErrorCode() == 0
    err, got = MClientAPI.ActionGetJob(session, folder.getJobId())
    assert got is not None and got.getJobType() == MClientAPI.MJob.kJobTypeFolder
    assert got.getName() == "sequence 030"
    err, got = MClientAPI.ActionGetJob(session, job.getJobId())
    assert got is not None and got.getParentId() == folder.getJobId()
    assert (got.getIncludedPools(), got.getExcludedPools(), got.getStatus()) == (
        "nowhere", "slow", "queued",
    )  # fmt: skip
    err, chunks = MClientAPI.ActionGetChunks(session, job.getJobId())
    assert [(c.getStatusName(), c.getNodeName(), c.getExitCode()) for c in chunks] == [
        ("queued", "", None)
    ] * 2
    err, text = MClientAPI.ActionGetChunkLog(session, job.getJobId(), 0)
    assert err.getErrorCode() == 404  # it never ran

    err, listed = MClientAPI.ActionGetJobs(session, owner="td")
    assert err.getErrorCode() == 0
    assert job.getJobId() in {item.getJobId() for item in listed}
    assert all(item.getOwner() == "td" for item in listed)
    err, in_folder = MClientAPI.ActionGetJobs(session, parentId=folder.getJobId())
    assert [item.getJobId() for item in in_folder] == [job.getJobId()]

    assert MClientAPI.ActionPauseJob(session, job.getJobId()).getErrorCode() == 0
    assert MClientAPI.ActionGetJob(session, job.getJobId())[1].isPaused()  # type: ignore[union-attr]
    assert MClientAPI.ActionResumeJob(session, job.getJobId()).getErrorCode() == 0
    assert not MClientAPI.ActionGetJob(session, job.getJobId())[1].isPaused()  # type: ignore[union-attr]
    assert MClientAPI.ActionReinitJob(session, job.getJobId()).getErrorCode() == 0
    assert MClientAPI.ActionDeleteJob(session, job.getJobId()).getErrorCode() == 0
    err, gone = MClientAPI.ActionGetJob(session, job.getJobId())
    assert (err.getErrorCode(), gone) == (404, None)
    assert MClientAPI.ActionDeleteJob(session, job.getJobId()).getErrorCode() == 404

    # Another user's job: the viewer reads but cannot change it.
    viewer = session_of(farm, "viewer")
    admins = farm.submit(title="the admin's", paused=True)["id"]
    assert MClientAPI.ActionGetJob(viewer, admins)[0].getErrorCode() == 0
    assert MClientAPI.ActionDeleteJob(viewer, admins).getErrorCode() == 403
    assert MClientAPI.ActionDeleteJob(session, admins).getErrorCode() == 403
    assert admins in job_ids(farm)


def test_connect_failures_are_errors_in_bounded_time(farm: Farm) -> None:
    session = MClientAPI.InitializeSession()
    session.setTimeout(2)
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    started = time.monotonic()
    err = MClientAPI.Connect(session, "127.0.0.1", closed)
    assert err.getErrorCode() == MClientAPI.kErrorConnectionFailed, err
    assert str(closed) in err.getDescription()
    # A host that takes the connection and never answers: timed out, within the timeout.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        before = time.monotonic()
        err = MClientAPI.Connect(session, "127.0.0.1", silent.getsockname()[1])
        assert err.getErrorCode() == MClientAPI.kErrorTimeout, err
        assert 1.5 < time.monotonic() - before < 6
    err = MClientAPI.Connect(session, "no-such-host.invalid", 9781)
    assert err.getErrorCode() != 0
    # The render port speaks Corral's render protocol, not HTTP.
    render_port = int(farm.render.rsplit(":", 1)[1])
    err = MClientAPI.Connect(session, "127.0.0.1", render_port)
    assert err.getErrorCode() != 0
    assert time.monotonic() - started < 15
    assert not session.isConnected()
    assert MClientAPI.ActionGetJobs(session)[0].getErrorCode() == MClientAPI.kErrorNotConnected

    # An HTTP server that is not Muster's REST API.
    class Plain(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b"<html>hello</html>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Plain)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        err = MClientAPI.Connect(session, "127.0.0.1", server.server_address[1])
        assert err.getErrorCode() == MClientAPI.kErrorProtocol, err
    finally:
        server.shutdown()
        server.server_close()
    # The dispatcher is still there, on both ports.
    assert MClientAPI.Connect(session, "127.0.0.1", compat_port(farm)).getErrorCode() == 0
    http_port = int(farm.url.rsplit(":", 1)[1])
    assert MClientAPI.Connect(session, farm.url.rsplit(":", 1)[0], http_port).getErrorCode() == 0


def test_wrong_password_and_missing_login(farm: Farm) -> None:
    before = job_ids(farm)
    session = MClientAPI.InitializeSession()
    assert MClientAPI.Connect(session, "127.0.0.1", compat_port(farm)).getErrorCode() == 0
    err = MClientAPI.Authenticate(session, "td", "not the password")
    assert err.getErrorCode() == 401, err
    assert not session.isAuthenticated()
    job = MClientAPI.MJob()
    job.setName("never sent")
    job.setTemplateID(PYTHON_TEMPLATE_ID)
    err = MClientAPI.ActionSendJob(session, job)
    assert err.getErrorCode() == MClientAPI.kErrorNotAuthenticated
    assert job.getJobId() == -1
    err, jobs = MClientAPI.ActionGetJobs(session)
    assert (err.getErrorCode(), jobs) == (MClientAPI.kErrorNotAuthenticated, [])
    assert MClientAPI.Authenticate(session, "nobody", "x").getErrorCode() == 401
    # The viewer logs in but may not submit.
    viewer = session_of(farm, "viewer")
    err = MClientAPI.ActionSendJob(viewer, job)
    assert err.getErrorCode() == 403, err
    assert job_ids(farm) == before


def test_bad_jobs_get_clear_errors_and_queue_nothing(farm: Farm, tmp_path: Path) -> None:
    session = session_of(farm)
    before = job_ids(farm)

    def base() -> MClientAPI.MJob:
        job = MClientAPI.MJob()
        job.setName("bad job")
        job.setTemplateID(PYTHON_TEMPLATE_ID)
        job.attributeSetString("job_file", "/nowhere/render.py")
        job.attributeSetFloat("start_frame", 1)
        job.attributeSetFloat("end_frame", 2)
        return job

    def refused(job: MClientAPI.MJob, code: int, words: str) -> None:
        err = MClientAPI.ActionSendJob(session, job)
        assert err.getErrorCode() == code, err
        assert words in err.getDescription(), err
        assert job.getJobId() == -1
        assert job_ids(farm) == before, "a refused job was queued"

    # Refused here, before sending.
    job = base()
    job.setPriority(70000)
    refused(job, MClientAPI.kErrorInvalidArgument, "setPriority")
    job = base()
    job.setDepends("12,twelve")
    refused(job, MClientAPI.kErrorInvalidArgument, "twelve")
    job = base()
    job.attributeSetString("memo", "x" * (MClientAPI.MAX_ATTRIBUTE_VALUE_CHARS + 1))
    refused(job, MClientAPI.kErrorInvalidArgument, "'memo'")
    # Refused by the dispatcher, naming the field.
    job = base()
    job.setTemplateID(999)
    refused(job, 400, "RequestData.job.templateId")
    job = base()
    job.setDepends("999999")
    refused(job, 404, "999999")
    job = base()
    job.attributeSetFloat("end_frame", -5)
    refused(job, 400, "end frame")
    job = base()
    job.setParentId(999999)
    refused(job, 404, "999999")
    job = base()
    job.attributeSetString("environmental_variables", "A='unclosed")
    refused(job, 400, "environmental_variables")
    # Oversized as a whole: each attribute within the limit, the request over the
    # dispatcher's (16 MiB).
    job = base()
    for number in range(17):
        job.attributeSetString(f"blob{number}", "x" * MClientAPI.MAX_ATTRIBUTE_VALUE_CHARS)
    refused(job, 413, "")
    # Still serving.
    good = base()
    good.setIncludedPools("nowhere")
    assert MClientAPI.ActionSendJob(session, good).getErrorCode() == 0
    assert MClientAPI.ActionDeleteJob(session, good.getJobId()).getErrorCode() == 0


def test_example_script_runs(farm: Farm, tmp_path: Path) -> None:
    example = Path(__file__).resolve().parents[2] / "examples" / "console" / "mclient_submit.py"
    out = tmp_path / "frames"
    out.mkdir()
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin", "PYTHONPATH": compat_path(),
        "HOME": str(tmp_path), "MUSTER_HOST": "127.0.0.1", "MUSTER_PORT": str(compat_port(farm)),
        "MUSTER_USER": "td", "MUSTER_PASSWORD": "td secret",
    }  # fmt: skip
    result = subprocess.run(
        [SYSTEM_PYTHON, str(example), str(scene(tmp_path, out)), "1", "2", "--wait"],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "done" in result.stdout and "rendered frame 2" in result.stdout
    assert sorted(os.listdir(out)) == ["frame_0001.txt", "frame_0002.txt"]


def muster_get(farm: Farm, path: str, **params: Any) -> tuple[int, dict[str, Any]]:
    """A Muster REST GET on the compat port, with the admin's token."""
    query = urllib.parse.urlencode({"authToken": farm.token, **params})
    url = f"http://127.0.0.1:{compat_port(farm)}{path}?{query}"
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        answer = json.loads(exc.read())
        assert answer["ResponseStatus"]["Code"] == exc.code and answer["ResponseData"] == {}
        return exc.code, answer


def test_muster_rest_reads_the_library_uses(farm: Farm, tmp_path: Path) -> None:
    out = tmp_path / "frames"
    out.mkdir()
    job = farm.submit(template="python", start=1, end=3, batch=1, pools=["common"],
                      data={"job_file": str(scene(tmp_path, out))})["id"]  # fmt: skip
    farm.wait_state(job, "done", timeout_s=90)
    actions = "/api/queue/actions"
    status, answer = muster_get(farm, actions, name="chunks", jobId=job, limit=2)
    assert status == 200, answer
    page = answer["ResponseData"]
    assert [chunk["chunkId"] for chunk in page["chunks"]] == [0, 1] and page["next"]
    status, answer = muster_get(farm, actions, name="chunks", jobId=job, after=page["next"])
    assert [chunk["chunkId"] for chunk in answer["ResponseData"]["chunks"]] == [2]
    assert answer["ResponseData"]["next"] is None
    status, answer = muster_get(farm, actions, name="chunks", jobId=job, state="failed")
    assert (status, answer["ResponseData"]["chunks"]) == (200, [])
    status, answer = muster_get(farm, actions, name="log", jobId=job, chunkId=2, maxBytes=5)
    assert status == 200 and answer["ResponseData"]["truncated"] is True
    assert len(answer["ResponseData"]["log"]) == 5
    status, answer = muster_get(farm, actions, name="log", jobId=job, chunkId=2, attempt=1)
    assert "rendered frame 3" in answer["ResponseData"]["log"]

    # Bad and hostile reads: the right code, the field named, the farm unchanged.
    for params, code in [
        ({"name": "chunks"}, 400),
        ({"name": "chunks", "jobId": f"{job},{job + 1}"}, 400),
        ({"name": "chunks", "jobId": "999999"}, 404),
        ({"name": "chunks", "jobId": job, "state": "exploded"}, 400),
        ({"name": "chunks", "jobId": job, "limit": 0}, 400),
        ({"name": "log", "jobId": job}, 400),
        ({"name": "log", "jobId": job, "chunkId": -1}, 400),
        ({"name": "log", "jobId": job, "chunkId": "x"}, 400),
        ({"name": "log", "jobId": job, "chunkId": 10**30}, 404),
        ({"name": "log", "jobId": job, "chunkId": 0, "attempt": 10**12}, 404),
        ({"name": "log", "jobId": job, "chunkId": 0, "maxBytes": 10**9}, 400),
        ({"name": "log", "jobId": "999999", "chunkId": 0}, 404),
        ({"name": "list", "jobId": "999999"}, 404),
        ({"name": "pause", "jobId": job}, 405),
    ]:
        status, answer = muster_get(farm, actions, **params)
        assert status == code, (params, answer)
    assert not farm.job(job)["paused"]

    status, answer = muster_get(farm, "/api/nodes/list", limit=1)
    assert status == 200 and len(answer["ResponseData"]["nodes"]) == 1
    status, rest = muster_get(farm, "/api/nodes/list", after=answer["ResponseData"]["next"])
    first, second = answer["ResponseData"]["nodes"][0], rest["ResponseData"]["nodes"][0]
    assert second["nodeId"] > first["nodeId"] and first["hostName"] == "render1"
    assert muster_get(farm, "/api/nodes/list", limit=0)[0] == 400
    assert muster_get(farm, "/api/nodes/list", after="not a cursor")[0] == 400
    assert muster_get(farm, "/api/nodes/list", authToken="wrong")[0] == 401
