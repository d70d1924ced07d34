"""Pydra's controller (seed 002) against a live dispatcher with a real render client: the
seed's example as written (with SEED-NOTES' corrections), every listed function, the
error codes -1..-6, `pydra.config.load_settings()` and `corral compat pydra-key`."""

from __future__ import annotations

import http.server
import json
import subprocess
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.farm import CORRAL, Farm, wait_for
from tests.integration.hookfarm import write_template
from tests.integration.restkit import make_user
from tests.integration.seedrun import base_env, old_python, run_ok, run_python, system_python

# A task of the seed's name: it prints its `foo` argument on the render node.
MY_TASK = """
import shlex, sys
import MTemplateAPI

CODE = "import sys; print('MyTask foo=' + sys.argv[1])"

class MyTask(MTemplateAPI.MTemplate):
    def __init__(self):
        MTemplateAPI.MTemplate.__init__(self)
        self.setID(900)
        self.setKey("MyTask")
        self.setName("My task")
        for platform in self.platforms():
            platform.setPlatformEnabled(1)

    def onBuildCommandLine(self, platform, job, chunk, prefs, instance):
        return shlex.join([sys.executable, "-c", CODE, job.attributeGetString("foo")])

MTemplateAPI.MManager.getUniqueClass().installPyTemplate(MyTask())
"""

SEED_EXAMPLE = """
from pydra.config import load_settings
pydra_settings = load_settings()
host = pydra_settings.HOST
port = pydra_settings.CONTROLLER_PORT

from pydra.cluster.controller.web.controller import WebController
controller = WebController(host, port)

tasks = controller.list_tasks()

task_id = controller.run_tasks('MyTask', foo='bar')
print(tasks)
print(task_id)
"""

# Calls a function and prints its ControllerException's code instead of raising.
CODE_OF = """
from pydra.cluster.controller import ControllerException
from pydra.cluster.controller.web.controller import WebController
def code_of(call):
    try:
        call()
    except ControllerException as exc:
        return exc.code
    return "no error"
"""


@pytest.fixture(scope="module")
def farm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Farm]:
    root = tmp_path_factory.mktemp("compat-pydra")
    write_template(root / "templates", "my_task.py", MY_TASK)
    farm = Farm(root / "farm", ["--templates-dir", str(root / "templates")]).start()
    farm.client("node1")
    farm.wait_nodes(1)
    yield farm
    farm.close()


def export_key(farm: Farm, folder: Path, *args: str, stdin: str = "") -> str:
    """`corral compat pydra-key > master.key` in `folder`; the key."""
    done = subprocess.run(
        [CORRAL, "--dispatcher", farm.url, "--token", farm.token, "compat", "pydra-key", *args],
        capture_output=True, text=True, input=stdin, check=True,
    )  # fmt: skip
    (folder / "master.key").write_text(done.stdout)
    return done.stdout.strip()


@pytest.fixture
def work(farm: Farm, tmp_path: Path) -> Path:
    """The folder the controller runs in, with the admin's key as master.key."""
    export_key(farm, tmp_path)
    return tmp_path


@pytest.fixture
def env(farm: Farm, tmp_path: Path) -> dict[str, str]:
    host, port = farm.url.split("://")[1].rsplit(":", 1)
    return base_env(tmp_path, PYDRA_HOST=host, PYDRA_CONTROLLER_PORT=port)


def controller_json(code: str, env: dict[str, str], work: Path) -> object:
    """Run `code` after `controller = WebController(...)` (and `code_of`); the JSON it
    prints last."""
    head = (
        "import json\nfrom pydra.config import load_settings\n"
        "settings = load_settings()\n"
        "controller = WebController(settings.HOST, settings.CONTROLLER_PORT)\n"
    )
    return json.loads(run_ok(CODE_OF + head + textwrap.dedent(code), env, work)[-1])


def chunk_log(farm: Farm, job_id: int) -> str:
    text: str = farm.request("GET", f"/api/v1/jobs/{job_id}/tasks/{farm.task(job_id, 0)}/log")
    return text


