"""The abandoned list's rule: what counts as an abandon, what "reached" means, and the order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from kolejka.domain.abandoned import (
    Abandon,
    AbandonedCalls,
    Reach,
    listed,
    start_of_day,
    start_of_next_day,
    still_abandoned,
)
from kolejka.domain.phone import PhoneNumbers

T0 = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
WARSAW = ZoneInfo("Europe/Warsaw")
PHONES = PhoneNumbers("PL")


def at(minute: int) -> datetime:
    return T0 + timedelta(minutes=minute)


def gave_up(key: str, minute: int, wait: int = 30) -> Abandon:
    return Abandon(key, at(minute), wait)


def the_list(*abandons: Abandon, reaches: tuple[Reach, ...] = ()) -> list[tuple[str, int]]:
    found = still_abandoned(AbandonedCalls(abandons, reaches), PHONES.normalise)
    return [(caller.phone_number, caller.times) for caller in found]


def test_a_caller_who_gave_up_twice_is_one_entry_with_both_attempts_and_the_longest_wait() -> None:
    (caller,) = still_abandoned(
        AbandonedCalls((gave_up("601100200", 5, 40), gave_up("601100200", 1, 90))),
        PHONES.normalise,
    )
    assert caller.phone_number == "+48601100200"
    assert caller.times == 2
    assert caller.first_attempt == at(1)
    assert caller.last_attempt == at(5)
    assert caller.longest_wait == 90


def test_every_spelling_of_a_number_is_one_caller() -> None:
    assert the_list(gave_up("601100200", 1), gave_up("+48601100200", 2)) == [("+48601100200", 2)]


def test_a_later_answered_call_or_callback_takes_the_caller_off_the_list() -> None:
    assert the_list(gave_up("601100200", 1), reaches=(Reach("+48601100200", at(2)),)) == []


def test_only_the_abandons_after_the_latest_reach_count() -> None:
    abandons = (gave_up("601100200", 1), gave_up("601100200", 3), gave_up("601100200", 4))
    assert the_list(*abandons, reaches=(Reach("0048601100200", at(2)),)) == [("+48601100200", 2)]


def test_only_a_reach_strictly_after_the_abandon_counts() -> None:
    assert the_list(gave_up("601100200", 5), reaches=(Reach("601100200", at(6)),)) == []
    for minute in (4, 5):
        assert the_list(gave_up("601100200", 5), reaches=(Reach("601100200", at(minute)),)) == [
            ("+48601100200", 1)
        ]


def test_calls_without_a_phone_number_cannot_be_called_back_and_are_left_out() -> None:
    assert the_list(gave_up("", 1), gave_up("anonymous", 2), gave_up("201", 3)) == []


def test_the_last_attempt_newest_first_ties_by_number() -> None:
    order = the_list(gave_up("601100200", 1), gave_up("500600700", 7), gave_up("500600701", 7))
    assert order == [("+48500600700", 1), ("+48500600701", 1), ("+48601100200", 1)]


def test_listed_finds_a_number_by_its_e164_form() -> None:
    callers = still_abandoned(AbandonedCalls((gave_up("601100200", 1),)), PHONES.normalise)
    assert listed(callers, "+48601100200") is callers[0]
    assert listed(callers, "+48601100201") is None


def test_today_starts_at_midnight_in_the_zone_across_a_clock_change() -> None:
    # 2026-10-25: Poland leaves summer time; the day is 25 hours long.
    late = datetime(2026, 10, 25, 22, 30, tzinfo=UTC)  # 23:30 CET
    assert start_of_day(late, WARSAW) == datetime(2026, 10, 24, 22, 0, tzinfo=UTC)
    assert start_of_next_day(late, WARSAW) == datetime(2026, 10, 25, 23, 0, tzinfo=UTC)
    just_after = datetime(2026, 10, 25, 23, 0, tzinfo=UTC)
    assert start_of_day(just_after, WARSAW) == just_after
