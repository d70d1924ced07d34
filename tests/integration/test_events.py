"""GET /api/v1/events against a real dispatcher: what a stream sees (operations, a real render
client's results, nodes), filters, resuming with Last-Event-ID, the missed notice, the bound
on streams, a client that reads nothing, a prompt shutdown, and `corral watch` as a process."""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.integration.inprocess import CORRAL, HttpError, Live, live_dispatcher

pytestmark = pytest.mark.integration

FAST = {"events_keepalive_s": 0.5, "events_progress_interval_s": 0.1}


class Sse:
    """A server-sent-events reader over an aiohttp response."""

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self.response = response
        self.comments = 0

    async def next(self, timeout_s: float = 10.0) -> dict[str, Any] | None:
        """The next event as {id, event, data}; None at the end of the stream."""
        fields: dict[str, Any] = {}
        async with asyncio.timeout(timeout_s):
            while True:
                raw = await self.response.content.readline()
                if not raw:
                    return None
                line = raw.decode().rstrip("\n")
                if not line:
                    if "data" in fields:
                        fields["data"] = json.loads(fields["data"])
                        fields["id"] = int(fields["id"])
                        return fields
                    fields = {}
                elif line.startswith(":"):
                    self.comments += 1
                else:
                    name, _, value = line.partition(": ")
                    fields[name] = value

    async def until(self, predicate: Any, timeout_s: float = 30.0) -> list[dict[str, Any]]:
        """Every event up to and with the first that `predicate` accepts."""
        seen = []
        deadline = time.monotonic() + timeout_s
        while True:
            event = await self.next(max(0.1, deadline - time.monotonic()))
            assert event is not None, f"the stream ended; seen: {seen}"
            seen.append(event)
            if predicate(event):
                return seen

    async def quiet(self, seconds: float) -> list[dict[str, Any]]:
        """The events that come within `seconds` (the stream stays open)."""
        seen = []
        try:
            async with asyncio.timeout(seconds):
                while True:
                    event = await self.next(seconds + 1)
                    if event is None:
                        return seen
                    seen.append(event)
        except TimeoutError:
            return seen


async def open_stream(live: Live, query: str = "", **headers: str) -> aiohttp.ClientResponse:
    url = f"{live.dispatcher.http_url}/api/v1/events{query}"
    response = await live.session.get(
        url, headers={"Authorization": f"Bearer {live.token}", **headers}
    )
    return response


async def stream(live: Live, query: str = "", **headers: str) -> Sse:
    response = await open_stream(live, query, **headers)
    assert response.status == 200, await response.text()
    assert response.headers["Content-Type"].startswith("text/event-stream")
    return Sse(response)


async def submit(live: Live, title: str, **extra: Any) -> int:
    job = await live.rest("POST", "/api/v1/jobs/", {"title": title, "command": ["true"], **extra})
    return int(job["id"])


@pytest.fixture
async def live(tmp_path: Path) -> AsyncIterator[Live]:
    async with live_dispatcher(tmp_path / "farm", **FAST) as live:
        yield live


async def test_a_stream_sees_a_submit_a_render_clients_chunks_and_the_job_done(live: Live) -> None:
    sse = await stream(live)
    live.client("alpha")
    online = await sse.until(lambda e: e["event"] == "node_state")
    assert online[-1]["data"]["action"] == "node_online" and online[-1]["data"]["name"] == "alpha"
    job = await submit(live, "seen", start=1, end=6, batch=1, command=["sleep", "0.05"])
    seen = await sse.until(lambda e: e["event"] == "progress" and e["data"]["state"] == "done")
    submitted = [e for e in seen if e["event"] == "job"]
    assert submitted[0]["data"]["action"] == "submit" and submitted[0]["data"]["jobs"] == [job]
    progress = [e["data"] for e in seen if e["event"] == "progress"]
    assert all(event["job"] == job for event in progress)
    assert progress[0]["action"] == "job_state"
    assert progress[-1]["action"] == "job_state" and progress[-1]["chunks"]["done"] == 6
    ids = [e["id"] for e in online + seen]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    sse.response.close()


