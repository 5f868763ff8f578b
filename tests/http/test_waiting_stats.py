"""GET /api/queues/:id/waiting_stats: in_queue and approx_wait_time."""

from __future__ import annotations

from datetime import timedelta

import pytest

from kolejka.adapters.http.app import KolejkaApp
from kolejka.bootstrap import Components
from kolejka.domain.queues import Outcome
from tests.support import FrozenClock, call

pytestmark = pytest.mark.usefixtures("queue_2")


async def test_an_empty_queue_has_nobody_and_no_wait(
    app: KolejkaApp, personas: dict[str, str]
) -> None:
    answer = await call(app, "GET", "/api/queues/2/waiting_stats", auth=personas["reader"])
    assert answer.status == 200
    assert answer.json() == {"in_queue": 0, "approx_wait_time": "00:00:00"}


async def test_the_estimate_is_the_mean_hold_time_of_recently_answered_callers(
    app: KolejkaApp, components: Components, clock: FrozenClock, personas: dict[str, str]
) -> None:
    for index, hold in enumerate([60, 120]):
        await components.lists.join(2, f"done-{index}", "613459851")
        await components.lists.leave(f"done-{index}", Outcome.ANSWERED, timedelta(seconds=hold))
    await components.lists.join(2, "gave-up", "613459851")
    await components.lists.leave("gave-up", Outcome.ABANDONED, timedelta(seconds=900))
    await components.lists.join(2, "waiting", "613459851")
    clock.advance(30)

    answer = await call(app, "GET", "/api/queues/2/waiting_stats", auth=personas["reader"])

    assert answer.json() == {"in_queue": 1, "approx_wait_time": "00:01:30"}


async def test_without_history_the_longest_current_wait_is_the_estimate(
    app: KolejkaApp, components: Components, clock: FrozenClock, personas: dict[str, str]
) -> None:
    await components.lists.join(2, "a", "613459851")
    clock.advance(75)
    await components.lists.join(2, "b", "613459852")

    answer = await call(app, "GET", "/api/queues/2/waiting_stats", auth=personas["reader"])

    assert answer.json() == {"in_queue": 2, "approx_wait_time": "00:01:15"}


async def test_answers_older_than_an_hour_do_not_count(
    app: KolejkaApp, components: Components, clock: FrozenClock, personas: dict[str, str]
) -> None:
    await components.lists.join(2, "old", "613459851")
    await components.lists.leave("old", Outcome.ANSWERED, timedelta(seconds=600))
    clock.advance(3601)

    answer = await call(app, "GET", "/api/queues/2/waiting_stats", auth=personas["reader"])

    assert answer.json()["approx_wait_time"] == "00:00:00"
