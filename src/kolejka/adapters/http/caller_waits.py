"""`GET /api/queues/{id}/callers`: what each waiting caller's wait looks like (kolejka's own).

Thulium's `waiting_list` keeps exactly its four keys; this is a separate read, with its own
permission (`GET queues/:id/callers`), for supervisors' panels. docs/api.md ("Waiting callers")
documents the fields and the expected wait's formula.
"""

from __future__ import annotations

from collections.abc import Iterable
from zoneinfo import ZoneInfo

from kolejka.adapters.http import wire
from kolejka.adapters.http.request import Reply, Request, no_query
from kolejka.adapters.http.routing import Route
from kolejka.domain.connections import Connection
from kolejka.services.caller_waits import CallerWait, CallerWaits


class CallerWaitsApi:
    """The handler; `routes()` lists it for KolejkaApp."""

    def __init__(self, waits: CallerWaits, time_zone: ZoneInfo) -> None:
        self.waits = waits
        self.time_zone = time_zone

    def routes(self) -> list[Route]:
        return [Route("GET", "/api/queues/{id}/callers", self.callers)]

    async def callers(self, request: Request) -> Reply:
        queue_id = request.path_id("id")
        no_query(request)
        found = await self.waits.callers(queue_id)
        return Reply(wire.to_json(caller_waits(found, self.time_zone)))


def caller_waits(callers: Iterable[CallerWait], zone: ZoneInfo) -> list[dict[str, object]]:
    """Each caller, next to be answered first; waits in whole seconds, times in `zone`."""
    return [
        {
            "call_id": caller.call_id,
            "position": caller.position,
            "phone_number": caller.phone_number,
            "started_at": wire.wire_time(caller.started_at, zone),
            "waited": _seconds(caller.waited.total_seconds()),
            "expected_wait": (
                None
                if caller.expected_wait is None
                else _seconds(caller.expected_wait.total_seconds())
            ),
            "customer_id": caller.customer.customer_id if caller.customer else None,
            "customer_label": caller.customer.label if caller.customer else None,
            "calls_today": {
                "count": len(caller.calls_today),
                "calls": [_call(row, zone) for row in caller.calls_today],
            },
        }
        for caller in callers
    ]


def _call(row: Connection, zone: ZoneInfo) -> dict[str, object]:
    """One earlier call from the number: when, where, how it ended, the wait and the talk."""
    return {
        "connection_id": row.connection_id,
        "date": wire.wire_time(row.started_at, zone),
        "queue_id": row.queue_id,
        "disposition": row.disposition.value,
        "wait": row.duration - row.billsec,
        "billsec": row.billsec,
    }


def _seconds(value: float) -> int:
    return max(int(value), 0)
