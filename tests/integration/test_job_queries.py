"""Smedge queries on a live farm: GET /api/v1/jobs/?where= and `corral jobs list --where`,
with every example query of the Smedge API's documentation, paging and filters, hostile
regular expressions, oversized and malformed queries, tokens, the time budget, and a
slow query that leaves other requests alone."""

from __future__ import annotations

import json
import os
import random
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import corral_client
from corral_client import query
from corral_client.query import rtime_from_datetime
from tests.integration.farm import CORRAL, ApiError, Farm

U_SHOT = "a29f0cb2-11e1-42a9-9b72-6c5f5be5f671"
U_CLEANUP = "178b043e-4a28-4235-acbc-642c7480c360"
SEED_QUERY = [
    "any",
    [["Type", "!=", "Maya"], ["Type", "!=", "Nuke"]],
    ["Name", "*", r"^Cleanup \d{5}"],
    [
        ["Scene.Path.File", "!:", "Final"],
        ["Priority", "<", 50],
        ["?", ["Note", "=", ""], ["LastError", "!=", ""]],
    ],
]


def where(farm: Farm, query: Any, extra: str = "", token: str | None = None) -> list[str]:
    """The titles of the jobs `query` matches (the query as JSON unless already text)."""
    text = query if isinstance(query, str) else json.dumps(query)
    path = "/api/v1/jobs/?where=" + urllib.parse.quote(text) + extra
    return [job["title"] for job in farm.request("GET", path, token=token)]


def refused(farm: Farm, query: Any, token: str | None = None) -> ApiError:
    with pytest.raises(ApiError) as caught:
        where(farm, query, token=token)
    return caught.value


def corral(farm: Farm, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CORRAL_")}
    env.update(CORRAL_DISPATCHER=farm.url, CORRAL_TOKEN=farm.token)
    return subprocess.run(
        [CORRAL, *args], capture_output=True, text=True, env=env, timeout=60, check=False
    )


@pytest.fixture(scope="module")
def farm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Farm]:
    """Jobs that each answer one branch of the seed's complicated query, or none of it."""
    farm = Farm(tmp_path_factory.mktemp("queries") / "farm").start()
    try:
        paused = [
            {"title": "hou", "template": "houdini", "data": {"HIPFILE": "/s/a.hip"}},
            {"title": "Cleanup 12345", "template": "maya", "priority": 90, "uuid": U_CLEANUP,
             "data": {"MAYAFILE": "/shots/Final/a.mb"}},
            {"title": "wip low", "template": "maya", "priority": 40, "uuid": U_SHOT,
             "data": {"MAYAFILE": "/shots/wip/a.mb"}, "user": "Joe"},
            {"title": "final low", "template": "maya", "priority": 40,
             "data": {"MAYAFILE": "/shots/Final/b.mb"}},
            {"title": "wip high", "template": "maya", "priority": 60,
             "data": {"MAYAFILE": "/shots/wip/c.mb"}, "user": "joey"},
            {"title": "comp noted", "template": "nuke", "priority": 40, "notes": "hi",
             "data": {"NUKEFILE": "/c/wip/a.nk"}},
            {"title": "hostile", "template": "maya", "priority": 90,
             "notes": "a" * 65_535 + "!", "data": {"MAYAFILE": "/shots/Final/h.mb"}},
        ]  # fmt: skip
        farm.request("POST", "/api/v1/jobs/", [{**job, "paused": True} for job in paused])
        farm.client("q1")
        farm.wait_nodes(1)
        # A comp that failed (no Nuke here): its last error is not empty.
        failed = farm.submit(title="comp failed", template="nuke", priority=40, notes="hi",
                             requeue=0, data={"NUKEFILE": "/c/wip/b.nk"})  # fmt: skip
        done = farm.submit(title="Cleanup 1234", command=["true"], priority=45)
        farm.wait_state(failed["id"], "failed")
        farm.wait_state(done["id"], "done")
        yield farm
    finally:
        farm.close()


