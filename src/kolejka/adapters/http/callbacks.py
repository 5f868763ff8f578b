"""Callbacks over HTTP: Thulium's `POST queues/:id/schedule_call`, exactly, and kolejka's own
list, cancel, and claim-and-report for PBXs without AMI. docs/api.md has every decision.

`schedule_call` answers 201 with an empty body, as Thulium's page and its response codes say;
a second request for a number with an open callback in the queue answers 201 too, and keeps
the earlier time (one call, never two).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

from kolejka.adapters.http import wire
from kolejka.adapters.http.errors import NOT_JSON_TYPE, ApiError
from kolejka.adapters.http.request import Reply, Request, no_query, only_fields
from kolejka.adapters.http.routing import Route
from kolejka.domain import crm_fields
from kolejka.domain.callbacks import Attempt, Callback, DialOutcome, parse_wire_time
from kolejka.domain.crm import PhoneNumber
from kolejka.domain.errors import FieldErrors, FieldProblem, InvalidField
from kolejka.domain.phone import PhoneNumbers
from kolejka.domain.queues import MAX_CALL_ID
from kolejka.services.callbacks import Callbacks

CREATED = Reply(b"", 201)
NO_CONTENT = Reply(b"", 204)
# What a PBX may report of an attempt (`lost` is kolejka's own word for a lapsed claim).
REPORTED = {o.value: o for o in DialOutcome if o is not DialOutcome.LOST}
MAX_CLAIM = 64
LAPSED_PER_CLAIM = 100


def attempt(found: Attempt, zone: ZoneInfo) -> dict[str, object]:
    return {
        "attempt": found.number,
        "started_at": wire.wire_time(found.started_at, zone),
        "finished_at": None
        if found.finished_at is None
        else wire.wire_time(found.finished_at, zone),
        "outcome": None if found.outcome is None else found.outcome.value,
    }


def scheduled_call(found: Callback, phones: PhoneNumbers, zone: ZoneInfo) -> dict[str, object]:
    """One callback as `GET .../scheduled_calls` lists it (kolejka's shape, Thulium's dates)."""
    return {
        "callback_id": found.callback_id,
        "queue_id": found.queue_id,
        "phone_number": phones.display(found.phone_number),
        "call_at": wire.wire_time(found.call_at, zone),
        "created_at": wire.wire_time(found.created_at, zone),
        "state": found.state.value,
        "outcome": None if found.outcome is None else found.outcome.value,
        "attempts": [attempt(a, zone) for a in found.attempts],
    }


class CallbacksApi:
    """The handlers; `routes()` lists them for KolejkaApp."""

    def __init__(
        self,
        callbacks: Callbacks,
        phones: PhoneNumbers,
        time_zone: ZoneInfo,
        claim_for: timedelta,
    ) -> None:
        self.callbacks = callbacks
        self.phones = phones
        self.time_zone = time_zone
        self.claim_for = claim_for

    def routes(self) -> list[Route]:
        return [
            Route("POST", "/api/queues/{id}/schedule_call", self.schedule_call),
            Route(
                "POST",
                "/api/queues/{id}/callers/{call_id}/schedule_call",
                self.schedule_caller_call,
            ),
            Route("GET", "/api/queues/{id}/scheduled_calls", self.scheduled_calls),
            Route("DELETE", "/api/queues/{id}/scheduled_calls/{callback_id}", self.cancel_call),
            Route("POST", "/api/scheduled_calls/claim", self.claim),
            Route("POST", "/api/scheduled_calls/{callback_id}/outcome", self.report),
        ]

    async def schedule_call(self, request: Request) -> Reply:
        queue_id = request.path_id("id")
        no_query(request)
        body = await request.json_object()
        errors = FieldErrors(body, {"phone_number", "call_at"})
        number = errors.take(lambda: self._number(body.get("phone_number")), None)
        call_at = body.get("call_at")
        at = None
        if call_at is not None:
            at = errors.take(lambda: parse_wire_time(call_at, self.time_zone, "call_at"), None)
        errors.raise_any()
        assert number is not None
        await self.callbacks.schedule(queue_id, number.raw, at)
        return CREATED

    def _number(self, raw: object) -> PhoneNumber:
        if raw is None or raw == "":
            raise InvalidField("phone_number", FieldProblem.REQUIRED)
        return crm_fields.phone_number(raw, self.phones, "phone_number")

    async def schedule_caller_call(self, request: Request) -> Reply:
        """A callback for a caller waiting now, keeping their place (kolejka's extension): an
        IVR's "press 1 to be called back". No body (or `{}`): the number and the place are the
        waiting call's. 201 with the callback as `scheduled_calls` lists it."""
        queue_id = request.path_id("id")
        # Longer than any call id that may wait: cut, it still matches none (404).
        call_id = request.params["call_id"][: MAX_CALL_ID + 1]
        no_query(request)
        body = await optional_object(request)
        only_fields(body, set())
        found = await self.callbacks.schedule_for_caller(queue_id, call_id)
        return Reply(wire.to_json(scheduled_call(found, self.phones, self.time_zone)), 201)

    async def scheduled_calls(self, request: Request) -> Reply:
        queue_id = request.path_id("id")
        no_query(request)
        found = await self.callbacks.in_queue(queue_id)
        return Reply(wire.to_json([scheduled_call(c, self.phones, self.time_zone) for c in found]))

    async def cancel_call(self, request: Request) -> Reply:
        queue_id = request.path_id("id")
        callback_id = request.path_id("callback_id")
        no_query(request)
        await self.callbacks.cancel(queue_id, callback_id)
        return NO_CONTENT

    async def claim(self, request: Request) -> Reply:
        """The earliest due callback, claimed for this PBX for KOLEJKA_CALLBACK_CLAIM_SECONDS;
        204 when none is due."""
        no_query(request)
        body = await optional_object(request)
        only_fields(body, set())
        # Lapsed claims end here too: without AMI no dialler runs to end them.
        await self.callbacks.take_over_lapsed(self.claim_for, LAPSED_PER_CLAIM)
        claimed = await self.callbacks.claim(1, self.claim_for)
        if not claimed:
            return NO_CONTENT
        found = claimed[0]
        assert found.claim is not None
        assert found.claimed_until is not None
        return Reply(
            wire.to_json(
                {
                    "callback_id": found.callback_id,
                    "queue_id": found.queue_id,
                    "phone_number": self.phones.display(found.phone_number),
                    "e164": found.phone_number,
                    "attempt": len(found.attempts),
                    "claim": found.claim,
                    "claimed_until": wire.wire_time(found.claimed_until, self.time_zone),
                }
            )
        )

    async def report(self, request: Request) -> Reply:
        callback_id = request.path_id("callback_id")
        no_query(request)
        body = await request.json_object()
        only_fields(body, {"claim", "outcome"})
        claim = body.get("claim")
        if claim is None:
            raise InvalidField("claim", FieldProblem.REQUIRED)
        if not isinstance(claim, str):
            raise InvalidField("claim", FieldProblem.NOT_A_STRING)
        if len(claim) > MAX_CLAIM:
            raise InvalidField("claim", FieldProblem.TOO_LONG)
        outcome = body.get("outcome")
        if outcome is None:
            raise InvalidField("outcome", FieldProblem.REQUIRED)
        if not isinstance(outcome, str) or outcome not in REPORTED:
            raise InvalidField("outcome", FieldProblem.NOT_A_DIAL_OUTCOME)
        await self.callbacks.report(callback_id, claim, REPORTED[outcome])
        return NO_CONTENT


async def optional_object(request: Request) -> dict[str, Any]:
    """An optional JSON object: no body at all (and no Content-Type) is `{}`."""
    if request.header(b"content-type") is None and request.header(b"content-length") in (
        None,
        b"0",
    ):
        if await request.body():
            raise ApiError(NOT_JSON_TYPE)
        return {}
    value = await request.json_value()
    declared = request.header(b"content-length")
    if value is None and (declared is None or declared.strip(b" 0") == b""):
        return {}  # empty, but not a JSON `null`
    if not isinstance(value, dict):
        raise InvalidField("body", FieldProblem.NOT_AN_OBJECT)
    return value
