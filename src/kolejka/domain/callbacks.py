"""Scheduled callbacks: Thulium's `schedule_call`, and the rules kolejka dials them by.

A callback is a number to call back in a queue at `call_at`. It is `pending` until it is due and
claimed for an attempt (`dialling`); each attempt ends with an outcome, and the callback is then
`answered`, `failed` (no attempt left, or a number that cannot be dialled), or `pending` again
for a retry. A supervisor may cancel a pending one. The rules here are plain functions of values
and the time; the stores keep callbacks, the dialler (services/callbacks.py) applies the rules.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from kolejka.domain.connections import Connection, Direction, DisconnectedBy, Disposition
from kolejka.domain.errors import FieldProblem, InvalidField
from kolejka.domain.phone import number_key

# Thulium's dates on the wire: local time in KOLEJKA_TIME_ZONE, no offset.
_WIRE_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})", re.ASCII)
MAX_ATTEMPTS = 20
MAX_HORIZON_DAYS = 400


class CallbackState(enum.StrEnum):
    PENDING = "pending"  # waiting for its time (or for a retry)
    DIALLING = "dialling"  # claimed: an attempt is under way
    ANSWERED = "answered"  # the customer answered and was put into the queue
    FAILED = "failed"  # no attempt left, or the number cannot be dialled
    CANCELLED = "cancelled"  # a supervisor cancelled it while it was pending

    @property
    def finished(self) -> bool:
        return self in (CallbackState.ANSWERED, CallbackState.FAILED, CallbackState.CANCELLED)


class DialOutcome(enum.StrEnum):
    """How one attempt ended."""

    ANSWERED = "answered"
    BUSY = "busy"
    NO_ANSWER = "no_answer"
    CONGESTION = "congestion"
    REJECTED = "rejected"  # hung up while it rang
    FAILED = "failed"  # the channel cannot be made: a wrong number or dialplan; never retried
    LOST = "lost"  # no outcome came: the dialler died or the PBX link fell mid-attempt


# Worth another attempt after KOLEJKA_CALLBACK_RETRY_SECONDS.
RETRIED = frozenset(
    {
        DialOutcome.BUSY,
        DialOutcome.NO_ANSWER,
        DialOutcome.CONGESTION,
        DialOutcome.REJECTED,
        DialOutcome.LOST,
    }
)

# Asterisk's OriginateResponse `Reason` (AST_CONTROL_* of the outbound channel's last state).
_REASONS = {
    0: DialOutcome.FAILED,  # no such channel, context or technology
    1: DialOutcome.REJECTED,  # hung up before answering
    3: DialOutcome.NO_ANSWER,  # rang for the whole Timeout
    4: DialOutcome.ANSWERED,
    5: DialOutcome.BUSY,
    8: DialOutcome.CONGESTION,
}


def outcome_of_reason(reason: str) -> DialOutcome:
    """The outcome an OriginateResponse's `Reason` names; one Asterisk never documented, or
    garbage, counts as a failure (not retried: whatever it is, a retry would meet it again)."""
    try:
        return _REASONS.get(int(reason.strip()), DialOutcome.FAILED)
    except ValueError:
        return DialOutcome.FAILED


@dataclass(frozen=True, slots=True)
class Attempt:
    """One dialling of the number; `outcome` None while it is under way."""

    number: int
    started_at: datetime
    finished_at: datetime | None = None
    outcome: DialOutcome | None = None


@dataclass(frozen=True, slots=True)
class Callback:
    callback_id: int
    queue_id: int
    phone_number: str  # E.164
    call_at: datetime  # when it is (next) due; aware UTC
    created_at: datetime
    state: CallbackState = CallbackState.PENDING
    attempts: tuple[Attempt, ...] = ()
    # The claim of the attempt under way, and until when it holds (dialling only).
    claim: str | None = None
    claimed_until: datetime | None = None

    @property
    def outcome(self) -> DialOutcome | None:
        """The last attempt's outcome."""
        return self.attempts[-1].outcome if self.attempts else None


