"""Every callback attempt is an OUTBOUND row of `GET /api/connections`, whoever dialled it: the
HTTP claim-and-report path of a PBX without AMI, and the dialler (over AMI in
tests/ami/test_callbacks.py). One row per attempt, whatever is reported twice."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from kolejka.adapters.http.app import KolejkaApp
from kolejka.bootstrap import Components
from kolejka.domain.callbacks import Callback, DialOutcome
from kolejka.domain.queues import Outcome
from kolejka.services.callbacks import CallbackDialling
from tests.factories import add_person
from tests.support import CANARY, FrozenClock, assert_envelope, basic, call

CLAIM = "/api/scheduled_calls/claim"


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(datetime(2020, 11, 6, 12, 0, tzinfo=UTC))


@pytest.fixture
async def pbx(components: Components, queue_2: int) -> str:
    permissions = ["POST scheduled_calls/claim", "POST scheduled_calls/:callback_id/outcome"]
    await components.api_users.add("pbx", f"pbx-{CANARY}", permissions)
    return basic("pbx", f"pbx-{CANARY}")


async def history(app: KolejkaApp, personas: dict[str, str], query: str = "") -> Any:
    answer = await call(app, "GET", f"/api/connections{query}", auth=personas["admin"])
    assert answer.status == 200, answer.body
    return answer.json()


async def claim_and_report(app: KolejkaApp, pbx: str, outcome: str) -> dict[str, Any]:
    claimed = (await call(app, "POST", CLAIM, auth=pbx)).json()
    report = {"claim": claimed["claim"], "outcome": outcome}
    target = f"/api/scheduled_calls/{claimed['callback_id']}/outcome"
    answer = await call(app, "POST", target, auth=pbx, json_body=report)
    assert answer.status == 204, answer.body
    return report


async def test_each_reported_attempt_is_one_outbound_row_in_thuliums_shape(
    app: KolejkaApp,
    components: Components,
    pbx: str,
    clock: FrozenClock,
    personas: dict[str, str],
) -> None:
    await components.callbacks.schedule(2, "500333222", None)
    clock.advance(2)
    claimed = (await call(app, "POST", CLAIM, auth=pbx)).json()
    clock.advance(25)  # it rang for 25 s
    report = {"claim": claimed["claim"], "outcome": "busy"}
    answer = await call(app, "POST", "/api/scheduled_calls/1/outcome", auth=pbx, json_body=report)
    assert answer.status == 204
    assert await history(app, personas) == {
        "count": 1,
        "result": [
            {
                "connection_id": "callback-1-1",
                "date": "2020-11-06 13:00:02",
                "src": "",
                "dst": "+48500333222",
                "type": "OUTBOUND",
                "disposition": "BUSY",
                "duration": 25,
                "billsec": 0,
                "user": "",
                "user_login": "",
                "queue_id": 2,
                "topic_id": None,
                "customer_id": None,
                "tags": [],
                "disconnected_by": "",
                "transferred_to": "",
                "operator": "",
                "filename": "",
            }
        ],
    }
    # The same report again is refused (409115) and adds no second row.
    again = await call(app, "POST", "/api/scheduled_calls/1/outcome", auth=pbx, json_body=report)
    assert_envelope(again, 409, 409115)
    assert (await history(app, personas))["count"] == 1


async def test_retries_are_rows_of_their_own_and_the_answered_one_is_answered(
    app: KolejkaApp,
    components: Components,
    pbx: str,
    clock: FrozenClock,
    personas: dict[str, str],
) -> None:
    await components.callbacks.schedule(2, "500333222", None)
    for outcome in ("no_answer", "rejected", "answered"):
        await claim_and_report(app, pbx, outcome)
        clock.advance(300)
    rows = (await history(app, personas, "?dst=%2B48500333222"))["result"]
    assert [(r["connection_id"], r["disposition"], r["disconnected_by"]) for r in rows] == [
        ("callback-1-3", "ANSWERED", ""),
        ("callback-1-2", "NO ANSWER", "Customer"),
        ("callback-1-1", "NO ANSWER", ""),
    ]
    assert {r["type"] for r in rows} == {"OUTBOUND"}
    queue_rows = (await history(app, personas, "?queue_id=2"))["result"]
    assert len(queue_rows) == 3


async def test_a_claim_that_lapses_is_a_failed_row(
    app: KolejkaApp,
    components: Components,
    pbx: str,
    clock: FrozenClock,
    personas: dict[str, str],
) -> None:
    await components.callbacks.schedule(2, "500333222", None)
    assert (await call(app, "POST", CLAIM, auth=pbx)).status == 200
    clock.advance(121)  # never reported: the next claim ends it as lost
    assert (await call(app, "POST", CLAIM, auth=pbx)).status == 204
    (row,) = (await history(app, personas))["result"]
    assert (row["connection_id"], row["disposition"], row["duration"]) == (
        "callback-1-1",
        "FAILED",
        121,
    )


async def test_the_row_names_the_customer_the_crm_knows_by_the_dialled_number(
    app: KolejkaApp,
    components: Components,
    pbx: str,
    personas: dict[str, str],
) -> None:
    customer = await add_person(components.crm, "Jan", "Kowalski", "500 333 222")
    await components.callbacks.schedule(2, "500333222", None)
    await claim_and_report(app, pbx, "answered")
    (row,) = (await history(app, personas))["result"]
    assert row["customer_id"] == customer.customer_id


async def test_customer_id_and_dst_find_the_callbacks_to_the_customer_however_written(
    app: KolejkaApp,
    components: Components,
    pbx: str,
    clock: FrozenClock,
    personas: dict[str, str],
) -> None:
    customer = await add_person(components.crm, "Jan", "Kowalski", "500 333 222")
    await add_person(components.crm, "Anna", "Nowak", "601100200")
    await components.lists.join(2, "in-1", "+48500333222")  # the customer calls in
    await components.lists.leave("in-1", Outcome.ABANDONED)
    await components.lists.join(2, "in-2", "601100200")  # somebody else does
    await components.lists.leave("in-2", Outcome.ABANDONED)
    clock.advance(60)
    await components.callbacks.schedule(2, "500333222", None)
    await claim_and_report(app, pbx, "answered")  # and is called back

    async def ids(query: str) -> list[str]:
        return [row["connection_id"] for row in (await history(app, personas, query))["result"]]

    assert await ids(f"?customer_id={customer.customer_id}") == ["callback-1-1", "in-1"]
    # `src` stays the calling number: a callback's is the PBX's own, so it is not among them.
    assert await ids(f"?customer_id={customer.customer_id}&src=500333222") == ["in-1"]
    for written in ("500333222", "%2B48500333222", "0048%20500%20333%20222"):
        assert await ids(f"?dst={written}") == ["callback-1-1"]
    assert await ids("?dst=601100200") == []
    assert await ids("?dst=2") == []


class Dialer:
    ready = True

    def __init__(self, *outcomes: DialOutcome) -> None:
        self.outcomes = list(outcomes)

    async def dial(self, callback: Callback) -> DialOutcome:
        return self.outcomes.pop(0)


async def test_the_dialler_writes_a_row_per_attempt_too(
    components: Components, queue_2: int, clock: FrozenClock
) -> None:
    await components.callbacks.schedule(2, "500333222", None)
    dialling = CallbackDialling(
        components.callbacks,
        Dialer(DialOutcome.CONGESTION, DialOutcome.ANSWERED),
        claim_for=timedelta(minutes=2),
    )
    for _ in range(2):
        await dialling.tick()
        await dialling.drain()
        clock.advance(300)
    one = await components.history.connection("callback-1-1")
    two = await components.history.connection("callback-1-2")
    assert (one.disposition.value, two.disposition.value) == ("FAILED", "ANSWERED")
    assert (one.dst, two.dst) == ("+48500333222", "+48500333222")
