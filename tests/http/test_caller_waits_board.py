"""The wallboard's event carries each waiting caller's position, expected wait still to go and
calls today, and nothing that moves with the clock alone."""

from __future__ import annotations

import json
from zoneinfo import ZoneInfo

import pytest

from kolejka.adapters.http.waiting_list_view import WaitingListView
from kolejka.adapters.http.wallboard.board import WallboardFeed
from kolejka.adapters.sqlite.database import Database
from kolejka.bootstrap import Components, create_app
from kolejka.domain.queues import Outcome
from tests.support import FrozenClock

pytestmark = pytest.mark.usefixtures("queue_2")
ZONE = ZoneInfo("Europe/Warsaw")


def feed(components: Components) -> WallboardFeed:
    view = WaitingListView(components.lists, components.changes, ZONE)
    return WallboardFeed(
        components.lists, view, ZONE, components.agents, caller_waits=components.caller_waits
    )


async def test_each_waiting_caller_shows_position_expected_wait_to_go_and_calls_today(
    components: Components, clock: FrozenClock
) -> None:
    lists = components.lists
    await lists.join(2, "earlier", "613459851")
    clock.advance(40)
    await lists.leave("earlier", Outcome.ANSWERED)  # answered after 40 s: the only answer
    await lists.join(2, "c1", "613459851")
    clock.advance(5)
    await lists.join(2, "c2", "746842523")
    clock.advance(3)
    shown, data = await feed(components).render()
    (queue,) = json.loads(data)["queues"]
    assert queue["callers"] == [
        {
            "position": 1,
            "phone_number": "613459851",
            "started_at": "2014-08-06 14:31:15",
            "remaining_wait": 40,
            "calls_today": 1,
        },
        {
            "position": 2,
            "phone_number": "746842523",
            "started_at": "2014-08-06 14:31:20",
            "remaining_wait": 80,  # 2 x 40: nobody joined this far back, so no bound
            "calls_today": 0,
        },
    ]
    clock.advance(30)
    again, _ = await feed(components).render()
    assert again == shown  # the board is sent again only when something changed
    await lists.leave("c1", Outcome.ANSWERED)
    after, _ = await feed(components).render()
    assert [c["position"] for c in json.loads(after)[0]["callers"]] == [1]


def test_the_served_board_is_given_the_caller_waits(components: Components) -> None:
    app = create_app(components)
    stream = next(r for r in app.router.routes if r.template == "/api/wallboard/stream")
    board = stream.handler.__self__.board  # type: ignore[attr-defined]
    assert board.caller_waits is components.caller_waits
    assert components.caller_waits is not None


async def test_the_board_asks_the_crm_nothing_for_its_callers(
    components: Components, clock: FrozenClock
) -> None:
    for n in range(5):
        await components.lists.join(2, f"c{n}", f"60110020{n}")
    board = feed(components)
    await board.render()  # the waiting list's own names, read once and kept
    assert isinstance(components.database, Database)
    statements: list[str] = []
    components.database.trace(statements.append)
    try:
        await board.render()
    finally:
        components.database.trace(None)
    assert [s for s in statements if "customer_phone_numbers" in s] == []
    assert len([s for s in statements if "src_key IN" in s]) == 1
