"""`import smedge`, the farm side: pools, engines, engine events, path translations and
the master, each call run by the system python3 with PYTHONPATH set to what
`corral compat-path` prints, against a live dispatcher with real render clients."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.farm import Farm, wait_for
from tests.integration.restkit import call, make_user

PYTHON3 = shutil.which("python3") or sys.executable
CORRAL = str(Path(sys.executable).parent / "corral")
PRELUDE = """\
import json, sys
from uuid import UUID, uuid4
from datetime import datetime, timedelta
import smedge
from smedge import *
def out(value):
    print("@@" + json.dumps(value, default=str))
def error_of(call, *args, **kwargs):
    try:
        call(*args, **kwargs)
    except SmedgeComponentError as exc:
        return ["SmedgeComponentError", exc.status, str(exc)]
    except (TypeError, ValueError) as exc:
        return [type(exc).__name__, 0, str(exc)]
    return None
"""


def compat_path() -> str:
    return subprocess.run(
        [CORRAL, "compat-path"], check=True, capture_output=True, text=True
    ).stdout.strip()


def smedge(farm: Farm, code: str, token: str | None = None, **env: str) -> Any:
    """Run `code` after the prelude in python3; the value it gave `out`."""
    environ = {
        **os.environ,
        "PYTHONPATH": compat_path(),
        "SMEDGE_MASTER": farm.url.split("//", 1)[1],
        "CORRAL_TOKEN": farm.token if token is None else token,
        "SMEDGE_CONNECT_TIMEOUT": "20",
        **env,
    }
    done = subprocess.run(
        [PYTHON3, "-c", PRELUDE + textwrap.dedent(code)],
        capture_output=True, text=True, env=environ, timeout=120, cwd=farm.data_dir.parent,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stdout.splitlines() if line.startswith("@@")]
    return json.loads(lines[-1][2:]) if lines else None


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Farm]:
    """One farm with render nodes RENDER_0001, RENDER_0002 and other01."""
    farm = Farm(tmp_path_factory.mktemp("smedge-farm") / "farm").start()
    try:
        for name in ("RENDER_0001", "RENDER_0002", "other01"):
            farm.client(name)
        farm.wait_nodes(3)
        yield farm
    finally:
        farm.close()


def node(farm: Farm, name: str) -> dict[str, Any]:
    found: dict[str, Any] = farm.request("GET", f"/api/v1/nodes/{name}")
    return found


# -- pools ---------------------------------------------------------------------------------
def test_pool_compares_by_id_or_name(tmp_path: Path) -> None:
    result = smedge(
        Farm(tmp_path / "none", url="http://127.0.0.1:9"),  # no call reaches a dispatcher
        """
        a = Pool("8ad51e37-127e-4894-aefb-8e8273c111cf", "Maya")
        b = Pool(UUID("8ad51e37-127e-4894-aefb-8e8273c111cf"), "renamed")
        c = Pool(uuid4(), "Maya")
        out([a == b, a == "Maya", a == "8ad51e37-127e-4894-aefb-8e8273c111cf",
             a == UUID("8ad51e37-127e-4894-aefb-8e8273c111cf"), a == c, a != c, a == 5,
             str(a), repr(a), len({a, b}), a == "renamed"])
        """,
    )
    assert result == [True, True, True, True, False, True, False,
                      "8ad51e37-127e-4894-aefb-8e8273c111cf",
                      "Pool('8ad51e37-127e-4894-aefb-8e8273c111cf', 'Maya')", 1, False]  # fmt: skip


def test_pools_keep_their_ids_through_rename_and_restart(make_farm: Any) -> None:
    farm: Farm = make_farm()
    farm.client("maya01", "--pool", "nodes-maya")
    farm.wait_nodes(1)
    created = smedge(
        farm,
        """
        made = create_pools(["Maya renders", "comp"])
        single = create_pools("spare")
        out([[str(p.id), p.name] for p in made + single])
        """,
    )
    assert [name for _, name in created] == ["Maya renders", "comp", "spare"]
    maya_id = created[0][0]
    # The seed's pool example, as written: a Pool becomes the job's "Pool" value.
    example = smedge(
        farm,
        """
        job = {
            "Name": "Test Job",
            "Type": "Maya",
            "Scene": "/path/to/the/scene.mb",
            "Range": "1001-1050",
        }
        all_pools = get_pools()
        for pool in all_pools:
            if job["Type"] in pool.name:
                job["Pool"] = pool
                break
        out([str(job["Pool"]), job["Pool"].name, smedge.pools.pool_name(job["Pool"]),
             smedge.pools.pool_name(str(job["Pool"])), sorted(p.name for p in all_pools)])
        """,
    )
    assert example[:4] == [maya_id, "Maya renders", "Maya renders", "Maya renders"]
    assert example[4] == ["Maya renders", "comp", "nodes-maya", "spare"]
    # The dispatcher finds the pool by that id too, and a job may name it.
    assert farm.request("GET", f"/api/v1/pools/{maya_id}")["name"] == "Maya renders"
    job = farm.submit(pools=["Maya renders", "nodes-maya"], paused=True)
    config = {"values": {"HRENDER": "/opt/hfs/bin/hrender.py"}}
    farm.request("PUT", "/api/v1/pools/Maya%20renders/template-config/houdini", config)
    renamed = smedge(
        farm,
        f"""
        pool = rename_pool(UUID("{maya_id}"), "Maya GPU")
        again = rename_pool("nodes-maya", "maya nodes")
        out([str(pool.id), pool.name, str(again.id), again.name,
             error_of(rename_pool, "comp", "spare"), error_of(rename_pool, "nothing", "x"),
             error_of(rename_pool, 5, "x")])
        """,
    )
    assert renamed[:2] == [maya_id, "Maya GPU"] and renamed[3] == "maya nodes"
    assert renamed[4][:2] == ["SmedgeComponentError", 409]
    assert renamed[5][:2] == ["SmedgeComponentError", 404] and renamed[6][0] == "TypeError"
    assert farm.job(job["id"])["pools"] == ["Maya GPU", "maya nodes"]
    assert node(farm, "maya01")["pools"] == ["maya nodes"]
    moved = farm.request("GET", "/api/v1/pools/Maya%20GPU/template-config/houdini")
    assert moved["values"] == config["values"]
    announced_id = renamed[2]
    # A restart keeps the ids; the node still announcing the old name joins the new one.
    farm.close()
    farm.clients.clear()
    farm.start()
    farm.client("maya01", "--pool", "nodes-maya")
    farm.wait_nodes(1)
    after = smedge(farm, "out(sorted([str(p.id), p.name] for p in get_pools()))")
    assert [maya_id, "Maya GPU"] in after and [announced_id, "maya nodes"] in after
    assert "nodes-maya" not in [name for _, name in after]
    assert node(farm, "maya01")["pools"] == ["maya nodes"]
    deleted = smedge(
        farm,
        f"""
        delete_pools([Pool(UUID("{maya_id}"), "whatever"), "spare"])
        out([sorted(p.name for p in get_pools()), error_of(delete_pools, "spare"),
             error_of(delete_pools, [3.5])])
        """,
    )
    assert deleted[0] == ["comp", "maya nodes"]
    assert deleted[1][:2] == ["SmedgeComponentError", 404] and deleted[2][0] == "TypeError"


def test_pool_changes_need_administer(shared: Farm) -> None:
    token = make_user(shared, "pool-wrangler", "submit", "manage_nodes")
    result = smedge(
        shared,
        """
        out([len(get_pools()) >= 0, error_of(create_pools, "mine"), error_of(create_pools, 7),
             error_of(create_pools, ["ok", None])])
        """,
        token=token,
    )
    assert result[0] is True
    assert result[1][:2] == ["SmedgeComponentError", 403]
    assert result[2][0] == result[3][0] == "TypeError"
    assert "mine" not in [pool["name"] for pool in shared.request("GET", "/api/v1/pools/")]
    refused = smedge(shared, "out(error_of(get_pools))", token="not-a-token")
    assert refused[:2] == ["SmedgeComponentError", 401]


# -- engines -------------------------------------------------------------------------------
def test_controlling_engines_examples_as_written(shared: Farm) -> None:
    for name in ("RENDER_0001", "RENDER_0002", "other01"):
        shared.request("POST", f"/api/v1/nodes/{name}/actions/pause")
    smedge(shared, r"""
        enable_engines(regex=r"RENDER_\d{4}")
        """)  # fmt: skip
    paused = {
        name: node(shared, name)["paused"] for name in ("RENDER_0001", "RENDER_0002", "other01")
    }
    assert paused == {"RENDER_0001": False, "RENDER_0002": False, "other01": True}
    smedge(shared, """
        set_engines({"UseGPUs": 4}, regex=".*")
        """)  # fmt: skip
    smedge(shared, """
        events = {
            "WorkFinishedSuccessfulEvt": "python /sw/pipeline/work_finished.py 'success' $(ID) $(Parent) $(Type) $(Scene.File.Enquote)",
            "WorkFinishedUnsuccessfulEvt": "python /sw/pipeline/work_finished.py 'failed' $(ID) $(Parent) $(Type) $(Note.Enquote)",
        }
        set_engines(events, regex=".*")
        """)  # fmt: skip
    engines = smedge(shared, 'out(get_engines(regex=".*"))')
    assert sorted(engine["Name"] for engine in engines) == ["RENDER_0001", "RENDER_0002", "other01"]
    for engine in engines:
        view = node(shared, engine["Name"])
        assert engine["ID"] == view["uuid"] and engine["UseGPUs"] == "4"
        assert engine["WorkFinishedSuccessfulEvt"].startswith("python /sw/pipeline/")
        assert view["engine_settings"]["UseGPUs"] == "4"
        assert engine["Enabled"] == ("0" if engine["Name"] == "other01" else "1")
        assert engine["Status"] == ("Disabled" if engine["Name"] == "other01" else "Idle")
        assert int(engine["CPUs"]) >= 1
    shared.request("POST", "/api/v1/nodes/other01/actions/resume")
    for name in ("RENDER_0001", "RENDER_0002", "other01"):  # the next tests set their own
        shared.request("PATCH", f"/api/v1/nodes/{name}/engine-settings", {"settings": {
            "WorkFinishedSuccessfulEvt": "", "WorkFinishedUnsuccessfulEvt": None}})  # fmt: skip


def test_engines_by_name_id_regex_and_disable(shared: Farm) -> None:
    one = node(shared, "RENDER_0001")
    result = smedge(
        shared,
        f"""
        by_id = get_engines(UUID("{one["uuid"]}"))
        by_text_id = get_engines("{one["uuid"]}")
        by_name = get_engines(["render_0002", "other01"])
        by_list = get_engines(regex=["other.*", "RENDER_0001"])
        disable_engines("other01")
        out([sorted(e["Name"] for e in x) for x in (by_id, by_text_id, by_name, by_list)]
            + [get_engines("other01")[0]["Enabled"], sorted(e["Name"] for e in get_engines())])
        """,
    )
    assert result[:4] == [["RENDER_0001"], ["RENDER_0001"], ["RENDER_0002", "other01"],
                          ["RENDER_0001", "other01"]]  # fmt: skip
    assert result[4] == "0" and node(shared, "other01")["paused"]
    # No names, no patterns: the engines of this machine, where all three run.
    assert result[5] == ["RENDER_0001", "RENDER_0002", "other01"]
    smedge(shared, 'enable_engines(["other01"])')
    assert not node(shared, "other01")["paused"]


def test_engine_calls_refuse_bad_input_and_unauthorised(shared: Farm) -> None:
    submitter = make_user(shared, "engine-submitter", "submit")
    refused = smedge(
        shared,
        """
        out([error_of(set_engines, {"UseGPUs": 2}, regex=".*"),
             error_of(set_engines, {"WorkFinishedSuccessfulEvt": "touch /tmp/x"}, "other01"),
             error_of(disable_engines, "other01"), error_of(reset_engine_failures, regex=".*"),
             len(get_engines(regex=".*"))])
        """,
        token=submitter,
    )
    assert [entry[:2] for entry in refused[:4]] == [["SmedgeComponentError", 403]] * 4
    assert refused[4] == 3
    assert not node(shared, "other01")["paused"]
    assert "WorkFinishedSuccessfulEvt" not in node(shared, "other01")["engine_settings"]
    bad = smedge(
        shared,
        """
        out([error_of(set_engines, "UseGPUs=4", regex=".*"),
             error_of(set_engines, {"UseGPUs": 1}, regex="("),
             error_of(get_engines, 42), error_of(get_engines, regex=[1]),
             error_of(get_engines, "no-such-engine"),
             error_of(set_engines, {"ID": "x"}, "other01"),
             error_of(set_engines, {"JobStartedEvt": "echo"}, "other01"),
             error_of(set_engines, {"WorkFinishedSuccessfulEvt": "echo 'open"}, "other01"),
             error_of(set_engines, {"bad name!": "1"}, "other01"),
             error_of(set_engines, {"Big": "x" * 5000}, "other01"),
             error_of(set_engines, {"Nested": [1]}, "other01"),
             error_of(set_engines, {"UseGPUs": {"a": "b"}}, "other01"),
             error_of(set_engines, {"WorkFinishedSuccessfulEvt": "echo $(Scene.Bogus)"}, "other01"),
             error_of(enable_engines, "nobody")])
        """,
    )
    kinds = [entry[0] if entry else None for entry in bad]
    assert kinds[:5] == [
        "TypeError",
        "ValueError",
        "TypeError",
        "TypeError",
        "SmedgeComponentError",
    ]
    assert all(entry[0] == "SmedgeComponentError" for entry in bad[5:])
    assert all(400 <= entry[1] < 500 for entry in bad[5:13]) and bad[13][1] == 404
    assert all("not supported" in bad[n][2] for n in (5, 6, 11))  # docs/compat.md's list
    settings = node(shared, "other01")["engine_settings"]
    assert not {"ID", "JobStartedEvt", "Big", "Nested", "bad name!"} & set(settings)
    # Hostile REST bodies: too many settings, a wrong shape; nothing changes.
    many = {f"S{i}": "1" for i in range(300)}
    for body in ({"settings": many}, {"settings": []}, {"settings": {}}, {"other": 1}, [1]):
        answer = call(shared, "PATCH", "/api/v1/nodes/other01/engine-settings", body)
        assert 400 <= answer.status < 500, (body, answer.status)
    assert node(shared, "other01")["engine_settings"] == settings
    assert call(shared, "GET", "/api/v1/nodes/nobody/dispatch-report").status == 404
    manager = make_user(shared, "engine-manager", "manage_nodes")
    smedge(shared, 'set_engines({"Department": "lighting"}, "other01")', token=manager)
    assert node(shared, "other01")["engine_settings"]["Department"] == "lighting"


def test_engine_events_run_on_the_render_client(make_farm: Any, tmp_path: Path) -> None:
    farm: Farm = make_farm()
    farm.client("RENDER_0100")
    farm.wait_nodes(1)
    record = tmp_path / "events.jsonl"
    script = tmp_path / "work_finished.py"
    script.write_text(
        "import json, os, sys\n"
        f"with open({str(record)!r}, 'a') as out:\n"
        "    out.write(json.dumps({'argv': sys.argv[1:], 'node': os.environ.get('CORRAL_NODE'),\n"
        "        'event': os.environ.get('CORRAL_ENGINE_EVENT')}) + '\\n')\n"
        "print('work_finished saw', sys.argv[1])\n"
    )
    smedge(farm, f"""
        events = {{
            "WorkFinishedSuccessfulEvt": "{PYTHON3} {script} 'success' $(ID) $(Parent) $(Type) $(Scene.File.Enquote)",
            "WorkFinishedUnsuccessfulEvt": "{PYTHON3} {script} 'failed' $(ID) $(Parent) $(Type) $(Note.Enquote)",
        }}
        set_engines(events, regex=".*")
        """)  # fmt: skip
    good = farm.submit(command=["true"], data={"Scene": "/path/to the/scene file.mb"})
    farm.wait_state(good["id"], "done")
    lines = wait_for(lambda: record.exists() and record.read_text().splitlines(), 30, "event")
    seen = json.loads(lines[0])
    work_id = seen["argv"][1]
    assert seen["argv"] == ["success", work_id, good["uuid"], "cmdline", "scene file.mb"]
    assert seen["node"] == "RENDER_0100" and seen["event"] == "WorkFinishedSuccessfulEvt"
    assert len(work_id) == 36 and work_id != good["uuid"]
    logged = wait_for(
        lambda: (
            "work_finished saw success"
            in (text := farm.request("GET", "/api/v1/logs/dispatcher") or "")
            and text
        ),
        30,
        "the event's output in the dispatcher log",
    )
    assert "engine RENDER_0100" in logged and "WorkFinishedSuccessfulEvt" in logged
    bad = farm.submit(command=["false"], requeue=0, notes="a note; $(ID) stays text")
    farm.wait_state(bad["id"], "failed")
    lines = wait_for(lambda: len(lines := record.read_text().splitlines()) > 1 and lines, 30, "2nd")
    failed = json.loads(lines[1])
    assert failed["argv"][0] == "failed" and failed["argv"][2] == bad["uuid"]
    assert failed["argv"][4] == "a note; $(ID) stays text"
    report = smedge(
        farm, 'out({str(k): v for k, v in get_engine_dispatch_log("RENDER_0100").items()})'
    )
    uuid = node(farm, "RENDER_0100")["uuid"]
    assert list(report) == [uuid]
    assert "WorkFinishedUnsuccessfulEvt" in report[uuid] and "enabled" in report[uuid]
    # The failed job left a failure on the node; reset_engine_failures forgets it.
    assert node(farm, "RENDER_0100")["failures"] == {str(bad["id"]): 1}
    smedge(farm, 'reset_engine_failures("RENDER_0100")')
    assert node(farm, "RENDER_0100")["failures"] == {}
    # A removed node's settings go with it.
    key = f"engine:{uuid}"
    assert key in records(farm)
    for client in farm.clients:
        client.terminate()
        client.wait()
    wait_for(lambda: not node(farm, "RENDER_0100")["online"], 30, "the node offline")
    farm.request("DELETE", "/api/v1/nodes/RENDER_0100")
    assert key not in records(farm)


def records(farm: Farm) -> dict[str, Any]:
    with sqlite3.connect(farm.data_dir / "corral.db") as db:
        rows = db.execute("SELECT name, info FROM records WHERE kind = 'config'").fetchall()
    return {name: json.loads(info) for name, info in rows}


# -- path translations ---------------------------------------------------------------------
def test_path_translations_over_repositories(shared: Farm) -> None:
    result = smedge(
        shared,
        r"""
        add_path_translations(PathTranslation("P:\\proj", "/mnt/proj", "/Volumes/proj"))
        add_path_translations([("S:\\shows", "/mnt/shows", ""), ["T:\\tex", "/mnt/tex", "/Volumes/tex"]])
        add_path_translations(["S:\\shows", "/mnt/shows", ""])  # already there
        first = get_path_translations()
        remove_path_translations("/mnt/shows")
        remove_path_translations(["/Volumes/tex", "nothing"])
        out([[list(t) for t in first], [list(t) for t in get_path_translations()],
             isinstance(first[0], PathTranslation),
             error_of(add_path_translations, "P:"), error_of(add_path_translations, [("a", "b")]),
             error_of(add_path_translations, 5), error_of(add_path_translations, [(1, 2, 3)]),
             error_of(remove_path_translations, 5), error_of(remove_path_translations, [None])])
        """,
    )
    assert sorted(result[0]) == sorted([["P:\\proj", "/mnt/proj", "/Volumes/proj"],
                                        ["S:\\shows", "/mnt/shows", ""],
                                        ["T:\\tex", "/mnt/tex", "/Volumes/tex"]])  # fmt: skip
    assert result[1] == [["P:\\proj", "/mnt/proj", "/Volumes/proj"]] and result[2] is True
    assert [entry[0] for entry in result[3:]] == ["TypeError"] * 6
    repos = shared.request("GET", "/api/v1/repositories/")
    assert [repo["linux"] for repo in repos] == ["/mnt/proj"]
    submitter = make_user(shared, "path-submitter", "submit")
    refused = smedge(
        shared, 'out(error_of(add_path_translations, ("X:", "/x", "/x")))', token=submitter
    )
    assert refused[:2] == ["SmedgeComponentError", 403]
    smedge(shared, 'remove_path_translations("/mnt/proj")')
    assert shared.request("GET", "/api/v1/repositories/") == []


# -- the master ----------------------------------------------------------------------------
def test_master_id_is_stable_and_never_raises(make_farm: Any) -> None:
    farm: Farm = make_farm()
    first = smedge(farm, "out(str(get_master_id()))")
    assert len(first) == 36 and farm.request("GET", "/api/v1/system/identity")["uuid"] == first
    # SMEDGE_MASTER naming only the host: the port from SMEDGE_MASTER_PORT.
    host, port = farm.url.split("//", 1)[1].rsplit(":", 1)
    split = {"SMEDGE_MASTER": host, "SMEDGE_MASTER_PORT": port}
    assert smedge(farm, "out(str(get_master_id()))", **split) == first
    assert smedge(farm, "out([get_master_id()])", SMEDGE_MASTER=host) == [None]  # 9890: not it
    bad_port = smedge(farm, "out(error_of(get_pools))", **{**split, "SMEDGE_MASTER_PORT": "x"})
    assert bad_port[0] == "SmedgeComponentError" and "SMEDGE_MASTER_PORT" in bad_port[2]
    # No CORRAL_TOKEN: the token file `corral login` writes, as the corral command finds it.
    home = farm.data_dir.parent / "smedge-home"
    (home / ".config" / "corral").mkdir(parents=True, exist_ok=True)
    (home / ".config" / "corral" / "token").write_text(farm.token + "\n")
    assert smedge(farm, "out(str(get_master_id()))", token="", HOME=str(home)) == first
    empty = farm.data_dir.parent / "smedge-nobody"
    empty.mkdir(exist_ok=True)
    assert smedge(farm, "out([get_master_id()])", token="", HOME=str(empty)) == [None]
    farm.stop()
    down = smedge(farm, "out([get_master_id(), 1])")
    assert down == [None, 1]
    garbled = smedge(farm, "out([get_master_id()])", SMEDGE_MASTER_PORT="not-a-port")
    assert garbled == [None]
    unauthorised = smedge(farm, "out([get_master_id()])", token="wrong")
    assert unauthorised == [None]
    farm.start()
    assert smedge(farm, "out(str(get_master_id()))") == first


def test_download_file_and_super_exit(shared: Farm, tmp_path: Path) -> None:
    shared_file = tmp_path / "render notes.txt"
    shared_file.write_text("frame 1001 done\nfrälse\n")
    result = smedge(
        shared,
        f"""
        out([download_file("RENDER_0001", {str(shared_file)!r}),
             error_of(download_file, "RENDER_0001", {str(tmp_path / "missing")!r}),
             error_of(download_file, "RENDER_0001", uuid4()),
             error_of(download_file, "nobody", "/etc/hostname"),
             error_of(download_file, 5, "/etc/hostname"),
             error_of(super_exit)])
        """,
    )
    assert result[0] == "frame 1001 done\nfrälse\n"
    assert result[1][0] == "SmedgeComponentError" and "No such file" in result[1][2]
    assert result[2][:2] == ["SmedgeComponentError", 501] and "not supported" in result[2][2]
    assert result[3][:2] == ["SmedgeComponentError", 404] and result[4][0] == "TypeError"
    assert result[5][:2] == ["SmedgeComponentError", 501] and "not supported" in result[5][2]
    big = tmp_path / "big.exr"
    big.write_bytes(b"x" * (701 * 1024))
    too_big = smedge(shared, f'out(error_of(download_file, "RENDER_0001", {str(big)!r}))')
    assert too_big[:2] == ["SmedgeComponentError", 501]
    assert (
        too_big[2].startswith("not supported: download_file of ") and "717824 bytes" in too_big[2]
    )
    wrangler = make_user(shared, "download-wrangler", "manage_nodes")
    refused = smedge(shared, f'out(error_of(download_file, "RENDER_0001", {str(shared_file)!r}))',
                     token=wrangler)  # fmt: skip
    assert refused[:2] == ["SmedgeComponentError", 403]


def test_engines_example_script(shared: Farm) -> None:
    example = Path(__file__).parents[2] / "examples" / "compat" / "smedge_engines.py"
    environ = {**os.environ, "PYTHONPATH": compat_path(), "CORRAL_TOKEN": shared.token,
               "SMEDGE_MASTER": shared.url.split("//", 1)[1]}  # fmt: skip
    done = subprocess.run(
        [PYTHON3, str(example), r"RENDER_\d{4}", "/sw/pipeline/work_finished.py"],
        capture_output=True, text=True, env=environ, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    identity = shared.request("GET", "/api/v1/system/identity")["uuid"]
    assert done.stdout.startswith(f"farm {identity}\n")
    assert "RENDER_0001" in done.stdout and "UseGPUs=4" in done.stdout
    assert "other01" not in done.stdout and "enabled" in done.stdout
    settings = node(shared, "RENDER_0002")["engine_settings"]
    assert settings["WorkFinishedSuccessfulEvt"].startswith("python3 /sw/pipeline/work_finished.py")
    assert "GPU" in [pool["name"] for pool in shared.request("GET", "/api/v1/pools/")]
    for name in ("RENDER_0001", "RENDER_0002"):
        shared.request("PATCH", f"/api/v1/nodes/{name}/engine-settings", {"settings": {
            "WorkFinishedSuccessfulEvt": None, "WorkFinishedUnsuccessfulEvt": None}})  # fmt: skip


def test_new_routes_refuse_bad_input_and_unknown_callers(shared: Farm) -> None:
    made = shared.request("POST", "/api/v1/pools/", {"name": "route-check"})
    pools_before = shared.request("GET", "/api/v1/pools/")
    for body in ({"name": ""}, {"name": "a,b"}, {"name": "x\n"}, {"name": "x" * 300},
                 {"name": 5}, {"name": "y", "more": 1}, [], {}):  # fmt: skip
        answer = call(shared, "POST", f"/api/v1/pools/{made['uuid']}/rename", body)
        assert 400 <= answer.status < 500, (body, answer.status)
    assert call(shared, "POST", "/api/v1/pools/nothing/rename", {"name": "z"}).status == 404
    submitter = make_user(shared, "route-submitter", "submit")
    answer = call(
        shared, "POST", "/api/v1/pools/route-check/rename", {"name": "z"}, token=submitter
    )
    assert answer.status == 403
    assert shared.request("GET", "/api/v1/pools/") == pools_before
    for path in ("/api/v1/system/identity", "/api/v1/nodes/other01/engine-settings",
                 "/api/v1/nodes/other01/dispatch-report"):  # fmt: skip
        assert call(shared, "GET", path, token="").status == 401
        assert call(shared, "GET", path, token=submitter).status == 200
    answer = call(shared, "POST", "/api/v1/nodes/other01/reset-failures", token=submitter)
    assert answer.status == 403
    assert call(shared, "POST", "/api/v1/nodes/nobody/reset-failures").status == 404
    shared.request("DELETE", "/api/v1/pools/route-check")


def test_disable_engines_with_stop_work_hands_the_work_back(shared: Farm) -> None:
    shared.request("POST", "/api/v1/pools/", {"name": "only-0002", "nodes": ["RENDER_0002"]})
    job = shared.submit(command=["sleep", "60"], pools=["only-0002"])
    wait_for(lambda: node(shared, "RENDER_0002")["running"], 30, "the chunk to run")
    smedge(shared, 'disable_engines("RENDER_0002", stop_work=True)')
    wait_for(lambda: not node(shared, "RENDER_0002")["running"], 30, "the kill")
    assert node(shared, "RENDER_0002")["paused"]
    assert shared.job(job["id"])["chunks"]["queued"] == 1
    smedge(shared, 'enable_engines("RENDER_0002")')
    wait_for(lambda: node(shared, "RENDER_0002")["running"], 30, "the chunk to run again")
    shared.request("DELETE", f"/api/v1/jobs/{job['id']}")
    shared.request("DELETE", "/api/v1/pools/only-0002")
