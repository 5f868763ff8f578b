"""The demo: agents in every state, an hour of recorded calls, and agents picking up callers."""

from __future__ import annotations

import asyncio
import contextlib
import random
from typing import Any

from kolejka.adapters.http.app import KolejkaApp
from kolejka.bootstrap import Components
from kolejka.demo import AGENTS, QUEUES, SEEDED_CALLS_PER_QUEUE, Talks, seed, simulate
from kolejka.domain.agents import AgentState
from kolejka.domain.connections import ConnectionQuery, Disposition
from tests.support import call, eventually


async def get(app: KolejkaApp, personas: dict[str, str], path: str) -> Any:
    answer = await call(app, "GET", path, auth=personas["admin"])
    assert answer.status == 200, answer.body
    return answer.json()


async def test_the_demo_has_agents_free_paused_with_a_reason_and_on_a_call(
    app: KolejkaApp, components: Components, personas: dict[str, str]
) -> None:
    await seed(components)
    statuses = {s["login"]: s for s in await get(app, personas, "/api/agents_statuses")}
    assert {login: s["status"] for login, s in statuses.items()} == {
        "jkowalski": "FREE",
        "anowak": "PAUSED",
        "mwisniewska": "INBOUND_CALL",
        "pwojcik": "FREE",
        "kkaminska": "PAUSED",
    }
    pauses = {p["pause_id"]: p["name"] for p in await get(app, personas, "/api/system/pauses")}
    assert pauses[statuses["anowak"]["pause_id"]] == "Obiad"
    assert pauses[statuses["kkaminska"]["pause_id"]] == "Szkolenie"
    agent = await get(app, personas, "/api/agents/mwisniewska")
    assert (agent["name"], agent["surname"]) == ("Maria", "Wiśniewska")


async def test_the_demo_records_the_last_hour_so_every_waiting_caller_has_an_expected_wait(
    app: KolejkaApp, components: Components, personas: dict[str, str]
) -> None:
    await seed(components)
    rows = (await components.history.page(ConnectionQuery(limit=100, counted=False))).rows
    assert len(rows) == SEEDED_CALLS_PER_QUEUE * len(QUEUES)
    answered = [row for row in rows if row.disposition is Disposition.ANSWERED]
    assert answered
    assert {row.disposition for row in rows} == {Disposition.ANSWERED, Disposition.NO_ANSWER}
    logins = {demo.agent.login for demo in AGENTS}
    assert all(row.user_login in logins and row.billsec > 0 for row in answered)
    callers = await get(app, personas, "/api/queues/2/callers")
    assert [c["position"] for c in callers] == [1, 2, 3]
    assert all(c["expected_wait"] is not None for c in callers)
    assert [c["expected_wait"] for c in callers] == sorted(c["expected_wait"] for c in callers)


async def test_seeding_again_adds_no_second_agent_or_hour_of_calls(
    components: Components,
) -> None:
    await seed(components)
    await seed(components)
    assert len(await components.agents.all()) == len(AGENTS)
    rows = (await components.history.page(ConnectionQuery(limit=100))).rows
    assert len(rows) == SEEDED_CALLS_PER_QUEUE * len(QUEUES)


async def test_a_free_agent_picks_up_each_answered_caller_and_hangs_up_later(
    components: Components,
) -> None:
    await seed(components)
    task = asyncio.create_task(simulate(components, interval=0.002))
    seeded = {
        f"demo-history-{q.queue_id}-{n}" for q in QUEUES for n in range(SEEDED_CALLS_PER_QUEUE)
    }

    async def simulated_calls_answered_by_agents() -> bool:
        rows = (await components.history.page(ConnectionQuery(limit=100, counted=False))).rows
        talked = [
            row
            for row in rows
            if row.connection_id not in seeded and row.user_login and row.billsec > 0
        ]
        assert len(talked) >= 3
        return True

    try:
        await eventually(simulated_calls_answered_by_agents)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_the_call_the_demo_starts_with_ends_after_a_few_rounds(
    components: Components,
) -> None:
    await seed(components)
    talks = Talks(components)
    rng = random.Random(1)
    for _ in range(3):
        await talks.round(rng)
    assert await state_of(components, "mwisniewska") is AgentState.INBOUND_CALL
    await talks.round(rng)
    assert await state_of(components, "mwisniewska") is AgentState.FREE


async def state_of(components: Components, login: str) -> AgentState:
    status = await components.agents.status(login)
    assert status is not None
    return status.state