async def test_twenty_streams_get_the_same_events_each_encoded_once(live: Live) -> None:
    streams = [await stream(live) for _ in range(20)]
    live.client("alpha")
    job = await submit(live, "shared", start=1, end=6, batch=1, command=["sleep", "0.05"])

    def done(e: dict[str, Any]) -> bool:
        return e["event"] == "progress" and e["data"]["job"] == job and e["data"]["state"] == "done"

    seen = [await sse.until(done) for sse in streams]
    ids = {e["id"] for events in seen for e in events}
    assert all(events == seen[0] for events in seen), "every stream got the same events"
    async with live.session.get(
        live.dispatcher.http_url + "/metrics", headers={"Authorization": f"Bearer {live.token}"}
    ) as answer:
        text = await answer.text()
    counters = {
        name: float(number)
        for name, _, number in (line.partition(" ") for line in text.splitlines())
        if name in ("corral_event_frames_encoded_total", "corral_events_published_total")
    }
    encoded = counters["corral_event_frames_encoded_total"]
    # Once per event, not once per stream: never more than the events published at all.
    assert len(ids) <= encoded <= counters["corral_events_published_total"] < 20 * len(ids)
    for sse in streams:
        sse.response.close()


async def test_filters_by_job_node_and_kind(live: Live) -> None:
    one, two = await submit(live, "one", paused=True), await submit(live, "two", paused=True)
    by_job = await stream(live, f"?job={one}")
    by_kind = await stream(live, "?kind=resume&kind=node_state")
    by_both = await stream(live, f"?job={one},{two}&kind=pause")
    by_node = await stream(live, "?node=77")
    for job in (one, two):
        await live.rest("POST", f"/api/v1/jobs/{job}/actions/resume")
        await live.rest("POST", f"/api/v1/jobs/{job}/actions/pause")
    await live.rest("PATCH", f"/api/v1/jobs/{two}", {"priority": 3})
    seen = [(e["data"]["action"], e["data"]["jobs"]) for e in await by_job.quiet(1.0)]
    assert seen == [("resume", [one]), ("pause", [one])]
    seen = [(e["data"]["action"], e["data"]["jobs"]) for e in await by_kind.quiet(0.3)]
    assert seen == [("resume", [one]), ("resume", [two])]
    seen = [(e["data"]["action"], e["data"]["jobs"]) for e in await by_both.quiet(0.3)]
    assert seen == [("pause", [one]), ("pause", [two])]
    assert await by_node.quiet(0.3) == []
    assert by_node.comments >= 1  # the keep-alive of an idle stream


async def test_a_node_filter_passes_that_nodes_events_only(live: Live) -> None:
    live.client("alpha")
    await live.wait(lambda: live.dispatcher.node_server.connected(), what="a node online")
    [node] = await live.rest("GET", "/api/v1/nodes/")
    by_node = await stream(live, f"?node={node['id']}")
    by_other = await stream(live, f"?node={node['id'] + 1}")
    await submit(live, "not a node's", paused=True)
    for action in ("pause", "resume"):
        await live.rest("POST", f"/api/v1/nodes/{node['id']}/actions/{action}")
    seen = [(e["data"]["action"], e["data"]["nodes"]) for e in await by_node.quiet(1.0)]
    assert seen == [("node_pause", [node["id"]]), ("node_resume", [node["id"]])], seen
    assert await by_other.quiet(0.3) == []


@pytest.mark.parametrize(
    ("query", "headers", "field"),
    [
        ("?job=abc", {}, "job.0"),
        ("?job=0", {}, "job.0"),
        ("?kind=Bad!", {}, "kind.0"),
        ("?colour=red", {}, "colour"),
        ("?last_event_id=-4", {}, "last_event_id"),
        ("?last_event_id=1&last_event_id=2", {}, "last_event_id"),
        ("", {"Last-Event-ID": "yesterday"}, "Last-Event-ID"),
        ("?job=" + ",".join(["1"] * 101), {}, "job"),
    ],
)
async def test_bad_filters_are_refused_naming_the_field(
    live: Live, query: str, headers: dict[str, str], field: str
) -> None:
    response = await open_stream(live, query, **headers)
    body = await response.json(content_type=None)
    assert response.status == 400, body
    assert body["field"] == field, body
    assert live.dispatcher.streams.open == set()


async def test_no_token_or_a_wrong_one_is_401(live: Live) -> None:
    url = f"{live.dispatcher.http_url}/api/v1/events"
    for headers in ({}, {"Authorization": "Bearer wrong"}):
        async with live.session.get(url, headers=headers) as response:
            assert response.status == 401
    assert live.dispatcher.streams.open == set()


