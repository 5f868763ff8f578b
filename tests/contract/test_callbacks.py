"""The callback store's contract on SQLite and PostgreSQL: dedupe, claims that exactly one
process gets, claims that lapse and are taken over, and a finish only the claim holder can do."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from kolejka.domain.callbacks import (
    CallbackPolicy,
    CallbackState,
    DialOutcome,
    NewCallback,
    attempt_record,
)
from kolejka.domain.connections import ConnectionQuery, Direction, Disposition
from kolejka.domain.webhooks import Action, callback_attempted
from kolejka.services.ports import CallbackStore, FinishedAttempt
from tests.contract.stores import CallbackRecords

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)
POLICY = CallbackPolicy(attempts=2, retry_after=timedelta(minutes=5))


def new(number: str = "+48500333222", at: datetime = T0, queue_id: int = 2) -> NewCallback:
    return NewCallback(queue_id, number, at, T0 - MINUTE)


async def test_a_scheduled_callback_reads_back_pending_with_no_attempts(
    callback_stores: list[CallbackStore],
) -> None:
    store = callback_stores[0]
    stored = await store.schedule(new())
    assert stored.state is CallbackState.PENDING
    assert (stored.queue_id, stored.phone_number, stored.call_at) == (2, "+48500333222", T0)
    assert stored.attempts == ()
    assert await callback_stores[1].get(stored.callback_id) == stored
    assert await store.in_queue(2, 10) == [stored]
    assert await store.in_queue(3, 10) == []


async def test_a_second_request_for_an_open_callback_makes_none_and_keeps_the_earlier_time(
    callback_stores: list[CallbackStore],
) -> None:
    store = callback_stores[0]
    first = await store.schedule(new(at=T0 + 10 * MINUTE))
    later = await store.schedule(new(at=T0 + 20 * MINUTE))
    assert later.callback_id == first.callback_id
    assert later.call_at == T0 + 10 * MINUTE
    sooner = await store.schedule(new(at=T0 + 5 * MINUTE))
    assert (sooner.callback_id, sooner.call_at) == (first.callback_id, T0 + 5 * MINUTE)
    other_queue = await store.schedule(new(queue_id=3))
    assert other_queue.callback_id != first.callback_id
    assert len(await store.in_queue(2, 10)) == 1


async def test_simultaneous_requests_from_two_processes_make_one_callback(
    callback_stores: list[CallbackStore],
) -> None:
    results = await asyncio.gather(
        *(callback_stores[i % 2].schedule(new(at=T0 + i * MINUTE)) for i in range(10))
    )
    assert len({r.callback_id for r in results}) == 1
    assert len(await callback_stores[0].in_queue(2, 100)) == 1
    found = await callback_stores[0].get(results[0].callback_id)
    assert found is not None
    assert found.call_at == T0


async def test_only_due_pending_callbacks_are_claimed_earliest_first(
    callback_stores: list[CallbackStore],
) -> None:
    store = callback_stores[0]
    late = await store.schedule(new("+48500000002", T0 + MINUTE))
    early = await store.schedule(new("+48500000001", T0 - MINUTE))
    await store.schedule(new("+48500000003", T0 + 2 * MINUTE))
    claimed = await store.claim_due(T0 + MINUTE, "c1", T0, T0 + MINUTE, 10)
    assert [c.callback_id for c in claimed] == [early.callback_id, late.callback_id]
    assert all(c.state is CallbackState.DIALLING and c.claim == "c1" for c in claimed)
    assert claimed[0].attempts[0].started_at == T0
    assert claimed[0].attempts[0].outcome is None
    assert await store.claim_due(T0 + MINUTE, "c2", T0, T0 + MINUTE, 10) == []


async def test_two_processes_claiming_at_once_never_get_the_same_callback(
    callback_stores: list[CallbackStore],
) -> None:
    for n in range(60):
        await callback_stores[0].schedule(new(f"+4850000{n:04d}"))

    async def claim_all(store: CallbackStore, name: str) -> list[int]:
        got: list[int] = []
        while batch := await store.claim_due(T0, f"{name}-{len(got)}", T0, T0 + MINUTE, 7):
            got.extend(c.callback_id for c in batch)
        return got

    first, second = await asyncio.gather(
        claim_all(callback_stores[0], "a"), claim_all(callback_stores[1], "b")
    )
    assert not set(first) & set(second)
    assert len(first) + len(second) == 60


async def test_the_queue_filters_of_a_claim(callback_stores: list[CallbackStore]) -> None:
    store = callback_stores[0]
    in_2 = await store.schedule(new("+48500000001", queue_id=2))
    in_3 = await store.schedule(new("+48500000002", queue_id=3))
    assert await store.claim_due(T0, "x", T0, T0, 10, skip_queues=[2, 3]) == []
    only_3 = await store.claim_due(T0, "y", T0, T0, 10, only_queue=3)
    assert [c.callback_id for c in only_3] == [in_3.callback_id]
    rest = await store.claim_due(T0, "z", T0, T0, 10, skip_queues=[3])
    assert [c.callback_id for c in rest] == [in_2.callback_id]


async def test_only_the_claim_holder_finishes_and_a_retry_is_pending_again(
    callback_stores: list[CallbackStore],
) -> None:
    store = callback_stores[0]
    await store.schedule(new())
    (dialling,) = await store.claim_due(T0, "mine", T0, T0 + MINUTE, 1)
    busy = POLICY.after(dialling, DialOutcome.BUSY, T0 + 10 * timedelta(seconds=1))
    assert not await callback_stores[1].finish(busy, "someone-else")
    assert await callback_stores[1].finish(busy, "mine")
    assert not await store.finish(busy, "mine")  # once
    again = await store.get(dialling.callback_id)
    assert again is not None
    assert again.state is CallbackState.PENDING
    assert again.call_at == busy.call_at
    assert [a.outcome for a in again.attempts] == [DialOutcome.BUSY]
    assert again.claim is None
    (second,) = await store.claim_due(again.call_at, "next", again.call_at, again.call_at, 1)
    assert [a.number for a in second.attempts] == [1, 2]
    answered = POLICY.after(second, DialOutcome.ANSWERED, again.call_at)
    assert await store.finish(answered, "next")
    final = await store.get(dialling.callback_id)
    assert final is not None
    assert final.state is CallbackState.ANSWERED
    assert [a.outcome for a in final.attempts] == [DialOutcome.BUSY, DialOutcome.ANSWERED]
    # Finished: the number may be scheduled afresh.
    fresh = await store.schedule(new())
    assert fresh.callback_id != dialling.callback_id


async def test_a_lapsed_claim_is_taken_over_once_and_the_old_claim_can_no_longer_finish(
    callback_stores: list[CallbackStore],
) -> None:
    await callback_stores[0].schedule(new())
    (dialling,) = await callback_stores[0].claim_due(T0, "dead", T0, T0 + MINUTE, 1)
    assert await callback_stores[1].claim_expired(T0 + MINUTE, "new", T0 + 3 * MINUTE, 10) == []
    later = T0 + 2 * MINUTE
    taken = await asyncio.gather(
        callback_stores[0].claim_expired(later, "a", later + MINUTE, 10),
        callback_stores[1].claim_expired(later, "b", later + MINUTE, 10),
    )
    flat = [c for batch in taken for c in batch]
    assert len(flat) == 1
    (took,) = flat
    assert took.attempts == dialling.attempts
    lost = POLICY.after(took, DialOutcome.LOST, later)
    assert not await callback_stores[0].finish(lost, "dead")
    assert await callback_stores[0].finish(lost, str(took.claim))


async def test_only_a_pending_callback_is_cancelled(callback_stores: list[CallbackStore]) -> None:
    store = callback_stores[0]
    pending = await store.schedule(new("+48500000001"))
    cancelled = await store.cancel(pending.callback_id)
    assert cancelled is not None
    assert cancelled.state is CallbackState.CANCELLED
    assert await store.claim_due(T0, "c", T0, T0, 10) == []
    await store.schedule(new("+48500000002"))
    (dialling,) = await store.claim_due(T0, "c", T0, T0, 10)
    unchanged = await store.cancel(dialling.callback_id)
    assert unchanged is not None
    assert unchanged.state is CallbackState.DIALLING
    assert await store.cancel(999_999) is None
    # A cancelled one no longer counts as open: the number may be scheduled again.
    again = await store.schedule(new("+48500000001"))
    assert again.callback_id != pending.callback_id


async def test_an_attempts_history_row_and_events_are_written_with_its_outcome_and_only_then(
    callback_records: CallbackRecords,
) -> None:
    store, history, outbox = (
        callback_records.callbacks,
        callback_records.connections,
        callback_records.outbox,
    )
    await store.schedule(new())
    (dialling,) = await store.claim_due(T0, "mine", T0, T0 + MINUTE, 1)
    busy = POLICY.after(dialling, DialOutcome.BUSY, T0 + timedelta(seconds=25))
    ended = busy.attempts[-1]
    row = attempt_record(busy, ended)
    event = callback_attempted(busy, ended, "500 333 222")
    # A stale claim writes nothing: no row, no event.
    assert not await store.finish(busy, "someone-else", row, [event])
    assert await history.get(row.connection_id) is None
    assert await outbox.following(0, [Action.CALLBACK_ATTEMPTED.value], 10) == []
    assert await store.finish(busy, "mine", row, [event])
    assert await history.get("callback-1-1") == row
    assert row.direction is Direction.OUTBOUND
    assert (row.dst, row.src_key, row.disposition) == ("+48500333222", "", Disposition.BUSY)
    (stored,) = await outbox.following(0, [Action.CALLBACK_ATTEMPTED.value], 10)
    assert stored.fields["outcome"] == "busy"
    # The same outcome reported again is refused, and adds neither a row nor an event.
    assert not await store.finish(busy, "mine", row, [event])
    page = await history.page(ConnectionQuery(dst_keys=("+48500333222",)))
    assert [r.connection_id for r in page.rows] == ["callback-1-1"]
    assert len(await outbox.following(0, [Action.CALLBACK_ATTEMPTED.value], 10)) == 1


async def test_an_answered_attempts_row_has_the_ring_time_as_duration_and_no_billsec(
    callback_records: CallbackRecords,
) -> None:
    store, history = callback_records.callbacks, callback_records.connections
    await store.schedule(new())
    (dialling,) = await store.claim_due(T0, "mine", T0, T0 + MINUTE, 1)
    answered = POLICY.after(dialling, DialOutcome.ANSWERED, T0 + timedelta(seconds=8))
    row = attempt_record(answered, answered.attempts[-1])
    assert await store.finish(answered, "mine", row)
    found = await history.get(row.connection_id)
    assert found is not None
    assert (found.disposition, found.duration, found.billsec) == (Disposition.ANSWERED, 8, 0)


async def test_due_next_lists_a_queues_open_callbacks_earliest_first(
    callback_stores: list[CallbackStore],
) -> None:
    store = callback_stores[0]
    late = await store.schedule(new("+48500000001", T0 + 10 * MINUTE))
    early = await store.schedule(new("+48500000002", T0 - MINUTE))
    soon = await store.schedule(new("+48500000003", T0 + MINUTE))
    await store.schedule(new("+48500000004", T0, queue_id=3))
    cancelled = await store.schedule(new("+48500000005", T0))
    await store.cancel(cancelled.callback_id)
    (dialling,) = await store.claim_due(T0 - MINUTE, "c", T0, T0 + MINUTE, 1)
    assert dialling.callback_id == early.callback_id
    listed = await callback_stores[1].due_next(2, 10)
    assert [c.callback_id for c in listed] == [
        early.callback_id,
        soon.callback_id,
        late.callback_id,
    ]
    assert listed[0].state is CallbackState.DIALLING
    assert [c.callback_id for c in await store.due_next(2, 2)] == [
        early.callback_id,
        soon.callback_id,
    ]
    assert await store.due_next(4, 10) == []


async def test_finishing_many_at_once_answers_as_finishing_each_would(
    callback_records: CallbackRecords,
) -> None:
    store, history = callback_records.callbacks, callback_records.connections
    for number in ("+48500000001", "+48500000002", "+48500000003"):
        await store.schedule(new(number))
    first, second, third = await store.claim_due(T0, "mine", T0, T0 + MINUTE, 10)
    later = T0 + timedelta(seconds=20)
    busy = POLICY.after(first, DialOutcome.BUSY, later)
    answered = POLICY.after(second, DialOutcome.ANSWERED, later)
    lost = POLICY.after(third, DialOutcome.LOST, later)
    row = attempt_record(busy, busy.attempts[-1])
    batch = [
        FinishedAttempt(busy, "mine", row),
        FinishedAttempt(answered, "mine"),
        FinishedAttempt(lost, "someone-else"),  # a stale claim: this one alone is refused
    ]
    assert await store.finish_many(batch) == [True, True, False]
    states = [await store.get(c.callback_id) for c in (first, second, third)]
    assert [s.state if s else None for s in states] == [
        CallbackState.PENDING,
        CallbackState.ANSWERED,
        CallbackState.DIALLING,
    ]
    assert await history.get(row.connection_id) == row
    assert await store.finish_many(batch) == [False, False, False]  # once
    assert await store.finish_many([]) == []


async def test_one_callback_twice_in_a_batch_lands_once_under_its_claim(
    callback_stores: list[CallbackStore],
) -> None:
    store = callback_stores[0]
    await store.schedule(new())
    (dialling,) = await store.claim_due(T0, "mine", T0, T0 + MINUTE, 1)
    busy = POLICY.after(dialling, DialOutcome.BUSY, T0 + MINUTE)
    answered = POLICY.after(dialling, DialOutcome.ANSWERED, T0 + MINUTE)
    assert await store.finish_many(
        [
            FinishedAttempt(busy, "stale"),
            FinishedAttempt(busy, "mine"),
            FinishedAttempt(answered, "mine"),
        ]
    ) == [False, True, False]
    found = await store.get(dialling.callback_id)
    assert found is not None
    assert [a.outcome for a in found.attempts] == [DialOutcome.BUSY]
