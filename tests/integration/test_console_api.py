"""MConsoleAPI on a live farm: every function called from a console-context script
(`corral run-script FILE --target console`) and its effect checked through REST or the
store; the same script bodies in the dispatcher context; wrong contexts, bad arguments,
refused tokens and unreachable dispatchers."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from hooks.api.dispatcher_api import EXTENSIONS, FUNCTION_NAMES
from tests.integration.account_checks import (
    check_pools_decide_where_jobs_run,
    check_repositories,
    check_users_and_groups,
)
from tests.integration.farm import CORRAL, Farm, free_udp_port
from tests.integration.hookfarm import run_script, script_json, start_farm, write_template
from tests.integration.job_checks import (
    check_folders_edit_and_delete,
    check_reinit_chunk_status_and_update,
    check_submit_list_get_and_chunks,
)
from tests.integration.node_checks import (
    check_kill_a_nodes_process,
    check_kill_the_nodes_working_on_a_job,
    check_lookup_notes_pause_resume_update,
    check_priority_realtime_log_python_and_system_events,
    check_purge_exclusions,
    check_soft_restart_and_remove_registration,
    node,
)
from tests.integration.system_checks import (
    check_activity_and_action_logs,
    check_configuration_and_ldap,
    check_dispatcher_log,
    check_engine_status,
    check_export_and_import_round_trip,
    check_soft_restart_and_network_scan,
    check_statistics_and_history,
)

ROOT = Path(__file__).resolve().parents[2]
F = TypeVar("F", bound=Callable[..., Any])

# The seed's selective import: every script body below runs after it, in either context.
PRELUDE = """\
import json
if (muster.runningContext() == "console"): import MConsoleAPI as api
elif (muster.runningContext() == "dispatcher"): import MDispatcherAPI as api
"""

# MConsoleAPI function name -> the tests that call it in the console context and check its effect.
COVERED: dict[str, list[str]] = {}


def console_covers(*names: str) -> Callable[[F], F]:
    """Mark a test as the check of these MConsoleAPI functions."""
    unknown = [name for name in names if name not in FUNCTION_NAMES + EXTENSIONS]
    if unknown:
        raise AssertionError(f"not MConsoleAPI functions: {unknown}")

    def mark(test: F) -> F:
        for name in names:
            COVERED.setdefault(name, []).append(test.__name__)
        return test

    return mark


def console_env(farm: Farm, token: str | None = None, url: str | None = None) -> dict[str, str]:
    return {**os.environ, "CORRAL_DISPATCHER": url or farm.url,
            "CORRAL_TOKEN": farm.token if token is None else token, "HOME": str(farm.data_dir)}  # fmt: skip


def run_console(
    farm: Farm,
    code: str,
    *,
    token: str | None = None,
    url: str | None = None,
    timeout_s: float = 120,
) -> subprocess.CompletedProcess[str]:
    """`corral run-script FILE --target console` with `code` after the seed's import."""
    path = farm.data_dir.parent / f"console-{time.monotonic_ns()}.py"
    path.write_text(PRELUDE + textwrap.dedent(code))
    return subprocess.run(
        [CORRAL, "run-script", str(path), "--target", "console"],
        env=console_env(farm, token, url), capture_output=True, text=True, timeout=timeout_s,
    )  # fmt: skip


def console_json(farm: Farm, code: str, **options: Any) -> Any:
    """Run a console script that prints one JSON value last; fail the test otherwise."""
    done = run_console(farm, code, **options)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert lines, f"the script printed nothing: {done.stderr}"
    return json.loads(lines[-1])


def console_values(farm: Farm, code: str) -> Any:
    return console_json(farm, code)


def dispatcher_json(farm: Farm, code: str) -> Any:
    """The same body in the dispatcher context (the hook host)."""
    return script_json(farm, PRELUDE + textwrap.dedent(code))


