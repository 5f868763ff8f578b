"""The expected wait per queue position: each rule, and a recorded day replayed through it."""

from __future__ import annotations

import statistics
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from kolejka.domain.position_wait import (
    NO_PACE,
    WINDOW,
    AnswerPace,
    PastCall,
    answer_pace,
    band,
    expected_wait,
)
from kolejka.domain.wait_estimate import SAMPLE, approx_wait_time
from kolejka.domain.wait_estimate import WINDOW as STATS_WINDOW
from tests.domain.replayed_day import CLOSES, OPENS, recorded_day

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def s(seconds: float) -> timedelta:
    return timedelta(seconds=seconds)


def answered(joined_ago: float, wait: float) -> PastCall:
    return PastCall(NOW - s(joined_ago), s(wait), answered=True)


def abandoned(joined_ago: float, wait: float) -> PastCall:
    return PastCall(NOW - s(joined_ago), s(wait), answered=False)


# A busy queue: a caller answered every 30 s, each having waited 100 s (so the next one was
# already waiting when the one before was answered).
BUSY = [answered(400 - 30 * n, 100) for n in range(8)]


def test_without_history_there_is_no_estimate() -> None:
    assert answer_pace([], NOW) == NO_PACE
    assert expected_wait(NO_PACE, 1, s(30)) is None


def test_abandoned_calls_alone_give_no_estimate() -> None:
    assert (
        expected_wait(answer_pace([abandoned(300, 60), abandoned(200, 90)], NOW), 1, s(5)) is None
    )


def test_the_interval_is_the_mean_gap_between_answers_while_callers_waited() -> None:
    pace = answer_pace(BUSY, NOW)
    assert pace.interval == s(30)
    assert expected_wait(pace, 1, s(0)) == s(30)
    assert expected_wait(pace, 3, s(0)) == s(90)


def test_gaps_in_which_nobody_waited_are_no_gaps_of_the_agents() -> None:
    # Two busy stretches 20 minutes apart: the quiet gap between them is left out.
    quiet = [answered(2000 - 30 * n, 100) for n in range(4)] + BUSY
    assert answer_pace(quiet, NOW).interval == s(30)


def test_callers_answered_as_they_came_give_their_mean_hold_as_the_interval() -> None:
    # One agent, callers far apart: nobody ever waited behind anybody.
    alone = [answered(3000, 20), answered(2000, 40), answered(1000, 30)]
    pace = answer_pace(alone, NOW)
    assert pace.interval == s(30)
    assert expected_wait(pace, 1, s(10)) == s(40)


def test_one_answered_call_is_enough_for_an_estimate() -> None:
    assert answer_pace([answered(600, 45)], NOW).interval == s(45)


def test_abandoned_calls_never_shorten_the_interval() -> None:
    with_abandons = [*BUSY, *(abandoned(390 - 30 * n, 20) for n in range(8))]
    assert answer_pace(with_abandons, NOW).interval == answer_pace(BUSY, NOW).interval


def test_callers_ahead_who_will_hang_up_shorten_the_wait_behind_them() -> None:
    with_abandons = [*BUSY, *(abandoned(390 - 30 * n, 20) for n in range(8))]
    pace = answer_pace(with_abandons, NOW)
    assert pace.abandoned_share == 0.5
    assert expected_wait(pace, 1, s(0)) == s(30)  # nobody ahead
    assert expected_wait(pace, 3, s(0)) == s(60)  # 1 + 2 x (1 - 0.5) intervals


def test_calls_older_than_the_window_or_not_yet_gone_are_not_read() -> None:
    old = [answered(WINDOW.total_seconds() + 600 - 5 * n, 300) for n in range(5)]
    still_waiting = PastCall(NOW - s(10), s(60), answered=True)  # leaves after NOW
    assert answer_pace([*old, still_waiting, *BUSY], NOW) == answer_pace(BUSY, NOW)


def test_the_wait_so_far_is_a_floor() -> None:
    pace = answer_pace(BUSY, NOW)
    assert expected_wait(pace, 1, s(500)) == s(530)
    assert expected_wait(pace, 1, s(-5)) == s(30)


def test_the_remaining_wait_is_not_above_the_longest_hold_seen_at_that_band() -> None:
    # Answers every 100 s apart while callers waited, yet nobody who joined first waited more
    # than 40 s: the history bounds the remaining wait at position 1.
    pace = AnswerPace(s(100), ((1, s(40)), (2, s(150))))
    assert expected_wait(pace, 1, s(0)) == s(40)
    assert expected_wait(pace, 2, s(0)) == s(150)
    assert expected_wait(pace, 3, s(0)) == s(150)
    assert expected_wait(pace, 4, s(0)) == s(400)  # further back than the history saw


