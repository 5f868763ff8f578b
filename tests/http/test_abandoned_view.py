"""The abandoned list as the HTTP adapter keeps it: computed again on a change, at most once a
refresh interval, and never holding up reads while a long list is computed."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from zoneinfo import ZoneInfo

import pytest

from kolejka.adapters.http.abandoned import AbandonedView
from kolejka.bootstrap import Components
from kolejka.domain.queues import Outcome
from kolejka.services.abandoned import AbandonedCallers, AbandonedEntry
from tests.support import FrozenClock

pytestmark = pytest.mark.usefixtures("queue_2")
ZONE = ZoneInfo("Europe/Warsaw")


class Gated(AbandonedCallers):
    """The real use case, whose computations wait at a gate the test opens."""

    def __init__(self, real: AbandonedCallers) -> None:
        self.__dict__.update(real.__dict__)
        self.gate = asyncio.Event()
        self.gate.set()
        self.computed = 0

    async def in_queue(self, queue_id: int) -> Sequence[AbandonedEntry]:
        await self.gate.wait()
        self.computed += 1
        return await super().in_queue(queue_id)


async def abandon(components: Components, clock: FrozenClock, call_id: str, number: str) -> None:
    await components.lists.join(2, call_id, number)
    clock.advance(30)
    await components.lists.leave(call_id, Outcome.ABANDONED)


async def test_reads_during_a_computation_get_the_previous_list_and_the_first_waits(
    components: Components, clock: FrozenClock
) -> None:
    callers = Gated(components.abandoned)
    view = AbandonedView(callers, ZONE, components.changes, min_interval=0)
    assert (await view.ready(2)).entries == []
    await abandon(components, clock, "c1", "601100200")
    callers.gate.clear()
    first = asyncio.create_task(view.ready(2))
    await asyncio.sleep(0.01)
    others = await asyncio.gather(*(view.ready(2) for _ in range(5)))
    assert [len(r.entries) for r in others] == [0] * 5  # not held up
    assert not first.done()
    callers.gate.set()
    assert len((await first).entries) == 1
    assert callers.computed == 2
    assert len((await view.ready(2)).entries) == 1


async def test_a_list_is_computed_once_per_change_and_at_most_once_an_interval(
    components: Components, clock: FrozenClock
) -> None:
    callers = Gated(components.abandoned)
    view = AbandonedView(callers, ZONE, components.changes, min_interval=0.2)
    for _ in range(3):
        await view.ready(2)
    assert callers.computed == 1
    for n in range(3):
        await abandon(components, clock, f"c{n}", f"60110020{n}")
        assert (await view.ready(2)).entries == []  # within the interval: as it was
    await asyncio.sleep(0.25)
    assert len((await view.ready(2)).entries) == 3
    assert callers.computed == 2


async def test_yesterdays_list_is_never_served(components: Components, clock: FrozenClock) -> None:
    callers = Gated(components.abandoned)
    view = AbandonedView(callers, ZONE, components.changes, min_interval=60)
    await abandon(components, clock, "c1", "601100200")
    assert len((await view.ready(2)).entries) == 1
    clock.advance(86_400)
    assert (await view.ready(2)).entries == []
