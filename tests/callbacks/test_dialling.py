"""The dialler's rules over a real SQLite store and a frozen clock, with dialers that satisfy the
port: a claim that is never reported lapses and is retried, two diallers never dial one attempt,
and an attempt's end is published as a domain event (call history's seam)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from datetime import timedelta

import pytest

from kolejka.bootstrap import Components
from kolejka.domain.callbacks import Callback, CallbackAttempted, CallbackState, DialOutcome
from kolejka.domain.errors import StoreUnavailable
from kolejka.domain.queues import Queue
from kolejka.services.callbacks import CallbackDialling
from kolejka.services.ports import FinishedAttempt
from tests.callbacks.support import round_of
from tests.support import FrozenClock

CLAIM = timedelta(seconds=90)


class RecordingDialer:
    """Answers every attempt with `outcome`; `hang` keeps attempts from ever ending."""

    def __init__(self, outcome: DialOutcome = DialOutcome.ANSWERED, hang: bool = False) -> None:
        self.outcome = outcome
        self.hang = hang
        self.dialled: list[tuple[int, int]] = []  # (callback id, attempt number)
        self.ready = True

    async def dial(self, callback: Callback) -> DialOutcome:
        self.dialled.append((callback.callback_id, len(callback.attempts)))
        if self.hang:
            await asyncio.Event().wait()
        return self.outcome


async def test_a_claim_never_reported_lapses_and_the_callback_is_retried(
    components: Components, clock: FrozenClock
) -> None:
    await components.queues.put(Queue(2, "Q"))
    callback = await components.callbacks.schedule(2, "500333222", None)
    dead = CallbackDialling(components.callbacks, RecordingDialer(hang=True), claim_for=CLAIM)
    assert await dead.tick() == 1
    alive_dialer = RecordingDialer()
    alive = CallbackDialling(components.callbacks, alive_dialer, claim_for=CLAIM)
    assert await alive.tick() == 0  # claimed by the other, whose claim holds
    clock.advance(91)
    await alive.tick()  # the lapsed attempt ends as lost; the retry waits for its interval
    after = await components.callbacks.store.get(callback.callback_id)
    assert after is not None
    assert after.state is CallbackState.PENDING
    assert [a.outcome for a in after.attempts] == [DialOutcome.LOST]
    clock.advance(components.settings.callback_retry_seconds)
    await alive.tick()
    await alive.drain()
    done = await components.callbacks.store.get(callback.callback_id)
    assert done is not None
    assert [a.outcome for a in done.attempts] == [DialOutcome.LOST, DialOutcome.ANSWERED]
    assert alive_dialer.dialled == [(callback.callback_id, 2)]
    for task in dead.under_way:
        task.cancel()
    await asyncio.gather(*dead.under_way, return_exceptions=True)


async def test_two_diallers_on_one_store_never_dial_one_attempt_twice(
    components: Components,
) -> None:
    await components.queues.put(Queue(2, "Q"))
    for n in range(200):
        await components.callbacks.schedule(2, f"5003{n:05d}", None)
    dialers = [RecordingDialer(), RecordingDialer()]
    diallers = [
        CallbackDialling(components.callbacks, d, claim_for=CLAIM, max_calls=7) for d in dialers
    ]
    for _ in range(40):
        await asyncio.gather(*(d.tick() for d in diallers))
        await asyncio.gather(*(d.drain() for d in diallers))
    dialled = dialers[0].dialled + dialers[1].dialled
    assert len(dialled) == 200
    assert len(set(dialled)) == 200


async def test_the_end_of_each_attempt_is_published_as_a_domain_event(
    components: Components,
) -> None:
    await components.queues.put(Queue(2, "Q"))
    seen: list[CallbackAttempted] = []

    async def record(event: CallbackAttempted) -> None:
        seen.append(event)

    components.callbacks.attempt_listeners.append(record)
    callback = await components.callbacks.schedule(2, "500333222", None)
    dialling = CallbackDialling(
        components.callbacks, RecordingDialer(DialOutcome.BUSY), claim_for=CLAIM
    )
    await dialling.tick()
    await dialling.drain()
    (event,) = seen
    assert event.callback.callback_id == callback.callback_id
    assert (event.attempt.number, event.attempt.outcome) == (1, DialOutcome.BUSY)
    assert event.callback.state is CallbackState.PENDING


async def test_an_outcome_the_store_cannot_take_is_left_to_the_claim_and_retried(
    components: Components, clock: FrozenClock, caplog: pytest.LogCaptureFixture
) -> None:
    await components.queues.put(Queue(2, "Q"))
    callback = await components.callbacks.schedule(2, "500333222", None)
    store = components.callbacks.store
    real_finish_many = store.finish_many

    async def store_down(finished: Sequence[FinishedAttempt]) -> list[bool]:
        raise StoreUnavailable

    store.finish_many = store_down  # type: ignore[method-assign]
    dialling = CallbackDialling(components.callbacks, RecordingDialer(), claim_for=CLAIM)
    await dialling.tick()
    await dialling.drain()
    assert "could not be recorded" in caplog.text
    store.finish_many = real_finish_many  # type: ignore[method-assign]
    clock.advance(91)
    await dialling.tick()
    found = await store.get(callback.callback_id)
    assert found is not None
    assert [a.outcome for a in found.attempts] == [DialOutcome.LOST]
    assert found.state is CallbackState.PENDING


async def test_the_outcomes_that_come_in_together_are_recorded_in_one_store_transaction(
    components: Components,
) -> None:
    await components.queues.put(Queue(2, "Q"))
    for n in range(10):
        await components.callbacks.schedule(2, f"5003{n:05d}", None)
    store = components.callbacks.store
    real_finish_many = store.finish_many
    batches: list[int] = []

    async def counting(finished: Sequence[FinishedAttempt]) -> list[bool]:
        batches.append(len(finished))
        return await real_finish_many(finished)

    store.finish_many = counting  # type: ignore[method-assign]
    dialling = CallbackDialling(components.callbacks, RecordingDialer(), claim_for=CLAIM)
    assert await dialling.tick() == 10
    await dialling.drain()
    assert batches == [10]
    answered = await store.in_queue(2, 20)
    assert [c.state for c in answered] == [CallbackState.ANSWERED] * 10


async def test_of_outcomes_recorded_together_only_the_one_whose_claim_ended_is_refused(
    components: Components,
) -> None:
    await components.queues.put(Queue(2, "Q"))
    for number in ("500333221", "500333222"):
        await components.callbacks.schedule(2, number, None)
    first, second = await components.callbacks.claim(2, CLAIM)
    assert first.claim is not None
    await components.callbacks.report(first.callback_id, first.claim, DialOutcome.ANSWERED)
    stale, after = await components.callbacks.report_many(
        [(first, DialOutcome.BUSY), (second, DialOutcome.BUSY)]
    )
    assert stale is None
    assert after is not None
    assert (after.state, after.outcome) == (CallbackState.PENDING, DialOutcome.BUSY)
    kept = await components.callbacks.store.get(first.callback_id)
    assert kept is not None
    assert [a.outcome for a in kept.attempts] == [DialOutcome.ANSWERED]


class GatedDialer:
    """Each attempt ends, answered, when the test opens the gate."""

    ready = True

    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.dialled: list[int] = []

    async def dial(self, callback: Callback) -> DialOutcome:
        self.dialled.append(callback.callback_id)
        await self.gate.wait()
        return DialOutcome.ANSWERED


async def turns_until(done: Callable[[], bool], turns: int = 500) -> bool:
    """Lets the event loop run until `done()`, for at most `turns` turns (no clock involved)."""
    for _ in range(turns):
        if done():
            return True
        await asyncio.sleep(0)
    return done()


async def test_a_callback_due_while_an_attempt_rings_waits_for_the_poll_when_there_was_room(
    components: Components, clock: FrozenClock
) -> None:
    await components.queues.put(Queue(2, "Q"))
    first = await components.callbacks.schedule(2, "500333222", None)
    second = await components.callbacks.schedule(
        2, "500333223", clock.now() + timedelta(seconds=10)
    )
    dialer = GatedDialer()
    dialling = CallbackDialling(
        components.callbacks, dialer, claim_for=CLAIM, max_calls=5, poll_seconds=3600
    )
    running = asyncio.ensure_future(dialling.run())
    try:
        assert await turns_until(lambda: dialer.dialled == [first.callback_id])
        clock.advance(11)  # the second is due now, while the first still rings
        dialer.gate.set()
        assert await turns_until(lambda: not dialling.under_way)
        await turns_until(lambda: len(dialer.dialled) > 1)
        # Its round is the poll's (an hour here), not one started by the first one's end.
        assert dialer.dialled == [first.callback_id]
        await round_of(dialling)
        assert dialer.dialled == [first.callback_id, second.callback_id]
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)


async def test_when_the_round_ran_out_of_room_an_attempts_end_starts_the_next_at_once(
    components: Components,
) -> None:
    await components.queues.put(Queue(2, "Q"))
    first = await components.callbacks.schedule(2, "500333222", None)
    second = await components.callbacks.schedule(2, "500333223", None)
    dialer = GatedDialer()
    dialling = CallbackDialling(
        components.callbacks, dialer, claim_for=CLAIM, max_calls=1, poll_seconds=3600
    )
    running = asyncio.ensure_future(dialling.run())
    try:
        assert await turns_until(lambda: dialer.dialled == [first.callback_id])
        dialer.gate.set()
        assert await turns_until(lambda: len(dialer.dialled) == 2)
        assert dialer.dialled == [first.callback_id, second.callback_id]
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
