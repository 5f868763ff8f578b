"""Queues, the callers waiting in them, and how callers leave."""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import NamedTuple

# Ids travel as JSON numbers and live in 32-bit integer columns on every SQL engine.
MAX_ID = 2_147_483_647
MAX_CALL_ID = 128
MAX_CALLER_NAME = 256


@dataclass(frozen=True, slots=True)
class Queue:
    queue_id: int
    name: str


class Outcome(enum.StrEnum):
    ANSWERED = "answered"
    ABANDONED = "abandoned"


@dataclass(frozen=True, slots=True)
class WaitingCaller:
    """A call waiting in a queue. `call_id` is the PBX's id of the call, unique per call."""

    call_id: str
    queue_id: int
    phone_number: str
    caller_name: str
    started_at: datetime  # aware, UTC

    def __post_init__(self) -> None:
        if self.started_at.tzinfo is None:
            raise ValueError("started_at must be an aware instant")

    def waited(self, now: datetime) -> timedelta:
        return max(now - self.started_at, timedelta(0))

    def trimmed(self) -> WaitingCaller:
        """This caller with no blanks around its number and name (itself if it has none)."""
        phone_number, caller_name = self.phone_number.strip(), self.caller_name.strip()
        if phone_number == self.phone_number and caller_name == self.caller_name:
            return self
        return replace(self, phone_number=phone_number, caller_name=caller_name)


class Joined(NamedTuple):
    """What a join found: the caller as stored, and whether this join is what stored it."""

    caller: WaitingCaller
    created: bool


@dataclass(frozen=True, slots=True)
class Departure:
    """A caller who left a queue: answered by an agent or abandoned (hung up while waiting)."""

    call_id: str
    queue_id: int
    outcome: Outcome
    hold_time: timedelta
    started_at: datetime
    left_at: datetime
    phone_number: str = ""  # as the PBX wrote it


def departure(
    caller: WaitingCaller, outcome: Outcome, left_at: datetime, hold_time: timedelta | None = None
) -> Departure:
    """How `caller` left. The PBX's own hold time wins over the one we measure."""
    held = caller.waited(left_at) if hold_time is None else max(hold_time, timedelta(0))
    return Departure(
        caller.call_id,
        caller.queue_id,
        outcome,
        held,
        caller.started_at,
        left_at,
        caller.phone_number,
    )


def newest_first(callers: Iterable[tuple[int, WaitingCaller]]) -> list[WaitingCaller]:
    """Thulium's order: latest `started_at` first; equal instants, the later joiner first.

    `callers` pairs each caller with its join sequence number.
    """
    ordered = sorted(callers, key=lambda pair: (pair[1].started_at, pair[0]), reverse=True)
    return [caller for _, caller in ordered]


def positions(callers_newest_first: list[WaitingCaller]) -> dict[str, int]:
    """Queue positions (1 = next to be answered) recomputed from who is still waiting.

    Asterisk renumbers callers silently when one leaves, so positions are derived, never stored.
    """
    count = len(callers_newest_first)
    return {caller.call_id: count - index for index, caller in enumerate(callers_newest_first)}


def parse_id(text: str) -> int | None:
    """A positive integer id written in ASCII digits, or None.

    `int()` would accept `٣`, `+3`, ` 3`, `3_0`; an id on the wire is plain digits only.
    """
    if not text or len(text) > 10 or not text.isascii() or not text.isdigit():
        return None
    value = int(text)
    return value if 0 < value <= MAX_ID else None
