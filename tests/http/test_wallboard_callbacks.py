"""The wallboard's "callbacks due next": each queue's open callbacks, earliest first, with the
number, the CRM's customer, the due time and the attempts so far; the board is sent again when
a callback is scheduled, attempted or cancelled."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from kolejka.adapters.http.stream import EventStreams
from kolejka.adapters.http.waiting_list_view import WaitingListView
from kolejka.bootstrap import Components
from kolejka.domain.callbacks import DialOutcome
from tests.factories import add_person
from tests.http.test_event_streams import data_of, next_chunk, open_board
from tests.support import FrozenClock

pytestmark = pytest.mark.usefixtures("queue_2")
WARSAW = ZoneInfo("Europe/Warsaw")


def board_hub(components: Components) -> EventStreams:
    view = WaitingListView(components.lists, components.changes, WARSAW)
    return EventStreams(
        components.lists,
        view,
        components.changes,
        components.authenticator,
        WARSAW,
        components.agents,
        None,
        callbacks=components.callbacks,
    )


def due_of(board: Any, queue_id: int = 2) -> list[dict[str, Any]]:
    (queue,) = (q for q in board["queues"] if q["queue_id"] == queue_id)
    due: list[dict[str, Any]] = queue["callbacks_due"]
    return due


async def test_the_board_lists_the_callbacks_due_next_and_follows_every_change(
    components: Components, personas: dict[str, str], clock: FrozenClock
) -> None:
    jan = await add_person(components.crm, "Jan", "Kowalski", "746842523")
    reply = await open_board(board_hub(components), personas["admin"])
    assert due_of(data_of(await next_chunk(reply.chunks))) == []
    await components.callbacks.schedule(2, "746842523", clock.now() + timedelta(minutes=30))
    after_schedule = due_of(data_of(await next_chunk(reply.chunks)))
    assert after_schedule == [
        {
            "callback_id": 1,
            "phone_number": "746842523",
            "customer_id": jan.customer_id,
            "customer_label": "Jan Kowalski",
            "call_at": "2014-08-06 15:00:35",
            "attempts": 0,
            "state": "pending",
        }
    ]
    # An earlier one comes first.
    await components.callbacks.schedule(2, "+48 613 459 851", None)
    listed = due_of(data_of(await next_chunk(reply.chunks)))
    assert [(c["callback_id"], c["customer_id"]) for c in listed] == [
        (2, None),
        (1, jan.customer_id),
    ]
    # Claimed: ringing; then busy: pending again, one attempt made, due after the interval.
    (claimed,) = await components.callbacks.claim(1, timedelta(minutes=2))
    ringing = due_of(data_of(await next_chunk(reply.chunks)))
    assert (ringing[0]["callback_id"], ringing[0]["state"]) == (2, "dialling")
    assert claimed.claim is not None
    await components.callbacks.report(2, claimed.claim, DialOutcome.BUSY)
    retried = due_of(data_of(await next_chunk(reply.chunks)))
    assert [(c["callback_id"], c["state"], c["attempts"]) for c in retried] == [
        (2, "pending", 1),
        (1, "pending", 0),
    ]
    assert retried[0]["call_at"] == "2014-08-06 14:35:35"  # five minutes on
    await components.callbacks.cancel(2, 1)
    cancelled = due_of(data_of(await next_chunk(reply.chunks)))
    assert [c["callback_id"] for c in cancelled] == [2]
    await reply.chunks.aclose()


async def test_a_board_shows_at_most_five_per_queue(
    components: Components, personas: dict[str, str], clock: FrozenClock
) -> None:
    for n in range(8):
        await components.callbacks.schedule(2, f"50033322{n}", clock.now() + timedelta(minutes=n))
    reply = await open_board(board_hub(components), personas["admin"])
    listed = due_of(data_of(await next_chunk(reply.chunks)))
    assert [c["phone_number"] for c in listed] == [f"50033322{n}" for n in range(5)]
    await reply.chunks.aclose()
