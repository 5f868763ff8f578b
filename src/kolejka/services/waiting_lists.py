"""The waiting-list use cases: callers join and leave; clients read the list and its stats.

PBX adapters (AMI, the HTTP ingest API, the demo) call `join`/`leave`; the HTTP API reads the
lists through its `WaitingListView`, which keeps each queue's answer ready until something changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from kolejka.domain.customers import unambiguous
from kolejka.domain.errors import CallerAlreadyWaiting, UnknownCaller, UnknownQueue
from kolejka.domain.phone import PhoneNumbers
from kolejka.domain.queues import (
    Departure,
    Joined,
    Outcome,
    Queue,
    WaitingCaller,
    departure,
    newest_first,
)
from kolejka.domain.wait_estimate import SAMPLE, WINDOW, approx_wait_time, format_hms
from kolejka.services.ports import (
    Change,
    ChangeFeed,
    Clock,
    CustomerDirectory,
    QueueDirectory,
    Topic,
    WaitingCallerStore,
)

WIRE_DATE = "%Y-%m-%d %H:%M:%S"


@dataclass(frozen=True, slots=True)
class WaitingListEntry:
    """One row of `GET /api/queues/:id/waiting_list`, exactly Thulium's four fields."""

    phone_number: str
    started_at: str
    customer_id: int | None
    customer_label: str | None

    def as_wire(self) -> dict[str, object]:
        return {
            "phone_number": self.phone_number,
            "started_at": self.started_at,
            "customer_id": self.customer_id,
            "customer_label": self.customer_label,
        }


@dataclass(frozen=True, slots=True)
class WaitingStats:
    in_queue: int
    approx_wait_time: timedelta

    def as_wire(self) -> dict[str, object]:
        return {"in_queue": self.in_queue, "approx_wait_time": format_hms(self.approx_wait_time)}


class WaitingLists:
    """Callers joining and leaving queues, and what the lists look like to a client."""

    def __init__(
        self,
        queues: QueueDirectory,
        callers: WaitingCallerStore,
        customers: CustomerDirectory,
        phones: PhoneNumbers,
        clock: Clock,
        changes: ChangeFeed,
        time_zone: ZoneInfo,
    ) -> None:
        self.queues = queues
        self.callers = callers
        self.customers = customers
        self.phones = phones
        self.clock = clock
        self.changes = changes
        self.time_zone = time_zone

    async def queue(self, queue_id: int) -> Queue:
        queue = await self.queues.get(queue_id)
        if queue is None:
            raise UnknownQueue(queue_id)
        return queue

    async def join(
        self,
        queue_id: int,
        call_id: str,
        phone_number: str,
        caller_name: str = "",
        started_at: datetime | None = None,
    ) -> Joined:
        """A call joins a queue. Joining again with the same call id changes nothing."""
        return await self.admit(
            WaitingCaller(
                call_id, queue_id, phone_number, caller_name, started_at or self.clock.now()
            )
        )

    async def admit(self, caller: WaitingCaller) -> Joined:
        """`caller` joins its queue, its number and name trimmed. Joining again with the same
        call id changes nothing, and says so (`created` is False)."""
        await self.queue(caller.queue_id)
        caller = caller.trimmed()
        joined = await self.callers.join(caller)
        if joined.caller.queue_id != caller.queue_id:
            raise CallerAlreadyWaiting(caller.call_id, joined.caller.queue_id)
        if joined.created:
            await self.changes.publish(Change(Topic.QUEUE, caller.queue_id))
        return joined

    async def leave(
        self,
        call_id: str,
        outcome: Outcome,
        hold_time: timedelta | None = None,
        queue_id: int | None = None,
    ) -> Departure:
        """A call leaves its queue, answered or abandoned; the departure is recorded."""
        caller = await self.callers.find(call_id)
        if caller is None or (queue_id is not None and caller.queue_id != queue_id):
            raise UnknownCaller(call_id)
        gone = departure(caller, outcome, self.clock.now(), hold_time)
        if not await self.callers.leave(gone):
            raise UnknownCaller(call_id)
        await self.changes.publish(Change(Topic.QUEUE, caller.queue_id))
        return gone

    async def waiting_list(self, queue_id: int) -> list[WaitingListEntry]:
        await self.queue(queue_id)
        ordered = newest_first(await self.callers.waiting(queue_id))
        return [await self._entry(caller) for caller in ordered]

    async def stats(self, queue_id: int) -> WaitingStats:
        await self.queue(queue_id)
        now = self.clock.now()
        waiting = await self.callers.waiting(queue_id)
        holds = await self.callers.answered_holds(queue_id, now - WINDOW, SAMPLE)
        waits = [caller.waited(now) for _, caller in waiting]
        return WaitingStats(len(waiting), approx_wait_time(holds, waits))

    async def _entry(self, caller: WaitingCaller) -> WaitingListEntry:
        started = caller.started_at.astimezone(self.time_zone).strftime(WIRE_DATE)
        e164 = self.phones.normalise(caller.phone_number)
        match = unambiguous(await self.customers.owners(e164)) if e164 else None
        return WaitingListEntry(
            phone_number=self.phones.display(caller.phone_number),
            started_at=started,
            customer_id=match.customer_id if match else None,
            customer_label=match.label if match else None,
        )