# A template that names `muster` without importing it, in each context Corral runs it in.
CONTEXT_TEMPLATE = """
import shlex
import MTemplateAPI

LOADED_IN = muster.runningContext()

class Contexts(MTemplateAPI.MTemplate):
    def __init__(self):
        MTemplateAPI.MTemplate.__init__(self)
        self.setID(778)
        self.setKey("contexts")
        self.setName("contexts")
        for platform in self.platforms():
            platform.setPlatformEnabled(1)

    def onSubmitJob(self, job):
        job.setNotes("submitted in " + muster.runningContext())

    def onBuildCommandLine(self, platform, job, chunk, prefs, instance):
        return shlex.join(job.to_dict()["command"] + [muster.runningContext()])

MTemplateAPI.MManager.getUniqueClass().installPyTemplate(Contexts())
"""


@pytest.fixture(scope="module")
def jobs_farm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Farm]:
    root = tmp_path_factory.mktemp("console-jobs")
    farm = start_farm(root / "farm")
    farm.client("alpha", instances=2)
    farm.wait_nodes(2)
    yield farm
    farm.close()


@pytest.fixture(scope="module")
def nodes_farm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Farm]:
    root = tmp_path_factory.mktemp("console-nodes")
    farm = start_farm(root / "farm")
    events = root / "events.txt"
    farm.client("alpha")
    farm.client("beta", "--system-event-command", f"sh -c 'echo $0 >> {events}'")
    farm.wait_nodes(2)
    yield farm
    farm.close()


@pytest.fixture(scope="module")
def system_setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Farm, Path, int]]:
    root = tmp_path_factory.mktemp("console-system")
    port = free_udp_port()
    write_template(root / "templates", "contexts.py", CONTEXT_TEMPLATE)
    shutil.copy(ROOT / "tests" / "data" / "templates" / "katana.py", root / "templates")
    farm = start_farm(root / "farm", "--templates-dir", str(root / "templates"),
                      "--discovery-address", f"127.0.0.1:{port}")  # fmt: skip
    farm.client("alpha", "--pool", "lighting")
    farm.wait_nodes(1)
    yield farm, root / "templates", port
    farm.close()


@pytest.fixture(scope="module")
def accounts_farm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Farm]:
    root = tmp_path_factory.mktemp("console-accounts")
    farm = start_farm(root / "farm")
    farm.client("alpha", "--pool", "cpu")
    farm.client("beta")
    farm.wait_nodes(2)
    yield farm
    farm.close()


# ---- jobs
@console_covers("jobSubmit", "jobGetList", "jobGet", "chunkGetList", "chunkGet")
def test_submit_list_get_and_chunks(jobs_farm: Farm, tmp_path: Path) -> None:
    check_submit_list_get_and_chunks(jobs_farm, console_json, tmp_path)


@console_covers("jobAddFolder", "jobReparent", "jobEdit", "jobDelete")
def test_folders_edit_and_delete(jobs_farm: Farm) -> None:
    check_folders_edit_and_delete(jobs_farm, console_json)


@console_covers("jobReinit", "chunkSetStatus", "jobUpdateStatus", "jobUpdate")
def test_reinit_chunk_status_and_update(jobs_farm: Farm, tmp_path: Path) -> None:
    check_reinit_chunk_status_and_update(jobs_farm, console_json, tmp_path)


# ---- nodes
@console_covers(
    "nodeGetList",
    "nodeGet",
    "nodeGetByName",
    "nodeSetNotes",
    "nodePause",
    "nodeResume",
    "nodeForceUpdate",
)
def test_lookup_notes_pause_resume_update(nodes_farm: Farm) -> None:
    check_lookup_notes_pause_resume_update(nodes_farm, console_json)


@console_covers(
    "nodeSetProcessPriority", "nodeSetRealtimeLog", "nodeRunPythonCode", "nodeSendSystemEvent"
)
def test_priority_realtime_log_python_and_system_events(nodes_farm: Farm, tmp_path: Path) -> None:
    check_priority_realtime_log_python_and_system_events(nodes_farm, console_json, tmp_path)


@console_covers("nodeKillProcess", "nodeKillProcessAndPause", "nodeKillProcessAndRestart")
def test_kill_a_nodes_process(nodes_farm: Farm) -> None:
    check_kill_a_nodes_process(nodes_farm, console_json)


@console_covers(
    "nodeKillAndPauseNodesWorkingOnJob",
    "nodeKillAndRedoNodesWorkingOnJob",
    "nodeKillAndGoOnNodesWorkingOnJob",
)
def test_kill_the_nodes_working_on_a_job(nodes_farm: Farm) -> None:
    check_kill_the_nodes_working_on_a_job(nodes_farm, console_json)


