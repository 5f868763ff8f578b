"""Queues: ordering, positions, departures and id parsing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from kolejka.domain.queues import (
    MAX_ID,
    Outcome,
    WaitingCaller,
    departure,
    newest_first,
    parse_id,
    positions,
)

T0 = datetime(2014, 8, 6, 12, 30, 35, tzinfo=UTC)


def caller(call_id: str, seconds: float) -> WaitingCaller:
    return WaitingCaller(call_id, 2, "613459851", "", T0 + timedelta(seconds=seconds))


def test_the_newest_caller_comes_first() -> None:
    ordered = newest_first([(1, caller("a", 0)), (2, caller("b", 2)), (3, caller("c", 1))])
    assert [c.call_id for c in ordered] == ["b", "c", "a"]


def test_callers_who_joined_at_the_same_instant_list_the_later_joiner_first() -> None:
    ordered = newest_first([(1, caller("first", 0)), (2, caller("second", 0))])
    assert [c.call_id for c in ordered] == ["second", "first"]


def test_positions_are_recomputed_from_who_still_waits() -> None:
    ordered = newest_first([(1, caller("a", 0)), (3, caller("c", 2))])
    assert positions(ordered) == {"a": 1, "c": 2}


def test_a_departure_measures_hold_time_unless_the_pbx_says_it() -> None:
    c = caller("a", 0)
    measured = departure(c, Outcome.ANSWERED, T0 + timedelta(seconds=42))
    assert measured.hold_time == timedelta(seconds=42)
    told = departure(c, Outcome.ABANDONED, T0 + timedelta(seconds=42), timedelta(seconds=19))
    assert told.hold_time == timedelta(seconds=19)
    assert told.outcome is Outcome.ABANDONED


def test_a_waiting_caller_needs_an_aware_instant() -> None:
    with pytest.raises(ValueError, match="aware"):
        WaitingCaller("a", 2, "", "", datetime(2014, 8, 6, 12, 0))


@pytest.mark.parametrize("good", [("1", 1), ("2", 2), ("0002", 2), (str(MAX_ID), MAX_ID)])
def test_an_id_is_a_positive_integer_in_ascii_digits(good: tuple[str, int]) -> None:
    assert parse_id(good[0]) == good[1]


@pytest.mark.parametrize(
    "bad",
    [
        "abc",
        "-1",
        "0",
        "1e3",
        "99999999999999999999999",
        "\x00",
        "٣",
        "٢",
        "+3",
        " 3",
        "3_0",
        "",
        "2147483648",
        "1.0",
        "0x10",
    ],
)
def test_anything_else_is_not_an_id(bad: str) -> None:
    assert parse_id(bad) is None
