"""Listings on a real dispatcher: pages with Link headers and cursors, filters against a
brute-force filter of the whole list, chunks by state and page, and long lists streamed
while the dispatcher keeps answering."""

from __future__ import annotations

import json
import re
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from dispatcher import listing
from tests.integration.farm import Farm, wait_for

pytestmark = pytest.mark.integration


def get(farm: Farm, path: str, timeout_s: float = 60.0) -> tuple[int, dict[str, str], Any]:
    """(status, headers, decoded JSON) of a GET, errors included."""
    request = urllib.request.Request(farm.url + path)
    request.add_header("Authorization", f"Bearer {farm.token}")
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            return response.status, dict(response.headers), json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), json.loads(exc.read())


def next_link(headers: dict[str, str]) -> str | None:
    link = headers.get("Link")
    if link is None:
        return None
    target, _, rel = link.partition(";")
    assert rel.strip() == 'rel="next"', link
    return target.strip().removeprefix("<").removesuffix(">")


def pages(farm: Farm, path: str) -> list[list[dict[str, Any]]]:
    """Every page of a listing, following the Link headers."""
    found = []
    url: str | None = path
    while url is not None:
        status, headers, body = get(farm, url)
        assert status == 200, body
        found.append(body)
        url = next_link(headers)
    return found


def ids(items: list[dict[str, Any]]) -> list[int]:
    return [item["id"] for item in items]


def chunks(items: list[dict[str, Any]]) -> list[int]:
    return [item["chunk"] for item in items]