# -- the seed's examples ------------------------------------------------------------
def test_every_example_query_of_the_seed(farm: Farm) -> None:
    everything = [job["title"] for job in farm.request("GET", "/api/v1/jobs/")]
    assert len(everything) == 9
    # get_jobs("a29f0cb2-..."): one specific job, or none.
    assert where(farm, f'"{U_SHOT}"') == ["wip low"]
    assert where(farm, '"a29f0cb2-11e1-42a9-9b72-000000000000"') == []
    # get_jobs(ids_to_query([job1_id, job2_id])): both ways an id list can be written.
    assert where(farm, ["any", U_SHOT, U_CLEANUP]) == ["Cleanup 12345", "wip low"]
    assert where(farm, ["?", ["ID", "=", U_SHOT], ["ID", "=", U_CLEANUP.upper()]]) == [
        "Cleanup 12345",
        "wip low",
    ]
    # get_jobs(query=["Creator", "contains", "Joe"])
    assert where(farm, ["Creator", "contains", "Joe"]) == ["wip low", "wip high"]
    # get_jobs(["Created", "before", datetime_to_rtime(datetime.now() - timedelta(days=3))])
    three_days_ago = rtime_from_datetime(datetime.now() - timedelta(days=3))
    assert where(farm, ["Created", "before", three_days_ago]) == []
    assert where(farm, ["Created", "after", three_days_ago]) == everything
    # The complicated one: any of three branches.
    assert where(farm, SEED_QUERY) == ["hou", "Cleanup 12345", "wip low", "comp failed",
                                       "Cleanup 1234"]  # fmt: skip


def test_times_states_and_scenes(farm: Farm) -> None:
    jobs = farm.request("GET", "/api/v1/jobs/")
    failed = next(job for job in jobs if job["title"] == "comp failed")
    submitted = failed["time_submitted"] + "Z"  # PyFarm's times are UTC without an offset
    assert where(farm, ["Created", "=", submitted]) == ["comp failed"]
    assert where(farm, ["Created", "before", submitted]) == [job["title"] for job in jobs[:7]]
    assert where(farm, ["Status", "=", "finished"]) == ["Cleanup 1234"]
    assert where(farm, ["Status", "=", "-1"]) == [job["title"] for job in jobs[:7]]
    assert where(farm, ["LastError", ":", "could not start"]) == ["comp failed"]
    assert where(farm, ["Finished", "after", "2020-01-01"]) == ["comp failed", "Cleanup 1234"]
    assert where(farm, ["Scene.Path.File", "=", "final"]) == ["Cleanup 12345", "final low",
                                                              "hostile"]  # fmt: skip
    assert where(farm, ["MAYAFILE.File", "=", "c.mb"]) == ["wip high"]
    assert where(farm, ["Type", "=", "Nuke"]) == ["comp noted", "comp failed"]


def test_a_pool_by_name_id_or_uuid(farm: Farm) -> None:
    pool = farm.request("POST", "/api/v1/pools/", {"name": "gpu", "description": "RTX"})
    farm.request("POST", "/api/v1/jobs/hou", {"pools": ["gpu"]})
    for value in ("gpu", "GPU", pool["id"], str(pool["id"]), pool["uuid"], pool["uuid"].upper()):
        assert where(farm, ["Pool", "=", value]) == ["hou"], value
    assert "hou" not in where(farm, ["Pool", "!=", pool["uuid"]])
    assert where(farm, ["pools", ":", "gp"]) == ["hou"]


def test_where_goes_with_the_other_filters_and_pages(farm: Farm) -> None:
    assert where(farm, ["Priority", "<", 50], "&state=paused") == [
        "wip low", "final low", "comp noted"]  # fmt: skip
    assert where(farm, ["Priority", "<", 50], "&user=Joe") == ["wip low"]
    titles, url = [], "/api/v1/jobs/?limit=2&where=" + urllib.parse.quote('["Type", "=", "maya"]')
    pages = 0
    while url:
        request = urllib.request.Request(
            farm.url + url, headers={"Authorization": f"Bearer {farm.token}"}
        )
        with urllib.request.urlopen(request, timeout=30) as answer:
            titles += [job["title"] for job in json.load(answer)]
            link = answer.headers.get("Link")
        url = link[1 : link.index(">")] if link else ""
        pages += 1
    assert titles == ["Cleanup 12345", "wip low", "final low", "wip high", "hostile"]
    assert pages == 3


# -- hostile, malformed, oversized, unauthorised --------------------------------------
def test_hostile_regular_expressions_answer_at_once(farm: Farm) -> None:
    started = time.monotonic()
    for pattern in ("(a+)+$", "^(a|aa)+$", "(a*)*b", "(.*a){12}$", "^(a?){30}a{30}$"):
        assert where(farm, ["Note", "*", pattern]) == [], pattern
    assert where(farm, ["Note", "*", "(a+)+!$"]) == ["hostile"]
    assert time.monotonic() - started < 5.0
    for pattern, words in ((r"(a)\1", "invalid escape"), ("(?<=a)b", "invalid perl operator"),
                           ("((a{100}){100}){100}", "repetition"), ("[", "missing ]"),
                           ("(?s).{1000}c", "instructions")):  # fmt: skip
        problem = refused(farm, ["Note", "*", pattern])
        assert problem.status == 400 and words in problem.body["detail"], pattern


