"""Scheduled callbacks: Thulium's `POST queues/:id/schedule_call`, kolejka's list and cancel,
and the dialler that calls each one back through the PBX when it is due.

Scheduling stores the callback (one open callback per number and queue; a second request keeps
the earlier time). The dialler (`CallbackDialling`, a background task on every instance) claims
due callbacks in the store, so exactly one process attempts each, asks the PBX (`CallbackDialer`)
and records the outcome; busy, no answer and congestion are tried again later. A PBX without AMI
claims and reports through the HTTP API instead, with the same `claim` and `report`.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import secrets
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from kolejka.domain.agents import AgentState, AgentStatus
from kolejka.domain.callbacks import (
    Callback,
    CallbackAttempted,
    CallbackPolicy,
    CallbackState,
    DialOutcome,
    NewCallback,
    QueueNow,
    agent_wait_window,
    attempt_record,
    released,
)
from kolejka.domain.connections import Direction, Disposition
from kolejka.domain.customers import CustomerMatch, unambiguous
from kolejka.domain.errors import (
    CallbackNotPending,
    FieldProblem,
    InvalidField,
    NoNumberToCall,
    StaleClaim,
    UnknownCallback,
    UnknownCaller,
    UnknownQueue,
)
from kolejka.domain.phone import PhoneNumbers
from kolejka.domain.webhooks import Action, NewEvent, callback_attempted
from kolejka.services.ports import (
    CallbackDialer,
    CallbackStore,
    Change,
    ChangeFeed,
    Clock,
    CustomerDirectory,
    FinishedAttempt,
    QueueDirectory,
    RecordedCalls,
    Topic,
    WaitingCallerStore,
)

log = logging.getLogger(__name__)

MAX_LISTED = 1000
MAX_DUE_NEXT = 50
# A caller who pressed the IVR's key has left Asterisk's queue by the time the dialplan asks (the
# key takes them out of it): their call is then found in the call history for this long.
JUST_LEFT = timedelta(minutes=2)
AttemptListener = Callable[[CallbackAttempted], Awaitable[None]]


class WebhookWishes(Protocol):
    """Whether any webhook subscription takes an action (services/webhooks.Webhooks)."""

    async def wants(self, action: str) -> bool: ...


@dataclass(frozen=True, slots=True)
class DueCallback:
    """An open callback as a supervisor's board shows it: with the CRM's customer, if one."""

    callback: Callback
    match: CustomerMatch | None


class NotDialled(Exception):
    """The PBX could not be asked (no link, or the AMI user may not Originate): the callback
    goes back untried. `reason` is a fixed phrase for /health and the log."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Callbacks:
    """The use case: schedule, list, cancel; claim and report attempts."""

    def __init__(
        self,
        store: CallbackStore,
        queues: QueueDirectory,
        phones: PhoneNumbers,
        clock: Clock,
        changes: ChangeFeed,
        policy: CallbackPolicy,
        *,
        callers: WaitingCallerStore | None = None,
        customers: CustomerDirectory | None = None,
        webhooks: WebhookWishes | None = None,
        history: RecordedCalls | None = None,
    ) -> None:
        self.store = store
        self.queues = queues
        self.phones = phones
        self.clock = clock
        self.changes = changes
        self.policy = policy
        self.callers = callers
        self.customers = customers
        self.webhooks = webhooks
        self.history = history
        # Told of every attempt's end, after it is recorded (its history row and webhook event
        # are written with it, in the store's transaction).
        self.attempt_listeners: list[AttemptListener] = []

    async def schedule(
        self, queue_id: int, phone_number: str, call_at: datetime | None
    ) -> Callback:
        """Schedules a callback (or keeps the open one, at the earlier time). Every check comes
        before anything is stored: a bad number, a time past the horizon, an unknown queue."""
        e164 = self.phones.normalise(phone_number)
        if e164 is None:
            raise InvalidField("phone_number", FieldProblem.NOT_A_PHONE_NUMBER)
        now = self.clock.now()
        due = self.policy.due_at(call_at, now)
        if await self.queues.get(queue_id) is None:
            raise UnknownQueue(queue_id)
        stored = await self.store.schedule(NewCallback(queue_id, e164, due, now))
        await self.changes.publish(Change(Topic.CALLBACKS, queue_id))
        return stored

    async def schedule_for_caller(self, queue_id: int, call_id: str) -> Callback:
        """A callback for a caller waiting in the queue now, keeping their place in line: it
        takes the caller's number and, as its `call_at`, the moment they joined. In a queue
        whose callbacks wait for a free agent it is dialled when the caller would have reached
        the head of the queue; elsewhere a time in the past is due at once. The caller may then
        hang up. UnknownCaller unless the call waits in this very queue; NoNumberToCall when its
        number (withheld, or no phone number) cannot be dialled."""
        now = self.clock.now()
        found = await self._place_of(queue_id, call_id, now)
        if found is None:
            if await self.queues.get(queue_id) is None:
                raise UnknownQueue(queue_id)
            raise UnknownCaller(call_id)
        number, joined_at = found
        e164 = self.phones.normalise(number)
        if e164 is None:
            raise NoNumberToCall(call_id)
        # The join time is the place; one older than the horizon (a day-long wait, a clock
        # gone wrong) is now, as for any request.
        due = self.policy.due_at(min(joined_at, now), now)
        stored = await self.store.schedule(NewCallback(queue_id, e164, due, now))
        await self.changes.publish(Change(Topic.CALLBACKS, queue_id))
        return stored

    async def _place_of(
        self, queue_id: int, call_id: str, now: datetime
    ) -> tuple[str, datetime] | None:
        """The number and join time of a call waiting in the queue, or of one that left it
        unanswered within JUST_LEFT (the IVR's key took it out of the queue)."""
        if self.callers is not None:
            caller = await self.callers.find(call_id)
            if caller is not None:
                return (
                    (caller.phone_number, caller.started_at)
                    if caller.queue_id == queue_id
                    else None
                )
        if self.history is None:
            return None
        row = await self.history.get(call_id)
        if (
            row is None
            or row.queue_id != queue_id
            or row.direction is not Direction.INBOUND
            or row.disposition is Disposition.ANSWERED
            or row.started_at + row.wait < now - JUST_LEFT
        ):
            return None
        return row.src, row.started_at

    async def due_next(self, queue_id: int, limit: int) -> list[DueCallback]:
        """The queue's open callbacks, earliest first, each with the customer the CRM names
        unambiguously for its number (the waiting list's rule)."""
        found = await self.store.due_next(queue_id, min(limit, MAX_DUE_NEXT))
        shown = []
        for callback in found:
            match = None
            if self.customers is not None:
                match = unambiguous(await self.customers.owners(callback.phone_number))
            shown.append(DueCallback(callback, match))
        return shown

    async def in_queue(self, queue_id: int, limit: int = MAX_LISTED) -> Sequence[Callback]:
        if await self.queues.get(queue_id) is None:
            raise UnknownQueue(queue_id)
        return await self.store.in_queue(queue_id, limit)

    async def cancel(self, queue_id: int, callback_id: int) -> Callback:
        found = await self.store.get(callback_id)
        if found is None or found.queue_id != queue_id:
            if await self.queues.get(queue_id) is None:
                raise UnknownQueue(queue_id)
            raise UnknownCallback(queue_id, callback_id)
        if found.state is not CallbackState.PENDING:
            raise CallbackNotPending(callback_id, found.state.value)
        after = await self.store.cancel(callback_id)
        if after is None:
            raise UnknownCallback(queue_id, callback_id)
        if after.state is not CallbackState.CANCELLED:  # claimed meanwhile
            raise CallbackNotPending(callback_id, after.state.value)
        await self.changes.publish(Change(Topic.CALLBACKS, queue_id))
        return after

    # The PBX's side -------------------------------------------------------------------------

    async def claim(
        self,
        limit: int,
        claim_for: timedelta,
        *,
        due_by: datetime | None = None,
        only_queue: int | None = None,
        skip_queues: Sequence[int] = (),
    ) -> Sequence[Callback]:
        """Claims up to `limit` due callbacks for an attempt each, for `claim_for`."""
        now = self.clock.now()
        by = now if due_by is None else min(due_by, now)
        claimed = await self.store.claim_due(
            by,
            _new_claim(),
            now,
            now + claim_for,
            limit,
            only_queue=only_queue,
            skip_queues=skip_queues,
        )
        # Ringing now: the wallboard's "callbacks due next" shows it (one change per queue).
        for queue_id in sorted({callback.queue_id for callback in claimed}):
            await self.changes.publish(Change(Topic.CALLBACKS, queue_id))
        return claimed

    async def report(
        self, callback_id: int, claim: str, outcome: DialOutcome, *, known: Callback | None = None
    ) -> Callback:
        """Records how the claimed attempt ended; StaleClaim unless `claim` still holds it."""
        current = known or await self.store.get(callback_id)
        if current is None or current.claim != claim:
            raise StaleClaim(callback_id)
        (after,) = await self.report_many([(current, outcome)])
        if after is None:
            raise StaleClaim(callback_id)
        return after

    async def report_many(
        self, ended: Sequence[tuple[Callback, DialOutcome]]
    ) -> list[Callback | None]:
        """Records how each claimed attempt (as claimed: dialling, under its claim) ended, all
        in one store transaction. For each: the callback after it, or None when its claim no
        longer holds (nothing of it is written: StaleClaim's case)."""
        now = self.clock.now()
        wanted = self.webhooks is not None and await self.webhooks.wants(Action.CALLBACK_ATTEMPTED)
        afters: list[Callback | None] = []
        finished: list[FinishedAttempt] = []
        for current, outcome in ended:
            if current.state is not CallbackState.DIALLING or current.claim is None:
                afters.append(None)
                continue
            then = self.policy.after(current, outcome, now)
            attempt = then.attempts[-1]
            events: list[NewEvent] = []
            if wanted:
                shown = self.phones.display_normal(then.phone_number)
                events.append(callback_attempted(then, attempt, shown))
            afters.append(then)
            finished.append(
                FinishedAttempt(then, current.claim, attempt_record(then, attempt), events)
            )
        landed = iter(await self.store.finish_many(finished) if finished else ())
        afters = [None if a is None or not next(landed) else a for a in afters]
        for queue_id in sorted({a.queue_id for a in afters if a is not None}):
            await self.changes.publish(Change(Topic.CALLBACKS, queue_id))
        for after in afters:
            if after is None:
                continue
            event = CallbackAttempted(after, after.attempts[-1])
            for listener in self.attempt_listeners:
                try:
                    await listener(event)
                except Exception:  # a listener's fault must not undo a recorded outcome
                    log.exception("a callback attempt listener failed")
        return afters

    async def give_back(self, callback: Callback) -> bool:
        """Hands a claimed callback back untried (its claim ends; no attempt is counted)."""
        if callback.claim is None:
            return False
        return await self.store.finish(released(callback), callback.claim)

    async def take_over_lapsed(self, claim_for: timedelta, limit: int) -> int:
        """Ends the attempts whose claim lapsed (a dialler died, a PBX never reported) as LOST,
        so they are retried (or failed, with no attempt left). Returns how many."""
        now = self.clock.now()
        lapsed = await self.store.claim_expired(now, _new_claim(), now + claim_for, limit)
        for callback in lapsed:
            assert callback.claim is not None
            log.warning(
                "callback %d: attempt %d was never reported; counted as lost",
                callback.callback_id,
                len(callback.attempts),
            )
            try:
                await self.report(
                    callback.callback_id, callback.claim, DialOutcome.LOST, known=callback
                )
            except StaleClaim:
                continue
        return len(lapsed)


