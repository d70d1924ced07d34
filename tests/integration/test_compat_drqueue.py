"""`import drqueue` (seed 004) against a live dispatcher with a real render client: the
seed's examples as written (with SEED-NOTES' corrections), run by the system Python
with PYTHONPATH from `corral compat-path`, and every call's failures."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.farm import Farm, wait_for
from tests.integration.restkit import make_user
from tests.integration.seedrun import base_env, old_python, run_ok, run_python, system_python

SLAVE = "slave001"


@pytest.fixture(scope="module")
def farm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Farm]:
    root = tmp_path_factory.mktemp("compat-drqueue")
    farm = Farm(root / "farm").start()
    farm.client(SLAVE)
    farm.wait_nodes(1)
    yield farm
    farm.close()


@pytest.fixture
def env(farm: Farm, tmp_path: Path) -> dict[str, str]:
    """A DrQueue user's environment: DRQUEUE_MASTER as host:port, the token in CORRAL_TOKEN."""
    return base_env(tmp_path, DRQUEUE_MASTER=farm.url.split("://")[1], CORRAL_TOKEN=farm.token)


def node(farm: Farm) -> dict:
    return next(n for n in farm.nodes() if n["name"] == SLAVE)


def chunk_log(farm: Farm, job_id: int, chunk: int = 0) -> str:
    text: str = farm.request("GET", f"/api/v1/jobs/{job_id}/tasks/{farm.task(job_id, chunk)}/log")
    return text


def test_request_job_list_example(farm: Farm, env: dict[str, str]) -> None:
    lines = run_ok(
        """
        import drqueue
        job_list = drqueue.request_job_list(drqueue.CLIENT)
        print(len (job_list))
        """,
        env,
    )
    jobs = [job for job in farm.request("GET", "/api/v1/jobs/") if job["kind"] == "job"]
    assert lines == [str(len(jobs))]


def test_job_instance_example_renders(farm: Farm, env: dict[str, str]) -> None:
    lines = run_ok(
        """
        import drqueue
        job = drqueue.job()
        job.name = "Test python job"
        job.frame_start = 1
        job.frame_end = 10
        job.cmd = "ls -al"
        job.priority = 100
        print(job.send_to_queue())
        print(job.id)
        """,
        env,
    )
    assert lines[0] == "1"  # "indicates success"
    job_id = int(lines[1])  # "the job id number assigned by the master"
    job = farm.wait_state(job_id, "done")
    assert (job["title"], job["priority"], job["template"]) == ("Test python job", 100, "cmdline")
    assert (job["start"], job["end"], job["by"], job["batch"]) == (1, 10, 1, 1)
    assert job["command"] == ["ls", "-al"] and job["chunks"]["done"] == 10
    assert "total" in chunk_log(farm, job_id, 9)  # ls -al really ran on the render client
    # The same name again is a new job: DrQueue's names need not be unique.
    again = run_ok(
        """
        import drqueue
        job = drqueue.job()
        job.name = "Test python job"
        job.cmd = "true"
        print(job.send_to_queue(), job.id)
        """,
        env,
    )
    assert again[0].split()[0] == "1" and int(again[0].split()[1]) > job_id