@pytest.mark.parametrize(
    ("query", "words"),
    [
        ('["Name", "=", ', "not JSON"),
        ("Priority<50", "not JSON"),
        ('["Prioirty", "<", 5]', "did you mean Priority"),
        ('["Bogus", "=", 1]', "unknown name 'Bogus'"),
        ('["Priority", "like", 5]', "unknown operator 'like'"),
        ('["Priority", "contains", 5]', "Priority is a number"),
        ('["Name", "before", "2026-01-01"]', "Name is a text"),
        ('["Priority", "<", "soon"]', "'soon' is no number"),
        ('["Created", "after", "yesterday"]', "is no time"),
        ('["Status", "=", "sleeping"]', "no job state"),
        ('["Scene.Parent", "=", "x"]', "unknown part .Parent"),
        ('["Name", "="]', "a term is [NAME, OP, VALUE]"),
        ('"shot010"', "no job id"),
        ('{"Name": "x"}', "an object is no query"),
        ('["any"]', "needs at least one query"),
        ('["Name", "=", null]', "null"),
        ('["Name", "=", NaN]', "the number nan"),
        ("[" * 20 + "]" * 20, "nest deeper than 16"),
        ("[" * 2000 + "]" * 2000, "nest deeper than 16"),
        (json.dumps(list(range(1, 301))), "more than 256 terms"),
        (json.dumps([["Name", "*", f"x{n}"] for n in range(17)]), "more than 16 regular"),
        (json.dumps(["Name", "=", "x" * 5_000]), "at most 4,096"),
        (json.dumps(["Name", "=", "x" * 2_000]), "at most 1024"),
        ("", "not JSON"),
    ],
)
def test_malformed_queries_answer_400_naming_the_problem(
    farm: Farm, query: str, words: str
) -> None:
    problem = refused(farm, query)
    assert problem.status == 400, problem
    assert problem.body["field"] == "where" and words in problem.body["detail"], problem.body


def test_where_twice_and_an_oversized_request_line(farm: Farm) -> None:
    twice = "/api/v1/jobs/?where=%5B%5D&where=%5B%5D"
    with pytest.raises(ApiError) as caught:
        farm.request("GET", twice)
    assert caught.value.status == 400 and "give it once" in caught.value.body["detail"]
    with pytest.raises(ApiError) as caught:
        where(farm, json.dumps(["Name", "=", "x" * 70_000]))
    assert caught.value.status in (400, 414, 431)
    assert where(farm, ["Name", "=", "hou"]) == ["hou"]  # still serving


def test_queries_need_a_token(farm: Farm) -> None:
    for token in ("", "wrong", "x" * 300):
        problem = refused(farm, ["Priority", "<", 50], token=token)
        assert problem.status == 401
    problem = refused(farm, '["Bogus"', token="")
    assert problem.status == 401  # no token: refused before the query is read


def test_the_client_library_sends_queries(farm: Farm) -> None:
    client = corral_client.Client(farm.url, token=farm.token)
    assert [job["title"] for job in client.jobs(["Type", "=", "nuke"])] == [
        "comp noted", "comp failed"]  # fmt: skip
    assert [job["uuid"] for job in client.jobs(U_SHOT)] == [U_SHOT]
    typed = query.combine([query.parse_where("Priority<45"), query.parse_where("Note=hi")])
    assert [job["title"] for job in client.jobs(typed, state="paused")] == ["comp noted"]
    assert len(client.jobs()) == 9
    with pytest.raises(corral_client.ClientError) as caught:
        client.jobs(["Prioirty", "<", 5])
    assert caught.value.status == 400 and caught.value.field == "where"


