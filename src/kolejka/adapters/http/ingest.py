"""The ingest API, for PBXs without an adapter: a caller joins a queue, and leaves it."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from kolejka.adapters.http.request import (
    Reply,
    Request,
    only_fields,
    seconds_field,
    text_field,
)
from kolejka.adapters.http.routing import Route
from kolejka.adapters.http.wire import to_json, wire_time
from kolejka.domain.errors import FieldProblem, InvalidField
from kolejka.domain.phone import MAX_PHONE_INPUT
from kolejka.domain.queues import MAX_CALL_ID, MAX_CALLER_NAME, Outcome
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
        only_fields(body, {"call_id", "phone_number", "caller_name", "waited"})
        call_id = text_field(body, "call_id", MAX_CALL_ID, required=True, strip=False)
        if not call_id:
            raise InvalidField("call_id", FieldProblem.REQUIRED)
        phone_number = text_field(body, "phone_number", MAX_PHONE_INPUT)
        caller_name = text_field(body, "caller_name", MAX_CALLER_NAME)
        waited = seconds_field(body, "waited")
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
