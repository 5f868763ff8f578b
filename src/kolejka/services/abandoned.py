"""Abandoned callers to call back: each queue's list for today, and scheduling a callback to one.

The rule (what counts, what "reached" means) is `kolejka.domain.abandoned`; the store hands over
today's abandons of the queue and its answered callbacks; the CRM names each number by the
waiting list's unambiguous rule, for the whole list in one question. A callback for a listed
number goes through the callbacks use case, so it keeps its rules: one open callback per number
and queue, the earlier time kept.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from kolejka.domain.abandoned import (
    AbandonedCaller,
    listed,
    start_of_day,
    start_of_next_day,
    still_abandoned,
)
from kolejka.domain.customers import CustomerMatch
from kolejka.domain.errors import FieldProblem, InvalidField, NotAbandoned, UnknownQueue
from kolejka.domain.phone import PhoneNumbers
from kolejka.services.callbacks import Callbacks
from kolejka.services.ports import AbandonedCallStore, Clock, CustomerDirectory, QueueDirectory

# Numbers normalised once a day and kept: the list is read again after every call that ends.
_KEPT_NUMBERS = 100_000


@dataclass(frozen=True, slots=True)
class AbandonedEntry:
    """One number of a queue's abandoned list, with the customer the CRM names it as (None
    unless exactly one customer owns the number)."""

    caller: AbandonedCaller
    customer: CustomerMatch | None


class AbandonedCallers:
    """The use case behind `GET /api/queues/{id}/abandoned` and its `schedule_call`."""

    def __init__(
        self,
        store: AbandonedCallStore,
        queues: QueueDirectory,
        customers: CustomerDirectory,
        phones: PhoneNumbers,
        clock: Clock,
        time_zone: ZoneInfo,
        callbacks: Callbacks,
    ) -> None:
        self._store = store
        self._queues = queues
        self._customers = customers
        self._phones = phones
        self._clock = clock
        self._zone = time_zone
        self._callbacks = callbacks
        self._e164: dict[str, str | None] = {}

    def now(self) -> datetime:
        return self._clock.now()

    def day_ends(self) -> datetime:
        """When today's lists end (midnight in KOLEJKA_TIME_ZONE): a list kept past it is old."""
        return start_of_next_day(self._clock.now(), self._zone)

    def display(self, e164: str) -> str:
        """The number as the waiting list shows it."""
        return self._phones.display(e164)

    async def in_queue(self, queue_id: int) -> Sequence[AbandonedEntry]:
        """The queue's list now: today's abandoned callers not reached since, newest first."""
        if await self._queues.get(queue_id) is None:
            raise UnknownQueue(queue_id)
        now = self._clock.now()
        calls = await self._store.abandoned(queue_id, start_of_day(now, self._zone), now)
        # Thousands of abandons at the end of a busy day: the rule runs on a thread, so the
        # event loop keeps answering meanwhile.
        callers = await asyncio.to_thread(still_abandoned, calls, self._normalise)
        names = await self._customers.sole_matches([c.phone_number for c in callers])
        return [AbandonedEntry(caller, names.get(caller.phone_number)) for caller in callers]

    async def schedule_call(
        self, queue_id: int, phone_number: str, call_at: datetime | None
    ) -> None:
        """Schedules a callback to a number on the queue's list (NotAbandoned if it is not)."""
        e164 = self._phones.normalise(phone_number)
        if e164 is None:
            raise InvalidField("phone_number", FieldProblem.NOT_A_PHONE_NUMBER)
        entries = await self.in_queue(queue_id)
        if listed((entry.caller for entry in entries), e164) is None:
            raise NotAbandoned(queue_id, self._phones.display(e164))
        await self._callbacks.schedule(queue_id, e164, call_at)

    def _normalise(self, key: str) -> str | None:
        try:
            return self._e164[key]
        except KeyError:
            pass
        if len(self._e164) >= _KEPT_NUMBERS:
            self._e164.clear()
        found = self._e164[key] = self._phones.normalise(key)
        return found
