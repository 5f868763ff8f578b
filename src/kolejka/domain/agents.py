"""Agents: who answers the queues, and the one state each has across them.

An agent is a member of queues. What the PBX reports is per membership (paused in queue 2,
talking on a call from queue 7); a supervisor wants one word per agent. `derive` gives it:

- OFF: a member of no queue (logged out);
- INBOUND_CALL: talking on a queue call in any queue (wins over everything else);
- RINGING: a queue call rings the agent's phone, in any queue;
- PAUSED: paused in every queue it is a member of (the pause of the first such queue);
- FREE: otherwise, i.e. available to at least one queue.

`apply` folds one member event into an agent's live record; `last_change` moves only when the
derived state (or the pause) changes, so a repeated event or a new membership of an agent who is
already FREE keeps the time in state a wallboard shows. Plain Python: no I/O.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

MAX_LOGIN = 64
MAX_NAME = 128
MAX_EMAIL = 254
MAX_PAUSE_NAME = 64
MAX_NUMBER = 999_999_999_999_999  # 15 digits, E.164's longest
# A login travels in URLs (/api/agents/{login}) and AMI fields: letters, digits and `._@+-`.
_LOGIN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@+-]{0,63}")


def is_login(text: str) -> bool:
    return _LOGIN.fullmatch(text) is not None


class AgentState(enum.StrEnum):
    """Thulium's `status` words. kolejka derives OFF, FREE, PAUSED, RINGING and INBOUND_CALL;
    the outbound ones are Thulium's and kept for clients that switch on every value."""

    OFF = "OFF"
    FREE = "FREE"
    PAUSED = "PAUSED"
    INBOUND_CALL = "INBOUND_CALL"
    OUTBOUND_CALL = "OUTBOUND_CALL"
    OUTBOUND_PREVIEW = "OUTBOUND_PREVIEW"
    CALL = "CALL"
    RINGING = "RINGING"


@dataclass(frozen=True, slots=True)
class Agent:
    """An agent as Thulium's `GET agents/:login` shows it, with the queues it logs in to."""

    agent_id: int
    login: str
    name: str
    surname: str
    email: str
    number: int | None  # None: no number known (an agent the PBX introduced); JSON null
    active: bool
    queues: tuple[int, ...]  # configured queues, for a login without a queue list


@dataclass(frozen=True, slots=True)
class NewAgent:
    """The fields of an agent before the store gives it an id."""

    login: str
    name: str = ""
    surname: str = ""
    email: str = ""
    number: int | None = None
    active: bool = True
    queues: tuple[int, ...] = ()

    def stored_as(self, agent_id: int) -> Agent:
        """The agent as a store keeps it under `agent_id` (its queues in order)."""
        return Agent(
            agent_id,
            self.login,
            self.name,
            self.surname,
            self.email,
            self.number,
            self.active,
            tuple(sorted(self.queues)),
        )


@dataclass(frozen=True, slots=True)
class Pause:
    """A pause reason of the catalogue (`GET system/pauses`)."""

    pause_id: int
    name: str


@dataclass(frozen=True, slots=True)
class AgentStatus:
    """Thulium's `GET agents/:login/status`, plus the queues the agent is a member of now."""

    login: str
    state: AgentState
    pause_id: int | None
    last_change: datetime  # aware, UTC
    queues: tuple[int, ...]


# Live membership ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Membership:
    """An agent's membership of one queue, as the PBX last reported it."""

    queue_id: int
    paused: bool = False
    pause_id: int | None = None
    ringing: bool = False
    in_call: bool = False
    # The queue calls connected to the agent and not completed yet (AgentConnect, then
    # AgentComplete): with Asterisk's `ringinuse` a member may take a second one, and the end of
    # the first must not make it FREE while it talks on the other.
    calls: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class AgentLive:
    """An agent's live record: its memberships and the state derived from them."""

    login: str
    memberships: tuple[Membership, ...]
    state: AgentState
    pause_id: int | None
    last_change: datetime

    @property
    def status(self) -> AgentStatus:
        return AgentStatus(
            self.login,
            self.state,
            self.pause_id,
            self.last_change,
            tuple(m.queue_id for m in self.memberships),
        )