def test_seed_example_runs_my_task(farm: Farm, env: dict[str, str], work: Path) -> None:
    lines = run_ok(SEED_EXAMPLE, env, work)
    tasks = eval(lines[0])  # a printed list of strings
    assert "MyTask" in tasks and "cmdline" in tasks
    job_id = int(lines[1])
    job = farm.wait_state(job_id, "done")
    assert (job["template"], job["data"]["foo"], job["title"]) == ("MyTask", "bar", "MyTask")
    assert "MyTask foo=bar" in chunk_log(farm, job_id)  # really ran on node1


def test_settings_file(farm: Farm, env: dict[str, str], work: Path) -> None:
    host, port = farm.url.split("://")[1].rsplit(":", 1)
    (work / "pydra_settings.py").write_text(
        f"import os\nHOST = {host!r}\nCONTROLLER_PORT = {port}\n"
        "PYDRA_ROOT = os.path.dirname(__file__)\nWORKERS = [1, 2]\n"
    )
    plain = {k: v for k, v in env.items() if not k.startswith("PYDRA_")}
    code = """
        from pydra.config import load_settings
        s = load_settings()
        print(s.HOST, s.CONTROLLER_PORT, getattr(s, "WORKERS", None), hasattr(s, "PYDRA_ROOT"), s.source)
        """
    assert run_ok(code, plain, work) == [f"{host} {port} [1, 2] False {work / 'pydra_settings.py'}"]
    assert run_ok(code, {**plain, "PYDRA_CONTROLLER_PORT": "1234"}, work)[0].split()[1] == "1234"
    named = work / "elsewhere.py"
    named.write_text("HOST = 'render-master'\n")
    lines = run_ok(code, {**plain, "PYDRA_SETTINGS": str(named)}, work)
    assert lines[0].startswith("render-master 9890")
    assert SEED_EXAMPLE  # the seed's example reads the file: see the next line
    assert len(run_ok(SEED_EXAMPLE, plain, work)) == 2
    failures = {
        "CONTROLLER_PORT = 'many'\n": "CONTROLLER_PORT must be a number",
        "CONTROLLER_PORT = 70000\n": "CONTROLLER_PORT must be a number",
        "HOST = \n": "line 1",
        "HOST = 'two words'\n": "HOST must be a host name",
    }
    for text, expected in failures.items():
        named.write_text(text)
        done = run_python(code, {**plain, "PYDRA_SETTINGS": str(named)}, work)
        assert done.returncode == 1 and "SettingsError" in done.stderr and expected in done.stderr
    done = run_python(code, {**plain, "PYDRA_SETTINGS": str(work / "missing.py")}, work)
    assert "is not a file" in done.stderr


def test_tasks_queue_history_and_cancel(farm: Farm, env: dict[str, str], work: Path) -> None:
    out = controller_json(
        """
        queued = controller.queue_task("cmdline", {"command": ["echo", "pydra {start}"],
                                                   "frames": "1-4", "batch": 2, "shot": "sh010"})
        paused = controller.queue_task("cmdline", {"command": ["true"], "paused": True,
                                                   "title": "held"})
        running = controller.run_tasks("cmdline", command=["sleep", "60"], priority=1)
        print(json.dumps([queued, paused, running]))
        """,
        env,
        work,
    )
    queued, paused, running = out  # type: ignore[misc]
    farm.wait_state(queued, "done")
    wait_for(lambda: farm.job(running)["state"] == "running", 30, "the sleep running")
    job = farm.job(queued)
    assert farm.job(running)["priority"] == 1  # below the first job's 50: it ran first
    assert job["chunks"]["total"] == 2 and job["data"]["shot"] == "sh010"
    assert "pydra 3" in farm.request(
        "GET", f"/api/v1/jobs/{queued}/tasks/{farm.task(queued, 1)}/log"
    )
    seen = controller_json(
        f"""
        print(json.dumps({{
            "queue": [t["id"] for t in controller.list_queue()],
            "queue_status": [t["status"] for t in controller.list_queue()],
            "running": [t["id"] for t in controller.list_running()],
            "statuses": controller.task_statuses(),
            "history": controller.task_history("cmdline", 1),
            "empty": controller.task_history("cmdline", 2),
            "detail": controller.task_history_detail({queued}),
            "filtered": controller.list_tasks(keys=["cmdline", "nosuch"]),
            "toplevel": controller.list_tasks(False) == controller.list_tasks(),
        }}))
        """,
        env,
        work,
    )
    assert isinstance(seen, dict)
    assert paused in seen["queue"] and running not in seen["queue"]
    assert 2 in seen["queue_status"]  # paused: Pydra's STATUS_PAUSED
    assert seen["running"] == [running]
    assert seen["statuses"][str(running)] == {"status": 1, "state": "running", "progress": 0.0}
    assert str(queued) not in seen["statuses"]
    history_ids = [item["id"] for item in seen["history"]]
    assert history_ids == sorted(history_ids, reverse=True) and queued in history_ids
    assert seen["empty"] == []
    detail = seen["detail"]
    assert detail["status"] == 3 and detail["args"]["command"] == ["echo", "pydra {start}"]
    assert [(w["start"], w["end"], w["node"], w["status"]) for w in detail["workunits"]] == [
        (1.0, 2.0, "node1", 3), (3.0, 4.0, "node1", 3)
    ]  # fmt: skip
    assert seen["filtered"] == ["cmdline"] and seen["toplevel"] is True
    out = controller_json(f"print(json.dumps(controller.cancel_task({running})))", env, work)
    assert out == 1
    assert all(job["id"] != running for job in farm.request("GET", "/api/v1/jobs/"))
    wait_for(lambda: not farm.nodes()[0]["running"], 30, "the sleep killed")