async def test_resuming_replays_exactly_the_missed_events(live: Live) -> None:
    first = await stream(live)
    jobs = [await submit(live, f"r{n}", paused=True) for n in range(3)]
    seen = await first.until(lambda e: e["data"]["jobs"] == [jobs[-1]])
    last_id = seen[-1]["id"]
    first.response.close()
    later = [await submit(live, f"s{n}", paused=True) for n in range(3)]
    for how in ("header", "query"):
        if how == "header":
            resumed = await stream(live, "", **{"Last-Event-ID": str(last_id)})
        else:
            resumed = await stream(live, f"?last_event_id={last_id}")
        replay = await resumed.quiet(0.8)
        assert [e["data"]["jobs"] for e in replay] == [[job] for job in later], how
        assert [e["id"] for e in replay] == [last_id + 1, last_id + 2, last_id + 3], how
        resumed.response.close()
    # Filters apply to the replay too.
    filtered = await stream(live, f"?job={later[1]}", **{"Last-Event-ID": str(last_id)})
    assert [e["data"]["jobs"] for e in await filtered.quiet(0.8)] == [[later[1]]]


async def test_an_id_older_than_the_memory_gets_the_missed_event_first(live: Live) -> None:
    sse = await stream(live)
    await submit(live, "before", paused=True)
    old_id = (await sse.next())["id"]  # type: ignore[index]
    sse.response.close()
    # 1,100 events through real operations: messages logged by a dispatcher-context script.
    await live.script(
        "import MDispatcherAPI, json\n"
        "for n in range(1100):\n"
        "    MDispatcherAPI.logAddMessage('m%d' % n)\n"
        "print(json.dumps(1))\n"
    )
    last = live.dispatcher.bus.last_seq
    for n, headers in enumerate(({"Last-Event-ID": str(old_id)}, {"Last-Event-ID": "1"})):
        resumed = await stream(live, "", **headers)  # too old; another run's
        missed = await resumed.next()
        assert missed is not None and missed["event"] == "missed", missed
        assert missed["id"] == last and missed["data"]["after"] == int(headers["Last-Event-ID"])
        job = await submit(live, f"after {n}", paused=True)
        going_on = await resumed.next()
        assert going_on is not None and going_on["data"]["jobs"] == [job]
        assert going_on["id"] == live.dispatcher.bus.last_seq
        resumed.response.close()
        last = live.dispatcher.bus.last_seq
    # The oldest event still kept is replayed, not reported missed.
    kept_from = last - len(live.dispatcher.bus.recent)
    resumed = await stream(live, "", **{"Last-Event-ID": str(kept_from)})
    replay = await resumed.quiet(1.0)
    assert len(replay) == len(live.dispatcher.bus.recent) and replay[0]["event"] != "missed"


async def test_streams_past_the_bound_get_503(tmp_path: Path) -> None:
    async with live_dispatcher(tmp_path / "farm", events_max_streams=2, **FAST) as live:
        one, two = await stream(live), await stream(live)
        refused = await open_stream(live)
        body = await refused.json(content_type=None)
        assert refused.status == 503 and "events_max_streams" in body["detail"], body
        one.response.close()
        await live.wait(lambda: len(live.dispatcher.streams.open) < 2, what="the slot freed")
        three = await stream(live)
        job = await submit(live, "bounded", paused=True)
        for sse in (two, three):
            event = await sse.next()
            assert event is not None and event["data"]["jobs"] == [job]


async def test_a_client_that_reads_nothing_never_blocks_submits_and_is_dropped(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, "dispatcher.streams")
    async with live_dispatcher(tmp_path / "farm", events_queue_events=16, **FAST) as live:
        host, port = live.dispatcher.http_url.removeprefix("http://").split(":")
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 2048)  # a client that reads nothing
        sock.connect((host, int(port)))
        sock.sendall(
            f"GET /api/v1/events HTTP/1.1\r\nHost: {host}\r\n"
            f"Authorization: Bearer {live.token}\r\n\r\n".encode()
        )
        try:
            await live.wait(lambda: live.dispatcher.streams.open, what="the stream open")
            slowest = 0.0
            for _ in range(40):
                started = time.monotonic()
                await live.script(
                    "import MDispatcherAPI, json\n"
                    "for n in range(100):\n"
                    "    MDispatcherAPI.logAddMessage('x' * 200)\n"
                    "print(json.dumps(1))\n"
                )
                slowest = max(slowest, time.monotonic() - started)
                if live.dispatcher.streams.dropped:
                    break
            assert live.dispatcher.streams.dropped == 1, "the client that reads nothing was dropped"
            assert live.dispatcher.streams.open == set()
            job = await submit(live, "still served", paused=True)
            assert (await live.rest("GET", f"/api/v1/jobs/{job}"))["title"] == "still served"
            assert slowest < 10.0, slowest
            assert any("action=event_stream_dropped" in r.getMessage() for r in caplog.records)
        finally:
            sock.close()