@console_covers("nodePurgeTemplatesExclusion", "nodePurgeJobsExclusions")
def test_purge_exclusions(nodes_farm: Farm) -> None:
    check_purge_exclusions(nodes_farm, console_json)


@console_covers("nodeSoftRestart", "nodeRemoveRegistration")
def test_soft_restart_and_remove_registration(nodes_farm: Farm) -> None:
    check_soft_restart_and_remove_registration(nodes_farm, console_json)


# ---- system
@console_covers("logClear", "logAddMessage", "logAddInternalMessage")
def test_dispatcher_log(system_setup: tuple[Farm, Path, int]) -> None:
    check_dispatcher_log(system_setup, console_values)


@console_covers("dbGetStatisticsBounds", "dbClearStatisticsBounds", "dbGetHistoryBounds", "dbClearHistoryBounds",
        "systemResetStatisticsCounters")  # fmt: skip
def test_statistics_and_history(system_setup: tuple[Farm, Path, int]) -> None:
    check_statistics_and_history(system_setup, console_values)


@console_covers("dbExportQueueSQL", "dbImportQueueSQL")
def test_export_and_import_round_trip(system_setup: tuple[Farm, Path, int], tmp_path: Path) -> None:
    check_export_and_import_round_trip(system_setup, console_values, tmp_path)


@console_covers("systemQueryEngineStatus", "systemSwapEngineStatus")
def test_engine_status(system_setup: tuple[Farm, Path, int]) -> None:
    check_engine_status(system_setup, console_values)


@console_covers("systemSoftRestart", "systemStartNodesNetworkScan")
def test_soft_restart_and_network_scan(system_setup: tuple[Farm, Path, int]) -> None:
    check_soft_restart_and_network_scan(system_setup, console_values)


@console_covers(
    "systemGetConfiguration",
    "systemSetConfiguration",
    "systemGetLDAPConfiguration",
    "systemSetLDAPConfiguration",
)
def test_configuration_and_ldap(system_setup: tuple[Farm, Path, int]) -> None:
    check_configuration_and_ldap(system_setup, console_values)


@console_covers("systemGetActivityLogsList", "systemGetActivityLog", "systemRemoveActivityLog",
        "systemGetActionLogsList", "systemGetActionLog", "systemRemoveActionLog")  # fmt: skip
def test_activity_and_action_logs(system_setup: tuple[Farm, Path, int]) -> None:
    check_activity_and_action_logs(system_setup, console_values)


# ---- accounts
@console_covers("userGetList", "userGet", "userAdd", "userRemove", "userConfigure",
        "groupGetList", "groupGet", "groupAdd", "groupRemove", "groupConfigure")  # fmt: skip
def test_users_and_groups(accounts_farm: Farm) -> None:
    check_users_and_groups(accounts_farm, console_values)


@console_covers(
    "poolGetList", "poolGet", "poolAdd", "poolConfigure", "poolRemove", "poolNotifyChanges"
)
def test_pools_decide_where_jobs_run(accounts_farm: Farm) -> None:
    check_pools_decide_where_jobs_run(accounts_farm, console_values)


@console_covers("repositoriesGetList", "repositoriesGet", "repositoriesAdd", "repositoriesConfigure",
        "repositoriesRemove", "repositoriesNotifyChanges")  # fmt: skip
def test_repositories(accounts_farm: Farm) -> None:
    check_repositories(accounts_farm, console_values)


