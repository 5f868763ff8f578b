"""The waiting-list use cases: callers join and leave; clients read the list and its stats.

PBX adapters (AMI, the HTTP ingest API, the demo) call `join`/`leave`; the HTTP API reads the
lists through its `WaitingListView`, which keeps each queue's answer ready until something changes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from kolejka.domain.customers import CustomerMatch, unambiguous
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
from kolejka.domain.wait_estimate import SAMPLE, WINDOW, approx_wait_time
from kolejka.domain.webhooks import Action
from kolejka.services.history import CallHistory
from kolejka.services.ports import (
    Change,
    ChangeFeed,
    Clock,
    CustomerDirectory,
    QueueDirectory,
    Topic,
    WaitingCallerStore,
)
from kolejka.services.webhooks import Webhooks


@dataclass(frozen=True, slots=True)
class WaitingListEntry:
    """One caller of a queue's waiting list: the number as shown, since when they wait, and the
    customer the CRM names them as (None unless exactly one owns the number)."""

    phone_number: str
    started_at: datetime
    customer: CustomerMatch | None


@dataclass(frozen=True, slots=True)
class WaitingStats:
    in_queue: int
    approx_wait_time: timedelta


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
        history: CallHistory | None = None,
        webhooks: Webhooks | None = None,
    ) -> None:
        self._webhooks = webhooks
        self._queues = queues
        self._callers = callers
        self._customers = customers
        self._phones = phones
        self._clock = clock
        self._changes = changes
        # Where each departure is recorded as a call (None: no history, as in some tests).
        self._history = history

    async def all_queues(self) -> Sequence[Queue]:
        """Every queue, for `GET /api/queues` and the wallboard."""
        return await self._queues.all()

    def now(self) -> datetime:
        """The clock the waits are counted on."""
        return self._clock.now()

    def display(self, number: str) -> str:
        """`number` as the waiting list shows it."""
        return self._phones.display(number)

    async def queue(self, queue_id: int) -> Queue:
        queue = await self._queues.get(queue_id)
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
                call_id, queue_id, phone_number, caller_name, started_at or self._clock.now()
            )
        )

    async def admit(self, caller: WaitingCaller) -> Joined:
        """`caller` joins its queue, its number and name trimmed. Joining again with the same
        call id changes nothing, and says so (`created` is False)."""
        await self.queue(caller.queue_id)
        caller = caller.trimmed()
        wanted = self._known_wanted(Action.CALLER_JOINED)
        if wanted is None:
            wanted = await self._wanted(Action.CALLER_JOINED)
        # The event says only what the join knows: the CRM's match and the number as shown are
        # added when it is first delivered (Webhooks.completed), off the AMI listener's path.
        joined = await self._callers.join(caller, wanted)
        if joined.caller.queue_id != caller.queue_id:
            raise CallerAlreadyWaiting(caller.call_id, joined.caller.queue_id)
        if joined.created:
            await self._changes.publish(Change(Topic.QUEUE, caller.queue_id))
        return joined

    async def leave(
        self,
        call_id: str,
        outcome: Outcome,
        hold_time: timedelta | None = None,
        queue_id: int | None = None,
        *,
        outcome_known: bool = True,
        answer_announced: bool = False,
    ) -> Departure:
        """A call leaves its queue, answered or abandoned; the departure is recorded, and the
        call written to the history. `outcome_known` False: the call was gone when we looked
        after a gap (the PBX sync's resync), and nobody knows how it ended. `answer_announced`
        (pbx.CallerLeft): an answer is in the history once the agent's event tells it."""
        caller = await self._callers.find(call_id)
        if caller is None or (queue_id is not None and caller.queue_id != queue_id):
            raise UnknownCaller(call_id)
        gone = departure(caller, outcome, self._clock.now(), hold_time)
        wanted = self._known_wanted(Action.CALLER_LEFT)
        if wanted is None:
            wanted = await self._wanted(Action.CALLER_LEFT)
        if not await self._callers.leave(gone, wanted):
            raise UnknownCaller(call_id)
        if self._history is not None:
            self._history.departed(
                caller, gone, outcome_known=outcome_known, answer_announced=answer_announced
            )
        await self._changes.publish(Change(Topic.QUEUE, caller.queue_id))
        return gone

    async def waiting_list(self, queue_id: int) -> list[WaitingListEntry]:
        await self.queue(queue_id)
        ordered = newest_first(await self._callers.waiting(queue_id))
        return [await self._entry(caller) for caller in ordered]

    async def stats(self, queue_id: int) -> WaitingStats:
        await self.queue(queue_id)
        now = self._clock.now()
        waiting = await self._callers.waiting(queue_id)
        history = self._history
        holds = (
            [] if history is None else await history.answered_waits(queue_id, now - WINDOW, SAMPLE)
        )
        waits = [caller.waited(now) for _, caller in waiting]
        return WaitingStats(len(waiting), approx_wait_time(holds, waits))

    async def _entry(self, caller: WaitingCaller) -> WaitingListEntry:
        match = await self._match(caller.phone_number)
        return WaitingListEntry(self._phones.display(caller.phone_number), caller.started_at, match)

    async def _match(self, phone_number: str) -> CustomerMatch | None:
        e164 = self._phones.normalise(phone_number)
        return unambiguous(await self._customers.owners(e164)) if e164 else None

    def _known_wanted(self, action: Action) -> bool | None:
        """Whether `action` is wanted, when that is known without the store (None: ask
        `_wanted`): no coroutine for each caller who joins or leaves."""
        webhooks = self._webhooks
        return False if webhooks is None else webhooks.known_wants(action)

    async def _wanted(self, action: Action) -> bool:
        return self._webhooks is not None and await self._webhooks.wants(action)
