"""Abandoned callers to call back: who gave up waiting in a queue today, and was not reached since.

The rule, in the trade's words (docs/api.md, "Abandoned callers"):

- an *abandon* is an inbound call of the queue that ended `NO ANSWER` (the caller hung up while
  waiting), today: from midnight in KOLEJKA_TIME_ZONE. A call without a caller id, or whose
  number is no phone number, cannot be called back and is left out;
- a caller is *reached* by a later answered call of the same queue: an inbound call from the
  number that an agent answered, or an answered callback to it (an OUTBOUND row of the queue's
  call history). An answer in another queue does not count: that queue answered another
  question, and the supervisor of this one still owes the caller a call;
- the list holds each number with an abandon after its latest reach; only those abandons count
  (`times`, the first and last attempt, the longest wait): the ones still unanswered;
- numbers are one caller whatever way they were written (their E.164 form), and the list is
  ordered by the last attempt, newest first, ties by number.

Plain values and rules only: no I/O. The stores hand over today's abandons of one queue and the
reaches they cannot rule out in SQL (callbacks, dialled in E.164 while callers come in as the
PBX writes them); `still_abandoned` applies the rule.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo


@dataclass(frozen=True, slots=True)
class Abandon:
    """One abandoned inbound call: the number's key as stored, when it joined, its wait (s)."""

    number_key: str
    started_at: datetime
    wait_seconds: int


@dataclass(frozen=True, slots=True)
class Reach:
    """An answered call to or from a number (its key as stored), at `at`."""

    number_key: str
    at: datetime


@dataclass(frozen=True, slots=True)
class AbandonedCalls:
    """What a store knows of one queue's day: its abandons, and the reaches that may undo them."""

    abandons: tuple[Abandon, ...]
    reaches: tuple[Reach, ...] = ()


@dataclass(frozen=True, slots=True)
class AbandonedCaller:
    """One number of the list: E.164, how many abandons since it was last reached, the first
    and the last of them, and the longest wait among them (seconds)."""

    phone_number: str
    times: int
    first_attempt: datetime
    last_attempt: datetime
    longest_wait: int


def start_of_day(now: datetime, zone: ZoneInfo) -> datetime:
    """Midnight of `now`'s day in `zone`, as an aware instant: where "today" starts."""
    local = now.astimezone(zone)
    return datetime.combine(local.date(), time(0), tzinfo=zone)


def start_of_next_day(now: datetime, zone: ZoneInfo) -> datetime:
    """Midnight after `now` in `zone`: where today's list ends and a new one starts."""
    local = now.astimezone(zone)
    return datetime.combine(local.date() + timedelta(days=1), time(0), tzinfo=zone)


def still_abandoned(
    calls: AbandonedCalls, normalise: Callable[[str], str | None]
) -> list[AbandonedCaller]:
    """The list: every number with an abandon after its latest reach, newest last attempt first.

    `normalise` gives a stored key's E.164 form (None: no phone number, left out).
    """
    e164s: dict[str, str | None] = {}

    def number(key: str) -> str | None:
        if key not in e164s:
            e164s[key] = normalise(key) if key else None
        return e164s[key]

    reached: dict[str, datetime] = {}
    for reach in calls.reaches:
        found = number(reach.number_key)
        if found is not None and (found not in reached or reach.at > reached[found]):
            reached[found] = reach.at
    grouped: dict[str, list[Abandon]] = {}
    for abandon in calls.abandons:
        found = number(abandon.number_key)
        if found is None:
            continue
        latest = reached.get(found)
        if latest is not None and abandon.started_at < latest:  # a reach strictly later
            continue
        grouped.setdefault(found, []).append(abandon)
    listed = [_caller(e164, abandons) for e164, abandons in grouped.items()]
    listed.sort(key=lambda caller: caller.phone_number)
    listed.sort(key=lambda caller: caller.last_attempt, reverse=True)
    return listed


def _caller(e164: str, abandons: Iterable[Abandon]) -> AbandonedCaller:
    starts = [abandon.started_at for abandon in abandons]
    return AbandonedCaller(
        phone_number=e164,
        times=len(starts),
        first_attempt=min(starts),
        last_attempt=max(starts),
        longest_wait=max(abandon.wait_seconds for abandon in abandons),
    )


def listed(callers: Iterable[AbandonedCaller], e164: str) -> AbandonedCaller | None:
    """The entry of `e164` in the list, or None when it is not there."""
    return next((caller for caller in callers if caller.phone_number == e164), None)
