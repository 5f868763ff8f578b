"""`GET /api/queues/{id}/callers`: each waiting caller's position, wait, expected wait, calls
from that number today and customer."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest

from kolejka.adapters.http.app import KolejkaApp
from kolejka.adapters.http.service import openapi_document
from kolejka.adapters.sqlite.database import Database
from kolejka.bootstrap import Components
from kolejka.domain.queues import Outcome, Queue
from tests.factories import add_company, add_person
from tests.support import FrozenClock, assert_envelope, basic, call

pytestmark = pytest.mark.usefixtures("queue_2")
PATH = "/api/queues/2/callers"


def at(hour: int, minute: int, second: int = 0, day: int = 6) -> datetime:
    return datetime(2014, 8, day, hour, minute, second, tzinfo=UTC)


async def history(components: Components, clock: FrozenClock) -> None:
    """A recorded morning: yesterday's call from 613459851 (local 23:58, Warsaw is UTC+2),
    four callers answered 30 s apart while the others waited, and 613459851 hanging up today
    after 40 s."""
    lists = components.lists
    clock.instant = at(21, 58, day=5)
    await lists.join(2, "yesterday", "613459851")
    clock.advance(10)
    await lists.leave("yesterday", Outcome.ANSWERED)
    for n in range(4):
        await lists.join(2, f"h{n}", f"50010020{n}", started_at=at(12, 0, n))
    for n in range(4):
        clock.instant = at(12, 0, 30) + (at(12, 0, 30) - at(12, 0, 0)) * n
        await lists.leave(f"h{n}", Outcome.ANSWERED)
    clock.instant = at(12, 5)
    await lists.join(2, "abandoned", "+48 613 459 851")
    clock.advance(40)
    await lists.leave("abandoned", Outcome.ABANDONED)


async def waiting(components: Components, clock: FrozenClock) -> None:
    await add_person(components.crm, "Jan", "Kowalski", "746842523", customer_id=123)
    await add_person(components.crm, "Piotr", "Zieliński", "+48 602 300 400")
    await add_company(components.crm, "Zieliński Transport", "0048 602 300 400")
    for call_id, number, joined in (
        ("w1", "613459851", at(12, 29)),
        ("w2", "746842523", at(12, 29, 30)),
        ("w3", "+48 602 300 400", at(12, 29, 40)),
        ("w4", "anonymous", at(12, 29, 50)),
    ):
        await components.lists.join(2, call_id, number, started_at=joined)
    clock.instant = at(12, 30, 35)


async def listed(app: KolejkaApp, personas: dict[str, str], path: str = PATH) -> Any:
    answer = await call(app, "GET", path, auth=personas["admin"])
    assert answer.status == 200, answer.body
    return answer.json()


async def test_each_caller_in_queue_order_with_wait_expected_wait_calls_today_and_customer(
    app: KolejkaApp, components: Components, clock: FrozenClock, personas: dict[str, str]
) -> None:
    await history(components, clock)
    await waiting(components, clock)
    # Answers 30 s apart while callers waited; 1 of the 5 recent calls abandoned; the longest
    # holds of callers who joined at positions 1, 2-3 and 4 were 30, 88 and 117 s.
    assert await listed(app, personas) == [
        {
            "call_id": "w1",
            "position": 1,
            "phone_number": "613459851",
            "started_at": "2014-08-06 14:29:00",
            "waited": 95,
            "expected_wait": 95 + 30,
            "customer_id": None,
            "customer_label": None,
            "calls_today": {
                "count": 1,
                "calls": [
                    {
                        "connection_id": "abandoned",
                        "date": "2014-08-06 14:05:00",
                        "queue_id": 2,
                        "disposition": "NO ANSWER",
                        "wait": 40,
                        "billsec": 0,
                    }
                ],
            },
        },
        {
            "call_id": "w2",
            "position": 2,
            "phone_number": "746842523",
            "started_at": "2014-08-06 14:29:30",
            "waited": 65,
            "expected_wait": 65 + 54,  # 30 x (1 + 1 x 0.8)
            "customer_id": 123,
            "customer_label": "Jan Kowalski",
            "calls_today": {"count": 0, "calls": []},
        },
        {
            "call_id": "w3",
            "position": 3,
            "phone_number": "602300400",
            "started_at": "2014-08-06 14:29:40",
            "waited": 55,
            "expected_wait": 55 + 78,  # 30 x (1 + 2 x 0.8), below the band's 88
            "customer_id": None,  # a person and a company share the number
            "customer_label": None,
            "calls_today": {"count": 0, "calls": []},
        },
        {
            "call_id": "w4",
            "position": 4,
            "phone_number": "",
            "started_at": "2014-08-06 14:29:50",
            "waited": 45,
            "expected_wait": 45 + 102,  # 30 x (1 + 3 x 0.8), below the band's 117
            "customer_id": None,
            "customer_label": None,
            "calls_today": {"count": 0, "calls": []},
        },
    ]


async def test_the_thulium_waiting_list_keeps_its_four_keys(
    app: KolejkaApp, components: Components, clock: FrozenClock, personas: dict[str, str]
) -> None:
    await waiting(components, clock)
    answer = await call(app, "GET", "/api/queues/2/waiting_list", auth=personas["admin"])
    assert {tuple(entry) for entry in answer.json()} == {
        ("phone_number", "started_at", "customer_id", "customer_label")
    }


async def test_without_answered_calls_there_is_no_expected_wait(
    app: KolejkaApp, components: Components, clock: FrozenClock, personas: dict[str, str]
) -> None:
    await components.lists.join(2, "w1", "613459851")
    clock.advance(12)
    assert [(c["waited"], c["expected_wait"]) for c in await listed(app, personas)] == [(12, None)]


async def test_an_empty_queue_lists_nobody_and_an_unknown_one_is_404(
    app: KolejkaApp, personas: dict[str, str]
) -> None:
    assert await listed(app, personas) == []
    answer = await call(app, "GET", "/api/queues/7/callers", auth=personas["admin"])
    assert_envelope(answer, 404, 404002)


async def test_calls_from_any_queue_and_any_spelling_of_the_number_count(
    app: KolejkaApp, components: Components, clock: FrozenClock, personas: dict[str, str]
) -> None:
    await components.queues.put(Queue(3, "Reklamacje"))
    for call_id, queue_id, number, outcome in (
        ("a", 3, "0048 613 459 851", Outcome.ANSWERED),
        ("b", 2, "+48613459851", Outcome.ABANDONED),
        ("c", 2, "613459852", Outcome.ABANDONED),  # another number
    ):
        await components.lists.join(queue_id, call_id, number)
        clock.advance(20)
        await components.lists.leave(call_id, outcome)
    await components.lists.join(2, "now", "613-459-851")
    (caller,) = await listed(app, personas)
    assert caller["calls_today"]["count"] == 2
    assert [
        (c["connection_id"], c["queue_id"], c["disposition"])
        for c in caller["calls_today"]["calls"]
    ] == [
        ("b", 2, "NO ANSWER"),
        ("a", 3, "ANSWERED"),
    ]


async def test_todays_calls_of_the_whole_list_are_one_read_of_the_history(
    app: KolejkaApp, components: Components, clock: FrozenClock, personas: dict[str, str]
) -> None:
    await history(components, clock)
    await waiting(components, clock)
    for n in range(20):
        await components.lists.join(2, f"more{n}", f"60070080{n:02d}")
    await listed(app, personas)  # the credentials and the pace, read once
    assert isinstance(components.database, Database)
    statements: list[str] = []
    components.database.trace(statements.append)
    try:
        await listed(app, personas)
    finally:
        components.database.trace(None)
    history_reads = [s for s in statements if "FROM connections" in s]
    assert len(history_reads) == 1, history_reads
    assert "src_key IN" in history_reads[0]


async def test_the_answer_pace_is_read_again_once_a_call_leaves_the_queue(
    app: KolejkaApp, components: Components, clock: FrozenClock, personas: dict[str, str]
) -> None:
    await history(components, clock)
    await waiting(components, clock)
    assert (await listed(app, personas))[0]["expected_wait"] == 125
    await components.lists.leave("w1", Outcome.ANSWERED)  # answered 95 s after joining
    # A sixth recent call, answered: the abandon share falls from 1/5 to 1/6, and position 1's
    # bound rises to 95 s. Kept from before, the pace would give w3 54 s, not 55 s, to go.
    assert [
        (c["call_id"], c["position"], c["expected_wait"]) for c in await listed(app, personas)
    ] == [
        ("w2", 1, 65 + 30),
        ("w3", 2, 55 + 55),
        ("w4", 3, 45 + 80),
    ]


@pytest.mark.parametrize(
    ("path", "status", "code"),
    [
        ("/api/queues/0/callers", 400, 400001),
        ("/api/queues/abc/callers", 400, 400001),
        ("/api/queues/99999999999/callers", 400, 400001),
        ("/api/queues/%ED%A0%80/callers", 400, 400001),
        ("/api/queues/%D9%A3/callers", 400, 400001),
        ("/api/queues/2/callers?limit=1", 400, 400003),
        ("/api/queues/2/callers?%ED%A0%80=1", 400, 400003),
        ("/api/queues/2/callers?x=" + "y" * 5000, 400, 400003),
    ],
)
async def test_bad_ids_and_parameters_answer_in_the_envelope(
    app: KolejkaApp, personas: dict[str, str], path: str, status: int, code: int
) -> None:
    assert_envelope(await call(app, "GET", path, auth=personas["admin"]), status, code)


async def test_it_takes_its_own_permission(
    app: KolejkaApp, components: Components, personas: dict[str, str]
) -> None:
    refused = await call(app, "GET", PATH, auth=personas["reader"])  # may read the waiting list
    assert_envelope(refused, 403, 403001)
    assert "GET queues/:id/callers" in refused.json()["errors"][0]["message"]
    assert_envelope(await call(app, "GET", PATH, auth=personas["ingest"]), 403, 403001)
    assert_envelope(await call(app, "GET", PATH, auth=personas["stranger"]), 401, 401002)
    assert_envelope(await call(app, "GET", PATH), 401, 401001)
    await components.api_users.add("panel", "panel-password-1", ["GET queues/:id/callers"])
    allowed = await call(app, "GET", PATH, auth=basic("panel", "panel-password-1"))
    assert (allowed.status, allowed.json()) == (200, [])
    waiting_list = await call(
        app, "GET", "/api/queues/2/waiting_list", auth=basic("panel", "panel-password-1")
    )
    assert_envelope(waiting_list, 403, 403001)


async def test_head_answers_without_a_body_and_other_methods_are_405_or_the_ingest_api(
    app: KolejkaApp, personas: dict[str, str]
) -> None:
    head = await call(app, "HEAD", PATH, auth=personas["admin"])
    assert (head.status, head.body) == (200, b"")
    put = await call(app, "PUT", PATH, auth=personas["admin"])
    assert_envelope(put, 405, 405001)
    joined = await call(
        app, "POST", PATH, auth=personas["ingest"], json_body={"call_id": "x", "phone_number": "1"}
    )
    assert joined.status == 201, joined.body


async def test_reads_during_joins_and_departures_each_answer_a_consistent_list(
    app: KolejkaApp, components: Components, clock: FrozenClock, personas: dict[str, str]
) -> None:
    await history(components, clock)
    for index in range(30):
        await components.lists.join(2, f"c{index}", f"5001002{index:02d}")
    await listed(app, personas)

    async def leave(index: int) -> int:
        path = f"/api/queues/2/callers/c{index}/leave"
        return (
            await call(app, "POST", path, auth=personas["admin"], json_body={"outcome": "answered"})
        ).status

    async def read() -> list[int]:
        found = await listed(app, personas)
        positions = [caller["position"] for caller in found]
        assert positions == list(range(1, len(found) + 1))
        return positions

    results = await asyncio.gather(
        *(leave(n) for n in range(0, 30, 2)), *(read() for _ in range(30))
    )
    assert set(results[:15]) == {200}
    assert len(await listed(app, personas)) == 15


async def test_the_openapi_document_describes_every_field(
    app: KolejkaApp, components: Components, clock: FrozenClock, personas: dict[str, str]
) -> None:
    document = openapi_document()
    operation = document["paths"]["/api/queues/{id}/callers"]["get"]
    assert operation["operationId"] == "listCallerWaits"
    assert "GET queues/:id/callers" in operation["description"]
    schema = document["components"]["schemas"]["CallerWait"]
    await history(components, clock)
    await waiting(components, clock)
    first = (await listed(app, personas))[0]
    assert list(first) == schema["required"]
    call_schema = schema["properties"]["calls_today"]["properties"]["calls"]["items"]
    assert list(first["calls_today"]["calls"][0]) == call_schema["required"]


async def test_thousands_waiting_are_read_in_parts_and_each_keeps_its_calls_today(
    app: KolejkaApp, components: Components, clock: FrozenClock, personas: dict[str, str]
) -> None:
    await components.lists.join(2, "earlier", "+48 500 002 099")
    clock.advance(30)
    await components.lists.leave("earlier", Outcome.ABANDONED)
    for n in range(2100):  # beyond NUMBERS_PER_READ twice: three reads of the history
        await components.lists.join(2, f"w{n}", f"5000{n:05d}")
    await listed(app, personas)  # the credentials, once
    assert isinstance(components.database, Database)
    statements: list[str] = []
    components.database.trace(statements.append)
    try:
        found = await listed(app, personas)
    finally:
        components.database.trace(None)
    assert len([s for s in statements if "src_key IN" in s]) == 3
    assert len(found) == 2100
    assert found[-1]["phone_number"] == "500002099"
    assert found[-1]["calls_today"]["count"] == 1
    assert sum(caller["calls_today"]["count"] for caller in found) == 1


async def test_a_customer_added_to_the_crm_names_the_caller_at_the_next_read(
    app: KolejkaApp, components: Components, personas: dict[str, str]
) -> None:
    await components.lists.join(2, "w1", "613459851")
    assert (await listed(app, personas))[0]["customer_label"] is None  # and kept
    added = await add_person(components.crm, "Ewa", "Lis", "+48 613 459 851")
    (caller,) = await listed(app, personas)
    assert (caller["customer_id"], caller["customer_label"]) == (added.customer_id, "Ewa Lis")