@dataclass(frozen=True, slots=True)
class NewCallback:
    """A request to call `phone_number` back in `queue_id` at `call_at`."""

    queue_id: int
    phone_number: str
    call_at: datetime
    created_at: datetime


@dataclass(frozen=True, slots=True)
class CallbackPolicy:
    """KOLEJKA_CALLBACK_ATTEMPTS, _RETRY_SECONDS, _HORIZON_DAYS."""

    attempts: int = 3
    retry_after: timedelta = timedelta(minutes=5)
    horizon: timedelta = timedelta(days=30)

    def __post_init__(self) -> None:
        if not 1 <= self.attempts <= MAX_ATTEMPTS:
            raise ValueError(f"callback attempts must be 1-{MAX_ATTEMPTS}")
        if self.retry_after < timedelta(0):
            raise ValueError("the retry interval must not be negative")
        if not timedelta(0) < self.horizon <= timedelta(days=MAX_HORIZON_DAYS):
            raise ValueError(f"the callback horizon must be 1 s to {MAX_HORIZON_DAYS} days")

    def due_at(self, requested: datetime | None, now: datetime) -> datetime:
        """When a callback requested for `requested` is due: now when absent.

        A past time is due at once, and kept (up to the horizon back; older is now): it is the
        callback's place in line, so a caller who waited since 10:02 and asked to be called back
        keeps that place before callers who joined later ("wait for a free agent"). Beyond the
        horizon ahead it is refused (a typo in the year, a client sending milliseconds), with
        InvalidField naming `call_at`.
        """
        if requested is None or requested <= now - self.horizon:
            return now
        if requested <= now:
            return requested
        if requested - now > self.horizon:
            days = self.horizon / timedelta(days=1)
            raise InvalidField("call_at", FieldProblem.TOO_FAR_AHEAD, days=f"{days:g}")
        return requested

    def after(self, callback: Callback, outcome: DialOutcome, now: datetime) -> Callback:
        """The callback once its attempt under way ended with `outcome` at `now`."""
        if not callback.attempts or callback.attempts[-1].outcome is not None:
            raise ValueError("no attempt is under way")
        ended = replace(callback.attempts[-1], finished_at=now, outcome=outcome)
        attempts = (*callback.attempts[:-1], ended)
        if outcome is DialOutcome.ANSWERED:
            state = CallbackState.ANSWERED
        elif outcome in RETRIED and len(attempts) < self.attempts:
            state = CallbackState.PENDING
        else:
            state = CallbackState.FAILED
        call_at = now + self.retry_after if state is CallbackState.PENDING else callback.call_at
        return replace(
            callback,
            state=state,
            attempts=attempts,
            call_at=call_at,
            claim=None,
            claimed_until=None,
        )


def claimed(callback: Callback, claim: str, now: datetime, until: datetime) -> Callback:
    """The callback once claimed at `now` for a new attempt, the claim holding until `until`."""
    attempt = Attempt(len(callback.attempts) + 1, now)
    return replace(
        callback,
        state=CallbackState.DIALLING,
        attempts=(*callback.attempts, attempt),
        claim=claim,
        claimed_until=until,
    )


def released(callback: Callback) -> Callback:
    """The callback handed back untried (the PBX could not be asked): pending as before, its
    unfinished attempt forgotten, so it counts against no limit."""
    return replace(
        callback,
        state=CallbackState.PENDING,
        attempts=tuple(a for a in callback.attempts if a.outcome is not None),
        claim=None,
        claimed_until=None,
    )


@dataclass(frozen=True, slots=True)
class CallbackAttempted:
    """A domain event: one attempt of a callback ended."""

    callback: Callback  # as it is after the attempt
    attempt: Attempt


