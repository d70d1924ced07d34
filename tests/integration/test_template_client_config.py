"""The render-client side of templates on a real farm: a Katana template written the Muster
way in the dispatcher's site folder, real render clients, client configuration set on
the node and from the dispatcher (node, pool), and template hooks that raise or hang."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import MDispatcherAPI
from renderclient.template_config import NodeTemplateConfig, TemplateConfigError, read_file
from tests.integration.farm import CORRAL, ApiError, Farm, wait_for
from tests.integration.hookfarm import covers, script_json, start_farm
from tests.integration.restkit import make_user

pytestmark = pytest.mark.integration

KATANA = Path(__file__).resolve().parents[1] / "data" / "templates" / "katana.py"
NODE_PATH = "/api/v1/nodes/kat1/template-config/katana"
POOL_PATH = "/api/v1/pools/lighting/template-config/katana"


def fake_katana(folder: Path, name: str) -> Path:
    """A small executable "Katana" that prints who it is, its arguments, folder and env;
    given a scene whose name holds "crash", it prints Katana's crash line and hangs."""
    script = folder / f"katana-{name}"
    script.write_text(
        f"#!{sys.executable}\n"
        "import json, os, sys, time\n"
        f"print('KATANA {name} ' + json.dumps({{'argv': sys.argv[1:], 'cwd': os.getcwd(),\n"
        "    'home': os.environ.get('KATANA_HOME')}), flush=True)\n"
        "if any('crash' in arg for arg in sys.argv):\n"
        "    print('KATANA CRASH: segmentation violation', flush=True)\n"
        "    time.sleep(60)\n"
    )
    script.chmod(0o755)
    return script


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Farm, Path]]:
    root = tmp_path_factory.mktemp("katana")
    site = root / "site"
    site.mkdir()
    shutil.copy(KATANA, site / "katana.py")
    apps = root / "apps"
    apps.mkdir()
    for name in ("own", "pool", "node"):
        fake_katana(apps, name)
    farm = start_farm(root / "farm", "--templates-dir", str(site))
    state = root / "state-kat1"
    state.mkdir()
    # The node's own file: the option below wins for KATTHREADS.
    (state / "template-config.json").write_text(
        json.dumps({"katana": {"KATHOME": "/studio/katana", "KATTHREADS": 2}})
    )
    farm.client(
        "kat1",
        "--pool", "lighting",
        "--hook-timeout-s", "3",
        "--idle-interval-s", "0.3",
        "--template-config", f"katana:KATIDLEFILE={root / 'idle.txt'}",
        "--template-config", f"katana:KATAPP={apps / 'katana-own'}",
        "--template-config", "katana:KATTHREADS=8",
    )  # fmt: skip
    farm.wait_nodes(1)
    yield farm, root
    farm.close()


def test_on_client_idling_runs_in_the_render_client_context(setup: tuple[Farm, Path]) -> None:
    farm, root = setup
    report = root / "idle.txt"
    text = wait_for(lambda: report.exists() and report.read_text(), 20, "onClientIdling's report")
    assert text == "idle renderclient instance 0 of 1 status 0/0"


def chunk_log(farm: Farm, job_id: int, chunk: int = 0) -> str:
    task = farm.task(job_id, chunk)  # the route takes the global task id
    return str(farm.request("GET", f"/api/v1/jobs/{job_id}/tasks/{task}/log"))


def katana_line(log: str) -> tuple[str, dict[str, object]]:
    """(which fake Katana ran, what it printed) from a chunk's log."""
    line = next(line for line in log.splitlines() if line.startswith("KATANA "))
    _, name, rest = line.split(" ", 2)
    return name, json.loads(rest)


def render(farm: Farm, title: str, **data: object) -> dict[str, object]:
    job = farm.submit(
        title=title,
        template="katana",
        frames="1-4",
        batch=2,
        requeue=0,
        data={"job_file": "/shots/a.katana", **data},
    )
    return farm.wait_state(job["id"], "done", "failed")


def corral(farm: Farm, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CORRAL, "--dispatcher", farm.url, "--token", farm.token, *args],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def test_the_katana_template_runs_with_the_nodes_own_configuration(
    setup: tuple[Farm, Path], tmp_path: Path
) -> None:
    farm, _ = setup
    job = render(farm, "own", workdir=str(tmp_path))
    assert job["state"] == "done", job
    name, said = katana_line(chunk_log(farm, int(job["id"]), 1))
    assert name == "own"
    assert said["argv"] == [
        "--batch", "--katana-file=/shots/a.katana", "-t", "3-4", "--threads=8",
        "--context=renderclient", "--linux=True", "--platform-arg=True",
        "--instances=1/0", "--status=1/0", "--home=/studio/katana",
    ]  # fmt: skip
    assert said["cwd"] == str(tmp_path) and said["home"] == "/studio/katana"


