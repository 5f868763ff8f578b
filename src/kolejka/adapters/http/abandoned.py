"""Abandoned callers to call back, kolejka's extension: `GET /api/queues/{id}/abandoned` and
`POST /api/queues/{id}/abandoned/{phone_number}/schedule_call`. docs/api.md ("Abandoned
callers") has the decisions.

The list is today's callers who abandoned the queue and were not reached since, each with the
number as the waiting list shows it, the customer by its unambiguous rule, the times abandoned,
the first and last attempt (Thulium's dates) and the longest wait in seconds; the last attempt
newest first. `schedule_call` takes Thulium's `schedule_call` body without `phone_number` (the
path names it) and answers 201 with an empty body, or 404 (404020) for a number not on the list.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from kolejka.adapters.http import wire
from kolejka.adapters.http.callbacks import optional_object
from kolejka.adapters.http.request import Reply, Request, no_query, only_fields
from kolejka.adapters.http.routing import Route
from kolejka.domain.callbacks import parse_wire_time
from kolejka.domain.crm_fields import PHONE_SYNTAX
from kolejka.domain.errors import FieldProblem, InvalidField
from kolejka.domain.phone import MAX_PHONE_INPUT
from kolejka.services.abandoned import AbandonedCallers, AbandonedEntry
from kolejka.services.ports import Change, ChangeFeed, Topic
from kolejka.services.single_flight import SingleFlight

CREATED = Reply(b"", 201)
# The wallboard shows the newest few of each queue's list, and how many there are.
WALLBOARD_ABANDONED = 10
# A list is computed again at the latest this often even when no change was announced: an
# answered callback's row may land after its change was announced. (Midnight is watched.)
MAX_AGE_SECONDS = 30.0
# Entries rendered once and kept, by what they show: most of a list is as it was last time.
_KEPT_ENTRIES = 50_000
# What can change a queue's list: a call of the queue ending (a new abandon, or an answer), a
# callback's attempt, a customer's name, or anything (another process wrote).
_ONE_QUEUE = frozenset({Topic.QUEUE, Topic.CALLBACKS})
_EVERY_QUEUE = frozenset({Topic.QUEUE, Topic.CALLBACKS, Topic.CRM, Topic.ALL})


def abandoned_caller(entry: AbandonedEntry, shown: str, zone: ZoneInfo) -> dict[str, object]:
    """One entry of the list on the wire; `shown` is the number as the waiting list shows it."""
    caller = entry.caller
    return {
        "phone_number": shown,
        "customer_id": entry.customer.customer_id if entry.customer else None,
        "customer_label": entry.customer.label if entry.customer else None,
        "times_abandoned": caller.times,
        "first_attempt_at": _wire_time(caller.first_attempt, zone),
        "last_attempt_at": _wire_time(caller.last_attempt, zone),
        "longest_wait": caller.longest_wait,
    }


def _wire_time(instant: datetime, zone: ZoneInfo) -> str:
    """`wire.wire_time`, three times as fast (no strftime): thousands of entries a list."""
    local = instant.astimezone(zone)
    return "%04d-%02d-%02d %02d:%02d:%02d" % (  # noqa: UP031
        local.year,
        local.month,
        local.day,
        local.hour,
        local.minute,
        local.second,
    )


@dataclass(slots=True)
class ReadyList:
    """A queue's list as computed at `computed` (time.monotonic), its JSON, and the wallboard's
    part of it (`{"count": ..., "callers": [the newest few]}`); `stale` once a change came."""

    entries: Sequence[AbandonedEntry]
    body: bytes
    wallboard: bytes
    computed: float
    day_ends: datetime
    stale: bool = False


class AbandonedView:
    """Each queue's abandoned list, computed once per change and kept as entries and JSON.

    A wallboard and a callback desk read the list far more often than calls end; the list is
    computed again when a call of its queue ends or a callback is attempted (the change feed
    says so, across instances too), a name changes, or `max_age` passes (midnight starts a new
    list). While calls keep ending, a queue's list is computed at most once per `min_interval`
    (KOLEJKA_ABANDONED_REFRESH_SECONDS): in between, the list computed last is served. The read
    that finds a list out of date waits for it to be computed; reads that come meanwhile are
    served the previous list (of the same day), so a list of thousands never holds them up.
    """

    def __init__(
        self,
        callers: AbandonedCallers,
        time_zone: ZoneInfo,
        changes: ChangeFeed | None = None,
        max_age: float = MAX_AGE_SECONDS,
        min_interval: float = 5.0,
    ) -> None:
        self.callers = callers
        self.time_zone = time_zone
        self.max_age = max_age
        self.min_interval = min_interval
        self._ready: dict[int, ReadyList] = {}
        self._generation = 0
        self._computing: SingleFlight[int, ReadyList] = SingleFlight()
        self._rendered: dict[AbandonedEntry, bytes] = {}
        if changes is not None:
            changes.subscribe(self._forget)

    def _forget(self, change: Change) -> None:
        if change.topic in _ONE_QUEUE and change.queue_id is not None:
            self._generation += 1
            ready = self._ready.get(change.queue_id)
            if ready is not None:
                ready.stale = True
        elif change.topic in _EVERY_QUEUE:
            self._generation += 1
            for ready in self._ready.values():
                ready.stale = True

    async def ready(self, queue_id: int) -> ReadyList:
        """The queue's list, computed now unless a current one is kept (UnknownQueue if none)."""
        ready = self._ready.get(queue_id)
        if ready is not None and self.callers.now() < ready.day_ends:
            age = time.monotonic() - ready.computed
            if age < (self.min_interval if ready.stale else self.max_age):
                return ready
            if self._computing.running(queue_id):
                return ready  # the read that asked first waits; the others are not held up
        return await self._computing.run(queue_id, lambda: self._compute(queue_id))

    async def _compute(self, queue_id: int) -> ReadyList:
        generation = self._generation
        started = time.monotonic()
        day_ends = self.callers.day_ends()
        entries = await self.callers.in_queue(queue_id)
        # Rendering thousands of entries is work too: on a thread, as the rule's.
        body, board = await asyncio.to_thread(self._render, entries)
        ready = ReadyList(entries, body, board, started, day_ends)
        # A change that came while it was computed leaves it stale: computed again next time.
        ready.stale = generation != self._generation
        self._ready[queue_id] = ready
        return ready

    def _render(self, entries: Sequence[AbandonedEntry]) -> tuple[bytes, bytes]:
        """The list's JSON and the wallboard's part of it; each entry rendered once and kept."""
        rendered = self._rendered
        if len(rendered) > _KEPT_ENTRIES:
            rendered.clear()
        shown = []
        for entry in entries:
            part = rendered.get(entry)
            if part is None:
                number = self.callers.display(entry.caller.phone_number)
                part = rendered[entry] = wire.to_json(
                    abandoned_caller(entry, number, self.time_zone)
                )
            shown.append(part)
        board = b'{"count":%d,"callers":[%s]}' % (
            len(shown),
            b",".join(shown[:WALLBOARD_ABANDONED]),
        )
        return b"[" + b",".join(shown) + b"]", board


