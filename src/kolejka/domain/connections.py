"""Call history: Thulium's "connections", one record per queue call, and how its events make it.

A queue call's record is assembled from what the PBX (or the ingest API, or the demo) says about
it, in the trade's words:

- it joined a queue (`date` is that instant, `src` the caller's number);
- it was abandoned after a wait: `NO ANSWER`, `duration` = the wait, `billsec` 0;
- it was answered: `ANSWERED`; the agent who picked up (`AgentConnect`) is `user_login`; once
  the talk ends (`AgentComplete`), `billsec` is the talk time, `duration` the wait plus the
  talk, and `disconnected_by` says who hung up;
- it left the queue unanswered for another reason (the queue's timeout, no agents left):
  `NO ANSWER` with its wait, nobody named as hanging up. Asterisk tells this only by the
  `AgentConnect` that does not follow its `QueueCallerLeave`, so such a departure is
  `NO ANSWER` until an agent's event makes it `ANSWERED`;
- it was gone when kolejka came back after a gap (the resync): `FAILED`, its outcome unknown,
  with the wait seen before the gap. A later `AgentComplete` for it still completes it.

Thulium's page calls `duration` "czas rozmowy"; issue 14 defines it as Asterisk's CDR does
(wait + talk), and kolejka follows the issue (docs/api.md, "Call history").

Plain values and rules only: no I/O. The connection id is the PBX's id of the call (Asterisk's
`Uniqueid`), so writing the same call twice changes one record, never adds a second. A call that
visits a second queue (a transfer) is a record per visit: the later one's id is derived from the
call's and the queue's (`services.history.visit_id`).
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from kolejka.domain.agents import AgentCompleted, AgentConnected, CompletedBy
from kolejka.domain.queues import Departure, Outcome, WaitingCaller

DEFAULT_LIMIT = 100
MAX_LIMIT = 100
# `count` is exact up to this many rows past the page; beyond, it says "at least" (docs/api.md).
COUNT_CAP = 10_000
MAX_LOGIN = 128
MAX_FILTER_NUMBERS = 32  # phone numbers one customer's filter may expand to


class Disposition(enum.StrEnum):
    ANSWERED = "ANSWERED"
    NO_ANSWER = "NO ANSWER"
    BUSY = "BUSY"
    FAILED = "FAILED"


class Direction(enum.StrEnum):
    INBOUND = "INBOUND"
    OUTBOUND = "OUTBOUND"


class DisconnectedBy(enum.StrEnum):
    UNKNOWN = ""
    AGENT = "Agent"
    CUSTOMER = "Customer"


@dataclass(frozen=True, slots=True)
class Connection:
    """One call in the history. `started_at` is when it joined the queue (aware, UTC)."""

    connection_id: str
    queue_id: int
    src: str
    started_at: datetime
    disposition: Disposition
    wait: timedelta
    talk: timedelta = timedelta(0)
    # `src` as phone.number_key reduces it ('+' and digits): written per call without parsing
    # the number; a filter asks for every key its number may have (PhoneNumbers.spellings).
    src_key: str = ""
    dst: str = ""
    direction: Direction = Direction.INBOUND
    user_login: str = ""
    disconnected_by: DisconnectedBy = DisconnectedBy.UNKNOWN
    transferred_to: str = ""

    @property
    def duration(self) -> int:
        """Seconds from joining the queue to the end of the call: the wait plus the talk."""
        return whole_seconds(self.wait) + whole_seconds(self.talk)

    @property
    def billsec(self) -> int:
        """Seconds of talk with an agent (0 unless answered)."""
        return whole_seconds(self.talk)

    @property
    def customer_number(self) -> str:
        """The customer's end of the call: who called in, or who was called (a callback)."""
        return self.dst if self.direction is Direction.OUTBOUND else self.src


_NO_TIME = timedelta(0)