@pytest.fixture(scope="module")
def farm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Farm]:
    """25 jobs in two folders, of three users and two templates, in every state."""
    root = tmp_path_factory.mktemp("listing")
    farm = Farm(root / "farm").start()
    try:
        folders = farm.request("POST", "/api/v1/jobs/", [
            {"title": "shots", "kind": "folder"}, {"title": "assets", "kind": "folder"},
        ])  # fmt: skip
        parents = [-1, folders[0]["id"], folders[1]["id"]]
        users, templates = ["ann", "bob", "cy"], ["cmdline", "demo"]
        jobs = [
            {"title": f"job {n}", "frames": "1-4", "command": ["sleep", "60"],
             "user": users[n % 3], "parent": parents[n % 3 if n % 5 else 0],
             "template": templates[(n // 2) % 2], "paused": n % 7 == 3,
             # the demo template's output folder is a required item (tiny frames)
             "data": {"output_folder": str(root / "out"), "width": 4, "height": 4}}
            for n in range(23)
        ]  # fmt: skip
        submitted = farm.request("POST", "/api/v1/jobs/", jobs)
        for job in submitted[:6]:  # done: some rendered, some skipped
            for chunk in range(4):
                state = "done" if job["id"] % 2 else "skipped"
                task = job["task_ids"][0][1] + chunk
                farm.request("POST", f"/api/v1/jobs/{job['id']}/tasks/{task}", {"state": state})
        farm.client("lister", "--instances", "3")
        farm.wait_nodes(3)
        wait_for(
            lambda: any(job["state"] == "running" for job in farm.request("GET", "/api/v1/jobs/")),
            30,
            "a running job",
        )
        yield farm
    finally:
        farm.close()


def test_pages_follow_the_link_header_to_the_whole_list(farm: Farm) -> None:
    everything = farm.request("GET", "/api/v1/jobs/")
    assert len(everything) == 25
    assert ids(everything) == sorted(ids(everything))
    found = pages(farm, "/api/v1/jobs/?limit=10")
    assert [len(page) for page in found] == [10, 10, 5]
    assert ids([job for page in found for job in page]) == ids(everything)
    status, headers, body = get(farm, "/api/v1/jobs/?limit=10")
    link = next_link(headers)
    assert link is not None
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(link).query)
    assert query["limit"] == ["10"]
    assert str(body[-1]["id"]) not in query["after"][0]  # opaque, not the bare id
    exact = get(farm, "/api/v1/jobs/?limit=25")
    assert exact[0] == 200 and len(exact[2]) == 25 and "Link" not in exact[1]  # last page


@pytest.mark.parametrize(
    "query, field",
    [("limit=0", "limit"), ("limit=ten", "limit"), ("limit=10001", "limit"),
     ("after=%21%21", "after"), ("after=bm90LWEtY3Vyc29y", "after"),
     ("state=sleeping", "state"), ("parent=x", "parent")],
)  # fmt: skip
def test_bad_paging_or_filter_is_400_naming_the_field(farm: Farm, query: str, field: str) -> None:
    filters = {"/api/v1/jobs/": {"state", "parent"}, "/api/v1/jobs/3/tasks/": {"state"},
               "/api/v1/nodes/": set()}  # fmt: skip
    for path, known in filters.items():
        if field not in known | {"limit", "after"}:
            continue
        status, headers, body = get(farm, f"{path}?{query}")
        assert status == 400, (path, body)
        assert headers["Content-Type"].startswith("application/problem+json")
        assert body["field"] == field and field in body["detail"]


def _brute(jobs: list[dict[str, Any]], keep: Callable[[dict[str, Any]], bool]) -> list[int]:
    return [job["id"] for job in jobs if keep(job)]


def test_filters_match_a_brute_force_filter_of_the_whole_list(farm: Farm) -> None:
    everything = farm.request("GET", "/api/v1/jobs/")
    states = {job["state"] for job in everything}
    assert {"queued", "running", "paused", "done"} <= states
    cases: list[tuple[str, Callable[[dict[str, Any]], bool]]] = []
    for state in ("queued", "running", "done", "failed", "paused"):
        cases.append((f"state={state}", lambda job, s=state: job["state"] == s))
    for user in ("ann", "bob", "cy", "nobody", "admin"):
        cases.append((f"user={user}", lambda job, u=user: job["user"] == u))
    cases.append(("owner=bob", lambda job: job["user"] == "bob"))
    for parent in {job["parent"] for job in everything}:
        cases.append((f"parent={parent}", lambda job, p=parent: job["parent"] == p))
    cases.append(("parent=0", lambda job: job["parent"] == -1))  # 0 is the top as well
    for template in ("cmdline", "demo"):
        cases.append((f"template={template}", lambda job, t=template: job["template"] == t))
    cases.append(("template=2", lambda job: job["template"] == "demo"))  # by template id
    cases.append(
        ("user=ann&template=cmdline&state=queued",
         lambda job: (job["user"], job["template"], job["state"]) == ("ann", "cmdline", "queued"))
    )  # fmt: skip
    for query, keep in cases:
        before = farm.request("GET", "/api/v1/jobs/")
        listed = ids(farm.request("GET", f"/api/v1/jobs/?{query}"))
        paged = ids([job for page in pages(farm, f"/api/v1/jobs/?{query}&limit=3") for job in page])
        after = farm.request("GET", "/api/v1/jobs/")
        if _brute(before, keep) != _brute(after, keep):
            continue  # a chunk finished meanwhile; the other cases still count
        assert listed == _brute(after, keep), query
        assert paged == listed, query


def test_chunks_by_page_and_by_state(farm: Farm) -> None:
    job = farm.submit(title="many chunks", frames="1-2500", command=["true"], paused=True)
    done = [0, 7, 999, 1000, 2001, 2499]
    for chunk in done:
        task = job["task_ids"][0][1] + chunk
        farm.request("POST", f"/api/v1/jobs/{job['id']}/tasks/{task}", {"state": "done"})
    found = pages(farm, f"/api/v1/jobs/{job['id']}/tasks/?limit=1000")
    assert [len(page) for page in found] == [1000, 1000, 500]
    assert chunks([chunk for page in found for chunk in page]) == list(range(2500))
    by_state = farm.request("GET", f"/api/v1/jobs/{job['id']}/tasks/?state=done")
    assert chunks(by_state) == done
    assert all(chunk["state"] == "done" for chunk in by_state)
    paged = pages(farm, f"/api/v1/jobs/{job['id']}/tasks/?state=done&limit=4")
    assert [chunks(page) for page in paged] == [done[:4], done[4:]]
    queued = farm.request("GET", f"/api/v1/jobs/{job['id']}/tasks/?state=queued&limit=3")
    assert chunks(queued) == [1, 2, 3]


def test_running_chunks_carry_their_attempt_in_a_page(farm: Farm) -> None:
    # A running job may have none of its chunks running at this moment (its nodes
    # finished a 60 s chunk and took another job's): look at every running job.
    def running_chunks() -> list[dict[str, Any]]:
        for job in farm.request("GET", "/api/v1/jobs/?state=running"):
            found = farm.request("GET", f"/api/v1/jobs/{job['id']}/tasks/?state=running")
            if found:
                return list(found)
        return []

    chunks = wait_for(running_chunks, 30, "a running job with a chunk running")
    assert all(chunk["state"] == "running" for chunk in chunks)
    assert all(chunk["time_started"] and chunk["node"] for chunk in chunks)


def test_nodes_are_paged_the_same_way(farm: Farm) -> None:
    everything = farm.nodes()
    found = pages(farm, "/api/v1/nodes/?limit=2")
    assert [len(page) for page in found] == [2, 1]
    assert ids([node for page in found for node in page]) == sorted(ids(everything))


class StatusPoller:
    """Polls /api/v1/status from a thread while the test streams a long list."""

    def __init__(self, farm: Farm) -> None:
        self.farm = farm
        self.times: list[float] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run)

    def run(self) -> None:
        while not self.stop.is_set():
            began = time.perf_counter()
            get(self.farm, "/api/v1/status")
            self.times.append(time.perf_counter() - began)
            time.sleep(0.02)

    def __enter__(self) -> StatusPoller:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        self.thread.join()


