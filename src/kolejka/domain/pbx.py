"""What a PBX tells us about its queues, and how to make our waiting lists equal to its queues.

A PBX adapter (AMI today) translates its own words into these events: a caller joined, abandoned
or left a queue. After a reconnect it also gives a snapshot of every caller waiting right now;
`reconcile` decides, without any I/O, who must leave and who must join so that our lists match.
"""

from __future__ import annotations

from collections.abc import Iterable, Set
from dataclasses import dataclass
from datetime import datetime, timedelta

from kolejka.domain.queues import WaitingCaller


@dataclass(frozen=True, slots=True)
class CallerJoined:
    """A call entered a queue. `queue_name` is the PBX's name, used if the queue is new to us."""

    queue_id: int
    queue_name: str
    call_id: str
    phone_number: str
    caller_name: str


@dataclass(frozen=True, slots=True)
class CallerAbandoned:
    """The caller hung up while waiting; `hold_time` is the PBX's own count, when it gave one."""

    queue_id: int
    call_id: str
    hold_time: timedelta | None


@dataclass(frozen=True, slots=True)
class CallerLeft:
    """The call left the queue: answered, unless the PBX said it was abandoned first.

    `answer_announced`: the PBX tells every answer with an agent's event after this one
    (Asterisk 12 and later: `AgentConnect` follows `QueueCallerLeave`). Until that event comes,
    the call may have left for another reason, the queue's timeout or no agents left, and its
    history row says `NO ANSWER` (docs/pbx-asterisk.md, "The call history: each event to each
    field")."""

    queue_id: int
    call_id: str
    answer_announced: bool = False


PbxEvent = CallerJoined | CallerAbandoned | CallerLeft


@dataclass(frozen=True, slots=True)
class QueuedCaller:
    """A caller in the PBX's snapshot of its queues, with how long it has waited so far."""

    queue_id: int
    call_id: str
    phone_number: str
    caller_name: str
    waited: timedelta


@dataclass(frozen=True, slots=True)
class Reconciliation:
    """What changes our lists into the PBX's: callers who must leave, and callers who must join."""

    departures: tuple[WaitingCaller, ...]
    joins: tuple[WaitingCaller, ...]

    @property
    def changes_nothing(self) -> bool:
        return not self.departures and not self.joins


def reconcile(
    ours: Iterable[WaitingCaller],
    theirs: Iterable[QueuedCaller],
    now: datetime,
    touched: Set[str] = frozenset(),
) -> Reconciliation:
    """Who leaves and who joins so that `ours` (our callers in the PBX's queues) equals `theirs`.

    - a caller of ours the PBX no longer has leaves;
    - a caller the PBX has and we lack joins, having started `waited` before `now`;
    - a caller both have stays as it is, keeping the `started_at` we saw it join at;
    - a caller in another queue than the PBX says leaves ours and joins the PBX's;
    - a call in `touched` (a live event about it arrived while the snapshot was being taken) is
      left alone: that event is newer than the snapshot, or as new.
    """
    pbx: dict[str, QueuedCaller] = {}
    for entry in theirs:
        pbx.setdefault(entry.call_id, entry)
    departures: list[WaitingCaller] = []
    kept: set[str] = set()
    for caller in ours:
        if caller.call_id in touched:
            continue
        there = pbx.get(caller.call_id)
        if there is not None and there.queue_id == caller.queue_id:
            kept.add(caller.call_id)
        else:
            departures.append(caller)
    joins = [
        WaitingCaller(
            call_id=entry.call_id,
            queue_id=entry.queue_id,
            phone_number=entry.phone_number,
            caller_name=entry.caller_name,
            started_at=now - max(entry.waited, timedelta(0)),
        )
        for entry in pbx.values()
        if entry.call_id not in kept and entry.call_id not in touched
    ]
    return Reconciliation(tuple(departures), tuple(joins))
