"""ports.WaitingCallerStore, on every live store: SQLite, PostgreSQL and Redis."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from kolejka.domain.queues import Departure, Joined, Outcome, WaitingCaller
from tests.contract.stores import LiveLists

T0 = datetime(2014, 8, 6, 12, 30, 35, 123456, tzinfo=UTC)


def caller(call_id: str, queue_id: int = 2, seconds: float = 0, **fields: str) -> WaitingCaller:
    return WaitingCaller(
        call_id,
        queue_id,
        fields.get("phone_number", "+48 500 600 700"),
        fields.get("caller_name", ""),
        T0 + timedelta(seconds=seconds),
    )


def answered(who: WaitingCaller, hold: float, left_after: float) -> Departure:
    return Departure(
        who.call_id,
        who.queue_id,
        Outcome.ANSWERED,
        timedelta(seconds=hold),
        who.started_at,
        T0 + timedelta(seconds=left_after),
    )


async def test_a_joined_caller_is_found_with_every_field_and_the_microsecond(
    live: LiveLists,
) -> None:
    await live.add_queue(2)
    joined = caller("1407321035.17", phone_number="+48 (61) 345-98-51", caller_name="Zażółć gęślą")
    assert (await live.callers.join(joined)).caller == joined
    assert await live.callers.find("1407321035.17") == joined


async def test_an_unknown_call_is_not_found(live: LiveLists) -> None:
    assert await live.callers.find("nope") is None


async def test_joining_again_changes_nothing_and_returns_the_stored_caller(
    live: LiveLists,
) -> None:
    await live.add_queue(2)
    await live.add_queue(3)
    first = caller("c1")
    await live.callers.join(first)
    again = await live.callers.join(caller("c1", queue_id=3, seconds=9, phone_number="1"))
    assert again.caller == first
    assert [c for _, c in await live.callers.waiting(2)] == [first]
    assert await live.callers.waiting(3) == []


async def test_a_first_join_says_created_and_the_same_call_again_says_not(
    live: LiveLists,
) -> None:
    await live.add_queue(2)
    first = caller("c1")
    assert await live.callers.join(first) == Joined(first, created=True)
    assert await live.callers.join(caller("c1", seconds=9)) == Joined(first, created=False)
    assert await live.callers.join(first) == Joined(first, created=False)


async def test_of_two_joins_of_one_call_at_once_exactly_one_says_created(
    live: LiveLists,
) -> None:
    await live.add_queue(2)
    both = await asyncio.gather(*(live.callers.join(caller("c1", seconds=s)) for s in (1, 2)))
    assert sorted(joined.created for joined in both) == [False, True]
    assert both[0].caller == both[1].caller


async def test_a_queue_lists_its_callers_only_with_join_numbers_rising(live: LiveLists) -> None:
    await live.add_queue(2)
    await live.add_queue(3)
    for index, queue_id in enumerate([2, 3, 2, 2]):
        await live.callers.join(caller(f"c{index}", queue_id=queue_id, seconds=index))
    listed = sorted(await live.callers.waiting(2), key=lambda pair: pair[0])
    assert [c.call_id for _, c in listed] == ["c0", "c2", "c3"]
    numbers = [number for number, _ in listed]
    assert numbers == sorted(set(numbers))


async def test_callers_joining_at_once_get_distinct_join_numbers(live: LiveLists) -> None:
    await live.add_queue(2)
    await asyncio.gather(*(live.callers.join(caller(f"c{i}")) for i in range(20)))
    numbers = [number for number, _ in await live.callers.waiting(2)]
    assert len(numbers) == len(set(numbers)) == 20


async def test_leaving_removes_the_caller_once(live: LiveLists) -> None:
    await live.add_queue(2)
    who = caller("c1")
    await live.callers.join(who)
    assert await live.callers.leave(answered(who, 30, 40)) is True
    assert await live.callers.leave(answered(who, 30, 40)) is False
    assert await live.callers.find("c1") is None
    assert await live.callers.waiting(2) == []


async def test_leaving_a_call_that_never_waited_changes_nothing(live: LiveLists) -> None:
    await live.add_queue(2)
    ghost = caller("ghost")
    assert await live.callers.leave(answered(ghost, 30, 40)) is False
    assert await live.callers.waiting(2) == []


async def test_a_caller_may_join_again_after_leaving(live: LiveLists) -> None:
    await live.add_queue(2)
    who = caller("c1")
    await live.callers.join(who)
    await live.callers.leave(answered(who, 1, 2))
    back = caller("c1", seconds=10)
    assert await live.callers.join(back) == Joined(back, created=True)
    assert [c for _, c in await live.callers.waiting(2)] == [back]