class QueueOccupancy(Protocol):
    """What "wait for a free agent" needs to know of a queue now."""

    async def now_in(self, queue_id: int) -> QueueNow: ...


class AgentsAndCallers:
    """QueueOccupancy from the agents' live states and the waiting list."""

    def __init__(self, agents: AgentStatuses, callers: WaitingCallerStore) -> None:
        self.agents = agents
        self.callers = callers

    async def now_in(self, queue_id: int) -> QueueNow:
        statuses = await self.agents.statuses()
        free = sum(1 for s in statuses if s.state is AgentState.FREE and queue_id in s.queues)
        waiting = await self.callers.waiting(queue_id)
        earliest = min((c.started_at for _, c in waiting), default=None)
        return QueueNow(free, earliest)


class AgentStatuses(Protocol):
    async def statuses(self) -> Sequence[AgentStatus]: ...


class CallbackDialling:
    """The background task: every `poll_seconds`, claims what is due and dials it.

    At most `max_calls` attempts are under way at once (the trunk's channels); a callback is
    claimed only when there is room to dial it, so a claim never waits. A callback that falls
    due between rounds waits for the next poll (at most `poll_seconds` late), unless the last
    round ran out of room: then each attempt's end starts the next round at once. `tick` is one
    round, driven by the clock it is given (tests freeze it); `run` repeats it.
    """

    def __init__(
        self,
        callbacks: Callbacks,
        dialer: CallbackDialer,
        *,
        claim_for: timedelta,
        max_calls: int = 50,
        poll_seconds: float = 1.0,
        wait_for_agent: Sequence[int] = (),
        occupancy: QueueOccupancy | None = None,
    ) -> None:
        if wait_for_agent and occupancy is None:
            raise ValueError("waiting for a free agent needs to know the queues' agents")
        self.wait_for_agent = tuple(wait_for_agent)
        self.occupancy = occupancy
        # Attempts under way per queue: each will want an agent once answered.
        self.ringing: Counter[int] = Counter()
        self.callbacks = callbacks
        self.dialer = dialer
        self.claim_for = claim_for
        self.max_calls = max_calls
        self.poll_seconds = poll_seconds
        self.under_way: set[asyncio.Task[None]] = set()
        self.wake = asyncio.Event()
        # Outcomes that came in together (one read of the PBX's answers) are recorded together:
        # one store transaction, one commit, instead of one each.
        self._outcomes: list[tuple[Callback, DialOutcome, asyncio.Future[Callback | None]]] = []
        self._recorders: set[asyncio.Task[None]] = set()
        # Whether the last round stopped for want of room rather than of due callbacks. Only
        # then does an attempt's end start a round before the poll: waking for every end, a
        # dialler whose loop was busy (the waiting list under wrk) ran 20-45 rounds a second of
        # 1-5 callbacks each, each with its claim and its record transaction, instead of one
        # round a second (2026-12-02: 0.6 transactions per originate instead of 0.03).
        self._short_of_room = False

    async def run(self) -> None:
        while True:
            try:
                await self.tick()
            except Exception:
                log.exception("the callback dialler failed a round; trying again")
            self.wake.clear()
            try:
                async with asyncio.timeout(self.poll_seconds):
                    await self.wake.wait()
            except TimeoutError:
                pass

    async def tick(self) -> int:
        """One round: lapsed claims end, and due callbacks start dialling. Returns how many."""
        await self.callbacks.take_over_lapsed(self.claim_for, self.max_calls)
        if not self.dialer.ready:
            return 0
        started = await self._waiting_for_agents()
        self._short_of_room = False
        while (room := self.max_calls - len(self.under_way)) > 0:
            batch = await self.callbacks.claim(
                room, self.claim_for, skip_queues=self.wait_for_agent
            )
            self._start(batch)
            started += len(batch)
            if len(batch) < room:
                break
        else:
            self._short_of_room = True  # more may be due: the next attempt to end starts a round
        return started

    async def _waiting_for_agents(self) -> int:
        """The queues whose callbacks wait for a free agent: as many as agents are free, and
        only those whose place in line is ahead of every caller waiting."""
        started = 0
        now = self.callbacks.clock.now()
        for queue_id in self.wait_for_agent:
            room = self.max_calls - len(self.under_way)
            if room <= 0 or self.occupancy is None:
                break
            queue = await self.occupancy.now_in(queue_id)
            allowance, latest = agent_wait_window(queue, self.ringing[queue_id], now)
            if allowance <= 0:
                continue
            batch = await self.callbacks.claim(
                min(room, allowance), self.claim_for, due_by=latest, only_queue=queue_id
            )
            self._start(batch)
            started += len(batch)
        return started

    def _start(self, batch: Sequence[Callback]) -> None:
        for callback in batch:
            task = asyncio.create_task(self._attempt(callback), name="callback-attempt")
            self.under_way.add(task)
            self.ringing[callback.queue_id] += 1
            task.add_done_callback(functools.partial(self._finished, queue_id=callback.queue_id))

    def _finished(self, task: asyncio.Task[None], queue_id: int) -> None:
        self.under_way.discard(task)
        self.ringing[queue_id] -= 1
        if self.ringing[queue_id] <= 0:
            del self.ringing[queue_id]
        if self._short_of_room or self.wait_for_agent:
            # Room for the next one at once, not at the next poll (a burst), and a queue that
            # waits for a free agent may have one now.
            self.wake.set()

    async def drain(self) -> None:
        """Until every attempt under way has ended (tests, shutdown)."""
        while self.under_way:
            await asyncio.gather(*self.under_way, return_exceptions=True)

    async def _attempt(self, callback: Callback) -> None:
        """One attempt, start to end. Nothing escapes: what cannot be recorded (the store is
        down) is left to the claim, which lapses and counts the attempt as lost."""
        try:
            await self._dial_and_record(callback)
        except Exception:
            log.exception("callback %d: the outcome could not be recorded", callback.callback_id)

    async def _dial_and_record(self, callback: Callback) -> None:
        assert callback.claim is not None
        try:
            outcome = await self.dialer.dial(callback)
        except NotDialled as refused:
            # The dialer logged why, once; this is every callback it sends back.
            log.info("callback %d not dialled: %s", callback.callback_id, refused.reason)
            await self.callbacks.give_back(callback)
            return
        except Exception:
            log.exception("callback %d: the attempt failed unexpectedly", callback.callback_id)
            outcome = DialOutcome.LOST
        if await self._record(callback, outcome) is None:
            log.warning(
                "callback %d: the claim lapsed before the outcome came", callback.callback_id
            )

    async def _record(self, callback: Callback, outcome: DialOutcome) -> Callback | None:
        """Records the outcome with the others that end in this turn of the event loop: the
        first schedules the batch, which runs once every attempt woken with it has added its
        own. The callback after it, or None when its claim had lapsed."""
        recorded: asyncio.Future[Callback | None] = asyncio.get_running_loop().create_future()
        self._outcomes.append((callback, outcome, recorded))
        if len(self._outcomes) == 1:
            task = asyncio.create_task(self._record_batch(), name="callback-outcomes")
            self._recorders.add(task)
            task.add_done_callback(self._recorders.discard)
        return await recorded

    async def _record_batch(self) -> None:
        batch, self._outcomes = self._outcomes, []
        try:
            afters = await self.callbacks.report_many([(c, o) for c, o, _ in batch])
        except Exception as error:
            for _, _, recorded in batch:
                if not recorded.done():
                    recorded.set_exception(error)
            return
        for (_, _, recorded), after in zip(batch, afters, strict=True):
            if not recorded.done():
                recorded.set_result(after)


def _new_claim() -> str:
    return secrets.token_hex(12)
