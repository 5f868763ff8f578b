"""What the agents' HTTP tests share: agents with a live state, put where the PBX would put it."""

from __future__ import annotations

from datetime import datetime

from kolejka.adapters.sqlite.agents import SqliteAgentLive, SqliteAgents
from kolejka.adapters.sqlite.database import Database
from kolejka.bootstrap import Components
from kolejka.domain.agents import Membership, NewAgent, off, with_memberships
from kolejka.services.ports import Change, Topic

JKOWALSKI = NewAgent(
    "jkowalski", "Jan", "Kowalski", "jan.kowalski@example.org", 559933, queues=(2,)
)
ANOWAK = NewAgent("anowak", "Anna", "Nowak", "anna.nowak@example.org", 559934, queues=(2, 7))


async def pause_id(components: Components, name: str) -> int:
    """The catalogue's id of the pause named `name` (created on first sight, as the PBX's)."""
    assert isinstance(components.database, Database)
    return (await SqliteAgents(components.database).pause_named(name)).pause_id


async def put_live(
    components: Components, login: str, memberships: tuple[Membership, ...], since: datetime
) -> None:
    """The agent's live record as following the PBX would store it, and the change published."""
    assert isinstance(components.database, Database)
    store = SqliteAgentLive(components.database)
    before = await store.get(login) or off(login, since)
    await store.put(with_memberships(before, memberships, since))
    await components.changes.publish(Change(Topic.AGENTS))