def test_nodes(farm: Farm, env: dict[str, str], work: Path) -> None:
    node_id = farm.nodes()[0]["id"]
    seen = controller_json(
        f"""
        print(json.dumps({{
            "list": controller.node_list(),
            "page2": controller.node_list(2),
            "known": controller.list_known_nodes(),
            "connect": controller.connect(),
            "status": controller.node_status(),
            "detail": controller.node_detail({node_id}),
            "by_name": controller.node_detail("node1")["id"],
            "edit": controller.node_edit({{"id": {node_id}, "notes": "rack 4", "paused": True,
                                          "priority": 5}}),
            "paused_status": controller.node_status()[0]["status"],
            "back": controller.node_edit({{"id": {node_id}, "paused": False}})["paused"],
        }}))
        """,
        env,
        work,
    )
    assert isinstance(seen, dict)
    assert [node["host"] for node in seen["list"]] == ["node1"] and seen["page2"] == []
    assert seen["list"][0]["cores"] == farm.nodes()[0]["cpus"] and seen["list"][0]["online"]
    assert [node["id"] for node in seen["known"]] == [node_id]
    assert seen["connect"] == {"connected": ["node1"], "disconnected": []}
    assert seen["status"][0]["host"] == "node1" and seen["status"][0]["workers"]
    assert seen["detail"]["resources"]["cpus"] == seen["list"][0]["cores"]
    assert seen["by_name"] == node_id
    assert seen["edit"]["notes"] == "rack 4" and seen["edit"]["paused"] is True
    assert seen["edit"]["process_priority"] == 5 and seen["paused_status"] == "paused"
    assert seen["back"] is False and farm.nodes()[0]["paused"] is False


