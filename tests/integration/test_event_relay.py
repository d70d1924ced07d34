"""The leader's change events reach its standbys (hot standby on a real PostgreSQL):
sent with NOTIFY, received with LISTEN, published on the standby's own bus; an event
too big for a notice is sent as a marker; a database that cannot take notices costs
the leader dropped (counted) events, never a wait."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import aiohttp
import pytest

from dispatcher.event_relay import (
    MAX_PAYLOAD_BYTES,
    EventListener,
    EventSender,
    RelayCollector,
    parse,
    payload,
)
from dispatcher.events import AccountEvent, Event, EventBus, JobEvent
from tests.integration.farm import Farm
from tests.integration.test_events import Sse
from tests.integration.test_hot_standby import HOT, standby_of, status

pytestmark = pytest.mark.postgres


def test_a_payload_carries_the_epoch_a_number_and_the_event_under_the_limit() -> None:
    event = JobEvent(action="submit", actor="ann", jobs=[4])
    text, too_big = payload(7, 12, event)
    assert not too_big and text.startswith("7 12 {")
    assert parse(text) == (7, 12, event)
    huge = JobEvent(action="delete", actor="ann", jobs=list(range(100_000, 103_000)))
    text, too_big = payload(7, 13, huge)
    assert too_big and len(text.encode()) < MAX_PAYLOAD_BYTES
    epoch, number, marker = parse(text)
    assert (epoch, number, marker.action, marker.actor) == (7, 13, "event_too_big", "ann")
    assert marker.detail["type"] == "job" and marker.detail["action"] == "delete"  # type: ignore[attr-defined]
    with pytest.raises(ValueError):
        parse("7 14 {not json")


async def test_events_go_from_a_leaders_bus_to_a_standbys_bus_in_order(postgres_url: str) -> None:
    leader_bus, standby_bus = EventBus(), EventBus()
    received: list[Event] = []
    standby_bus.subscribe(received.append)
    listener = EventListener(postgres_url, standby_bus, lambda: 2, retry_s=0.2)
    sender = EventSender(postgres_url, leader_bus, 2)
    old = EventSender(postgres_url, EventBus(), 1)  # a leader that has lost the lead
    await listener.start()
    sender.start()
    old.start()
    try:
        sent = [AccountEvent(action="user_add", actor="admin", kind="user", name=f"u{n}")
                for n in range(50)]  # fmt: skip
        sent.append(JobEvent(action="delete", actor="ann", jobs=list(range(3000))))
        old.bus.publish(JobEvent(action="submit", actor="old", jobs=[1]))
        for event in sent:
            leader_bus.publish(event)
        deadline = time.monotonic() + 10
        while len(received) < len(sent) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert received[:50] == sent[:50]
        assert received[50].action == "event_too_big" and len(received) == 51
        assert (sender.sent, sender.dropped, sender.oversized) == (51, 0, 1)
        assert listener.received == 51 and listener.ignored >= 1 and listener.missed == 0
        counters = {m.name: m.samples[0].value for m in RelayCollector(listener).collect()}
        assert counters["corral_event_relay_received"] == 51
    finally:
        await sender.close()
        await old.close()
        await listener.close()
        await listener.close()  # safe twice


async def test_a_database_that_cannot_take_notices_drops_and_counts_never_waits() -> None:
    bus = EventBus()
    sender = EventSender("postgresql://corral@127.0.0.1:1/none", bus, 1, max_queued=100)
    sender.start()
    try:
        started = time.monotonic()
        for n in range(1000):
            bus.publish(JobEvent(action="submit", actor="ann", jobs=[n]))
        assert time.monotonic() - started < 1.0  # publishing never waited for the database
        assert sender.dropped == 900 and len(sender.queue) == 100
        # The queued ones fail to be sent (nothing listens there): dropped and counted too.
        deadline = time.monotonic() + 10
        while sender.dropped < 1000 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert (sender.sent, sender.dropped, sender.restarts) == (0, 1000, 0)
        counters = {m.name: m.samples[0].value for m in RelayCollector(sender).collect()}
        assert counters["corral_event_relay_dropped"] == sender.dropped
    finally:
        await sender.close()
        await sender.close()


async def test_a_subscriber_on_the_standby_sees_a_job_submitted_on_the_leader(
    make_farm: Callable[..., Farm], postgres_url: str
) -> None:
    leader = make_farm("--store", postgres_url, *HOT)
    standby = standby_of(make_farm, leader, postgres_url, "standby")
    assert status(standby)["role"] == "standby"
    headers = {"Authorization": f"Bearer {standby.token}"}
    async with aiohttp.ClientSession() as session:
        response = await session.get(f"{standby.url}/api/v1/events", headers=headers)
        assert response.status == 200, await response.text()
        sse = Sse(response)
        job = await asyncio.to_thread(leader.submit, title="relayed", paused=True)
        seen = await sse.until(lambda e: e["event"] == "job" and e["data"]["action"] == "submit")
        assert seen[-1]["data"]["jobs"] == [job["id"]] and seen[-1]["data"]["actor"] == "admin"
        last_id = seen[-1]["id"]
        response.close()
        # Resuming on the standby with Last-Event-ID replays what it relayed since.
        await asyncio.to_thread(leader.request, "POST", f"/api/v1/jobs/{job['id']}/actions/resume")
        await asyncio.sleep(1.0)
        resumed = await session.get(
            f"{standby.url}/api/v1/events", headers={**headers, "Last-Event-ID": str(last_id)}
        )
        replay = await Sse(resumed).until(lambda e: e["event"] == "job")
        assert replay[0]["id"] == last_id + 1
        assert (replay[-1]["data"]["action"], replay[-1]["data"]["jobs"]) == (
            "resume", [job["id"]],
        )  # fmt: skip
        resumed.close()
    metrics = await asyncio.to_thread(standby.request, "GET", "/metrics")
    assert "corral_event_relay_received_total" in str(metrics)