def off(login: str, since: datetime) -> AgentLive:
    """An agent in no queue, OFF since `since`."""
    return AgentLive(login, (), AgentState.OFF, None, since)


def derive(memberships: Iterable[Membership]) -> tuple[AgentState, int | None]:
    """The one state (and pause id) of an agent with these memberships."""
    members = list(memberships)
    if not members:
        return AgentState.OFF, None
    if any(m.in_call for m in members):
        return AgentState.INBOUND_CALL, None
    if any(m.ringing for m in members):
        return AgentState.RINGING, None
    if all(m.paused for m in members):
        return AgentState.PAUSED, next((m.pause_id for m in members if m.pause_id), None)
    return AgentState.FREE, None


# Member events: what a PBX adapter reports, already in kolejka's words --------------------


class Device(enum.IntEnum):
    """The member's device state, as Asterisk numbers it (ast_device_state)."""

    UNKNOWN = 0
    NOT_INUSE = 1
    INUSE = 2
    BUSY = 3
    INVALID = 4
    UNAVAILABLE = 5
    RINGING = 6
    RINGINUSE = 7
    ONHOLD = 8


@dataclass(frozen=True, slots=True)
class MemberReport:
    """A whole member as the PBX describes it (added, paused, status change, or a snapshot).

    `pause_reason` is the PBX's text; the service turns it into a pause id of the catalogue.
    """

    login: str
    queue_id: int
    paused: bool
    pause_reason: str
    in_call: bool
    device: Device = Device.UNKNOWN


@dataclass(frozen=True, slots=True)
class MemberAdded:
    member: MemberReport


@dataclass(frozen=True, slots=True)
class MemberRemoved:
    login: str
    queue_id: int


@dataclass(frozen=True, slots=True)
class MemberPaused:
    member: MemberReport


@dataclass(frozen=True, slots=True)
class MemberStatus:
    member: MemberReport


@dataclass(frozen=True, slots=True)
class AgentRinging:
    """A queue call rings the agent (Asterisk's AgentCalled)."""

    login: str
    queue_id: int
    call_id: str


@dataclass(frozen=True, slots=True)
class AgentRingNoAnswer:
    """The agent let a queue call ring out; `ring_time` as the PBX measured it."""

    login: str
    queue_id: int
    call_id: str
    ring_time: timedelta | None


@dataclass(frozen=True, slots=True)
class AgentConnected:
    """The agent answered a queue call. `call_id` is the caller's call (its Uniqueid)."""

    login: str
    queue_id: int
    call_id: str
    hold_time: timedelta | None
    ring_time: timedelta | None


class CompletedBy(enum.StrEnum):
    AGENT = "agent"
    CALLER = "caller"
    TRANSFER = "transfer"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class AgentCompleted:
    """The agent's queue call ended; who hung up in `reason`."""

    login: str
    queue_id: int
    call_id: str
    hold_time: timedelta | None
    talk_time: timedelta | None
    reason: CompletedBy


MemberEvent = (
    MemberAdded
    | MemberRemoved
    | MemberPaused
    | MemberStatus
    | AgentRinging
    | AgentRingNoAnswer
    | AgentConnected
    | AgentCompleted
)


def event_login(event: MemberEvent) -> str:
    if isinstance(event, MemberAdded | MemberPaused | MemberStatus):
        return event.member.login
    return event.login


def pause_reason(event: MemberEvent) -> str | None:
    """The pause reason text an event names, if it is a paused member's."""
    if isinstance(event, MemberAdded | MemberPaused | MemberStatus) and event.member.paused:
        return event.member.pause_reason.strip()[:MAX_PAUSE_NAME] or None
    return None