def test_error_codes(farm: Farm, env: dict[str, str], work: Path) -> None:
    before = farm.request("GET", "/api/v1/jobs/")
    node = farm.nodes()[0]
    codes = controller_json(
        """
        c = controller
        print(json.dumps({
            "not_found": code_of(lambda: c.no_such_function()),
            "unknown_task": code_of(lambda: c.queue_task("NoSuchTask", {})),
            "args_not_dict": code_of(lambda: c.queue_task("cmdline", "foo=bar")),
            "args_not_json": code_of(lambda: c.run_tasks("cmdline", command=["x"], y={1, 2})),
            "bad_field": code_of(lambda: c.queue_task("cmdline", {"priority": "high"})),
            "no_command": code_of(lambda: c.queue_task("cmdline")),
            "bad_signature": code_of(lambda: c.list_tasks(bogus=1)),
            "page_0": code_of(lambda: c.node_list(0)),
            "page_text": code_of(lambda: c.task_history("cmdline", "1")),
            "unknown_node": code_of(lambda: c.node_detail(99999)),
            "unknown_instance": code_of(lambda: c.cancel_task(99999)),
            "bad_instance": code_of(lambda: c.task_history_detail("x")),
            "unknown_history": code_of(lambda: c.task_history("NoSuchTask", 1)),
            "new_node": code_of(lambda: c.node_edit({"host": "render9", "port": 11890})),
            "edit_cores": code_of(lambda: c.node_edit({"id": 1, "cores": 64})),
            "edit_unknown": code_of(lambda: c.node_edit({"id": 99999, "notes": "x"})),
            "edit_paused_text": code_of(lambda: c.node_edit({"id": 1, "paused": "yes"})),
            "edit_half": code_of(lambda: c.node_edit({"id": 1, "notes": "half", "priority": 99})),
        }))
        """,
        env,
        work,
    )
    assert codes == {
        "not_found": -6, "unknown_task": -3, "args_not_dict": -3, "args_not_json": -3, "bad_field": -3,
        "no_command": -3, "bad_signature": -3, "page_0": -3, "page_text": -3,
        "unknown_node": -3, "unknown_instance": -3, "bad_instance": -3,
        "unknown_history": -3, "new_node": -3, "edit_cores": -3, "edit_unknown": -3,
        "edit_paused_text": -3, "edit_half": -3,
    }  # fmt: skip
    assert farm.request("GET", "/api/v1/jobs/") == before
    assert farm.nodes()[0]["notes"] == node["notes"]
    done = run_python(
        CODE_OF
        + "c = WebController('127.0.0.1', 1)\ntry:\n    c.node_edit({'id': 1, 'cores': 4})\n"
        "except ControllerException as exc:\n    print(exc.code, exc)\n",
        env,
        work,
    )
    assert done.stdout.startswith("-3 error in remote function (-3): not supported: ")


def test_keys_and_connection_failures(farm: Farm, env: dict[str, str], tmp_path: Path) -> None:
    call = CODE_OF + (
        "from pydra.config import load_settings\ns = load_settings()\n"
        "print(code_of(lambda: WebController(s.HOST, s.CONTROLLER_PORT).list_tasks()))\n"
    )
    assert run_ok(call, env, tmp_path) == ["-4"]  # no master.key here
    for content in (b"", b"\n\n", b"\xff\xfe binary", b"two words", b"x" * 5000):
        (tmp_path / "master.key").write_bytes(content)
        assert run_ok(call, env, tmp_path) == ["-4"], content
    (tmp_path / "master.key").write_text("revoked-or-made-up-token\n")
    assert run_ok(call, env, tmp_path) == ["-1"]
    export_key(farm, tmp_path)
    assert run_ok(call, env, tmp_path) == ["no error"]
    assert run_ok(call, {**env, "PYDRA_CONTROLLER_PORT": "1"}, tmp_path) == ["-2"]
    done = run_python(
        "from pydra.cluster.controller.web.controller import WebController\n"
        "for host, port in (('', 9890), ('farm', 0), ('farm', 'http'), ('farm', True)):\n"
        "    try:\n        WebController(host, port)\n"
        "    except ValueError as exc:\n        print('ValueError', exc)\n",
        env,
        tmp_path,
    )
    assert done.stdout.count("ValueError") == 4
    # A key of a user without manage-nodes: reading works, pausing a node is refused.
    (tmp_path / "master.key").write_text(make_user(farm, "pydra-artist", "submit", "manage_own"))
    codes = controller_json(
        "print(json.dumps([len(controller.node_list()), "
        "code_of(lambda: controller.node_edit({'id': 1, 'paused': True}))]))",
        env,
        tmp_path,
    )
    assert codes == [1, -1] and farm.nodes()[0]["paused"] is False