@console_covers(*EXTENSIONS)
def test_client_configuration_of_nodes_and_pools(system_setup: tuple[Farm, Path, int]) -> None:
    farm, _, _ = system_setup
    alpha = node(farm, "alpha")["id"]
    node_path = f"/api/v1/nodes/{alpha}/template-config/katana"
    said = console_json(
        farm,
        f"""
out = {{}}
out["pool_set"] = api.poolSetTemplateConfiguration("lighting", "katana", {{"KATAPP": "/opt/katana"}}).getErrorCode()
out["pool"] = api.poolGetTemplateConfiguration("lighting", 962)[1]
out["node_set"] = api.nodeSetTemplateConfiguration({alpha}, "katana", {{"KATTHREADS": 6}}).getErrorCode()
out["node"] = api.nodeGetTemplateConfiguration({alpha}, "katana")[1]
err = api.nodeSetTemplateConfiguration({alpha}, "katana", {{"NOPE": 1}})
out["unknown"] = [err.getErrorCode(), err.getDescription()]
out["not_a_dict"] = api.nodeSetTemplateConfiguration({alpha}, "katana", "KATAPP=/x").getErrorCode()
out["no_pool"] = [api.poolGetTemplateConfiguration("nosuch", "katana")[0].getErrorCode(),
                  api.poolGetTemplateConfiguration("nosuch", "katana")[1]]
out["no_node"] = [api.nodeGetTemplateConfiguration(9999, "katana")[0].getErrorCode(),
                  api.nodeGetTemplateConfiguration(9999, "katana")[1]]
print(json.dumps(out))
""",
    )
    assert said["pool_set"] == 0 and said["node_set"] == 0, said
    pool_view = farm.request("GET", "/api/v1/pools/lighting/template-config/katana")
    assert pool_view["values"] == {"KATAPP": "/opt/katana"} and said["pool"] == pool_view
    node_view = farm.request("GET", node_path)
    assert node_view["node_values"] == {"KATTHREADS": 6} and said["node"] == node_view
    assert node_view["effective"]["KATAPP"] == "/opt/katana"
    assert said["unknown"][0] == 2 and "NOPE" in said["unknown"][1] and said["not_a_dict"] == 2
    assert said["no_pool"] == [3, None] and said["no_node"] == [3, None]
    cleared = console_json(
        farm,
        f"""
print(json.dumps([api.nodeSetTemplateConfiguration({alpha}, "katana", {{}}).getErrorCode(),
                  api.poolSetTemplateConfiguration("lighting", "katana", {{}}).getErrorCode()]))
""",
    )
    assert cleared == [0, 0]
    assert farm.request("GET", node_path)["node_values"] == {}
    assert farm.request("GET", "/api/v1/pools/lighting/template-config/katana")["values"] == {}


# ---- the same body in both contexts, contexts, arguments, credentials, reachability

SAME_BODY = """
err_jobs, jobs = api.jobGetList()
err_job, job = api.jobGet(jobs[0].getJobId())
err_chunks, chunks = api.chunkGetList(job.getJobId())
err_nodes, nodes = api.nodeGetList()
err_pools, pools = api.poolGetList()
err_users, users = api.userGetList()
err_groups, groups = api.groupGetList()
err_config, config = api.systemGetConfiguration()
err_engine, engine = api.systemQueryEngineStatus()
missing = api.jobGet(987654)
bad = api.chunkSetStatus(job.getJobId(), 0, "running")
print(json.dumps({
    "codes": [e.getErrorCode() for e in (err_jobs, err_job, err_chunks, err_nodes, err_pools,
              err_users, err_groups, err_config, err_engine)],
    "jobs": [[j.getJobId(), j.getName(), str(j.getStatus()), j.getOwner(), j.getPriority(),
              j.getIncludedPools(), j.getParentId(), j.getPacketSize(), j.getDepends(),
              j.attributeGetFloat("start_frame"), j.attributeGetFloat("end_frame"),
              j.getJobType(), j.getPaused(), j.getNotes()] for j in jobs],
    "job": job.to_dict(),
    "chunks": [[c.getChunkId(), c.getStatus(), c.getStartFrame(), c.getEndFrame(), c.getAttempt(),
                c.getNodeName()] for c in chunks],
    "nodes": [[n.getID(), n.getName(), n.getStatusName(), n.isOnline(), n.getPools(),
               n.getExcludedTemplates()] for n in nodes],
    "pools": [[p.getName(), p.getNodes()] for p in pools],
    "users": [[u.getName(), u.getPermissions(), u.getGroups()] for u in users],
    "groups": [g.getName() for g in groups],
    "config": [config.getHookTimeout(), config.getKeys()], "engine": engine,
    "missing": [missing[0].getErrorCode(), missing[0].getDescription(), missing[1]],
    "bad": [bad.getErrorCode(), bad.getDescription()],
}))
"""