def test_computer_example(farm: Farm, env: dict[str, str]) -> None:
    # The seed's computer starts disabled ("0 ... nopes, it's disabled").
    farm.request("POST", f"/api/v1/nodes/{node(farm)['id']}/actions/pause")
    where = f"/api/v1/nodes/{node(farm)['id']}"
    wait_for(lambda: farm.request("GET", where)["resources"], 30, "the node's resources")
    lines = run_ok(
        """
        import drqueue
        computer_list = drqueue.request_computer_list(drqueue.CLIENT)
        print(len (computer_list))
        computer = computer_list[0]
        print(computer.hwinfo.name)
        print(computer.hwinfo.ncpus)
        print(computer.limits.enabled)
        print(computer.request_enable(drqueue.CLIENT))
        print(computer.update(drqueue.CLIENT))
        print(computer.limits.enabled)
        print(computer.hwinfo.id, computer.status.online, drqueue.osstring(computer.hwinfo.os),
              computer.hwinfo.arch, computer.hwinfo.nnbits, computer.hwinfo.memory > 0)
        print(computer.request_disable(drqueue.CLIENT), computer.limits.enabled)
        print(computer.request_enable(drqueue.CLIENT), computer.limits.enabled)
        """,
        env,
    )
    assert lines[:7] == ["1", SLAVE, str(node(farm)["cpus"]), "0", "1", "1", "1"]
    assert lines[7] == f"{node(farm)['id']} 1 Linux 0 0 True"
    assert lines[8:] == ["1 0", "1 1"]
    assert node(farm)["paused"] is False


