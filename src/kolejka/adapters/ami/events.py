"""The AMI events the listener acts on: one table from event name to a translation.

Every Asterisk word the listener understands is here, and each handler turns a packet into a
`kolejka.domain.pbx` event (or a `QueuedCaller`, for the lines of a `QueueStatus` answer). An event
missing from `HANDLERS` is not ours and is ignored; a packet that names one but cannot be used
raises `Unusable`, which the listener logs before carrying on.

Facts from Asterisk (see ../shared/ami/README.md):
- a missing caller id is `<unknown>` in events and `unknown` in `QueueEntry`;
- `QueueCallerAbandon` comes before the `QueueCallerLeave` of the same call; `HoldTime` is the
  number of seconds the caller waited;
- Asterisk before 12 sent `Join`/`Leave` (with `CallerID` before 1.6) instead.
- Member events carry the whole member (`MemberName`, `Interface`, `StateInterface`, `InCall`,
  `Status` as a device state number, `Paused`, `PausedReason`); a `QueueMember` line of a
  `QueueStatus` answer names the same fields `Name` and `Location`.
- `AgentCalled`/`AgentConnect`/`AgentComplete`/`AgentRingNoAnswer` carry the caller's channel
  (`Uniqueid` is the caller's call) and the member (`Interface`, `MemberName`); `HoldTime`,
  `RingTime` and `TalkTime` are seconds, except `AgentRingNoAnswer`'s `RingTime`: milliseconds.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Final

from kolejka.adapters.ami.member_names import MemberNames
from kolejka.adapters.ami.protocol import Packet
from kolejka.adapters.ami.queue_names import QueueNames
from kolejka.domain.agents import (
    MAX_PAUSE_NAME,
    AgentCompleted,
    AgentConnected,
    AgentRinging,
    AgentRingNoAnswer,
    CompletedBy,
    Device,
    MemberAdded,
    MemberEvent,
    MemberPaused,
    MemberRemoved,
    MemberReport,
    MemberStatus,
    is_login,
)
from kolejka.domain.pbx import CallerAbandoned, CallerJoined, CallerLeft, PbxEvent, QueuedCaller
from kolejka.domain.phone import MAX_PHONE_INPUT, is_caller_id_missing
from kolejka.domain.queues import MAX_CALL_ID, MAX_CALLER_NAME

# Ten million seconds is four months: a larger hold time or wait is a corrupt value.
_MAX_SECONDS = 10_000_000


class Unusable(Exception):
    """A packet names an event we act on, but lacks what we need from it."""


class UnmappedQueue(Unusable):
    """The packet is about an Asterisk queue that maps to no kolejka queue id."""

    def __init__(self, name: str) -> None:
        super().__init__(f"Asterisk queue {name!r} maps to no queue id")
        self.name = name


class UnmappedMember(Unusable):
    """The packet is about a queue member whose name is no login, and no mapping names one."""

    def __init__(self, name: str) -> None:
        super().__init__(f"Asterisk queue member {name!r} maps to no agent login")
        self.name = name


NO_MEMBERS = MemberNames()


def caller_joined(packet: Packet, queues: QueueNames, members: MemberNames) -> CallerJoined:
    queue_name = packet.get("Queue", "")
    return CallerJoined(
        queue_id=_queue_id(queue_name, queues),
        queue_name=queue_name,
        call_id=_call_id(packet),
        phone_number=_phone_number(packet),
        caller_name=_caller_name(packet),
    )


def caller_abandoned(packet: Packet, queues: QueueNames, members: MemberNames) -> CallerAbandoned:
    seconds = _seconds(packet.get("HoldTime", ""))
    return CallerAbandoned(
        queue_id=_queue_id(packet.get("Queue", ""), queues),
        call_id=_call_id(packet),
        hold_time=None if seconds is None else timedelta(seconds=seconds),
    )


def caller_left(packet: Packet, queues: QueueNames, members: MemberNames) -> CallerLeft:
    """`QueueCallerLeave`: an answer is told by the `AgentConnect` that follows."""
    return CallerLeft(_queue_id(packet.get("Queue", ""), queues), _call_id(packet), True)


def caller_left_before_12(packet: Packet, queues: QueueNames, members: MemberNames) -> CallerLeft:
    """`Leave`: an answer's `AgentConnect` came only with `eventwhencalled`, so it is not
    waited for; a call that leaves without an abandon is taken as answered."""
    return CallerLeft(_queue_id(packet.get("Queue", ""), queues), _call_id(packet))


def member_report(packet: Packet, queues: QueueNames, members: MemberNames) -> MemberReport:
    """The member a member event (or a `QueueMember` line of `QueueStatus`) describes."""
    status = _seconds(packet.get("Status", ""))
    return MemberReport(
        login=_login(packet, members),
        queue_id=_queue_id(packet.get("Queue", ""), queues),
        paused=packet.get("Paused", "") == "1",
        pause_reason=packet.get("PausedReason", "")[:MAX_PAUSE_NAME],
        in_call=packet.get("InCall", "") == "1",
        device=Device(status) if status is not None and status <= Device.ONHOLD else Device.UNKNOWN,
    )


def member_added(packet: Packet, queues: QueueNames, members: MemberNames) -> MemberAdded:
    return MemberAdded(member_report(packet, queues, members))


def member_removed(packet: Packet, queues: QueueNames, members: MemberNames) -> MemberRemoved:
    return MemberRemoved(_login(packet, members), _queue_id(packet.get("Queue", ""), queues))


def member_paused(packet: Packet, queues: QueueNames, members: MemberNames) -> MemberPaused:
    return MemberPaused(member_report(packet, queues, members))


def member_status(packet: Packet, queues: QueueNames, members: MemberNames) -> MemberStatus:
    return MemberStatus(member_report(packet, queues, members))


def agent_called(packet: Packet, queues: QueueNames, members: MemberNames) -> AgentRinging:
    return AgentRinging(
        _login(packet, members), _queue_id(packet.get("Queue", ""), queues), _call_id(packet)
    )


def agent_ring_no_answer(
    packet: Packet, queues: QueueNames, members: MemberNames
) -> AgentRingNoAnswer:
    millis = _seconds(packet.get("RingTime", ""))
    return AgentRingNoAnswer(
        _login(packet, members),
        _queue_id(packet.get("Queue", ""), queues),
        _call_id(packet),
        None if millis is None else timedelta(milliseconds=millis),
    )


def agent_connected(packet: Packet, queues: QueueNames, members: MemberNames) -> AgentConnected:
    return AgentConnected(
        _login(packet, members),
        _queue_id(packet.get("Queue", ""), queues),
        _call_id(packet),
        hold_time=_duration(packet.get("HoldTime", "")),
        ring_time=_duration(packet.get("RingTime", "")),
    )


def agent_completed(packet: Packet, queues: QueueNames, members: MemberNames) -> AgentCompleted:
    try:
        reason = CompletedBy(packet.get("Reason", "").lower())
    except ValueError:
        reason = CompletedBy.UNKNOWN
    return AgentCompleted(
        _login(packet, members),
        _queue_id(packet.get("Queue", ""), queues),
        _call_id(packet),
        hold_time=_duration(packet.get("HoldTime", "")),
        talk_time=_duration(packet.get("TalkTime", "")),
        reason=reason,
    )


Handler = Callable[[Packet, QueueNames, MemberNames], PbxEvent | MemberEvent]

HANDLERS: Final[dict[str, Handler]] = {
    "QueueCallerJoin": caller_joined,
    "QueueCallerAbandon": caller_abandoned,
    "QueueCallerLeave": caller_left,
    "Join": caller_joined,  # Asterisk before 12
    "Leave": caller_left_before_12,
    "QueueMemberAdded": member_added,
    "QueueMemberRemoved": member_removed,
    "QueueMemberPause": member_paused,
    "QueueMemberPaused": member_paused,  # Asterisk before 12
    "QueueMemberStatus": member_status,
    "AgentCalled": agent_called,
    "AgentRingNoAnswer": agent_ring_no_answer,
    "AgentConnect": agent_connected,
    "AgentComplete": agent_completed,
}


def translate(
    packet: Packet, queues: QueueNames, members: MemberNames = NO_MEMBERS
) -> PbxEvent | MemberEvent | None:
    """The domain event a live AMI event means; None for events that are not ours."""
    handler = HANDLERS.get(packet.get("Event", ""))
    return None if handler is None else handler(packet, queues, members)


# The answer to `Action: QueueStatus` -----------------------------------------------------

QUEUE_PARAMS = "QueueParams"  # one per queue, even an empty one
QUEUE_ENTRY = "QueueEntry"  # one per waiting caller
QUEUE_MEMBER = "QueueMember"  # one per member of a queue
QUEUE_STATUS_COMPLETE = "QueueStatusComplete"


def queued_caller(packet: Packet, queues: QueueNames) -> QueuedCaller:
    """A `QueueEntry` line of a `QueueStatus` answer."""
    return QueuedCaller(
        queue_id=_queue_id(packet.get("Queue", ""), queues),
        call_id=_call_id(packet),
        phone_number=_phone_number(packet),
        caller_name=_caller_name(packet),
        waited=timedelta(seconds=_seconds(packet.get("Wait", "")) or 0),
    )


def is_list_end(packet: Packet) -> bool:
    """The last packet of an answer given as a list of events (`EventList: Complete`)."""
    return packet.get("EventList", "").lower() == "complete" or packet.get("Event", "") == (
        QUEUE_STATUS_COMPLETE
    )


# Fields ----------------------------------------------------------------------------------


def _login(packet: Packet, members: MemberNames) -> str:
    # `Name`/`Location` in QueueStatus; `AgentName`/`AgentCalled` in Asterisk before 12's.
    name = packet.get("MemberName") or packet.get("Name") or packet.get("AgentName") or ""
    interface = packet.get("Interface") or packet.get("Location") or ""
    login = members.login(name, interface, packet.get("StateInterface", ""))
    if not is_login(login):
        raise UnmappedMember(login or interface)
    return login


def _duration(text: str) -> timedelta | None:
    seconds = _seconds(text)
    return None if seconds is None else timedelta(seconds=seconds)


def _queue_id(name: str, queues: QueueNames) -> int:
    queue_id = queues.queue_id(name)
    if queue_id is None:
        raise UnmappedQueue(name)
    return queue_id


def _call_id(packet: Packet) -> str:
    call_id = packet.get("Uniqueid") or packet.get("UniqueID") or ""
    if not call_id:
        raise Unusable("no Uniqueid")
    if len(call_id) > MAX_CALL_ID:
        raise Unusable(f"a Uniqueid longer than {MAX_CALL_ID} characters")
    return call_id


def _phone_number(packet: Packet) -> str:
    raw = packet.get("CallerIDNum", packet.get("CallerID", ""))
    return "" if is_caller_id_missing(raw) else raw[:MAX_PHONE_INPUT]


def _caller_name(packet: Packet) -> str:
    raw = packet.get("CallerIDName", "")
    return "" if is_caller_id_missing(raw) else raw[:MAX_CALLER_NAME]


def _seconds(text: str) -> int | None:
    if not text.isascii() or not text.isdigit() or len(text) > 8:
        return None
    seconds = int(text)
    return seconds if seconds <= _MAX_SECONDS else None