def test_a_crash_line_aborts_the_render_and_on_job_end_runs(setup: tuple[Farm, Path]) -> None:
    """The template's onCheckLog sees the crash line while Katana runs: the render is
    killed at once (not after its 60 s), the chunk fails without the job's retries,
    and the template's onJobEnd hook runs in the dispatcher."""
    farm, _ = setup
    began = time.monotonic()
    job = farm.submit(title="crash", template="katana", frames="1-2", batch=2, requeue=3,
                      data={"job_file": "/shots/crash.katana"})  # fmt: skip
    job = farm.wait_state(job["id"], "done", "failed")
    assert job["state"] == "failed" and time.monotonic() - began < 40, job
    task = farm.request("GET", f"/api/v1/jobs/{job['id']}/tasks/{farm.task(job['id'], 0)}")
    assert task["attempts"] == 1, task  # aborted: no retry despite requeue 3
    assert "Katana crashed" in chunk_log(farm, int(job["id"]), 0)
    wait_for(
        lambda: f"katana job {job['id']} ended" in farm.request("GET", "/api/v1/logs/dispatcher"),
        20,
        "onJobEnd's line in the dispatcher log",
    )


def test_dispatcher_values_reach_the_connected_node_pool_then_node(
    setup: tuple[Farm, Path],
) -> None:
    farm, root = setup
    apps = root / "apps"
    client = farm.clients[0]
    view = farm.request("PUT", POOL_PATH, {"values": {"KATAPP": str(apps / "katana-pool")}})
    assert view["values"] == {"KATAPP": str(apps / "katana-pool")} and view["nodes"] == ["kat1"]
    job = render(farm, "pool")
    assert job["state"] == "done" and katana_line(chunk_log(farm, int(job["id"])))[0] == "pool"

    view = farm.request("PUT", NODE_PATH, {"values": {"KATAPP": str(apps / "katana-node")}})
    assert view["effective"]["KATAPP"] == str(apps / "katana-node")
    assert view["own_values"]["KATAPP"] == str(apps / "katana-own")
    assert view["pool_values"] == {"lighting": {"KATAPP": str(apps / "katana-pool")}}
    job = render(farm, "node")
    name, said = katana_line(chunk_log(farm, int(job["id"])))
    assert job["state"] == "done" and name == "node" and "--threads=8" in said["argv"]
    assert client.poll() is None  # no restart: the same render client took the new value

    shown = corral(farm, "templates", "show", "katana")
    assert shown.returncode == 0, shown.stderr
    assert "KATAPP" in shown.stdout and "/opt/katana/katana" in shown.stdout
    assert f"effective:   KATAPP={apps / 'katana-node'}" in shown.stdout
    assert "kat1 (online, linux)" in shown.stdout
    listed = json.loads(corral(farm, "templates", "show", "katana", "--json").stdout)
    items = {item["name"]: item for item in listed["items"]["linux"]}
    assert items["KATTHREADS"]["default"] == 4 and items["KATAPP"]["type"] == "file"
    assert listed["nodes"][0]["effective"]["KATTHREADS"] == 8

    # The CLI sets a node's values the same way; --clear gives the pool's back.
    cleared = corral(farm, "nodes", "template-config", "kat1", "katana", "--clear")
    assert cleared.returncode == 0, cleared.stderr
    job = render(farm, "pool again")
    assert katana_line(chunk_log(farm, int(job["id"])))[0] == "pool"
    cli = corral(
        farm, "nodes", "template-config", "kat1", "katana", f"KATAPP={apps / 'katana-node'}"
    )
    assert cli.returncode == 0 and f"KATAPP={apps / 'katana-node'}" in cli.stdout, cli.stderr


