"""PROVISIONAL stand-in for agents-core's use case (replaced by its version at the merge)."""

from __future__ import annotations

from collections.abc import Sequence

from kolejka.domain.agents import Agent, AgentStatus, Pause


class Agents:
    def __init__(self) -> None:
        self.agents: dict[str, Agent] = {}
        self.states: dict[str, AgentStatus] = {}
        self.pause_list: list[Pause] = []

    async def all(self) -> Sequence[Agent]:
        return sorted(self.agents.values(), key=lambda a: a.agent_id)

    async def get(self, login: str) -> Agent | None:
        return self.agents.get(login)

    async def status(self, login: str) -> AgentStatus | None:
        return self.states.get(login)

    async def statuses(self) -> Sequence[AgentStatus]:
        return [self.states[a.login] for a in await self.all() if a.login in self.states]

    async def pauses(self) -> Sequence[Pause]:
        return list(self.pause_list)
