"""Thulium's agents API: who the agents are, their states, the pause catalogue, and control.

`GET agents/:login` and `GET agents/:login/status` are Thulium's documented objects, byte for
byte; `GET agents`, `GET agents_statuses` and `GET system/pauses` (no stored contract) are arrays
of the single-item objects. `POST agents/:login/pause|free|login|logout` act through the PBX
(`AgentControl`) and answer `204` with no body once the PBX has confirmed; the state then changes
from the PBX's events. docs/api.md has every decision.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from zoneinfo import ZoneInfo

from kolejka.adapters.http import wire
from kolejka.adapters.http.request import Reply, Request, only_fields
from kolejka.adapters.http.routing import Route
from kolejka.domain.agents import MAX_LOGIN, Agent, AgentStatus, Pause, is_login
from kolejka.domain.errors import FieldProblem, InvalidField, UnknownAgent
from kolejka.domain.queues import MAX_ID
from kolejka.services.agent_control import AgentControl
from kolejka.services.agents import Agents
from kolejka.services.ports import Change, ChangeFeed, Topic

# What Thulium shows for fields kolejka has no notion of: every agent dials by hand, in no group.
OUTBOUND_MODE = "manual"
MAX_LOGIN_QUEUES = 1000
NO_CONTENT = Reply(b"", 204)


def agent(found: Agent) -> dict[str, object]:
    """`GET agents/:login`: Thulium's nine keys, in its order."""
    return {
        "agent_id": found.agent_id,
        "login": found.login,
        "name": found.name,
        "surname": found.surname,
        "email": found.email,
        "active": found.active,
        "number": found.number,
        "outbound_mode": OUTBOUND_MODE,
        "group_id": None,
    }


def pause(found: Pause) -> dict[str, object]:
    return {"pause_id": found.pause_id, "name": found.name}


def statuses_json(found: Sequence[AgentStatus], zone: ZoneInfo) -> bytes:
    return wire.to_json([wire.agent_status(s, zone) for s in found])


class AgentStatusesView:
    """`GET agents_statuses` as ready JSON bytes, dropped when any agent changes.

    Wallboards poll it, or stream it (the stream sends these very bytes); agents change far
    less often than they are looked at, so a read is an attribute lookup and the rendering
    (500 agents: tens of kilobytes) is paid once per change, as for the waiting list.
    """

    def __init__(self, agents: Agents, changes: ChangeFeed, time_zone: ZoneInfo) -> None:
        self.agents = agents
        self.time_zone = time_zone
        self.ready: bytes | None = None
        self._generation = 0
        changes.subscribe(self._forget)

    def _forget(self, change: Change) -> None:
        if change.topic in (Topic.AGENTS, Topic.ALL):
            self._generation += 1
            self.ready = None

    async def statuses_json(self) -> bytes:
        ready = self.ready
        if ready is not None:
            return ready
        generation = self._generation
        body = statuses_json(await self.agents.statuses(), self.time_zone)
        # A change may have landed while we awaited the store: then this body may be stale.
        if generation == self._generation:
            self.ready = body
        return body


class AgentsApi:
    """The handlers; `routes()` lists them for KolejkaApp."""

    def __init__(
        self,
        agents: Agents,
        view: AgentStatusesView,
        control: AgentControl,
        time_zone: ZoneInfo,
    ) -> None:
        self.agents = agents
        self.view = view
        self.control = control
        self.time_zone = time_zone

    def routes(self) -> list[Route]:
        return [
            Route("GET", "/api/agents", self.list_agents),
            Route("GET", "/api/agents/{login}", self.get_agent),
            Route("GET", "/api/agents/{login}/status", self.get_status),
            Route("GET", "/api/agents_statuses", self.list_statuses),
            Route("GET", "/api/system/pauses", self.list_pauses),
            Route("POST", "/api/agents/{login}/pause", self.pause),
            Route("POST", "/api/agents/{login}/free", self.free),
            Route("POST", "/api/agents/{login}/login", self.login),
            Route("POST", "/api/agents/{login}/logout", self.logout),
        ]

    async def list_agents(self, request: Request) -> Reply:
        return Reply(wire.to_json([agent(a) for a in await self.agents.all()]))

    async def get_agent(self, request: Request) -> Reply:
        login = _login(request)
        found = await self.agents.get(login)
        if found is None:
            raise UnknownAgent(login)
        return Reply(wire.to_json(agent(found)))

    async def get_status(self, request: Request) -> Reply:
        login = _login(request)
        found = await self.agents.status(login)
        if found is None:
            raise UnknownAgent(login)
        return Reply(wire.to_json(wire.agent_status(found, self.time_zone)))

    async def list_statuses(self, request: Request) -> Reply:
        ready = self.view.ready  # nearly every poll: no await of the store
        return Reply(ready if ready is not None else await self.view.statuses_json())

    async def list_pauses(self, request: Request) -> Reply:
        return Reply(wire.to_json([pause(p) for p in await self.agents.pauses()]))

    # Control through the PBX -----------------------------------------------------------------

    async def pause(self, request: Request) -> Reply:
        login = _login(request)
        body = await _body(request, {"pause_id"})
        pause_id = body.get("pause_id")
        if pause_id is None:
            raise InvalidField("pause_id", FieldProblem.REQUIRED)
        if not _is_id(pause_id):
            raise InvalidField("pause_id", FieldProblem.OUT_OF_RANGE, low=1, high=MAX_ID)
        await self.control.pause(login, pause_id)
        return NO_CONTENT

    async def free(self, request: Request) -> Reply:
        login = _login(request)
        await _body(request, set())
        await self.control.free(login)
        return NO_CONTENT

    async def login(self, request: Request) -> Reply:
        login = _login(request)
        body = await _body(request, {"queues"})
        queues = body.get("queues")
        if queues is not None:
            if not isinstance(queues, list):
                raise InvalidField("queues", FieldProblem.NOT_AN_ARRAY)
            if len(queues) > MAX_LOGIN_QUEUES:
                raise InvalidField("queues", FieldProblem.TOO_MANY_ITEMS)
            for index, queue_id in enumerate(queues):
                if not _is_id(queue_id):
                    field = f"queues[{index}]"
                    raise InvalidField(field, FieldProblem.OUT_OF_RANGE, low=1, high=MAX_ID)
        await self.control.login(login, queues)
        return NO_CONTENT

    async def logout(self, request: Request) -> Reply:
        login = _login(request)
        await _body(request, set())
        await self.control.logout(login)
        return NO_CONTENT


def _login(request: Request) -> str:
    """The path's login; one that no agent could have (`%00`, `a/b`, 5 kB of text, bytes
    that are not UTF-8) is an unknown agent, without asking the store."""
    login = request.params["login"]
    if not is_login(login):
        raise UnknownAgent(login[: MAX_LOGIN + 1])
    return login


async def _body(request: Request, known: set[str]) -> dict[str, Any]:
    """The body as an object; an empty body is `{}` (free and logout need nothing)."""
    value = await request.json_value()
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidField("body", FieldProblem.NOT_AN_OBJECT)
    only_fields(value, known)
    return value


def _is_id(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value <= MAX_ID
