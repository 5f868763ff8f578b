"""What each waiting caller's wait looks like: `GET /api/queues/{id}/callers` (issue 14, part 4).

For each caller of a queue, in queue order: the position, the wait so far, the wait to expect at
that position (domain/position_wait.py), the calls from that number today and the customer the
CRM names them as (the waiting list's unambiguous rule).

Thulium's `waiting_list` keeps its four keys and its own fast path (WaitingLists and the
WaitingListView); this reads beside it. One read of the call history serves every caller of the
list ("today's calls from these numbers", on the `connections_by_src` index), and the queue's
answer pace, a read of its recent calls, is kept until a call leaves the queue or `PACE_SECONDS`
pass.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from kolejka.domain.connections import Connection, ConnectionQuery, Direction, Disposition
from kolejka.domain.customers import CustomerMatch, unambiguous
from kolejka.domain.errors import UnknownQueue
from kolejka.domain.phone import PhoneNumbers
from kolejka.domain.position_wait import (
    SAMPLE,
    WINDOW,
    AnswerPace,
    PastCall,
    answer_pace,
    remaining_wait,
)
from kolejka.domain.queues import WaitingCaller, newest_first
from kolejka.services.ports import (
    Change,
    ChangeFeed,
    Clock,
    ConnectionPages,
    CustomerDirectory,
    QueueDirectory,
    Topic,
    WaitingCallerStore,
)

PACE_SECONDS = 5.0  # how long a queue's answer pace is reused while no call leaves it
CALLS_PER_CALLER = 20  # today's calls read per waiting number, on average (newest first)
MAX_CALLS_READ = 2000  # today's calls read for one list at most
NUMBERS_PER_READ = 1000  # a longer list is read in parts (a statement binds ~32,000 values)
SPELLINGS_KEPT = 4096  # numbers whose spellings are remembered (parsing one costs ~0.15 ms)
MATCHES_KEPT = 4096  # numbers whose CRM match is remembered until the CRM changes


@dataclass(frozen=True, slots=True)
class CallerWait:
    """One waiting caller as a supervisor sees them. `expected_wait` is None when the queue's
    recent history has no answer to go by; `calls_today` are the calls from this number since
    midnight (in the service's time zone), newest first, in any queue."""

    call_id: str
    position: int
    phone_number: str  # as the waiting list shows it
    started_at: datetime
    waited: timedelta
    expected_wait: timedelta | None
    remaining_wait: timedelta | None  # expected_wait less the wait so far: steady while it waits
    calls_today: Sequence[Connection]
    customer: CustomerMatch | None


class CallerWaits:
    """Reads each waiting caller's position, wait, expected wait, calls today and customer."""

    def __init__(
        self,
        queues: QueueDirectory,
        callers: WaitingCallerStore,
        connections: ConnectionPages,
        customers: CustomerDirectory,
        phones: PhoneNumbers,
        clock: Clock,
        time_zone: ZoneInfo,
        changes: ChangeFeed | None = None,
        pace_seconds: float = PACE_SECONDS,
    ) -> None:
        self._queues = queues
        self._callers = callers
        self._connections = connections
        self._customers = customers
        self._phones = phones
        self._clock = clock
        self._zone = time_zone
        self._pace_for = timedelta(seconds=pace_seconds)
        self._paces: dict[int, tuple[datetime, AnswerPace]] = {}
        self._spellings: dict[str, tuple[str, ...]] = {}
        # Each number's customer, as the waiting list names it, kept until the CRM changes: a
        # panel asks every second about the same callers, and on PostgreSQL a question per
        # caller is a round trip each.
        self._matches: dict[str, CustomerMatch | None] = {}
        self._generation = 0  # moves with every change the paces heard of
        if changes is not None:
            changes.subscribe(self._forget)

    def _forget(self, change: Change) -> None:
        self._generation += 1
        if change.topic is Topic.QUEUE and change.queue_id is not None:
            self._paces.pop(change.queue_id, None)
        elif change.topic in (Topic.QUEUE, Topic.ALL):
            self._paces.clear()
        if change.topic in (Topic.CRM, Topic.ALL):
            self._matches.clear()

    async def callers(self, queue_id: int, *, with_customers: bool = True) -> list[CallerWait]:
        """The queue's waiting callers, next to be answered first; without asking the CRM who
        they are when `with_customers` is False (the wallboard has the waiting list's names)."""
        if await self._queues.get(queue_id) is None:
            raise UnknownQueue(queue_id)
        ordered = list(reversed(newest_first(await self._callers.waiting(queue_id))))
        if not ordered:
            return []
        now = self._clock.now()
        pace = await self.pace(queue_id, now)
        e164s = {
            caller.phone_number: self._phones.normalise(caller.phone_number) for caller in ordered
        }
        today = await self._calls_today([e164 for e164 in e164s.values() if e164], now)
        matches: dict[str, CustomerMatch | None] = {}
        for e164 in set(e164s.values()) if with_customers else ():
            if e164:
                matches[e164] = await self._match(e164)
        return [
            self._caller_wait(
                caller, position, now, pace, e164s[caller.phone_number], today, matches
            )
            for position, caller in enumerate(ordered, 1)
        ]

    def _caller_wait(
        self,
        caller: WaitingCaller,
        position: int,
        now: datetime,
        pace: AnswerPace,
        e164: str | None,
        today: dict[str, list[Connection]],
        matches: dict[str, CustomerMatch | None],
    ) -> CallerWait:
        waited = caller.waited(now)
        remaining = remaining_wait(pace, position)
        calls = [row for row in today.get(e164 or "", ()) if row.connection_id != caller.call_id]
        return CallerWait(
            call_id=caller.call_id,
            position=position,
            phone_number=self._phones.display(caller.phone_number),
            started_at=caller.started_at,
            waited=waited,
            expected_wait=None if remaining is None else waited + remaining,
            remaining_wait=remaining,
            calls_today=calls,
            customer=matches.get(e164) if e164 else None,
        )

    async def pace(self, queue_id: int, now: datetime) -> AnswerPace:
        """The queue's answer pace from its calls of the last `WINDOW` (kept a few seconds)."""
        kept = self._paces.get(queue_id)
        if kept is not None and now - self._pace_for <= kept[0] <= now:
            return kept[1]
        generation = self._generation
        page = await self._connections.page(
            ConnectionQuery(limit=SAMPLE, queue_id=queue_id, date_from=now - WINDOW, counted=False)
        )
        pace = answer_pace(_past_calls(page.rows), now)
        if generation == self._generation:  # else a call left while we read: keep nothing
            self._paces[queue_id] = (now, pace)
        return pace

    async def _calls_today(
        self, e164s: Sequence[str], now: datetime
    ) -> dict[str, list[Connection]]:
        """Today's calls from each of these numbers (by E.164), newest first: one read (one per
        `NUMBERS_PER_READ` numbers)."""
        numbers = list(dict.fromkeys(e164s))
        midnight = now.astimezone(self._zone).replace(hour=0, minute=0, second=0, microsecond=0)
        today: dict[str, list[Connection]] = {}
        for start in range(0, len(numbers), NUMBERS_PER_READ):
            part = numbers[start : start + NUMBERS_PER_READ]
            owner_of_key: dict[str, str] = {}
            for e164 in part:
                for key in self._spelled(e164):
                    owner_of_key.setdefault(key, e164)
            page = await self._connections.page(
                ConnectionQuery(
                    limit=min(CALLS_PER_CALLER * len(part), MAX_CALLS_READ),
                    date_from=midnight,
                    src_keys=tuple(owner_of_key),
                    counted=False,
                )
            )
            for row in page.rows:
                owner = owner_of_key.get(row.src_key)
                if owner is not None:
                    today.setdefault(owner, []).append(row)
        return today

    async def _match(self, e164: str) -> CustomerMatch | None:
        """The one customer owning `e164` (None: nobody, or several)."""
        if e164 in self._matches:
            return self._matches[e164]
        generation = self._generation
        match = unambiguous(await self._customers.owners(e164))
        if generation == self._generation:  # else the CRM may have changed while we asked
            if len(self._matches) >= MATCHES_KEPT:
                self._matches.clear()
            self._matches[e164] = match
        return match

    def _spelled(self, e164: str) -> tuple[str, ...]:
        """The keys calls from `e164` are stored under; the same callers wait poll after poll."""
        known = self._spellings.get(e164)
        if known is None:
            if len(self._spellings) >= SPELLINGS_KEPT:
                self._spellings.clear()
            known = self._spellings[e164] = self._phones.spellings(e164)
        return known


def _past_calls(rows: Sequence[Connection]) -> list[PastCall]:
    """The queue's calls as the estimate reads them: callers' calls whose outcome is known
    (a callback's attempt is no caller's, and a call lost in a gap tells nothing)."""
    return [
        PastCall(row.started_at, row.wait, row.disposition is Disposition.ANSWERED)
        for row in rows
        if row.direction is Direction.INBOUND
        and row.disposition in (Disposition.ANSWERED, Disposition.NO_ANSWER)
    ]