class _Confused(http.server.BaseHTTPRequestHandler):
    """A server on the controller's port that is not Corral: a server error for one path,
    an answer that is not JSON for the others."""

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        broken = "/nodes" in self.path
        body = b'{"title": "boom"}' if broken else b"<html>a web page</html>"
        self.send_response(500 if broken else 200)
        self.send_header("Content-Type", "application/json" if broken else "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def test_an_answer_that_is_not_the_apis_is_unknown_error(env: dict[str, str], work: Path) -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Confused)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        stub = {**env, "PYDRA_HOST": "127.0.0.1", "PYDRA_CONTROLLER_PORT": str(server.server_port)}
        codes = controller_json(
            """
            from pydra.cluster import controller as codes
            print(json.dumps([code_of(lambda: controller.list_tasks()),
                              code_of(lambda: controller.node_list()),
                              codes.CONTROLLER_ERROR_UNKNOWN]))
            """,
            stub,
            work,
        )
    finally:
        server.shutdown()
        server.server_close()
    assert codes == [-5, -5, -5]


def test_pydra_key_command(farm: Farm, tmp_path: Path) -> None:
    shown = subprocess.run([CORRAL, "compat", "pydra-key", "--help"], capture_output=True,
                           text=True, check=True).stdout  # fmt: skip
    assert "master.key" in shown and "--user" in shown
    assert export_key(farm, tmp_path) == farm.token
    make_user(farm, "pydra-td", "submit", "manage_own")
    new = export_key(farm, tmp_path, "--user", "pydra-td", "--password-stdin",
                     stdin="pydra-td-password-1\n")  # fmt: skip
    assert new and new != farm.token
    tokens = farm.request("GET", "/api/v1/tokens/?user=pydra-td")
    assert len(tokens) == 2  # make_user's login and this one
    wrong = subprocess.run(
        [CORRAL, "--dispatcher", farm.url, "compat", "pydra-key", "--user", "pydra-td",
         "--password-stdin"], input="wrong\n", capture_output=True, text=True,
    )  # fmt: skip
    assert wrong.returncode != 0 and not wrong.stdout
    none = subprocess.run(
        [CORRAL, "--dispatcher", farm.url, "compat", "pydra-key"],
        capture_output=True, text=True, env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert none.returncode != 0 and "no token" in none.stderr and not none.stdout
    bogus = subprocess.run(
        [CORRAL, "--dispatcher", farm.url, "--token", "made-up", "compat", "pydra-key"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert bogus.returncode != 0 and not bogus.stdout


def test_example_script(farm: Farm, env: dict[str, str], work: Path) -> None:
    example = Path(__file__).resolve().parents[2] / "examples" / "compat" / "pydra_example.py"
    done = subprocess.run([system_python(), str(example)], env=env, cwd=work,
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert "cmdline" in lines[0] and "MyTask" in lines[0]
    assert lines[1].startswith("node node1: ")
    job_id = int(lines[2].split()[-1])
    assert lines[3:] == [f"task instance {job_id}: done"] + [
        f"  frames {n}-{n} on node1: done" for n in (1, 2, 3)
    ]
    assert "hello from frame 2" in farm.request(
        "GET", f"/api/v1/jobs/{job_id}/tasks/{farm.task(job_id, 1)}/log"
    )
    # Without master.key in its folder, the example says so and exits 1.
    (work / "master.key").unlink()
    done = subprocess.run([system_python(), str(example)], env=env, cwd=work,
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 1 and done.stderr.startswith("controller error -4: ")


def test_on_python_37(farm: Farm, env: dict[str, str], work: Path) -> None:
    python = old_python("3.7")
    if python is None:
        pytest.skip("no working python3.7 here")
    lines = run_ok(SEED_EXAMPLE + "import sys; print(sys.version_info[:2])", env, work, python)
    assert "MyTask" in lines[0] and lines[2] == "(3, 7)"
    job = farm.wait_state(int(lines[1]), "done")
    assert job["data"]["foo"] == "bar"
    assert "MyTask foo=bar" in chunk_log(farm, job["id"])
    codes = run_ok(
        CODE_OF
        + "from pydra.config import load_settings\ns = load_settings()\n"
        + "c = WebController(s.HOST, s.CONTROLLER_PORT)\n"
        + "print(code_of(lambda: c.nope()), code_of(lambda: c.node_list(0)), len(c.node_list()))",
        env,
        work,
        python,
    )
    assert codes == ["-6 -3 1"]
