"""The ingest API, for PBXs without an adapter: a caller joins a queue, and leaves it; a queue
member (an agent) is added, paused, rung, connected, and so on, as the AMI listener hears it."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from kolejka.adapters.http.request import (
    Reply,
    Request,
    id_text_field,
    only_fields,
    seconds_field,
    text_field,
)
from kolejka.adapters.http.routing import Route
from kolejka.adapters.http.wire import agent_status, to_json, wire_time
from kolejka.domain.agents import (
    MAX_PAUSE_NAME,
    AgentCompleted,
    AgentConnected,
    AgentRinging,
    AgentRingNoAnswer,
    CompletedBy,
    MemberAdded,
    MemberEvent,
    MemberPaused,
    MemberRemoved,
    MemberReport,
    is_login,
)
from kolejka.domain.errors import FieldErrors, FieldProblem, InvalidField, UnknownQueue
from kolejka.domain.phone import MAX_PHONE_INPUT
from kolejka.domain.queues import MAX_CALL_ID, MAX_CALLER_NAME, Outcome
from kolejka.services.agent_sync import AgentSync
from kolejka.services.ports import QueueDirectory
from kolejka.services.waiting_lists import WaitingLists


class IngestApi:
    """`POST /api/queues/{id}/callers` and `.../callers/{call_id}/leave`."""

    def __init__(self, lists: WaitingLists, time_zone: ZoneInfo) -> None:
        self.lists = lists
        self.time_zone = time_zone

    def routes(self) -> list[Route]:
        return [
            Route("POST", "/api/queues/{id}/callers", self.caller_joins),
            Route("POST", "/api/queues/{id}/callers/{call_id}/leave", self.caller_leaves),
        ]

    async def caller_joins(self, request: Request) -> Reply:
        queue_id = request.path_id("id")
        body = await request.json_object()
        errors = FieldErrors(body, {"call_id", "phone_number", "caller_name", "waited"})
        call_id = errors.take(lambda: id_text_field(body, "call_id", MAX_CALL_ID), "")
        phone_number = errors.take(lambda: text_field(body, "phone_number", MAX_PHONE_INPUT), "")
        caller_name = errors.take(lambda: text_field(body, "caller_name", MAX_CALLER_NAME), "")
        waited = errors.take(lambda: seconds_field(body, "waited"), None)
        errors.raise_any()
        started_at = None if waited is None else self.lists.now() - waited
        caller, created = await self.lists.join(
            queue_id, call_id, phone_number, caller_name, started_at
        )
        return Reply(
            to_json(
                {
                    "call_id": caller.call_id,
                    "queue_id": caller.queue_id,
                    "phone_number": self.lists.display(caller.phone_number),
                    "started_at": wire_time(caller.started_at, self.time_zone),
                }
            ),
            201 if created else 200,
        )

    async def caller_leaves(self, request: Request) -> Reply:
        queue_id = request.path_id("id")
        call_id = request.params["call_id"]
        body = await request.json_object()
        only_fields(body, {"outcome", "hold_time"})
        outcome_text = body.get("outcome")
        if outcome_text is None:
            raise InvalidField("outcome", FieldProblem.REQUIRED)
        if outcome_text not in ("answered", "abandoned"):
            raise InvalidField("outcome", FieldProblem.NOT_AN_OUTCOME)
        hold_time = seconds_field(body, "hold_time")
        gone = await self.lists.leave(call_id, Outcome(outcome_text), hold_time, queue_id=queue_id)
        return Reply(
            to_json(
                {
                    "call_id": gone.call_id,
                    "queue_id": gone.queue_id,
                    "outcome": gone.outcome.value,
                    "hold_time": int(gone.hold_time.total_seconds()),
                }
            )
        )


# Agents: a PBX without AMI reports its queue members -----------------------------------------

_MEMBER_FIELDS: dict[str, set[str]] = {
    "added": {"paused", "reason"},
    "removed": set(),
    "paused": {"reason"},
    "unpaused": set(),
    "ringing": {"call_id"},
    "ring_no_answer": {"call_id", "ring_time"},
    "connected": {"call_id", "hold_time", "ring_time"},
    "completed": {"call_id", "hold_time", "talk_time", "completed_by"},
}
MEMBER_EVENTS = tuple(_MEMBER_FIELDS)


class AgentIngestApi:
    """`POST /api/queues/{id}/members/{login}`: what happened to one member of one queue."""

    def __init__(self, agents: AgentSync, queues: QueueDirectory, time_zone: ZoneInfo) -> None:
        self.agents = agents
        self.queues = queues
        self.time_zone = time_zone

    def routes(self) -> list[Route]:
        return [Route("POST", "/api/queues/{id}/members/{login}", self.member_event)]

    async def member_event(self, request: Request) -> Reply:
        queue_id = request.path_id("id")
        login = request.params["login"]
        body = await request.json_object()
        kind = body.get("event")
        if kind is None:
            raise InvalidField("event", FieldProblem.REQUIRED)
        if not isinstance(kind, str) or kind not in _MEMBER_FIELDS:
            raise InvalidField("event", FieldProblem.NOT_A_MEMBER_EVENT)
        only_fields(body, {"event", *_MEMBER_FIELDS[kind]})
        if not is_login(login):
            raise InvalidField("login", FieldProblem.NOT_A_LOGIN)
        event = _member_event(kind, login, queue_id, body)
        if await self.queues.get(queue_id) is None:
            raise UnknownQueue(queue_id)
        live = await self.agents.report(event)
        return Reply(to_json(agent_status(live.status, self.time_zone)))


def _member_event(kind: str, login: str, queue_id: int, body: dict[str, Any]) -> MemberEvent:
    if kind in ("added", "paused", "unpaused"):
        paused = kind == "paused" or _flag(body, "paused")
        reason = text_field(body, "reason", MAX_PAUSE_NAME)
        member = MemberReport(login, queue_id, paused, reason, in_call=False)
        return MemberAdded(member) if kind == "added" else MemberPaused(member)
    if kind == "removed":
        return MemberRemoved(login, queue_id)
    call_id = id_text_field(body, "call_id", MAX_CALL_ID)
    if kind == "ringing":
        return AgentRinging(login, queue_id, call_id)
    if kind == "ring_no_answer":
        return AgentRingNoAnswer(login, queue_id, call_id, seconds_field(body, "ring_time"))
    hold_time = seconds_field(body, "hold_time")
    if kind == "connected":
        return AgentConnected(login, queue_id, call_id, hold_time, seconds_field(body, "ring_time"))
    by = body.get("completed_by")
    by = "agent" if by is None else by
    if by not in ("agent", "caller", "transfer"):
        raise InvalidField("completed_by", FieldProblem.NOT_A_COMPLETER)
    return AgentCompleted(
        login, queue_id, call_id, hold_time, seconds_field(body, "talk_time"), CompletedBy(by)
    )


def _flag(body: dict[str, Any], field: str) -> bool:
    value = body.get(field)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise InvalidField(field, FieldProblem.NOT_A_BOOLEAN)
    return value