class AbandonedApi:
    """The handlers; `routes()` lists them for KolejkaApp."""

    def __init__(self, view: AbandonedView) -> None:
        self.view = view
        self.callers = view.callers
        self.time_zone = view.time_zone

    def routes(self) -> list[Route]:
        return [
            Route("GET", "/api/queues/{id}/abandoned", self.abandoned),
            Route(
                "POST",
                "/api/queues/{id}/abandoned/{phone_number}/schedule_call",
                self.schedule_call,
            ),
        ]

    async def abandoned(self, request: Request) -> Reply:
        queue_id = request.path_id("id")
        no_query(request)
        return Reply((await self.view.ready(queue_id)).body)

    async def schedule_call(self, request: Request) -> Reply:
        queue_id = request.path_id("id")
        number = path_number(request.params["phone_number"])
        no_query(request)
        body = await optional_object(request)  # no body at all: call now
        only_fields(body, {"call_at"})
        call_at = body.get("call_at")
        at = None if call_at is None else parse_wire_time(call_at, self.time_zone, "call_at")
        await self.callers.schedule_call(queue_id, number, at)
        return CREATED


def path_number(segment: str) -> str:
    """The path's phone number (percent-decoded by the router): digits and phone punctuation,
    as a body's `phone_number` may be written; 400 otherwise, never a lookup."""
    if len(segment) > MAX_PHONE_INPUT or not PHONE_SYNTAX.fullmatch(segment):
        raise InvalidField("phone_number", FieldProblem.NOT_A_PHONE_NUMBER)
    return segment.strip()