def whole_seconds(span: timedelta) -> int:
    """A span as whole seconds, as the history counts them: a negative span (a clock stepped
    back) counts as none."""
    return span.days * 86_400 + span.seconds if span.days >= 0 else 0


class _RowBeingMade:
    """A Connection's slots, in its layout, without the frozen dataclass's __setattr__.

    A frozen dataclass's __init__ sets each field through object.__setattr__, a call apiece;
    `departed` sets these slots as plain attributes, then makes the object the frozen row it
    is (`__class__` may change between classes of one layout). A third of the time, which
    counts on the AMI listener's path: a row per departure, tens of thousands a second.
    """

    __slots__ = Connection.__slots__  # the same names in the same order: the same layout
    connection_id: str
    queue_id: int
    src: str
    started_at: datetime
    disposition: Disposition
    wait: timedelta
    talk: timedelta
    src_key: str
    dst: str
    direction: Direction
    user_login: str
    disconnected_by: DisconnectedBy
    transferred_to: str


# Enum members read from their class cost a lookup each (0.1 µs on 3.11): read once here.
_ANSWERED_CALL = Outcome.ANSWERED
_ANSWERED = Disposition.ANSWERED
_NO_ANSWER = Disposition.NO_ANSWER
_INBOUND = Direction.INBOUND
_HUNG_UP_BY_NOBODY_YET = DisconnectedBy.UNKNOWN
_HUNG_UP_BY_CUSTOMER = DisconnectedBy.CUSTOMER


def departed(caller: WaitingCaller, gone: Departure, src_key: str = "") -> Connection:
    """The record of a call that left its queue: abandoned (`NO ANSWER`, the caller hung up) or
    answered (who hangs up is known when the talk ends).

    The wait is the departure's hold time, which is the PBX's own count when it gave one.
    """
    if gone.outcome is _ANSWERED_CALL:
        return _row(caller, gone, src_key, _ANSWERED, _HUNG_UP_BY_NOBODY_YET)
    return _row(caller, gone, src_key, _NO_ANSWER, _HUNG_UP_BY_CUSTOMER)


def left_unanswered(caller: WaitingCaller, gone: Departure, src_key: str = "") -> Connection:
    """The record of a call that left its queue with no abandon, whose answer, if there was
    one, the agent's `AgentConnect` tells next (`connected`): until then `NO ANSWER`, for the
    call may have left on the queue's timeout or with no agents left, and who ended it is
    unknown."""
    return _row(caller, gone, src_key, _NO_ANSWER, _HUNG_UP_BY_NOBODY_YET)


def _row(
    caller: WaitingCaller,
    gone: Departure,
    src_key: str,
    disposition: Disposition,
    disconnected_by: DisconnectedBy,
) -> Connection:
    """The same frozen row `Connection(...)` makes, made faster (see `_RowBeingMade`)."""
    row = _RowBeingMade()
    row.connection_id = caller.call_id
    row.queue_id = caller.queue_id
    row.src = caller.phone_number
    row.started_at = caller.started_at
    row.disposition = disposition
    row.wait = gone.hold_time
    row.talk = _NO_TIME
    row.src_key = src_key
    row.dst = ""
    row.direction = _INBOUND
    row.user_login = ""
    row.disconnected_by = disconnected_by
    row.transferred_to = ""
    row.__class__ = Connection  # type: ignore[assignment]
    return row  # type: ignore[return-value]


def lost(caller: WaitingCaller, gone: Departure, src_key: str = "") -> Connection:
    """The record of a call the PBX no longer had after a gap: its outcome is unknown."""
    return _row(caller, gone, src_key, Disposition.FAILED, DisconnectedBy.UNKNOWN)


def recorded_over(known: Connection | None, row: Connection) -> Connection:
    """What a call's row says after `row` is recorded (a departure) over `known`: the first
    record of a call stays, and a repeat changes nothing; only a FAILED row (its outcome unknown)
    gives way to what is learnt later. The stores' insert follows the same rule."""
    if known is None or known.disposition is Disposition.FAILED:
        return row
    return known


