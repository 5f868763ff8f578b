"""The call history's rules: how a queue call's events make its record."""

from __future__ import annotations

from dataclasses import FrozenInstanceError
from datetime import UTC, datetime, timedelta

import pytest

from kolejka.domain.agents import AgentCompleted, AgentConnected, CompletedBy
from kolejka.domain.connections import (
    Connection,
    ConnectionQuery,
    DisconnectedBy,
    Disposition,
    completed,
    connected,
    count_bound,
    departed,
    lost,
)
from kolejka.domain.queues import Outcome, WaitingCaller, departure

JOINED = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
CALLER = WaitingCaller("1795800000.7", 2, "601100200", "", JOINED)


def left(outcome: Outcome, seconds: int, hold: int | None = None) -> Connection:
    gone = departure(
        CALLER,
        outcome,
        JOINED + timedelta(seconds=seconds),
        None if hold is None else timedelta(seconds=hold),
    )
    return departed(CALLER, gone, "601100200")


def test_an_abandoned_call_is_no_answer_with_its_wait_and_the_customer_hung_up() -> None:
    row = left(Outcome.ABANDONED, 40, hold=22)
    assert (row.disposition, row.duration, row.billsec) == (Disposition.NO_ANSWER, 22, 0)
    assert row.disconnected_by is DisconnectedBy.CUSTOMER
    assert (row.connection_id, row.queue_id, row.started_at) == ("1795800000.7", 2, JOINED)
    assert (row.src, row.src_key) == ("601100200", "601100200")


def test_an_answered_call_without_its_talk_yet_has_the_wait_as_duration() -> None:
    row = left(Outcome.ANSWERED, 12)
    assert (row.disposition, row.duration, row.billsec) == (Disposition.ANSWERED, 12, 0)
    assert row.disconnected_by is DisconnectedBy.UNKNOWN


def connect(login: str, hold: int | None) -> AgentConnected:
    hold_time = None if hold is None else timedelta(seconds=hold)
    return AgentConnected(login, 2, "1795800000.7", hold_time, timedelta(seconds=3))


def complete(login: str, hold: int | None, talk: int | None, reason: CompletedBy) -> AgentCompleted:
    return AgentCompleted(
        login,
        2,
        "1795800000.7",
        None if hold is None else timedelta(seconds=hold),
        None if talk is None else timedelta(seconds=talk),
        reason,
    )


def test_the_agent_who_picks_up_is_named_and_the_pbx_hold_time_is_the_wait() -> None:
    row = connected(left(Outcome.ANSWERED, 12), connect("jkowalski", 9))
    assert (row.user_login, row.duration, row.billsec) == ("jkowalski", 9, 0)
    assert connected(left(Outcome.ANSWERED, 12), connect("jkowalski", None)).duration == 12


def test_the_end_of_the_talk_gives_billsec_the_talk_and_duration_wait_plus_talk() -> None:
    end = complete("jkowalski", 9, 95, CompletedBy.AGENT)
    row = completed(left(Outcome.ANSWERED, 12), end, JOINED + timedelta(seconds=200))
    assert (row.duration, row.billsec, row.user_login) == (104, 95, "jkowalski")
    assert row.disconnected_by is DisconnectedBy.AGENT
    assert row.started_at == JOINED
    assert completed(row, end, JOINED) == row  # the same event again changes nothing
    by_caller = completed(row, complete("", None, 95, CompletedBy.CALLER), JOINED)
    assert (by_caller.disconnected_by, by_caller.user_login, by_caller.duration) == (
        DisconnectedBy.CUSTOMER,
        "jkowalski",
        104,
    )
    for reason in (CompletedBy.TRANSFER, CompletedBy.UNKNOWN):
        assert completed(row, complete("jkowalski", 9, 95, reason), JOINED).disconnected_by is (
            DisconnectedBy.UNKNOWN
        )


def test_a_call_lost_in_a_gap_is_failed_until_its_talk_ends() -> None:
    gone = departure(CALLER, Outcome.ABANDONED, JOINED + timedelta(seconds=70))
    row = lost(CALLER, gone)
    assert (row.disposition, row.duration, row.disconnected_by) == (
        Disposition.FAILED,
        70,
        DisconnectedBy.UNKNOWN,
    )
    end = complete("anowak", 30, 60, CompletedBy.CALLER)
    assert completed(row, end, JOINED).disposition is Disposition.ANSWERED


def test_a_talk_that_ends_for_a_call_never_seen_dates_it_back_from_the_pbxs_times() -> None:
    end = complete("jkowalski", 20, 100, CompletedBy.AGENT)
    row = completed(None, end, JOINED + timedelta(seconds=120))
    assert (row.started_at, row.duration, row.billsec, row.src) == (JOINED, 120, 100, "")
    assert (row.disposition, row.queue_id) == (Disposition.ANSWERED, 2)


def test_negative_spans_count_as_zero() -> None:
    row = Connection("c", 2, "", JOINED, Disposition.ANSWERED, timedelta(seconds=-5), timedelta(-1))
    assert (row.duration, row.billsec) == (0, 0)


def test_what_matches_nothing_and_how_far_count_counts() -> None:
    assert ConnectionQuery(topic_id=3).matches_nothing
    assert ConnectionQuery(tags=("vip",)).matches_nothing
    assert ConnectionQuery(src_keys=()).matches_nothing
    assert ConnectionQuery(date_from=JOINED, date_to=JOINED - timedelta(seconds=1)).matches_nothing
    assert not ConnectionQuery(src_keys=("+48601100200",), queue_id=2).matches_nothing
    assert count_bound(ConnectionQuery(limit=100, offset=200)) == 10_300


def test_a_departures_row_is_the_same_frozen_row_the_constructor_makes() -> None:
    """departed() fills the row's slots as another class's, then makes it a Connection (for
    speed): it must be one, and equal, hash and refuse changes like a row made by
    Connection(...)."""
    row = left(Outcome.ABANDONED, 40, hold=22)
    made = Connection(
        connection_id="1795800000.7",
        queue_id=2,
        src="601100200",
        started_at=JOINED,
        disposition=Disposition.NO_ANSWER,
        wait=timedelta(seconds=22),
        src_key="601100200",
        disconnected_by=DisconnectedBy.CUSTOMER,
    )
    assert type(row) is Connection
    assert row == made
    assert hash(row) == hash(made)
    assert repr(row) == repr(made)
    with pytest.raises(FrozenInstanceError):
        row.src = "0"  # type: ignore[misc]