def test_the_same_body_gives_the_same_results_in_both_contexts(accounts_farm: Farm) -> None:
    farm = accounts_farm
    parent = farm.request("POST", "/api/v1/folders/", {"title": "both contexts"})
    farm.submit(title="paused in both", frames="1-6", batch=2, paused=True, priority=61,
                pools=["cpu"], parent=parent["id"], notes="a note", command=["true"])  # fmt: skip
    console = console_json(farm, SAME_BODY)
    dispatcher = dispatcher_json(farm, SAME_BODY)
    assert console["codes"] == [0] * 9
    assert console == dispatcher
    assert console["missing"][0] == 3 and console["bad"][0] == 2


@pytest.mark.parametrize("where", ["dispatcher", "plain"])
def test_every_function_refuses_the_wrong_context(accounts_farm: Farm, where: str) -> None:
    body = """
import inspect, json, MConsoleAPI
codes = {}
for name, function in MConsoleAPI.functions(extensions=True).items():
    required = [p for p in inspect.signature(function).parameters.values() if p.default is inspect.Parameter.empty]
    result = function(*[None] * len(required))
    err = result[0] if isinstance(result, tuple) else result
    codes[name] = [err.getErrorCode(), "console context" in err.getDescription()]
print(json.dumps(codes))
"""
    if where == "dispatcher":
        codes = script_json(accounts_farm, body)
    else:
        done = subprocess.run([sys.executable, "-c", body], capture_output=True, text=True,
                              env=console_env(accounts_farm), timeout=60, check=True)  # fmt: skip
        codes = json.loads(done.stdout)
    assert set(codes) == set(FUNCTION_NAMES + EXTENSIONS)
    assert all(value == [1, True] for value in codes.values()), codes


def test_bad_arguments_are_a_musterr_and_change_nothing(accounts_farm: Farm) -> None:
    farm = accounts_farm
    before = farm.request("GET", "/api/v1/jobs/")
    result = console_json(
        farm,
        """
import inspect
codes = {}
for name, function in api.functions(extensions=True).items():
    required = [p for p in inspect.signature(function).parameters.values() if p.default is inspect.Parameter.empty]
    if not required:
        continue
    for args in ([None] * len(required), [object()] * len(required), [True] * len(required)):
        result = function(*args)
        err = result[0] if isinstance(result, tuple) else result
        codes.setdefault(name, []).append(err.getErrorCode())
job = api.MJob(); job.setName("x" * 300000); job.setCommand(["true"]); job._data["priority"] = "high"
huge = api.jobSubmit(job, "admin")
nasty = [api.jobGet(-5)[0].getErrorCode(), api.nodeGetByName("../../etc")[0].getErrorCode(),
         api.userGet("a/b?c=d")[0].getErrorCode(), api.chunkGet(1, 10**30)[0].getErrorCode(),
         api.systemGetActionLog("../corral.db")[0].getErrorCode()]
print(json.dumps({"codes": codes, "huge": huge.getErrorCode(), "nasty": nasty}))
""",
    )
    wrong = {name: codes for name, codes in result["codes"].items() if set(codes) != {2}}
    assert not wrong, wrong
    assert result["huge"] == 2
    assert result["nasty"][0] == 3 and result["nasty"][1] == 3 and result["nasty"][2] == 3
    assert result["nasty"][3] in (2, 3) and result["nasty"][4] in (2, 3)
    assert farm.request("GET", "/api/v1/jobs/") == before


def test_a_refused_token_is_a_musterr(accounts_farm: Farm) -> None:
    farm = accounts_farm
    body = """
err, jobs = api.jobGetList()
user = api.MUser("intruder"); user.setPermissions("administer")
added = api.userAdd(user)
print(json.dumps([err.getErrorCode(), err.getDescription(), len(jobs), added.getErrorCode()]))
"""
    bogus = console_json(farm, body, token="not-a-token")
    assert bogus[0] == 6 and "token" in bogus[1] and bogus[2] == 0 and bogus[3] == 6
    reported = run_console(farm, body, token="not-a-token").stderr.splitlines()
    assert [line.split(":")[0] for line in reported] == [
        "MUSTERERR jobGetList",
        "MUSTERERR userAdd",
    ]
    farm.request("POST", "/api/v1/users/", {"name": "viewer", "password": "viewer-pass-1"})
    token = farm.request(
        "POST", "/api/v1/login", {"username": "viewer", "password": "viewer-pass-1"}
    )["token"]
    viewer = console_json(farm, body, token=token)
    assert viewer[0] == 0 and viewer[3] == 6  # reading is allowed, adding a user is not
    assert "intruder" not in [user["name"] for user in farm.request("GET", "/api/v1/users/")]


