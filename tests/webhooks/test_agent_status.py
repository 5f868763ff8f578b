"""AGENT_STATUS_CHANGED: each change of an agent's state reaches a real receiver, in order, with
the agent's names, its queues and the state before; written only when subscribed, and (SQLite)
in the transaction of the change, so it is undone with it; delivered on PostgreSQL too, and with
the live states in Redis."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from kolejka.bootstrap import Components, build
from kolejka.domain.agents import MemberAdded, MemberPaused, MemberRemoved, MemberReport, NewAgent
from kolejka.domain.queues import Queue
from tests.servers import drop_prefix, fresh_schema, unique_name
from tests.support import FAST_HASHER, eventually
from tests.webhooks.helpers import webhook_settings
from tests.webhooks.receiver import Receiver, signed_correctly

ALL = ["AGENT_STATUS_CHANGED", "CALLER_JOINED", "CALLER_LEFT", "CUSTOMER_CREATED"]


async def subscribe(components: Components, url: str, actions: list[str]) -> str:
    assert components.webhooks is not None
    _, secret = await components.webhooks.register({"actions": actions, "subscription_url": url})
    return secret


async def outbox(components: Components) -> list[str]:
    assert components.webhooks is not None
    events = await components.webhooks.store.following(0, ALL, 100)
    return [event.action for event in events]


async def test_each_state_change_arrives_signed_with_names_queues_and_the_state_before(
    delivering: Components, receiver: Receiver
) -> None:
    secret = await subscribe(delivering, receiver.url, ["AGENT_STATUS_CHANGED"])
    await delivering.queues.put(Queue(2, "Obsługa klienta"))
    await delivering.agents.add(NewAgent("jan", "Jan", "Kowalski", queues=(2,)))
    member = MemberReport("jan", 2, False, "", in_call=False)
    await delivering.agent_sync.report(MemberAdded(member))
    await delivering.agent_sync.report(MemberPaused(MemberReport("jan", 2, True, "Przerwa", False)))
    await delivering.agent_sync.report(MemberPaused(member))  # back from the pause
    await delivering.agent_sync.report(MemberRemoved("jan", 2))

    await eventually(lambda: len(receiver.event_ids()) == 4, seconds=10)
    bodies = [received.json() for received in receiver.accepted]
    assert all(signed_correctly(received, secret) for received in receiver.accepted)
    (pause,) = await delivering.agents.pauses()
    assert [
        (b["status"], b["pause_id"], b["queues"], b["previous_status"], b["previous_pause_id"])
        for b in bodies
    ] == [
        ("FREE", None, [2], "OFF", None),
        ("PAUSED", pause.pause_id, [2], "FREE", None),
        ("FREE", None, [2], "PAUSED", pause.pause_id),
        ("OFF", None, [], "FREE", None),
    ]
    first = bodies[0]
    assert list(first) == [
        "action",
        "login",
        "name",
        "surname",
        "status",
        "pause_id",
        "queues",
        "previous_status",
        "previous_pause_id",
        "date",
        "event_id",
    ]
    assert (first["action"], first["login"], first["name"], first["surname"]) == (
        "AGENT_STATUS_CHANGED",
        "jan",
        "Jan",
        "Kowalski",
    )
    # `date`: when the state changed, as GET agents/:login/status writes last_change.
    status = await delivering.agents.status("jan")
    assert status is not None
    zone = ZoneInfo(delivering.settings.time_zone)
    written = status.last_change.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S")
    assert bodies[-1]["date"] == written


async def test_a_member_the_pbx_introduced_has_empty_names(
    delivering: Components, receiver: Receiver
) -> None:
    await subscribe(delivering, receiver.url, ["AGENT_STATUS_CHANGED"])
    await delivering.agent_sync.report(MemberAdded(MemberReport("sip-101", 2, False, "", False)))
    await eventually(lambda: len(receiver.event_ids()) == 1, seconds=10)
    body = receiver.accepted[0].json()
    assert (body["login"], body["name"], body["surname"], body["status"]) == (
        "sip-101",
        "",
        "",
        "FREE",
    )


async def test_nothing_enters_the_outbox_when_nobody_subscribes_to_agents(
    live: Components,
) -> None:
    await subscribe(live, "http://127.0.0.1:9/hook", ["CALLER_JOINED"])
    await live.agent_sync.report(MemberAdded(MemberReport("jan", 2, False, "", False)))
    assert await outbox(live) == []
    await subscribe(live, "http://127.0.0.1:9/hook", ["AGENT_STATUS_CHANGED"])
    await live.agent_sync.report(MemberRemoved("jan", 2))
    assert await outbox(live) == ["AGENT_STATUS_CHANGED"]


async def test_the_event_is_undone_with_the_burst_that_changed_the_state(
    live: Components,
) -> None:
    await subscribe(live, "http://127.0.0.1:9/hook", ["AGENT_STATUS_CHANGED"])
    with contextlib.suppress(RuntimeError):
        async with live.database.writing():  # type: ignore[union-attr]
            changed = await live.agent_sync.apply(
                MemberAdded(MemberReport("jan", 2, False, "", False))
            )
            assert changed
            raise RuntimeError("the burst fails after the change")
    assert await outbox(live) == []
    status = await live.agents.status("jan")
    assert status is None or status.state.value == "OFF"


@pytest.mark.needs_postgres
@pytest.mark.needs_redis
@pytest.mark.parametrize("live_in_redis", [False, True], ids=["postgresql", "redis"])
async def test_the_event_is_delivered_on_postgresql_and_with_live_states_in_redis(
    postgres_url: str, redis_url: str, receiver: Receiver, live_in_redis: bool
) -> None:
    prefix = unique_name("agents")
    async with fresh_schema(postgres_url) as url:
        extra: dict[str, str] = (
            {"live_url": redis_url, "redis_prefix": prefix} if live_in_redis else {}
        )
        settings = webhook_settings(Path("unused.db"), database_url=url, **extra)
        components = build(settings, hasher=FAST_HASHER)
        assert components.delivery is not None
        tasks = [asyncio.ensure_future(job()) for job in components.background]
        try:
            await subscribe(components, receiver.url, ["AGENT_STATUS_CHANGED"])
            await components.agents.add(NewAgent("jan", "Jan", "Kowalski"))
            await components.agent_sync.report(
                MemberAdded(MemberReport("jan", 2, False, "", False))
            )
            await components.agent_sync.report(MemberRemoved("jan", 2))
            await eventually(lambda: len(receiver.event_ids()) == 2, seconds=20)
            bodies = [received.json() for received in receiver.accepted]
            assert [(b["login"], b["name"], b["status"], b["previous_status"]) for b in bodies] == [
                ("jan", "Jan", "FREE", "OFF"),
                ("jan", "Jan", "OFF", "FREE"),
            ]
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await components.aclose()
            if live_in_redis:
                await drop_prefix(redis_url, prefix)