def _stream(farm: Farm, path: str) -> tuple[dict[str, str], bytes]:
    """The answer's headers and body, not parsed: parsing a long list holds this process's
    GIL, and the status poller's own thread would then time the parse, not the dispatcher."""
    request = urllib.request.Request(farm.url + path)
    request.add_header("Authorization", f"Bearer {farm.token}")
    with urllib.request.urlopen(request, timeout=120) as response:
        return dict(response.headers), response.read()


def test_a_long_job_list_is_streamed_while_the_dispatcher_answers(
    make_farm: Callable[..., Farm], tmp_path: Path
) -> None:
    farm = make_farm("--loop-stall-s", "0.02")
    jobs = [{"title": f"bulk {n}", "command": ["true"], "paused": True} for n in range(10_000)]
    farm.request("POST", "/api/v1/jobs/", jobs)  # one request: a real stall of the loop
    with StatusPoller(farm) as poller:
        time.sleep(0.1)
        headers, body = _stream(farm, "/api/v1/jobs/")
        time.sleep(0.1)
    listed = json.loads(body)
    assert headers.get("Transfer-Encoding") == "chunked"
    assert ids(listed) == list(range(1, 10_001))
    assert len(poller.times) >= 3
    assert max(poller.times) < 0.5, sorted(poller.times)[-5:]

    # The submit of 10,000 jobs held the loop past 20 ms: counted, and the log names where.
    loop = farm.request("GET", "/api/v1/status")["loop"]
    assert loop["stalls"] >= 1 and loop["max_lag_ms"] > 20 and loop["stall_ms"] == 20
    log = tmp_path / "farm0-dispatcher.log"
    stalls = [line for line in log.read_text().splitlines() if "action=loop_stall " in line]
    frame = re.compile(r"\S+\.py:\d+ \S+")
    # Where the sampler catches the loop varies from run to run: reading the request's
    # JSON, checking the jobs or queuing them; each names a frame of the submit's path.
    path = ("submit", "read_json", "jobspec", "web/jobs.py", "operations/jobs.py")
    submit = [line for line in stalls if any(p in line.partition(" where=")[2] for p in path)]
    assert submit, f"no stall warning names the submit: {stalls}"
    assert frame.search(submit[0].partition(" where=")[2])


def test_the_chunks_of_a_huge_job_are_streamed_while_the_dispatcher_answers(farm: Farm) -> None:
    job = farm.submit(title="huge", frames="1-200000", command=["true"], paused=True)
    with StatusPoller(farm) as poller:
        time.sleep(0.1)
        headers, body = _stream(farm, f"/api/v1/jobs/{job['id']}/tasks/")
        time.sleep(0.1)
    listed = json.loads(body)
    assert headers.get("Transfer-Encoding") == "chunked"
    assert len(listed) == 200_000 and listed[-1]["chunk"] == 199_999
    assert max(poller.times) < 0.5, sorted(poller.times)[-5:]
    # A page is sent whole with its length, written in parts; a page of more slices than
    # a page holds whole is streamed.
    path = f"/api/v1/jobs/{job['id']}/tasks/?limit=5000&after="
    cursor = listing.encode_cursor(4_999)
    headers, body = _stream(farm, path + cursor)
    assert int(headers["Content-Length"]) == len(body) > listing.WRITE_BYTES
    assert [task["chunk"] for task in json.loads(body)] == list(range(5_000, 10_000))
    headers, body = _stream(farm, path.replace("5000", "10000") + cursor)
    assert headers.get("Transfer-Encoding") == "chunked" and "Content-Length" not in headers
    assert [task["chunk"] for task in json.loads(body)] == list(range(5_000, 15_000))