def test_bad_values_are_refused_and_change_nothing(setup: tuple[Farm, Path]) -> None:
    farm, root = setup
    apps = root / "apps"
    submitter = make_user(farm, "lighter", "submit")
    farm.request("PUT", NODE_PATH, {"values": {"KATAPP": str(apps / "katana-node")}})
    before = farm.request("GET", NODE_PATH)
    actions = [
        json.loads(line)
        for line in str(farm.request("GET", "/api/v1/logs/action/actions.log")).splitlines()
    ]
    changes = [line for line in actions if line["action"] == "node_template_config"]
    assert changes[-1]["target"] == "node:kat1" and changes[-1]["pushed"] == [1]
    assert changes[-1]["user"] == "admin" and changes[-1]["items"] == ["KATAPP"]
    cases = [
        ({"values": {"NOPE": "x"}}, 400, "NOPE"),
        ({"values": {"KATAPP": "/a", "NOPE": "x"}}, 400, "NOPE"),
        ({"values": {"KATTHREADS": "many"}}, 400, "values.KATTHREADS"),
        ({"values": {"KATAPP": ["/a"]}}, 400, "values"),
        ({"values": {}, "extra": 1}, 400, "extra"),
        ({}, 400, "values"),
    ]
    for body, status, named in cases:
        with pytest.raises(ApiError) as refused:
            farm.request("PUT", NODE_PATH, body)
        assert refused.value.status == status, (body, refused.value.body)
        assert named in json.dumps(refused.value.body), (body, refused.value.body)
    for path, status in (
        ("/api/v1/nodes/kat1/template-config/nosuch", 404),
        ("/api/v1/nodes/nosuch/template-config/katana", 404),
        ("/api/v1/pools/nosuch/template-config/katana", 404),
    ):
        with pytest.raises(ApiError) as refused:
            farm.request("PUT", path, {"values": {"KATAPP": "/a"}})
        assert refused.value.status == status, path
    with pytest.raises(ApiError) as refused:
        farm.request("PUT", NODE_PATH, {"values": {"KATAPP": "/a"}}, token="")
    assert refused.value.status == 401
    for path in (NODE_PATH, POOL_PATH):
        with pytest.raises(ApiError) as refused:
            farm.request("PUT", path, {"values": {"KATAPP": "/a"}}, token=submitter)
        assert refused.value.status == 403, path
    assert farm.request("GET", NODE_PATH, token=submitter) == before  # reading needs a token only
    wrong = corral(farm, "nodes", "template-config", "kat1", "katana", "NOPE=1")
    assert wrong.returncode != 0 and "NOPE" in wrong.stderr
    assert farm.request("GET", NODE_PATH) == before
    after = str(farm.request("GET", "/api/v1/logs/action/actions.log")).splitlines()
    assert len(after) == len(actions)  # nothing refused was recorded as a change


def test_a_hook_that_raises_or_hangs_fails_only_its_chunk(setup: tuple[Farm, Path]) -> None:
    farm, _ = setup
    client = farm.clients[0]
    job = render(farm, "explodes", explode="1")
    assert job["state"] == "failed"
    log = chunk_log(farm, int(job["id"]))
    assert "Traceback" in log and "RuntimeError: boom from the Katana template" in log
    assert "katana.py" in log  # the template's own frame is in the traceback
    assert "onBuildCommandLine raised RuntimeError" in farm.chunks(int(job["id"]))[0]["error"]

    job = render(farm, "hangs", hang="30")
    assert job["state"] == "failed"
    error = farm.chunks(int(job["id"]))[0]["error"]
    assert "did not return within 3 s" in error, error
    log = chunk_log(farm, int(job["id"]))
    assert "Stuck at" in log and "time.sleep(float(job.attributeGetString" in log, log

    assert client.poll() is None
    job = render(farm, "fine after")
    assert job["state"] == "done"


def test_a_node_joining_a_pool_gets_its_values_at_once(setup: tuple[Farm, Path]) -> None:
    farm, root = setup
    apps = root / "apps"
    farm.request("PUT", NODE_PATH, {"values": {}})
    farm.request("POST", "/api/v1/pools/", {"name": "anim"})
    farm.request("PUT", "/api/v1/pools/anim/template-config/katana",
                 {"values": {"KATAPP": str(apps / "katana-node")}})  # fmt: skip
    assert katana_line(chunk_log(farm, int(render(farm, "lighting")["id"])))[0] == "pool"
    farm.request("PATCH", "/api/v1/pools/anim", {"nodes": ["kat1"]})
    # "anim" sorts before "lighting": its value wins now that kat1 is in it.
    view = farm.request("GET", NODE_PATH)
    assert view["effective"]["KATAPP"] == str(apps / "katana-node"), view
    assert katana_line(chunk_log(farm, int(render(farm, "anim")["id"])))[0] == "node"
    farm.request("PATCH", "/api/v1/pools/anim", {"nodes": []})
    assert katana_line(chunk_log(farm, int(render(farm, "left anim")["id"])))[0] == "pool"