_HUNG_UP_BY = {
    CompletedBy.AGENT: DisconnectedBy.AGENT,
    CompletedBy.CALLER: DisconnectedBy.CUSTOMER,
}


def connected(known: Connection, event: AgentConnected) -> Connection:
    """An agent picked up the call (`AgentConnect`): the row names the agent, and the PBX's hold
    time wins over the wait kolejka measured."""
    return replace(
        known,
        disposition=Disposition.ANSWERED,
        user_login=event.login,
        wait=known.wait if event.hold_time is None else event.hold_time,
    )


def completed(known: Connection | None, event: AgentCompleted, now: datetime) -> Connection:
    """The agent's talk ended (`AgentComplete`): `known` (None when the call joined before
    kolejka listened) gets the talk, the agent and who hung up.

    Whatever `known` said (answered, or lost in a gap), the PBX now says an agent talked: the
    call is ANSWERED. A transfer names no one who hung up.
    """
    talk = max(event.talk_time or timedelta(0), timedelta(0))
    if known is None:
        hold = event.hold_time or timedelta(0)
        known = Connection(
            connection_id=event.call_id,
            queue_id=event.queue_id,
            src="",
            started_at=now - talk - hold,
            disposition=Disposition.ANSWERED,
            wait=hold,
        )
    return replace(
        known,
        disposition=Disposition.ANSWERED,
        wait=known.wait if event.hold_time is None else event.hold_time,
        talk=talk,
        user_login=event.login or known.user_login,
        disconnected_by=_HUNG_UP_BY.get(event.reason, DisconnectedBy.UNKNOWN),
    )


@dataclass(frozen=True, slots=True)
class ConnectionQuery:
    """A page of `GET /api/connections`: filters, newest first, `limit` from `offset`.

    `src_keys` lists the number keys a `src` filter stands for (with `customer_id` too, those
    of its numbers); `customer_keys` the keys of a customer's numbers, matched by the calls from
    them and the callbacks (OUTBOUND rows) to them; `dst_keys` the text of a `dst` filter and
    every key of the number it names, so `500333222` finds a callback to `+48500333222`. An
    empty tuple matches nothing; None is no such filter. Dates are aware instants; `date_to`
    is inclusive.
    """

    limit: int = DEFAULT_LIMIT
    offset: int = 0
    date_from: datetime | None = None
    date_to: datetime | None = None
    src_keys: tuple[str, ...] | None = None
    customer_keys: tuple[str, ...] | None = None
    dst_keys: tuple[str, ...] | None = None
    connection_id: str | None = None
    user_login: str | None = None
    queue_id: int | None = None
    topic_id: int | None = None
    tags: tuple[str, ...] = ()
    # Only rows after this one in the page order (its date and id): paging a long export
    # without an offset that every page would have to walk again.
    after: tuple[datetime, str] | None = None
    counted: bool = True  # False: the page only (an export), `count` is then the page's rows

    @property
    def matches_nothing(self) -> bool:
        """True when no stored row can match: kolejka records no topics and no tags yet."""
        return (
            self.topic_id is not None
            or bool(self.tags)
            or (self.src_keys is not None and not self.src_keys)
            or (self.customer_keys is not None and not self.customer_keys)
            or (
                self.date_from is not None
                and self.date_to is not None
                and self.date_from > self.date_to
            )
        )


@dataclass(frozen=True, slots=True)
class ConnectionPage:
    """The rows of a page and `count`, the rows matching the filters (capped, see COUNT_CAP)."""

    count: int
    rows: Sequence[Connection]


def count_bound(query: ConnectionQuery) -> int:
    """How far `count` counts: `offset + limit + COUNT_CAP` rows. A count that reaches it means
    "at least this many", so `count` over ten million rows costs about what a page does."""
    return query.offset + query.limit + COUNT_CAP
