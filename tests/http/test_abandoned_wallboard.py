"""The wallboard's part of the abandoned list: each queue's count and its newest few callers,
the very entries of `GET /api/queues/{id}/abandoned`."""

from __future__ import annotations

import json
from zoneinfo import ZoneInfo

import pytest

from kolejka.adapters.http.abandoned import WALLBOARD_ABANDONED, AbandonedView
from kolejka.adapters.http.waiting_list_view import WaitingListView
from kolejka.adapters.http.wallboard.board import WallboardFeed
from kolejka.bootstrap import Components
from kolejka.domain.queues import Outcome, Queue
from tests.support import FrozenClock

pytestmark = pytest.mark.usefixtures("queue_2")
ZONE = ZoneInfo("Europe/Warsaw")


def feed(components: Components) -> tuple[WallboardFeed, AbandonedView]:
    view = AbandonedView(components.abandoned, ZONE, components.changes, min_interval=0)
    lists = WaitingListView(components.lists, components.changes, ZONE)
    return WallboardFeed(components.lists, lists, ZONE, components.agents, view), view


async def test_each_tile_holds_the_count_and_the_newest_few_entries_of_the_list(
    components: Components, clock: FrozenClock
) -> None:
    await components.queues.put(Queue(1, "Sprzedaż"))
    for n in range(WALLBOARD_ABANDONED + 2):
        await components.lists.join(2, f"c{n}", f"60110{n:04d}")
        clock.advance(10)
        await components.lists.leave(f"c{n}", Outcome.ABANDONED)
    board, view = feed(components)
    _, data = await board.render()
    one, two = json.loads(data)["queues"]
    assert one["abandoned"] == {"count": 0, "callers": []}
    assert two["abandoned"]["count"] == WALLBOARD_ABANDONED + 2
    entries = json.loads((await view.ready(2)).body)
    assert two["abandoned"]["callers"] == entries[:WALLBOARD_ABANDONED]
    assert two["abandoned"]["callers"][0] == {
        "phone_number": "601100011",
        "customer_id": None,
        "customer_label": None,
        "times_abandoned": 1,
        "first_attempt_at": "2014-08-06 14:32:25",
        "last_attempt_at": "2014-08-06 14:32:25",
        "longest_wait": 10,
    }


async def test_a_new_abandon_shows_in_the_next_event(
    components: Components, clock: FrozenClock
) -> None:
    board, _ = feed(components)
    shown, _ = await board.render()
    await components.lists.join(2, "c1", "746842523")
    await components.lists.leave("c1", Outcome.ABANDONED)
    changed, data = await board.render()
    assert changed != shown  # a new event id: the page is sent the change
    assert json.loads(data)["queues"][0]["abandoned"]["count"] == 1
