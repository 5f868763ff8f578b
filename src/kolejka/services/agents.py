"""The agent use cases: reading agents and their live states, and editing the catalogue.

The HTTP API and the wallboard read through `Agents`; the CLI adds and removes agents. Live
states change only from what the PBX reports (`kolejka.services.agent_sync`), never here, except
that a new agent starts OFF.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from kolejka.domain.agents import (
    MAX_EMAIL,
    MAX_NAME,
    MAX_NUMBER,
    Agent,
    AgentStatus,
    NewAgent,
    Pause,
    is_login,
    off,
)
from kolejka.domain.errors import FieldProblem, InvalidField
from kolejka.domain.queues import MAX_ID
from kolejka.domain.text import has_control
from kolejka.services.ports import AgentDirectory, AgentLiveStore, Change, ChangeFeed, Clock, Topic


def checked(agent: NewAgent) -> NewAgent:
    """`agent` with its text trimmed; raises InvalidField naming the first bad field."""
    if not is_login(agent.login):
        raise InvalidField("login", FieldProblem.NOT_A_LOGIN)
    texts = {}
    for field, value, limit in (
        ("name", agent.name, MAX_NAME),
        ("surname", agent.surname, MAX_NAME),
        ("email", agent.email, MAX_EMAIL),
    ):
        value = value.strip()
        if len(value) > limit:
            raise InvalidField(field, FieldProblem.TOO_LONG)
        if has_control(value):
            raise InvalidField(field, FieldProblem.CONTROL_CHARACTERS)
        texts[field] = value
    if agent.number is not None and not 0 < agent.number <= MAX_NUMBER:
        raise InvalidField("number", FieldProblem.OUT_OF_RANGE, low=1, high=MAX_NUMBER)
    for queue_id in agent.queues:
        if not 0 < queue_id <= MAX_ID:
            raise InvalidField("queues", FieldProblem.OUT_OF_RANGE, low=1, high=MAX_ID)
    return NewAgent(
        login=agent.login,
        name=texts["name"],
        surname=texts["surname"],
        email=texts["email"],
        number=agent.number,
        active=agent.active,
        queues=tuple(dict.fromkeys(agent.queues)),
    )


class Agents:
    """Agents, their one state across the queues, and the pause catalogue."""

    def __init__(
        self,
        directory: AgentDirectory,
        live: AgentLiveStore,
        clock: Clock,
        changes: ChangeFeed,
    ) -> None:
        self._directory = directory
        self._live = live
        self._clock = clock
        self._changes = changes

    def now(self) -> datetime:
        """The clock `last_change` is counted on (a wallboard's time in state)."""
        return self._clock.now()

    async def all(self) -> Sequence[Agent]:
        """Every agent, by agent_id."""
        return await self._directory.all()

    async def get(self, login: str) -> Agent | None:
        return await self._directory.get(login)

    async def status(self, login: str) -> AgentStatus | None:
        """The agent's state; None for an unknown login."""
        if await self._directory.get(login) is None:
            return None
        live = await self._live.get(login)
        return (live or off(login, self._clock.now())).status

    async def statuses(self) -> Sequence[AgentStatus]:
        """Every agent's state, OFF ones included, by agent_id."""
        agents = await self._directory.all()
        lives = {live.login: live for live in await self._live.all()}
        now = self._clock.now()
        return [(lives.get(a.login) or off(a.login, now)).status for a in agents]

    async def pauses(self) -> Sequence[Pause]:
        """The pause catalogue (`GET system/pauses`), by pause_id."""
        return await self._directory.pauses()

    async def add(self, agent: NewAgent) -> Agent:
        """Adds an agent (OFF until the PBX says otherwise); raises AgentExists, InvalidField."""
        added = await self._directory.add(checked(agent))
        if await self._live.get(added.login) is None:
            await self._live.put(off(added.login, self._clock.now()))
        await self._changes.publish(Change(Topic.AGENTS))
        return added

    async def remove(self, login: str) -> bool:
        """Removes the agent and its live state; False if there was none. The PBX may still
        have it as a member: its next event makes it an agent again."""
        removed = await self._directory.remove(login)
        if removed:
            await self._live.remove(login)
            await self._changes.publish(Change(Topic.AGENTS))
        return removed