async def test_shutdown_with_open_streams_is_prompt_and_ends_them_cleanly(tmp_path: Path) -> None:
    async with live_dispatcher(tmp_path / "farm", events_keepalive_s=30.0) as live:
        reading = await stream(live)
        host, port = live.dispatcher.http_url.removeprefix("http://").split(":")
        idle = socket.create_connection((host, int(port)))
        idle.sendall(
            f"GET /api/v1/events HTTP/1.1\r\nHost: {host}\r\n"
            f"Authorization: Bearer {live.token}\r\n\r\n".encode()
        )
        await live.wait(lambda: len(live.dispatcher.streams.open) == 2, what="both open")
        started = time.monotonic()
        await live.dispatcher.close()
        assert time.monotonic() - started < 5.0
        assert await reading.next(5.0) is None  # the stream ended, not broken
        idle.close()


async def _corral(live: Live, *args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        CORRAL, "--dispatcher", live.dispatcher.http_url, "--token", live.token, *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip


async def test_corral_watch_json_sees_the_job_finish(live: Live) -> None:
    job = await submit(live, "watched", start=1, end=4, batch=1, paused=True)
    process = await _corral(live, "watch", "--json", str(job))
    try:
        snapshot = json.loads(await asyncio.wait_for(process.stdout.readline(), 30))  # type: ignore[union-attr]
        assert snapshot["type"] == "snapshot" and snapshot["state"] == "paused"
        live.client("watcher")
        await live.rest("POST", f"/api/v1/jobs/{job}/actions/resume")
        out, err = await asyncio.wait_for(process.communicate(), 60)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == 0, err.decode()
    events = [json.loads(line) for line in out.decode().splitlines()]
    assert events[0]["action"] == "resume" and events[0]["type"] == "job"
    assert events[-1]["type"] == "progress" and events[-1]["state"] == "done"
    assert events[-1]["chunks"]["done"] == 4 and all(e["id"] for e in events)


async def test_corral_watch_and_jobs_list_watch_exit_0_on_ctrl_c(live: Live) -> None:
    for args in (("watch", "--json", "--kind", "submit"), ("jobs", "list", "--watch", "--json")):
        before = set(live.dispatcher.streams.open)  # (an earlier test's may still be closing)
        process = await _corral(live, *args)
        try:
            if args[0] == "jobs":
                first = json.loads(await asyncio.wait_for(process.stdout.readline(), 30))  # type: ignore[union-attr]
                assert first["type"] == "snapshot"
            else:
                await live.wait(
                    lambda before=before: live.dispatcher.streams.open - before,
                    what="the watch's stream",
                )
            job = await submit(live, f"seen by {args[0]}", paused=True)
            line = await asyncio.wait_for(process.stdout.readline(), 30)  # type: ignore[union-attr]
            event = json.loads(line)
            assert event["action"] == "submit" and event["jobs"] == [job], event
            process.send_signal(signal.SIGINT)
            # communicate(), not wait(): it drains the pipes, which a watch may still be
            # writing to when the signal comes (wait() with full pipes never returns).
            _, err = await asyncio.wait_for(process.communicate(), 30)
        finally:
            if process.returncode is None:
                process.kill()
                await process.communicate()
        assert process.returncode == 0, (args, err)


async def test_a_job_watch_fails_fast_on_a_refused_stream(live: Live) -> None:
    job = await submit(live, "x", paused=True)
    process = await asyncio.create_subprocess_exec(
        CORRAL, "--dispatcher", live.dispatcher.http_url, "--token", "wrong", "watch", str(job),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, err = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 4, err.decode()
    with pytest.raises(HttpError):
        await live.rest("GET", "/api/v1/events?job=x")


def test_closing_a_follower_ends_a_read_in_flight_at_once() -> None:
    """Ctrl-C closes the follower while its thread is blocked reading a quiet stream:
    the close and the thread end at once, not at the next line or the read timeout."""
    import http.server
    import threading

    from console.events import EventFollower
    from console.http import DispatcherClient

    class Quiet(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # headers, then nothing: a stream between keep-alives
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.end_headers()
            self.wfile.flush()
            time.sleep(20)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        client = DispatcherClient(f"http://127.0.0.1:{server.server_address[1]}", "t")
        follower = EventFollower(client)
        assert follower.wait_connected(10)
        time.sleep(0.3)  # the thread is inside its read now
        began = time.monotonic()
        follower.close()
        follower._thread.join(5)
        assert time.monotonic() - began < 2 and not follower._thread.is_alive()
    finally:
        server.shutdown()