@covers(*MDispatcherAPI.EXTENSIONS)
def test_scripts_and_hooks_set_client_configuration_with_mdispatcherapi(
    setup: tuple[Farm, Path],
) -> None:
    farm, root = setup
    apps = root / "apps"
    node = farm.request("GET", "/api/v1/nodes/kat1")["id"]
    said = script_json(
        farm,
        f"""
        import json
        import MDispatcherAPI as api
        out = {{}}
        app = {str(apps / "katana-node")!r}
        out["pool_set"] = api.poolSetTemplateConfiguration(
            "lighting", "katana", {{"KATAPP": app}}).getErrorCode()
        out["pool"] = api.poolGetTemplateConfiguration("lighting", "katana")[1]
        out["node_set"] = api.nodeSetTemplateConfiguration(
            {node}, "katana", {{"KATTHREADS": 6}}).getErrorCode()
        out["node"] = api.nodeGetTemplateConfiguration({node}, "katana")[1]
        err = api.nodeSetTemplateConfiguration({node}, "katana", {{"NOPE": 1}})
        out["unknown"] = [err.getErrorCode(), err.getDescription()]
        out["not_a_dict"] = api.nodeSetTemplateConfiguration(
            {node}, "katana", "KATAPP=/x").getErrorCode()
        err, view = api.poolGetTemplateConfiguration("nosuch", "katana")
        out["no_pool"] = [err.getErrorCode(), view]
        err, view = api.nodeGetTemplateConfiguration(9999, "katana")
        out["no_node"] = [err.getErrorCode(), view]
        print(json.dumps(out))
        """,
    )
    assert said["pool_set"] == 0 and said["node_set"] == 0, said
    assert said["pool"]["values"] == {"KATAPP": str(apps / "katana-node")}
    assert said["pool"]["nodes"] == ["kat1"]
    assert said["node"]["node_values"] == {"KATTHREADS": 6}
    assert said["node"]["effective"]["KATAPP"] == str(apps / "katana-node")
    bad = MDispatcherAPI.kErrBadArgument
    assert said["unknown"][0] == bad and "NOPE" in said["unknown"][1], said
    assert said["not_a_dict"] == bad
    assert said["no_pool"] == [MDispatcherAPI.kErrNotFound, None], said
    assert said["no_node"] == [MDispatcherAPI.kErrNotFound, None], said
    name, argv = katana_line(chunk_log(farm, int(render(farm, "set by a script")["id"])))
    assert name == "node" and "--threads=6" in argv["argv"], argv

    # {} clears a layer: the pool's and the node's own values come back.
    cleared = script_json(
        farm,
        f"""
        import json
        import MDispatcherAPI as api
        app = {str(apps / "katana-pool")!r}
        print(json.dumps([
            api.nodeSetTemplateConfiguration({node}, "katana", {{}}).getErrorCode(),
            api.poolSetTemplateConfiguration("lighting", "katana", {{"KATAPP": app}}).getErrorCode(),
        ]))
        """,
    )
    assert cleared == [0, 0]
    assert farm.request("GET", NODE_PATH)["node_values"] == {}
    name, argv = katana_line(chunk_log(farm, int(render(farm, "cleared by a script")["id"])))
    assert name == "pool" and "--threads=8" in argv["argv"], argv


def test_the_dispatcher_value_survives_a_restart_and_comes_in_the_welcome(
    setup: tuple[Farm, Path],
) -> None:
    farm, root = setup
    apps = root / "apps"
    farm.request("PUT", NODE_PATH, {"values": {"KATAPP": str(apps / "katana-node")}})
    farm.stop()
    farm.start()
    wait_for(lambda: farm.request("GET", NODE_PATH)["online"], 30, "kat1 back online")
    assert farm.request("GET", NODE_PATH)["node_values"] == {"KATAPP": str(apps / "katana-node")}
    job = render(farm, "after restart")
    assert job["state"] == "done" and katana_line(chunk_log(farm, int(job["id"])))[0] == "node"


def test_the_nodes_own_file_json_or_toml(tmp_path: Path) -> None:
    assert read_file(tmp_path) == ({}, None)
    (tmp_path / "template-config.toml").write_text('[katana]\nKATAPP = "/opt/k"\nKATTHREADS = 3\n')
    layer, path = read_file(tmp_path)
    assert layer == {"katana": {"KATAPP": "/opt/k", "KATTHREADS": 3}} and path is not None
    config = NodeTemplateConfig.load(tmp_path, ["katana:KATTHREADS=12"])
    assert config.local == {"katana": {"KATAPP": "/opt/k", "KATTHREADS": "12"}}
    (tmp_path / "template-config.json").write_text("{}")
    with pytest.raises(TemplateConfigError, match="keep one of them"):
        read_file(tmp_path)
    (tmp_path / "template-config.toml").unlink()
    for bad in ("[1, 2]", '{"katana": {"A": [1]}}', "{not json"):
        (tmp_path / "template-config.json").write_text(bad)
        with pytest.raises(TemplateConfigError):
            read_file(tmp_path)
    with pytest.raises(TemplateConfigError, match="at most"):
        NodeTemplateConfig.load(tmp_path / "none", [f"katana:KATAPP={'x' * 20000}"])