# How an attempt shows in the call history (Thulium's four dispositions). A customer who hung up
# while it rang did not answer; congestion, a channel that cannot be made and a lost outcome are
# the call failing, not the customer.
_DISPOSITIONS = {
    DialOutcome.ANSWERED: Disposition.ANSWERED,
    DialOutcome.BUSY: Disposition.BUSY,
    DialOutcome.NO_ANSWER: Disposition.NO_ANSWER,
    DialOutcome.REJECTED: Disposition.NO_ANSWER,
    DialOutcome.CONGESTION: Disposition.FAILED,
    DialOutcome.FAILED: Disposition.FAILED,
    DialOutcome.LOST: Disposition.FAILED,
}


def attempt_connection_id(callback_id: int, attempt: int) -> str:
    """The call history's id of one attempt: stable, so writing it again adds no second row.

    Not the PBX's Uniqueid: the answered customer's channel keeps that Uniqueid when it joins the
    queue, and the queue call's own (INBOUND) row is keyed by it (docs/pbx-asterisk.md).
    """
    return f"callback-{callback_id}-{attempt}"


def attempt_record(callback: Callback, attempt: Attempt) -> Connection:
    """The call history's OUTBOUND row of a finished attempt.

    `dst` is the number's key (as `number_key` writes E.164), `src` is empty (the caller id the
    PBX showed is its own), `started_at` is when it was dialled, and the ring time is the
    row's `duration`: an attempt ends when the customer answers, so its `billsec` is 0. The
    answered customer's talk is the queue call's own row, a new INBOUND call.
    """
    if attempt.outcome is None or attempt.finished_at is None:
        raise ValueError("the attempt has not ended")
    return Connection(
        connection_id=attempt_connection_id(callback.callback_id, attempt.number),
        queue_id=callback.queue_id,
        src="",
        started_at=attempt.started_at,
        disposition=_DISPOSITIONS[attempt.outcome],
        wait=max(attempt.finished_at - attempt.started_at, timedelta(0)),
        src_key="",
        dst=number_key(callback.phone_number),
        direction=Direction.OUTBOUND,
        disconnected_by=DisconnectedBy.CUSTOMER
        if attempt.outcome is DialOutcome.REJECTED
        else DisconnectedBy.UNKNOWN,
    )


@dataclass(frozen=True, slots=True)
class QueueNow:
    """What "wait for a free agent" looks at in one queue: agents FREE in it now, and when the
    caller who has waited longest joined (None: nobody waits)."""

    free_agents: int
    earliest_waiting: datetime | None


def agent_wait_window(queue: QueueNow, under_way: int, now: datetime) -> tuple[int, datetime]:
    """How many due callbacks of a "wait for a free agent" queue may be dialled now, and the
    latest `call_at` they may have.

    One per free agent, less the callbacks of the queue already ringing (each will want an
    agent once answered); and only those whose place in line (`call_at`) comes before every
    caller waiting now, so that nobody who joined earlier is passed and the called customer
    meets a free agent, not a queue.
    """
    allowance = max(0, queue.free_agents - under_way)
    latest = now if queue.earliest_waiting is None else min(now, queue.earliest_waiting)
    return allowance, latest


def earlier(existing: Callback, requested: datetime) -> datetime:
    """The dedupe rule: a second request for a pending callback keeps the earlier time."""
    return min(existing.call_at, requested)


def parse_wire_time(text: object, zone: ZoneInfo, field: str) -> datetime:
    """`YYYY-MM-DD HH:MM:SS` in `zone` as an aware instant; InvalidField(field) otherwise.

    Exactly that shape (Thulium's): no `T`, no offset, no fractions, no blanks around it.
    """
    if not isinstance(text, str) or len(text) != 19:
        raise InvalidField(field, FieldProblem.NOT_A_WIRE_DATE)
    found = _WIRE_DATE.fullmatch(text)
    if found is None:
        raise InvalidField(field, FieldProblem.NOT_A_WIRE_DATE)
    try:
        year, month, day, hour, minute, second = (int(part) for part in found.groups())
        local = datetime(year, month, day, hour, minute, second)
        return local.replace(tzinfo=zone).astimezone(UTC)
    except (ValueError, OverflowError):  # 2026-02-30; year 1 east of Greenwich
        raise InvalidField(field, FieldProblem.NOT_A_WIRE_DATE) from None
