"""The agent use case (`components.agents`) on the SQLite stores bootstrap builds."""

from __future__ import annotations

import pytest

from kolejka.bootstrap import Components
from kolejka.domain.agents import AgentState, NewAgent
from kolejka.domain.errors import AgentExists, InvalidField
from kolejka.services.ports import Change, Topic
from tests.support import FrozenClock


async def test_a_new_agent_is_off_since_it_was_added_and_listed_with_the_others(
    components: Components, clock: FrozenClock
) -> None:
    changes: list[Change] = []
    components.changes.subscribe(changes.append)
    added_at = clock.instant
    added = await components.agents.add(
        NewAgent("jkowalski", " Jan ", "Kowalski", "jan@example.org", 559933, queues=(2, 2, 7))
    )
    clock.advance(60)
    await components.agents.add(NewAgent("anowak"))
    assert (added.name, added.queues) == ("Jan", (2, 7))
    assert await components.agents.get("jkowalski") == added
    status = await components.agents.status("jkowalski")
    assert status is not None
    assert (status.state, status.pause_id, status.queues) == (AgentState.OFF, None, ())
    assert status.last_change == added_at
    statuses = await components.agents.statuses()
    assert [(s.login, s.state) for s in statuses] == [
        ("jkowalski", AgentState.OFF),
        ("anowak", AgentState.OFF),
    ]
    assert Change(Topic.AGENTS) in changes


async def test_unknown_logins_have_no_agent_and_no_status(components: Components) -> None:
    assert await components.agents.get("nobody") is None
    assert await components.agents.status("nobody") is None


async def test_a_bad_login_or_a_taken_one_is_refused(components: Components) -> None:
    with pytest.raises(InvalidField) as bad:
        await components.agents.add(NewAgent("PJSIP/201"))
    assert bad.value.field == "login"
    with pytest.raises(InvalidField) as number:
        await components.agents.add(NewAgent("jkowalski", number=0))
    assert number.value.field == "number"
    await components.agents.add(NewAgent("jkowalski"))
    with pytest.raises(AgentExists):
        await components.agents.add(NewAgent("jkowalski"))


async def test_a_removed_agent_leaves_the_list_and_its_status(components: Components) -> None:
    await components.agents.add(NewAgent("jkowalski"))
    assert await components.agents.remove("jkowalski") is True
    assert await components.agents.remove("jkowalski") is False
    assert await components.agents.statuses() == []
    assert await components.agents.pauses() == []
