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
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Final

from kolejka.adapters.ami.protocol import Packet
from kolejka.adapters.ami.queue_names import QueueNames
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


def caller_joined(packet: Packet, queues: QueueNames) -> CallerJoined:
    queue_name = packet.get("Queue", "")
    return CallerJoined(
        queue_id=_queue_id(queue_name, queues),
        queue_name=queue_name,
        call_id=_call_id(packet),
        phone_number=_phone_number(packet),
        caller_name=_caller_name(packet),
    )


def caller_abandoned(packet: Packet, queues: QueueNames) -> CallerAbandoned:
    seconds = _seconds(packet.get("HoldTime", ""))
    return CallerAbandoned(
        queue_id=_queue_id(packet.get("Queue", ""), queues),
        call_id=_call_id(packet),
        hold_time=None if seconds is None else timedelta(seconds=seconds),
    )


def caller_left(packet: Packet, queues: QueueNames) -> CallerLeft:
    return CallerLeft(_queue_id(packet.get("Queue", ""), queues), _call_id(packet))


Handler = Callable[[Packet, QueueNames], PbxEvent]

HANDLERS: Final[dict[str, Handler]] = {
    "QueueCallerJoin": caller_joined,
    "QueueCallerAbandon": caller_abandoned,
    "QueueCallerLeave": caller_left,
    "Join": caller_joined,  # Asterisk before 12
    "Leave": caller_left,  # Asterisk before 12
}


def translate(packet: Packet, queues: QueueNames) -> PbxEvent | None:
    """The domain event a live AMI event means; None for events that are not ours."""
    handler = HANDLERS.get(packet.get("Event", ""))
    return None if handler is None else handler(packet, queues)


# The answer to `Action: QueueStatus` -----------------------------------------------------

QUEUE_PARAMS = "QueueParams"  # one per queue, even an empty one
QUEUE_ENTRY = "QueueEntry"  # one per waiting caller
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
