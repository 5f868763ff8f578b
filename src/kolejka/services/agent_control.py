"""Controlling agents through the PBX: pause, free, log in to queues, log out.

Thulium's `POST agents/:login/pause|free|login|logout`. kolejka does not change an agent's state
itself: it asks the PBX (`PbxControl`), answers once the PBX has confirmed, and the state then
changes from the PBX's own events, as it does when the agent presses a key on their phone. So a
refused or unreachable PBX changes nothing, and every instance shows the same state.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from kolejka.domain.agents import Agent, AgentStatus, Pause
from kolejka.domain.errors import (
    AgentLoggedOut,
    NoQueuesToLogIn,
    PbxUnavailable,
    UnknownAgent,
    UnknownPause,
    UnknownQueue,
)
from kolejka.services.ports import PbxControl, QueueDirectory

NO_PBX = "no PBX link is configured (KOLEJKA_AMI_HOST)"


class AgentReads(Protocol):
    """What control needs to know of agents (`services.agents.Agents` gives it)."""

    async def get(self, login: str) -> Agent | None: ...

    async def status(self, login: str) -> AgentStatus | None: ...

    async def pauses(self) -> Sequence[Pause]: ...


class AgentControl:
    """The use case behind the four POSTs. `pbx` is None when kolejka follows no PBX."""

    def __init__(self, agents: AgentReads, queues: QueueDirectory, pbx: PbxControl | None) -> None:
        self.agents = agents
        self.queues = queues
        self.pbx = pbx

    async def pause(self, login: str, pause_id: int) -> None:
        await self._agent(login)
        pause = next((p for p in await self.agents.pauses() if p.pause_id == pause_id), None)
        if pause is None:
            raise UnknownPause(pause_id)
        await self._member_queues(login)
        await self._pbx().pause(login, pause.name)

    async def free(self, login: str) -> None:
        await self._agent(login)
        await self._member_queues(login)
        await self._pbx().unpause(login)

    async def login(self, login: str, queue_ids: Sequence[int] | None) -> None:
        """Makes the agent a member of `queue_ids`, or of their configured queues if None.

        All or nothing: when the PBX refuses one queue, the memberships added before it are
        removed again, and the refusal is raised.
        """
        agent = await self._agent(login)
        wanted = list(dict.fromkeys(agent.queues if queue_ids is None else queue_ids))
        if not wanted:
            raise NoQueuesToLogIn(login)
        for queue_id in wanted:
            if await self.queues.get(queue_id) is None:
                raise UnknownQueue(queue_id)
        pbx = self._pbx()
        status = await self.agents.status(login)
        already = set(status.queues) if status is not None else set()
        added: list[int] = []
        try:
            for queue_id in wanted:
                if queue_id in already:
                    continue
                await pbx.add_member(login, agent.number, queue_id)
                added.append(queue_id)
        except BaseException:
            for queue_id in reversed(added):
                try:
                    await pbx.remove_member(login, queue_id)
                except Exception:  # the first failure is the one to report
                    break
            raise

    async def logout(self, login: str) -> None:
        """Ends every membership the agent has now; an agent in no queue is already out."""
        await self._agent(login)
        status = await self.agents.status(login)
        queue_ids = status.queues if status is not None else ()
        if not queue_ids:
            return
        pbx = self._pbx()
        for queue_id in queue_ids:
            await pbx.remove_member(login, queue_id)

    async def _agent(self, login: str) -> Agent:
        agent = await self.agents.get(login)
        if agent is None:
            raise UnknownAgent(login)
        return agent

    async def _member_queues(self, login: str) -> tuple[int, ...]:
        status = await self.agents.status(login)
        if status is None or not status.queues:
            raise AgentLoggedOut(login)
        return status.queues

    def _pbx(self) -> PbxControl:
        if self.pbx is None:
            raise PbxUnavailable(NO_PBX)
        return self.pbx