def test_an_unreachable_dispatcher_is_a_musterr_in_bounded_time(accounts_farm: Farm) -> None:
    farm = accounts_farm
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    started = time.monotonic()
    refused = console_json(farm, "print(json.dumps(api.jobGetList()[0].getErrorCode()))",
                           url=f"http://127.0.0.1:{port}")  # fmt: skip
    assert refused == 10 and time.monotonic() - started < 20
    with socket.socket() as silent:  # accepts connections, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        started = time.monotonic()
        result = console_json(
            farm,
            f"""
api.connect({url!r}, timeout_s=1)
err, jobs = api.jobGetList()
print(json.dumps([err.getErrorCode(), jobs]))
""",
        )
    assert result == [9, []] and time.monotonic() - started < 20


def test_muster_is_a_builtin_in_every_context(system_setup: tuple[Farm, Path, int]) -> None:
    farm, _, _ = system_setup
    keys = [template["key"] for template in farm.request("GET", "/api/v1/templates/")["templates"]]
    assert (
        "contexts" in keys
    )  # its top level named `muster`: the catalog loader and hook host ran it
    out = farm.data_dir.parent / "context-out.txt"
    job = farm.submit(
        title="contexts", template="contexts", command=["sh", "-c", f'echo "$0" > {out}']
    )
    farm.wait_state(job["id"], "done")
    assert out.read_text().split() == ["renderclient"]
    assert farm.job(job["id"])["notes"] == "submitted in dispatcher"
    assert console_json(farm, "print(json.dumps(muster.runningContext()))") == "console"
    assert dispatcher_json(farm, "print(json.dumps(muster.runningContext()))") == "dispatcher"
    alpha = node(farm, "alpha")
    ran = console_json(
        farm,
        f"""
out = api.MStringRef()
err = api.nodeRunPythonCode({alpha["id"]}, "print(muster.runningContext())", out)
print(json.dumps([err.getErrorCode(), out.getString().strip()]))
""",
    )
    assert ran == [0, "renderclient"]


def test_listings_longer_than_a_page_come_whole(accounts_farm: Farm) -> None:
    farm = accounts_farm
    job = farm.submit(title="many chunks", frames="1-7", paused=True, command=["true"])
    result = console_json(
        farm,
        f"""
from console.consoleapi import transport
transport.PAGE_ITEMS = 2
err, chunks = api.chunkGetList({job["id"]})
err2, jobs = api.jobGetList()
print(json.dumps([err.getErrorCode(), [c.getChunkId() for c in chunks], len(jobs)]))
""",
    )
    assert result == [0, list(range(7)), len(farm.request("GET", "/api/v1/jobs/"))]


def test_a_failing_console_script_exits_1_with_its_traceback(accounts_farm: Farm) -> None:
    done = run_console(accounts_farm, "raise RuntimeError('broken pipeline')")
    assert done.returncode == 1 and "broken pipeline" in done.stderr


def test_the_console_example_runs_in_both_contexts(accounts_farm: Farm) -> None:
    farm = accounts_farm
    farm.submit(title="listed by the example", paused=True, command=["true"])
    example = ROOT / "examples" / "console" / "list_jobs.py"
    console = subprocess.run([CORRAL, "run-script", str(example), "--target", "console"],
                             env=console_env(farm), capture_output=True, text=True, timeout=60)  # fmt: skip
    assert console.returncode == 0, console.stderr
    assert "listed by the example" in console.stdout
    dispatcher = run_script(farm, example.read_text(), name="list_jobs.py")
    assert dispatcher["ok"] and dispatcher["output"] == console.stdout


def test_every_function_has_a_console_test() -> None:
    missing = sorted(name for name in FUNCTION_NAMES + EXTENSIONS if not COVERED.get(name))
    assert not missing, f"MConsoleAPI functions without a console-context test: {missing}"