def test_the_bounds_come_from_the_positions_callers_joined_at() -> None:
    # Three callers join together; each answered 30 s after the one before.
    calls = [answered(300, 30), answered(300 - 0.001, 60), answered(300 - 0.002, 90)]
    pace = answer_pace(calls, NOW)
    assert pace.bounds == ((1, s(30)), (2, s(90)))
    assert pace.bound(1) == s(30)
    assert pace.bound(3) == s(90)
    assert pace.bound(4) is None


def test_positions_are_banded_by_doubling() -> None:
    assert [band(p) for p in (1, 2, 3, 4, 7, 8, 15, 16)] == [1, 2, 2, 3, 3, 4, 4, 5]


call_lists = st.lists(
    st.builds(
        PastCall,
        st.integers(0, 3600).map(lambda ago: NOW - s(ago)),
        st.integers(0, 900).map(s),
        st.booleans(),
    ),
    max_size=40,
)


@given(call_lists, st.integers(1, 60), st.integers(0, 60), st.integers(0, 3000))
def test_it_never_falls_as_the_position_grows(
    calls: list[PastCall], position: int, further: int, waited: int
) -> None:
    pace = answer_pace(calls, NOW)
    nearer = expected_wait(pace, position, s(waited))
    back = expected_wait(pace, position + further, s(waited))
    if pace.interval is None:
        assert nearer is None
        assert back is None
    else:
        assert nearer is not None
        assert back is not None
        assert s(waited) <= nearer <= back


@given(call_lists)
def test_the_order_of_the_history_does_not_matter(calls: list[PastCall]) -> None:
    assert answer_pace(calls, NOW) == answer_pace(list(reversed(calls)), NOW)


def replay(
    seed: int, agents: int, mean_talk: float
) -> tuple[list[float], list[float], list[float]]:
    """Every minute of a recorded day: each waiting caller who was answered in the end, the
    error of this estimate and of `approx_wait_time` against the wait they really had."""
    calls = recorded_day(seed, agents, mean_talk)
    ours: list[float] = []
    naive: list[float] = []
    actual: list[float] = []
    now = OPENS + timedelta(hours=1)
    while now < CLOSES:
        # What the store would hold: calls gone by now, joined within the window.
        history = [c for c in calls if c.left_at <= now and c.started_at >= now - WINDOW]
        pace = answer_pace(history, now)
        waiting = sorted(
            (c for c in calls if c.started_at <= now < c.left_at), key=lambda c: c.started_at
        )
        recent = sorted(
            (c for c in calls if c.answered and now - STATS_WINDOW <= c.left_at <= now),
            key=lambda c: c.left_at,
            reverse=True,
        )
        flat = approx_wait_time(
            [c.wait for c in recent][:SAMPLE], [now - c.started_at for c in waiting]
        )
        for position, caller in enumerate(waiting, 1):
            estimate = expected_wait(pace, position, now - caller.started_at)
            if not caller.answered or estimate is None:
                continue  # an abandoning caller's real wait for an answer is unknown
            ours.append(abs((estimate - caller.wait).total_seconds()))
            naive.append(abs((flat - caller.wait).total_seconds()))
            actual.append(caller.wait.total_seconds())
        now += timedelta(minutes=1)
    return ours, naive, actual


def test_a_recorded_day_replayed_is_estimated_within_a_third_of_the_real_waits() -> None:
    for seed, agents, mean_talk in ((14, 5, 240), (1, 3, 150), (2, 8, 400)):
        ours, naive, actual = replay(seed, agents, mean_talk)
        assert len(ours) > 300  # the day had queues worth estimating
        typical = statistics.median(actual)
        assert statistics.median(ours) < 0.30 * typical, (seed, statistics.median(ours), typical)
        # Better than the queue's one figure for everybody, by a wide margin.
        assert statistics.median(ours) < 0.6 * statistics.median(naive)
        assert statistics.mean(ours) < 0.7 * statistics.mean(naive)


def test_two_answers_at_one_instant_do_not_make_the_pace_zero() -> None:
    # Two agents pick up two waiting callers at once: one gap of 0 s is too little to go by.
    together = [answered(200, 100), answered(190, 90)]
    pace = answer_pace(together, NOW)
    assert pace.interval == s(95)