def _reported(member: MemberReport, pause_id: int | None, before: Membership | None) -> Membership:
    ringing = before.ringing if before is not None else False
    if member.device in (Device.RINGING, Device.RINGINUSE):
        ringing = True
    elif member.in_call or member.device in (
        Device.NOT_INUSE,
        Device.INVALID,
        Device.UNAVAILABLE,
    ):
        # The phone stopped ringing (answered elsewhere, the caller hung up, ring-all won).
        ringing = False
    # The PBX's own word on whether the member talks: not in a call, none of ours goes on.
    calls = before.calls if before is not None and member.in_call else ()
    return Membership(
        queue_id=member.queue_id,
        paused=member.paused,
        pause_id=pause_id if member.paused else None,
        ringing=ringing,
        in_call=member.in_call,
        calls=calls,
    )


def _membership_after(
    before: Membership | None, event: MemberEvent, pause_id: int | None
) -> Membership | None:
    if isinstance(event, MemberRemoved):
        return None
    if isinstance(event, MemberAdded | MemberPaused | MemberStatus):
        return _reported(event.member, pause_id, before)
    if before is None and isinstance(event, AgentCompleted):
        # The end of a call in a queue the agent is no member of (removed while talking): it
        # leaves no membership behind, so the agent does not turn FREE in a queue it left.
        return None
    base = before if before is not None else Membership(event.queue_id)
    if isinstance(event, AgentRinging):
        return replace(base, ringing=True)
    if isinstance(event, AgentRingNoAnswer):
        return replace(base, ringing=False)
    if isinstance(event, AgentConnected):
        calls = base.calls if event.call_id in base.calls else (*base.calls, event.call_id)
        return replace(base, ringing=False, in_call=True, calls=calls)
    calls = tuple(call for call in base.calls if call != event.call_id)
    return replace(base, ringing=False, in_call=bool(calls), calls=calls)


def _queue_of(event: MemberEvent) -> int:
    if isinstance(event, MemberAdded | MemberPaused | MemberStatus):
        return event.member.queue_id
    return event.queue_id


def apply(
    live: AgentLive, event: MemberEvent, now: datetime, pause_id: int | None = None
) -> AgentLive:
    """`live` after `event` (which must be about `live.login`); `pause_id` is the catalogue's
    id of the event's pause reason, if it names one.

    A call event (ringing, connected, completed) about a queue the agent is no member of makes
    it one: the PBX would not ring a non-member, so we missed its QueueMemberAdded.
    """
    queue_id = _queue_of(event)
    memberships = {m.queue_id: m for m in live.memberships}
    after = _membership_after(memberships.get(queue_id), event, pause_id)
    if after is None:
        memberships.pop(queue_id, None)
    else:
        memberships[queue_id] = after
    return with_memberships(live, memberships.values(), now)


def with_memberships(
    live: AgentLive, memberships: Iterable[Membership], now: datetime
) -> AgentLive:
    """`live` with these memberships, its state derived again; `last_change` moves to `now`
    only when the state or the pause changed."""
    ordered = tuple(sorted(memberships, key=lambda m: m.queue_id))
    state, pause_id = derive(ordered)
    changed = state != live.state or pause_id != live.pause_id
    return AgentLive(live.login, ordered, state, pause_id, now if changed else live.last_change)


def resynced(
    live: AgentLive,
    reported: Iterable[tuple[MemberReport, int | None]],
    queues: Iterable[int],
    now: datetime,
) -> AgentLive:
    """`live` after a snapshot of `queues` listing these members (each with its pause id).

    Memberships of the snapshot's queues that it does not list are gone; memberships of other
    queues (not the PBX's, or unmapped) stay. A snapshot cannot tell a ringing Local-channel
    member from a talking one by its device state alone, so `ringing` is kept unless the
    snapshot shows the phone idle.
    """
    covered = set(queues)
    kept = {m.queue_id: m for m in live.memberships if m.queue_id not in covered}
    before = {m.queue_id: m for m in live.memberships}
    for member, pause_id in reported:
        kept[member.queue_id] = _reported(member, pause_id, before.get(member.queue_id))
    return with_memberships(live, kept.values(), now)
