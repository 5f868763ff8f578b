"""The callback rules on their own: due times, the horizon, dedupe, retries, Asterisk's reasons."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from kolejka.domain.callbacks import (
    Callback,
    CallbackPolicy,
    CallbackState,
    DialOutcome,
    QueueNow,
    agent_wait_window,
    attempt_record,
    claimed,
    earlier,
    outcome_of_reason,
    parse_wire_time,
)
from kolejka.domain.connections import Direction, Disposition
from kolejka.domain.errors import FieldProblem, InvalidField
from kolejka.domain.webhooks import Action, callback_attempted

NOW = datetime(2026, 11, 6, 13, 42, 11, tzinfo=UTC)
WARSAW = ZoneInfo("Europe/Warsaw")
POLICY = CallbackPolicy(attempts=3, retry_after=timedelta(minutes=5), horizon=timedelta(days=30))


def callback(**changes: object) -> Callback:
    values: dict[str, object] = {
        "callback_id": 1,
        "queue_id": 2,
        "phone_number": "+48500333222",
        "call_at": NOW,
        "created_at": NOW,
    }
    values.update(changes)
    return Callback(**values)  # type: ignore[arg-type]


def test_call_at_is_read_in_the_configured_zone() -> None:
    assert parse_wire_time("2020-11-06 14:42:11", WARSAW, "call_at") == datetime(
        2020, 11, 6, 13, 42, 11, tzinfo=UTC
    )
    summer = parse_wire_time("2026-07-01 12:00:00", WARSAW, "call_at")
    assert summer == datetime(2026, 7, 1, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "text",
    [
        "2020-11-06T14:42:11",
        "2020-11-06 14:42",
        "2020-11-06 14:42:11.5",
        " 2020-11-06 14:42:11",
        "2020-02-30 10:00:00",
        "2020-11-06 24:00:00",
        "0001-01-01 00:00:00",
        "２０２０-11-06 14:42:11",
        "2020-11-06 14:42:11+01:00",
        "",
        20201106,
        None,
    ],
)
def test_anything_but_thuliums_date_shape_is_refused(text: object) -> None:
    with pytest.raises(InvalidField) as refused:
        parse_wire_time(text, WARSAW, "call_at")
    assert refused.value.field == "call_at"
    assert refused.value.problem is FieldProblem.NOT_A_WIRE_DATE


def test_no_time_means_now_and_a_past_time_is_due_at_once_keeping_its_place() -> None:
    assert POLICY.due_at(None, NOW) == NOW
    assert POLICY.due_at(NOW - timedelta(minutes=7), NOW) == NOW - timedelta(minutes=7)
    assert POLICY.due_at(NOW - timedelta(days=30), NOW) == NOW
    assert POLICY.due_at(NOW - timedelta(days=400), NOW) == NOW
    assert POLICY.due_at(NOW + timedelta(hours=1), NOW) == NOW + timedelta(hours=1)


def test_a_wait_for_agent_queue_dials_one_per_free_agent_ahead_of_later_callers() -> None:
    joined = NOW - timedelta(minutes=3)
    assert agent_wait_window(QueueNow(2, None), 0, NOW) == (2, NOW)
    assert agent_wait_window(QueueNow(2, joined), 1, NOW) == (1, joined)
    assert agent_wait_window(QueueNow(1, joined), 3, NOW) == (0, joined)
    assert agent_wait_window(QueueNow(0, None), 0, NOW) == (0, NOW)


def test_a_time_beyond_the_horizon_is_refused_and_the_horizon_itself_is_not() -> None:
    assert POLICY.due_at(NOW + timedelta(days=30), NOW) == NOW + timedelta(days=30)
    with pytest.raises(InvalidField) as refused:
        POLICY.due_at(NOW + timedelta(days=30, seconds=1), NOW)
    assert refused.value.problem is FieldProblem.TOO_FAR_AHEAD
    assert refused.value.text() == "is more than 30 days ahead."


def test_a_second_request_keeps_the_earlier_time() -> None:
    pending = callback(call_at=NOW + timedelta(hours=2))
    assert earlier(pending, NOW + timedelta(hours=1)) == NOW + timedelta(hours=1)
    assert earlier(pending, NOW + timedelta(hours=3)) == NOW + timedelta(hours=2)


@pytest.mark.parametrize(
    ("reason", "outcome"),
    [
        ("4", DialOutcome.ANSWERED),
        ("5", DialOutcome.BUSY),
        ("3", DialOutcome.NO_ANSWER),
        ("8", DialOutcome.CONGESTION),
        ("1", DialOutcome.REJECTED),
        ("0", DialOutcome.FAILED),
        ("2", DialOutcome.FAILED),
        ("", DialOutcome.FAILED),
        ("four", DialOutcome.FAILED),
    ],
)
def test_originate_response_reasons_map_to_outcomes(reason: str, outcome: DialOutcome) -> None:
    assert outcome_of_reason(reason) is outcome


def test_an_answered_attempt_finishes_the_callback() -> None:
    dialling = claimed(callback(), "c1", NOW, NOW + timedelta(minutes=2))
    assert dialling.state is CallbackState.DIALLING
    assert dialling.attempts[0].number == 1
    done = POLICY.after(dialling, DialOutcome.ANSWERED, NOW + timedelta(seconds=20))
    assert done.state is CallbackState.ANSWERED
    assert done.outcome is DialOutcome.ANSWERED
    assert done.attempts[0].finished_at == NOW + timedelta(seconds=20)
    assert done.claim is None


@pytest.mark.parametrize(
    "outcome",
    [DialOutcome.BUSY, DialOutcome.NO_ANSWER, DialOutcome.CONGESTION, DialOutcome.LOST],
)
def test_busy_no_answer_and_congestion_retry_after_the_interval_up_to_the_attempts(
    outcome: DialOutcome,
) -> None:
    current = callback()
    now = NOW
    for number in (1, 2):
        current = POLICY.after(claimed(current, f"c{number}", now, now), outcome, now)
        assert current.state is CallbackState.PENDING
        assert current.call_at == now + timedelta(minutes=5)
        now = current.call_at
    current = POLICY.after(claimed(current, "c3", now, now), outcome, now)
    assert current.state is CallbackState.FAILED
    assert [a.outcome for a in current.attempts] == [outcome] * 3


def test_a_channel_that_cannot_be_made_fails_at_once() -> None:
    done = POLICY.after(claimed(callback(), "c1", NOW, NOW), DialOutcome.FAILED, NOW)
    assert done.state is CallbackState.FAILED
    assert len(done.attempts) == 1


def test_finished_states() -> None:
    assert {s for s in CallbackState if s.finished} == {
        CallbackState.ANSWERED,
        CallbackState.FAILED,
        CallbackState.CANCELLED,
    }


@pytest.mark.parametrize(
    ("outcome", "disposition"),
    [
        (DialOutcome.ANSWERED, Disposition.ANSWERED),
        (DialOutcome.BUSY, Disposition.BUSY),
        (DialOutcome.NO_ANSWER, Disposition.NO_ANSWER),
        (DialOutcome.REJECTED, Disposition.NO_ANSWER),
        (DialOutcome.CONGESTION, Disposition.FAILED),
        (DialOutcome.FAILED, Disposition.FAILED),
        (DialOutcome.LOST, Disposition.FAILED),
    ],
)
def test_each_attempt_is_an_outbound_row_with_thuliums_disposition(
    outcome: DialOutcome, disposition: Disposition
) -> None:
    dialling = claimed(callback(callback_id=7), "c1", NOW, NOW + timedelta(minutes=2))
    after = POLICY.after(dialling, outcome, NOW + timedelta(seconds=21, microseconds=5))
    row = attempt_record(after, after.attempts[-1])
    assert row.connection_id == "callback-7-1"
    assert (row.queue_id, row.started_at, row.direction) == (2, NOW, Direction.OUTBOUND)
    assert (row.src, row.src_key, row.dst, row.user_login) == ("", "", "+48500333222", "")
    assert row.disposition is disposition
    assert (row.duration, row.billsec) == (21, 0)  # the ring time; the talk is the queue call's


def test_an_attempt_under_way_has_no_row_yet() -> None:
    dialling = claimed(callback(), "c1", NOW, NOW + timedelta(minutes=2))
    with pytest.raises(ValueError, match="not ended"):
        attempt_record(dialling, dialling.attempts[-1])


def test_a_second_attempt_has_a_row_of_its_own() -> None:
    first = POLICY.after(claimed(callback(), "a", NOW, NOW), DialOutcome.BUSY, NOW)
    second = claimed(first, "b", first.call_at, first.call_at)
    done = POLICY.after(second, DialOutcome.ANSWERED, first.call_at + timedelta(seconds=3))
    rows = [attempt_record(done, attempt) for attempt in done.attempts]
    assert [r.connection_id for r in rows] == ["callback-1-1", "callback-1-2"]
    assert [r.disposition for r in rows] == [Disposition.BUSY, Disposition.ANSWERED]


def test_callback_attempted_names_the_next_attempt_only_when_there_is_one() -> None:
    busy = POLICY.after(claimed(callback(), "a", NOW, NOW), DialOutcome.BUSY, NOW)
    event = callback_attempted(busy, busy.attempts[-1], "500 333 222")
    assert event.action is Action.CALLBACK_ATTEMPTED
    assert event.occurred_at == NOW
    assert dict(event.fields) == {
        "callback_id": 1,
        "queue_id": 2,
        "phone_number": "500 333 222",
        "attempt": 1,
        "outcome": "busy",
        "started_at": NOW,
        "finished_at": NOW,
        "state": "pending",
        "next_attempt_at": NOW + timedelta(minutes=5),
        "connection_id": "callback-1-1",
    }
    failed = POLICY.after(claimed(callback(), "a", NOW, NOW), DialOutcome.FAILED, NOW)
    last = callback_attempted(failed, failed.attempts[-1], "500 333 222")
    assert (last.fields["state"], last.fields["next_attempt_at"]) == ("failed", None)