# -- the CLI ------------------------------------------------------------------------------
def test_corral_jobs_list_where(farm: Farm) -> None:
    def titles(*args: str) -> list[str]:
        result = corral(farm, "jobs", "list", "--json", *args)
        assert result.returncode == 0, result.stderr
        return [job["title"] for job in json.loads(result.stdout)]

    assert titles("--where", "Priority<45") == ["wip low", "final low", "comp noted",
                                                "comp failed"]  # fmt: skip
    assert titles("--where", "Creator contains joe", "--where", "Priority < 50") == ["wip low"]
    assert titles("--where", '["Type", "=", "Nuke"]') == ["comp noted", "comp failed"]
    assert titles("--where", f'"{U_CLEANUP}"') == ["Cleanup 12345"]
    assert titles("--where", "Scene.Path.File !: Final", "--where", "Type = maya") == [
        "wip low", "wip high"]  # fmt: skip
    assert titles("--where", r"Name * ^Cleanup \d{5}$") == ["Cleanup 12345"]
    assert titles("--where", "Note = ''", "--state", "paused") == [
        "hou", "Cleanup 12345", "wip low", "final low", "wip high"]  # fmt: skip
    table = corral(farm, "jobs", "list", "--where", "Type=maya", "--where", "Priority>80")
    assert table.returncode == 0 and "Cleanup 12345" in table.stdout and "wip" not in table.stdout
    none = corral(farm, "jobs", "list", "--where", "Priority>1000")
    assert none.returncode == 0 and "no jobs matching the query" in none.stdout


@pytest.mark.parametrize(
    ("args", "code", "words"),
    [
        (("--where", "Priority"), 2, "no operator after 'Priority'"),
        (("--where", "<50"), 2, "does not start with a field name"),
        (("--where", "[1,"), 2, "not JSON"),
        (("--where", ""), 2, "empty query"),
        (("--where", "Priority<5", "--watch"), 2, "--where does not go with --watch"),
        (("--where", "Prioirty<5"), 1, "did you mean Priority"),
        (("--where", "Priority contains 5"), 1, "Priority is a number"),
        (("--where", "Note * (a)\\1"), 1, "invalid escape"),
    ],
)
def test_corral_jobs_list_where_refusals(
    farm: Farm, args: tuple[str, ...], code: int, words: str
) -> None:
    result = corral(farm, "jobs", "list", *args)
    assert result.returncode == code, (result.stdout, result.stderr)
    assert words in result.stderr and "Traceback" not in result.stderr


# -- the time budget and the loop -------------------------------------------------------
def test_a_query_past_its_budget_answers_503(tmp_path: Path) -> None:
    config = tmp_path / "budget.toml"
    config.write_text("query_budget_s = 0.000001\n")
    farm = Farm(tmp_path / "farm", ["--config", str(config)]).start()
    try:
        farm.request("POST", "/api/v1/jobs/", [
            {"title": f"j{n}", "command": ["true"], "paused": True} for n in range(300)
        ])  # fmt: skip
        problem = refused(farm, ["Name", "*", "j1"])
        assert problem.status == 503
        assert (
            "time budget" in problem.body["detail"] and "query_budget_s" in problem.body["detail"]
        )
        result = corral(farm, "jobs", "list", "--where", "Name * j1")
        assert result.returncode == 1 and "time budget" in result.stderr
        assert len(farm.request("GET", "/api/v1/jobs/")) == 300  # listing without where works
    finally:
        farm.close()


def test_a_slow_query_does_not_stall_other_requests(tmp_path: Path) -> None:
    config = tmp_path / "budget.toml"
    config.write_text("query_budget_s = 120\n")
    farm = Farm(tmp_path / "farm", ["--config", str(config)]).start()
    try:
        rng = random.Random(7)
        notes = "".join(rng.choice("ab") for _ in range(60_000))
        farm.request("POST", "/api/v1/jobs/", [
            {"title": f"big {n}", "command": ["true"], "paused": True, "notes": notes}
            for n in range(32)
        ])  # fmt: skip
        # RE2 cannot build an automaton for this one on such a text: it searches with its
        # slower machine, 60 ms or more per job (2 s in all on a fast machine), in a
        # worker thread.
        slow = ["Note", "*", "(?s)a[ab]{120}c"]
        latencies: list[float] = []
        running = threading.Event()
        finished = threading.Event()

        def probe() -> None:
            running.wait(30)
            while not finished.is_set():
                started = time.monotonic()
                farm.request("GET", "/api/v1/status")
                latencies.append(time.monotonic() - started)
                time.sleep(0.01)

        prober = threading.Thread(target=probe, name="probe")
        prober.start()
        try:
            running.set()
            started = time.monotonic()
            assert where(farm, slow) == []
            took = time.monotonic() - started
        finally:
            finished.set()
            prober.join(60)
        assert took > 1.0, f"the query took only {took:.2f} s: not slow enough to tell"
        assert len(latencies) >= 5
        assert max(latencies) < min(0.5, took / 2), (took, sorted(latencies)[-5:])
    finally:
        farm.close()