def test_slave_limits_example(farm: Farm, env: dict[str, str]) -> None:
    # 'slave001' and 'slave0001' name the same computer (SEED-NOTES).
    done = run_python(
        """
        import drqueue
        try:
            drlist = drqueue.request_computer_list(drqueue.CLIENT) # retrieves the list from the master. raises exception on error.
        except:
            drlist = None
            print("Could not retrieve list of slaves")

        found = 0
        for tcomp in drlist:
            if tcomp.hwinfo.name == 'slave001': # compare it's name as a string
                compid = tcomp.hwinfo.id # get the id as an integer
                found = 1

        if found: # this function requests the slave named 'slave001' to set it's limit of available cpus to 4
            rcode = drqueue.request_slave_limits_nmaxcpus_set ('slave001',4,drqueue.CLIENT)
            print(found, compid, rcode)
        """,  # noqa: E501
        env,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["1", str(node(farm)["id"]), "0"]
    assert "not supported" in done.stderr and "--instances" in done.stderr


def test_frames_blocks_and_frame_list(farm: Farm, env: dict[str, str]) -> None:
    lines = run_ok(
        """
        import time, drqueue
        job = drqueue.job()
        job.name = "blocks"
        job.frame_start, job.frame_end, job.frame_step, job.block_size = 10, 18, 2, 2
        job.cmd = "python3 -c 'import os, sys; print(\\"frame\\", sys.argv[1], os.environ[\\"DRQUEUE_ENDFRAME\\"])' $DRQUEUE_FRAME"
        job.envvars = {"SHOT": "sh010"}
        assert job.send_to_queue() == 1
        for _ in range(600):
            assert job.update(drqueue.CLIENT) == 1
            if job.status == drqueue.JOBSTATUS_FINISHED:
                break
            time.sleep(0.1)
        print(drqueue.job_status_string(job.status), job.fdone, job.fleft, job.ffailed, job.nprocs)
        frames = job.request_frame_list(drqueue.CLIENT)
        print(len(frames), sorted({f.status for f in frames}), {f.icomp for f in frames} == {frames[0].icomp})
        print([job.job_frame_index_to_number(i) for i in range(len(frames))])
        print(job.job_frame_number_to_index(14), frames[0].start_time > 0, frames[0].exitcode)
        print(job.id, job.envvars, job.block_size, job.frame_step)
        for bad in (-1, 5, "1"):
            try:
                job.job_frame_index_to_number(bad)
            except IndexError as exc:
                print("IndexError", exc)
        """,  # noqa: E501
        env,
    )
    assert lines[0] == "Finished 5 0 0 0"
    assert lines[1] == "5 [3] True"
    assert lines[2] == "[10, 12, 14, 16, 18]"
    assert lines[3] == "2 True 0"
    job_id = int(lines[4].split()[0])
    assert lines[4].endswith("{'SHOT': 'sh010'} 2 2")
    assert [line.split()[0] for line in lines[5:]] == ["IndexError"] * 3
    job = farm.job(job_id)
    assert job["chunks"]["total"] == 3 and job["environ"]["SHOT"] == "sh010"
    assert "frame 10 18" in chunk_log(farm, job_id, 0)
    assert "frame 18 18" in chunk_log(farm, job_id, 2)


def test_stop_hard_stop_continue_rerun_delete(farm: Farm, env: dict[str, str]) -> None:
    lines = run_ok(
        """
        import drqueue
        job = drqueue.job()
        job.name = "long"
        job.frame_end = 2
        job.cmd = "sleep 60"
        job.limits.nmaxcpus = 1
        print(job.send_to_queue(), job.id)
        """,
        env,
    )
    job_id = int(lines[0].split()[1])
    assert farm.job(job_id)["max_nodes"] == 1
    wait_for(lambda: farm.job(job_id)["chunks"]["running"] == 1, 30, "a running frame")
    script = """
        import drqueue, sys
        job = drqueue.request_job({job_id}, drqueue.CLIENT)
        print(job.status == drqueue.JOBSTATUS_ACTIVE, job.nprocs, job.limits.nmaxcpus)
        print(job.{method}(drqueue.CLIENT), drqueue.job_status_string(job.status))
        """
    stop = run_ok(script.format(job_id=job_id, method="request_stop"), env)
    assert stop == ["True 1 1", "1 Stopped"]
    assert farm.job(job_id)["paused"] and farm.job(job_id)["chunks"]["running"] == 1
    hard = run_ok(script.format(job_id=job_id, method="request_hard_stop"), env)
    assert hard[1] == "1 Stopped"
    wait_for(lambda: farm.job(job_id)["chunks"]["running"] == 0, 30, "the frame killed")
    assert farm.job(job_id)["chunks"]["queued"] == 2
    more = run_ok(
        f"""
        import drqueue
        job = drqueue.request_job({job_id}, drqueue.CLIENT)
        print(job.request_continue(drqueue.CLIENT), drqueue.job_status_string(job.status))
        print(job.request_rerun(drqueue.CLIENT))
        print(drqueue.request_job_stop({job_id}, drqueue.CLIENT),
              drqueue.request_job_continue({job_id}, drqueue.CLIENT),
              drqueue.request_job_hstop({job_id}, drqueue.CLIENT),
              drqueue.request_job_rerun({job_id}, drqueue.CLIENT))
        print(job.request_delete(drqueue.CLIENT))
        print(job.update(drqueue.CLIENT))
        """,
        env,
    )
    assert more[0] in ("1 Waiting", "1 Active") and more[1:4] == ["1", "1 1 1 1", "1"]
    assert more[4] == "0"  # the job is gone
    assert all(job["id"] != job_id for job in farm.request("GET", "/api/v1/jobs/"))


def test_rerun_queues_finished_frames_again(farm: Farm, env: dict[str, str]) -> None:
    """request_rerun on a finished, stopped job: every frame waits again, and they render
    again once the job continues."""
    lines = run_ok(
        """
        import time, drqueue
        job = drqueue.job()
        job.name, job.frame_end, job.cmd = "rerun me", 2, "echo rendered $DRQUEUE_FRAME"
        assert job.send_to_queue() == 1
        while job.update(drqueue.CLIENT) == 1 and job.status != drqueue.JOBSTATUS_FINISHED:
            time.sleep(0.1)
        print(job.id, job.fdone, job.request_stop(drqueue.CLIENT))
        print(job.request_rerun(drqueue.CLIENT), job.fdone, job.fleft)
        """,
        env,
    )
    job_id, done_before, stopped = (int(part) for part in lines[0].split())
    assert (done_before, stopped) == (2, 1)
    assert lines[1] == "1 0 2"
    held = farm.job(job_id)
    assert held["paused"] and held["chunks"]["queued"] == 2 and held["chunks"]["done"] == 0
    assert run_ok(f"import drqueue; print(drqueue.request_job_continue({job_id}, 0))", env) == ["1"]
    assert farm.wait_state(job_id, "done")["chunks"]["done"] == 2


def test_pool_memory_and_dependency_limits(farm: Farm, env: dict[str, str]) -> None:
    """limits.pool, limits.memory and dependid reach the Corral job, and read back."""
    farm.request("POST", "/api/v1/pools/", {"name": "drq-gpu"})
    lines = run_ok(
        """
        import drqueue
        first = drqueue.job()
        first.name, first.cmd = "first", "true"
        first.limits.pool = "drq-gpu"  # no node is in it: the job waits
        first.limits.memory = 512
        assert first.send_to_queue() == 1
        second = drqueue.job()
        second.name, second.cmd, second.dependid = "second", "true", first.id
        assert second.send_to_queue() == 1
        again = drqueue.request_job(first.id, drqueue.CLIENT)
        later = drqueue.request_job(second.id, drqueue.CLIENT)
        print(first.id, second.id, again.limits.pool, again.limits.memory, later.dependid)
        """,
        env,
    )
    first_id, second_id, pool, memory, dependid = lines[0].split()
    assert (pool, memory, dependid) == ("drq-gpu", "512", first_id)
    first, second = farm.job(int(first_id)), farm.job(int(second_id))
    assert (first["pools"], first["memory_mb"], first["state"]) == (["drq-gpu"], 512, "queued")
    assert [dep["job"] for dep in second["depends_on"]] == [int(first_id)]
    for job_id in (second_id, first_id):
        farm.request("DELETE", f"/api/v1/jobs/{job_id}")


def test_bad_input_queues_nothing(farm: Farm, env: dict[str, str]) -> None:
    before = len(farm.request("GET", "/api/v1/jobs/"))
    done = run_python(
        """
        import drqueue
        def fresh(**fields):
            job = drqueue.job()
            job.name, job.cmd = "bad", "true"
            for name, value in fields.items():
                setattr(job, name, value)
            return job
        print(fresh(cmd="").send_to_queue())
        print(fresh(name=" ").send_to_queue())
        print(fresh(frame_start=5, frame_end=1).send_to_queue())
        print(fresh(block_size=0).send_to_queue())
        print(fresh(priority=70000).send_to_queue())
        print(fresh(cmd="echo 'unclosed").send_to_queue())
        print(fresh(dependid=99999).send_to_queue())
        job = fresh(); job.limits.nmaxcpus = -2
        print(job.send_to_queue())
        print(fresh(frame_end="10").send_to_queue(), fresh(envvars="A=1").send_to_queue())
        job = fresh(); job.limits.nmaxcpuscomputer = 0
        print(job.send_to_queue())
        print(fresh(priority=object()).send_to_queue())
        try:
            job.email = "x@y"
        except AttributeError:
            print("AttributeError")
        for call in (lambda: drqueue.request_job_list(7), lambda: fresh().update("CLIENT")):
            try:
                call()
            except ValueError:
                print("ValueError")
        print(drqueue.job().update(drqueue.CLIENT), drqueue.job().request_stop(drqueue.CLIENT))
        for shell in ("ls -al | wc -l", "render > log.txt", "a && b", "echo $(date)",
                      "echo `date`", "cmd 2>&1"):
            print(fresh(cmd=shell).send_to_queue())
        quoted = fresh(cmd='grep "|" notes.txt', frame_end=1)
        print(quoted.send_to_queue(), quoted.request_delete(drqueue.CLIENT))
        """,
        env,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["0"] * 12 + [
        "AttributeError",
        "ValueError",
        "ValueError",
        "0",
        "0",
    ] + ["0"] * 6 + ["1", "1"]  # a quoted "|" is an argument, not a pipe
    errors = done.stderr.splitlines()
    assert "needs a cmd" in errors[0] and "needs a name" in errors[1]
    assert "frame_end" in errors[2] and "block_size" in errors[3]
    assert "priority" in errors[4] and "HTTP 400" in errors[4]
    assert "cmd:" in errors[5] and "HTTP 404" in errors[6] and "nmaxcpus" in errors[7]
    assert "frame_end must be a number" in errors[8] and "envvars must be a dict" in errors[9]
    assert "not supported: limits.nmaxcpuscomputer" in errors[10]
    assert "the job cannot be sent" in errors[11]
    assert "send_to_queue() it first" in errors[12]
    shell = [line for line in errors[13:] if "shell syntax" in line]
    assert len(shell) == 6 and all("not supported: cmd: shell syntax" in line for line in shell)
    assert [line.split("shell syntax (")[1].split(")")[0] for line in shell] == [
        "'|'", "'>'", "'&&'", "'('", "'`'", "'>&'"]  # fmt: skip
    assert len(farm.request("GET", "/api/v1/jobs/")) == before


def test_unknown_ids_and_slaves(farm: Farm, env: dict[str, str]) -> None:
    done = run_python(
        """
        import drqueue
        try:
            drqueue.request_job(99999, drqueue.CLIENT)
        except drqueue.DrQueueError as exc:
            print("DrQueueError", exc.status)
        print(drqueue.request_job_delete(99999, drqueue.CLIENT))
        print(drqueue.request_slave_limits_enabled_set("nosuch", 1, drqueue.CLIENT))
        print(drqueue.request_slave_limits_nmaxcpus_set("nosuch", 4, drqueue.CLIENT))
        print(drqueue.request_slave_limits_nmaxcpus_set("slave001", -1, drqueue.CLIENT))
        computer = drqueue.computer()
        print(computer.update(drqueue.CLIENT), computer.request_enable(drqueue.CLIENT))
        """,
        env,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["DrQueueError", "404", "0", "0", "0", "0", "0", "0"]
    assert "no slave named 'nosuch'" in done.stderr and "HTTP 404" in done.stderr


def test_enable_disable_by_name(farm: Farm, env: dict[str, str]) -> None:
    lines = run_ok(
        """
        import drqueue
        print(drqueue.request_slave_limits_enabled_set("slave001", 0, drqueue.CLIENT))
        print(drqueue.request_computer_list(drqueue.CLIENT)[0].limits.enabled)
        print(drqueue.request_slave_limits_enabled_set("slave001", 1, drqueue.CLIENT))
        """,
        env,
    )
    assert lines == ["1", "0", "1"]
    assert node(farm)["paused"] is False


def test_unauthorised_tokens(farm: Farm, env: dict[str, str]) -> None:
    bogus = {**env, "CORRAL_TOKEN": "not-a-token"}
    done = run_python(
        """
        import drqueue
        try:
            drqueue.request_job_list(drqueue.CLIENT)
        except drqueue.DrQueueError as exc:
            print("DrQueueError", exc.status)
        job = drqueue.job(); job.name, job.cmd = "x", "true"
        print(job.send_to_queue())
        """,
        bogus,
    )
    assert done.stdout.split() == ["DrQueueError", "401", "0"] and "HTTP 401" in done.stderr
    # A submitter may not enable or disable nodes, nor manage another user's job.
    token = make_user(farm, "drq-artist", "submit", "manage_own")
    theirs = farm.submit(title="admin's job", command=["true"], paused=True)
    artist = {**env, "CORRAL_TOKEN": token}
    done = run_python(
        f"""
        import drqueue
        computer = drqueue.request_computer_list(drqueue.CLIENT)[0]
        print(computer.request_disable(drqueue.CLIENT))
        print(drqueue.request_job_delete({theirs["id"]}, drqueue.CLIENT))
        job = drqueue.job(); job.name, job.cmd, job.owner = "as admin", "true", "admin"
        print(job.send_to_queue())
        job.owner = ""
        print(job.send_to_queue(), job.owner)
        """,
        artist,
    )
    assert done.stdout.split() == ["0", "0", "0", "1", "drq-artist"], done.stderr
    assert done.stderr.count("HTTP 403") == 3
    assert node(farm)["paused"] is False and farm.job(theirs["id"])["title"] == "admin's job"


def test_token_file_and_unreachable_master(farm: Farm, env: dict[str, str], tmp_path: Path) -> None:
    token_file = tmp_path / ".config" / "corral" / "token"
    token_file.parent.mkdir(parents=True)
    token_file.write_text(farm.token + "\n")
    from_file = {k: v for k, v in env.items() if k != "CORRAL_TOKEN"}
    assert run_ok("import drqueue; print(drqueue.request_computer_list(0)[0].hwinfo.name)",
                  from_file) == [SLAVE]  # fmt: skip
    code = """
        import drqueue
        try:
            drqueue.request_job_list(drqueue.CLIENT)
        except IOError as exc:
            print(type(exc).__name__, getattr(exc, "status", None), exc)
        job = drqueue.job(); job.name, job.cmd = "x", "true"
        print(job.send_to_queue())
        """
    for master, expected in (("127.0.0.1:1", "cannot reach"), ("farm:99999", "port must be")):
        done = run_python(code, {**env, "DRQUEUE_MASTER": master})
        assert done.returncode == 0, done.stderr
        first, last = done.stdout.splitlines()
        assert first.startswith("DrQueueError 0") and expected in first
        assert last == "0" and expected in done.stderr
    # Only the host named: Corral's HTTP port, 9890; a URL is taken as it is.
    code = "import drqueue._link as link; print(link.client().url)"
    assert run_ok(code, {**env, "DRQUEUE_MASTER": "farm"}) == ["http://farm:9890"]
    assert run_ok(code, {**env, "DRQUEUE_MASTER": "https://farm:9443"}) == ["https://farm:9443"]


def test_example_script(farm: Farm, env: dict[str, str]) -> None:
    example = Path(__file__).resolve().parents[2] / "examples" / "compat" / "drqueue_example.py"
    done = subprocess.run([system_python(), str(example)], env=env, capture_output=True,
                          text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    job_id = int(lines[0].split()[2].rstrip(":"))
    assert lines[1] == f"job {job_id} Finished: 6 frames done, 0 failed"
    assert lines[2:8] == [
        f"  frame {n}: status 3 on computer {node(farm)['id']}, exit code 0" for n in range(1, 7)
    ]
    assert lines[8].startswith(f"slave {SLAVE}: ")
    assert "rendering frame 5" in chunk_log(farm, job_id, 2)


def test_on_python_37(farm: Farm, env: dict[str, str]) -> None:
    python = old_python("3.7")
    if python is None:
        pytest.skip("no working python3.7 here")
    done = run_python(
        """
        import sys, time, drqueue
        print(sys.version_info[:2] == (3, 7), len(drqueue.request_job_list(drqueue.CLIENT)) >= 0)
        job = drqueue.job()
        job.name = "Test python job"
        job.frame_start = 1
        job.frame_end = 3
        job.cmd = "ls -al"
        job.priority = 100
        print(job.send_to_queue())
        while job.update(drqueue.CLIENT) == 1 and job.status != drqueue.JOBSTATUS_FINISHED:
            time.sleep(0.1)
        print(job.id, [f.status for f in job.request_frame_list(drqueue.CLIENT)])
        computer = drqueue.request_computer_list(drqueue.CLIENT)[0]
        print(computer.hwinfo.name, computer.update(drqueue.CLIENT))
        print(drqueue.request_slave_limits_nmaxcpus_set('slave001', 4, drqueue.CLIENT))
        """,
        env,
        python=python,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[:2] == ["True True", "1"]
    job_id = int(lines[2].split()[0])
    assert lines[2] == f"{job_id} [3, 3, 3]" and farm.job(job_id)["state"] == "done"
    assert lines[3:] == [f"{SLAVE} 1", "0"] and "not supported" in done.stderr
