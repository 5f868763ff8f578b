"""Reconciling our waiting lists with a PBX's snapshot of its queues."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from kolejka.domain.pbx import QueuedCaller, reconcile
from kolejka.domain.queues import WaitingCaller

NOW = datetime(2014, 8, 6, 12, 30, 35, tzinfo=UTC)


def ours(call_id: str, queue_id: int = 7, seconds_ago: int = 60) -> WaitingCaller:
    return WaitingCaller(call_id, queue_id, "613459851", "", NOW - timedelta(seconds=seconds_ago))


def theirs(call_id: str, queue_id: int = 7, wait: int = 5) -> QueuedCaller:
    return QueuedCaller(queue_id, call_id, "4915110000001", "Caller", timedelta(seconds=wait))


def test_a_caller_the_pbx_no_longer_has_leaves() -> None:
    plan = reconcile([ours("a"), ours("b")], [theirs("b")], NOW)
    assert [c.call_id for c in plan.departures] == ["a"]
    assert plan.joins == ()


def test_a_caller_who_joined_while_we_were_away_joins_having_waited_as_the_pbx_says() -> None:
    plan = reconcile([], [theirs("c", wait=12)], NOW)
    assert plan.joins == (
        WaitingCaller("c", 7, "4915110000001", "Caller", NOW - timedelta(seconds=12)),
    )


def test_a_caller_both_have_keeps_the_instant_we_saw_it_join() -> None:
    plan = reconcile([ours("a", seconds_ago=300)], [theirs("a", wait=5)], NOW)
    assert plan.changes_nothing


def test_a_caller_in_another_queue_than_the_pbx_says_moves() -> None:
    plan = reconcile([ours("a", queue_id=7)], [theirs("a", queue_id=8)], NOW)
    assert [(c.call_id, c.queue_id) for c in plan.departures] == [("a", 7)]
    assert [(c.call_id, c.queue_id) for c in plan.joins] == [("a", 8)]


def test_calls_a_live_event_touched_during_the_snapshot_are_left_alone() -> None:
    # "a" left and "b" joined while the PBX was answering; its answer predates both.
    plan = reconcile([ours("b")], [theirs("a")], NOW, touched={"a", "b"})
    assert plan.changes_nothing


def test_a_snapshot_listing_a_call_twice_adds_it_once() -> None:
    plan = reconcile([], [theirs("a", wait=3), theirs("a", wait=9)], NOW)
    assert [c.started_at for c in plan.joins] == [NOW - timedelta(seconds=3)]


def test_a_negative_wait_is_no_wait() -> None:
    plan = reconcile([], [theirs("a", wait=-5)], NOW)
    assert plan.joins[0].started_at == NOW


def test_an_empty_pbx_empties_our_queues() -> None:
    plan = reconcile([ours("a"), ours("b", queue_id=2)], [], NOW)
    assert {c.call_id for c in plan.departures} == {"a", "b"}
