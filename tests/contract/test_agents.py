"""The agent stores' contract, on every engine: the catalogue, the pause catalogue, and the
live records (SQLite, PostgreSQL, Redis)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from kolejka.domain.agents import AgentLive, AgentState, Membership, NewAgent
from kolejka.domain.errors import AgentExists
from kolejka.services.ports import AgentDirectory, AgentLiveStore

AT = datetime(2026, 12, 1, 9, 30, 15, 123456, tzinfo=UTC)


async def test_an_added_agent_reads_back_with_its_queues_and_a_null_number(
    agent_directory: AgentDirectory,
) -> None:
    added = await agent_directory.add(
        NewAgent("jkowalski", "Jan", "Kowalski", "jan@example.org", 559933, True, (7, 2))
    )
    bare = await agent_directory.add(NewAgent("anowak"))
    assert added.agent_id != bare.agent_id
    assert await agent_directory.get("jkowalski") == added
    assert added.queues == (2, 7)
    found = await agent_directory.get("anowak")
    assert found is not None
    assert (found.number, found.active, found.queues, found.name) == (None, True, (), "")
    assert [a.login for a in await agent_directory.all()] == ["jkowalski", "anowak"]


async def test_a_taken_login_is_refused_and_changes_nothing(
    agent_directory: AgentDirectory,
) -> None:
    await agent_directory.add(NewAgent("jkowalski", "Jan", queues=(2,)))
    with pytest.raises(AgentExists):
        await agent_directory.add(NewAgent("jkowalski", "Other", queues=(9,)))
    found = await agent_directory.get("jkowalski")
    assert found is not None
    assert (found.name, found.queues) == ("Jan", (2,))


async def test_removing_an_agent_removes_its_queues_too(agent_directory: AgentDirectory) -> None:
    await agent_directory.add(NewAgent("jkowalski", queues=(2, 3)))
    assert await agent_directory.remove("jkowalski") is True
    assert await agent_directory.remove("jkowalski") is False
    assert await agent_directory.get("jkowalski") is None
    again = await agent_directory.add(NewAgent("jkowalski"))
    assert again.queues == ()


async def test_a_pause_is_created_on_first_sight_and_keeps_its_id(
    agent_directory: AgentDirectory,
) -> None:
    first = await agent_directory.pause_named("Przerwa")
    other = await agent_directory.pause_named("Szkolenie")
    assert await agent_directory.pause_named("Przerwa") == first
    assert first.pause_id != other.pause_id
    assert [(p.pause_id, p.name) for p in await agent_directory.pauses()] == [
        (first.pause_id, "Przerwa"),
        (other.pause_id, "Szkolenie"),
    ]


async def test_a_live_record_reads_back_as_written(agent_live: AgentLiveStore) -> None:
    live = AgentLive(
        "jkowalski",
        (
            Membership(2, paused=True, pause_id=4),
            Membership(7, ringing=True, in_call=True, calls=("1795800000.1", "1795800000.2")),
        ),
        AgentState.INBOUND_CALL,
        None,
        AT,
    )
    assert await agent_live.get("jkowalski") is None
    await agent_live.put(live)
    assert await agent_live.get("jkowalski") == live
    paused = AgentLive("anowak", (Membership(2, True, 1),), AgentState.PAUSED, 1, AT)
    await agent_live.put(paused)
    await agent_live.put(live)  # a second write of the same agent replaces the first
    assert sorted(await agent_live.all(), key=lambda x: x.login) == [paused, live]
    await agent_live.remove("jkowalski")
    assert await agent_live.all() == [paused]


def test_a_record_written_before_calls_were_kept_reads_as_no_call() -> None:
    from kolejka.adapters.sql.agent_rows import decode_live

    old = decode_live("jkowalski", "INBOUND_CALL", None, 0, "[[7,0,null,0,1]]")
    assert old.memberships == (Membership(7, in_call=True),)
