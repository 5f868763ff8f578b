"""`GET /api/connections`: every queue call that left, as Thulium lists its connections."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest

from kolejka.adapters.http.app import KolejkaApp
from kolejka.adapters.sqlite.database import Database
from kolejka.adapters.sqlite.stores import SqliteConnections
from kolejka.bootstrap import Components
from kolejka.domain.agents import NewAgent
from kolejka.domain.connections import Connection, Disposition
from kolejka.domain.queues import Outcome, Queue
from kolejka.services.ports import Change, Topic
from tests.factories import add_person
from tests.support import FrozenClock, assert_envelope, basic, call

pytestmark = pytest.mark.usefixtures("queue_2")
PATH = "/api/connections"


async def calls(
    components: Components,
    clock: FrozenClock,
    *spec: tuple[str, str, Outcome, int],
    queue_id: int = 2,
) -> None:
    """Callers (call id, number, outcome, seconds waited) join and leave, one after another."""
    for call_id, number, outcome, waited in spec:
        await components.lists.join(queue_id, call_id, number)
        clock.advance(waited)
        await components.lists.leave(call_id, outcome)
        clock.advance(1)


async def listed(app: KolejkaApp, personas: dict[str, str], query: str = "") -> Any:
    answer = await call(app, "GET", f"{PATH}{query}", auth=personas["admin"])
    assert answer.status == 200, answer.body
    return answer.json()


async def test_an_abandoned_and_an_answered_call_are_listed_as_thulium_writes_them(
    app: KolejkaApp, components: Components, clock: FrozenClock, personas: dict[str, str]
) -> None:
    await calls(
        components,
        clock,
        ("1416225570.341", "+48 601 100 200", Outcome.ABANDONED, 22),
        ("1416225570.342", "613459851", Outcome.ANSWERED, 7),
    )
    assert await listed(app, personas) == {
        "count": 2,
        "result": [
            {
                "connection_id": "1416225570.342",
                "date": "2014-08-06 14:30:58",
                "src": "613459851",
                "dst": "",
                "type": "INBOUND",
                "disposition": "ANSWERED",
                "duration": 7,
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
            },
            {
                "connection_id": "1416225570.341",
                "date": "2014-08-06 14:30:35",
                "src": "601100200",
                "dst": "",
                "type": "INBOUND",
                "disposition": "NO ANSWER",
                "duration": 22,
                "billsec": 0,
                "user": "",
                "user_login": "",
                "queue_id": 2,
                "topic_id": None,
                "customer_id": None,
                "tags": [],
                "disconnected_by": "Customer",
                "transferred_to": "",
                "operator": "",
                "filename": "",
            },
        ],
    }


async def test_the_pbx_hold_time_is_the_wait_of_an_abandoned_call(
    app: KolejkaApp, components: Components, clock: FrozenClock, personas: dict[str, str]
) -> None:
    await components.lists.join(2, "c1", "613459851")
    clock.advance(30)
    await components.lists.leave("c1", Outcome.ABANDONED, hold_time=clock.instant - clock.instant)
    rows = (await listed(app, personas))["result"]
    assert (rows[0]["duration"], rows[0]["disposition"]) == (0, "NO ANSWER")


async def test_the_ingest_apis_leave_records_the_call(
    app: KolejkaApp, clock: FrozenClock, personas: dict[str, str]
) -> None:
    joined = await call(
        app,
        "POST",
        "/api/queues/2/callers",
        auth=personas["ingest"],
        json_body={"call_id": "ingest-1", "phone_number": "613459851"},
    )
    assert joined.status == 201
    clock.advance(41)
    left = await call(
        app,
        "POST",
        "/api/queues/2/callers/ingest-1/leave",
        auth=personas["ingest"],
        json_body={"outcome": "abandoned"},
    )
    assert left.status == 200
    rows = (await listed(app, personas))["result"]
    assert [(r["connection_id"], r["disposition"], r["duration"]) for r in rows] == [
        ("ingest-1", "NO ANSWER", 41)
    ]


async def test_rows_are_newest_first_with_ties_by_connection_id(
    app: KolejkaApp, components: Components, clock: FrozenClock, personas: dict[str, str]
) -> None:
    for call_id in ("t.1", "t.3", "t.2"):
        await components.lists.join(2, call_id, "613459851")
    clock.advance(5)
    for call_id in ("t.1", "t.3", "t.2"):
        await components.lists.leave(call_id, Outcome.ANSWERED)
    rows = (await listed(app, personas))["result"]
    assert [row["connection_id"] for row in rows] == ["t.3", "t.2", "t.1"]


async def test_limit_above_100_is_served_as_100_and_count_ignores_the_limit(
    app: KolejkaApp, components: Components, clock: FrozenClock, personas: dict[str, str]
) -> None:
    spec = [(f"c{index:03d}", "613459851", Outcome.ANSWERED, 1) for index in range(103)]
    await calls(components, clock, *spec)
    page = await listed(app, personas, "?limit=1000")
    assert (page["count"], len(page["result"])) == (103, 100)
    assert page["result"][0]["connection_id"] == "c102"
    assert len((await listed(app, personas, "?limit=99999999999999999999"))["result"]) == 100
    page = await listed(app, personas, "?limit=100&offset=100")
    assert [row["connection_id"] for row in page["result"]] == ["c002", "c001", "c000"]
    assert (await listed(app, personas, "?limit=2"))["count"] == 103


async def test_each_filter(
    app: KolejkaApp, components: Components, clock: FrozenClock, personas: dict[str, str]
) -> None:
    await components.queues.put(Queue(3, "Reklamacje"))
    await calls(components, clock, ("a", "+48 601 100 200", Outcome.ANSWERED, 5))
    await calls(components, clock, ("b", "613459851", Outcome.ABANDONED, 5), queue_id=3)
    clock.advance(86_400)
    await calls(components, clock, ("c", "0048601100200", Outcome.ANSWERED, 5))

    async def ids(query: str) -> list[str]:
        return [row["connection_id"] for row in (await listed(app, personas, query))["result"]]

    assert await ids("?queue_id=3") == ["b"]
    assert await ids("?queue_id=2") == ["c", "a"]
    assert await ids("?src=601100200") == ["c", "a"]
    assert await ids("?src=%2B48%20601-100-200") == ["c", "a"]
    assert await ids("?src=anonymous") == []
    assert await ids("?connection_id=b") == ["b"]
    # Dates are KOLEJKA_TIME_ZONE's wall clock; a bare date_to takes in that whole day.
    assert await ids("?date_from=2014-08-07") == ["c"]
    assert await ids("?date_to=2014-08-06") == ["b", "a"]
    assert await ids("?date_to=2014-08-06+14:30") == ["b", "a"]  # the whole minute
    assert await ids("?date_to=2014-08-06+14:30:40") == ["a"]
    assert await ids("?date_to=2014-08-06+14:29") == []
    assert await ids("?date_from=2014-08-06+14:30:41&date_to=2014-08-06+14:30:41") == ["b"]
    assert await ids("?queue_id=2&date_from=2014-08-06&date_to=2014-08-06") == ["a"]
    assert await ids("?user_login=jkowalski") == []
    assert await ids("?dst=225000000") == []
    # kolejka records no topics and no tags: filtering by them finds nothing.
    assert await ids("?topic_id=1") == []
    assert await ids("?tags[]=vip&tags[]=complaint") == []
    assert await ids("?include_tags=1&include_topics=false") == ["c", "b", "a"]
    # An empty value is no filter.
    assert await ids("?queue_id=&src=&date_from=") == ["c", "b", "a"]


async def test_customer_id_is_the_unambiguous_owner_of_the_callers_number(
    app: KolejkaApp, components: Components, clock: FrozenClock, personas: dict[str, str]
) -> None:
    jan = await add_person(components.crm, "Jan", "Kowalski", "746842523")
    anna = await add_person(components.crm, "Anna", "Nowak", "601100200")
    await add_person(components.crm, "Ewa", "Nowak", "601100200")  # shares Anna's number
    await calls(
        components,
        clock,
        ("jan", "746842523", Outcome.ANSWERED, 3),
        ("shared", "601100200", Outcome.ANSWERED, 3),
        ("stranger", "500600700", Outcome.ANSWERED, 3),
    )
    rows = (await listed(app, personas))["result"]
    assert [(r["connection_id"], r["customer_id"]) for r in rows] == [
        ("stranger", None),
        ("shared", None),
        ("jan", jan.customer_id),
    ]
    page = await listed(app, personas, f"?customer_id={jan.customer_id}")
    assert [row["connection_id"] for row in page["result"]] == ["jan"]
    assert (await listed(app, personas, f"?customer_id={anna.customer_id}"))["count"] == 0
    assert (await listed(app, personas, "?customer_id=999999"))["count"] == 0


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("?limit=0", 400003),
        ("?limit=-1", 400003),
        ("?limit=ten", 400003),
        ("?offset=-1", 400003),
        ("?offset=99999999999", 400003),
        ("?queue_id=abc", 400003),
        ("?queue_id=0", 400003),
        ("?customer_id=%D9%A3", 400003),
        ("?topic_id=2147483648", 400003),
        ("?date_from=yesterday", 400003),
        ("?date_from=2014-02-30", 400003),
        ("?date_to=0001-01-01", 400003),
        ("?date_to=1899-12-31", 400003),
        ("?date_from=2014-07-04%C2%A012:34", 400003),
        ("?date_from=2014-07-04%0912:34", 400003),
        ("?date_to=2014-7-4", 400003),
        ("?include_tags=maybe", 400003),
        ("?dst=%00", 400003),
        ("?user_login=jk%C2%85", 400003),
        ("?connection_id=" + "x" * 200, 400003),
        ("?order=date", 400003),
        ("?limit=1&" + "&".join(["tags[]=a"] * 80), 400003),
        ("?" + "&".join(["tags[]=a"] * 20 + ["tags[]="]), 400003),  # empty ones count too
        # Given twice: refused, not merged (found by a black-box attack: the last one won).
        ("?limit=1&limit=2", 400003),
        ("?queue_id=1&queue_id=2", 400003),
        ("?limit=abc&limit=1", 400003),
        ("?src=&src=601100200", 400003),
    ],
)
async def test_bad_parameters_answer_400_in_the_envelope(
    app: KolejkaApp, personas: dict[str, str], query: str, code: int
) -> None:
    answer = await call(app, "GET", PATH + query, auth=personas["admin"])
    assert_envelope(answer, 400, code)


async def test_twenty_tags_are_the_most_a_query_may_name(
    app: KolejkaApp, personas: dict[str, str]
) -> None:
    twenty = "?" + "&".join([f"tags[]=t{n}" for n in range(19)] + ["tags[]="])
    answer = await call(app, "GET", PATH + twenty, auth=personas["admin"])
    assert (answer.status, answer.json()) == (200, {"count": 0, "result": []})
    refused = await call(app, "GET", PATH + twenty + "&tags=x", auth=personas["admin"])
    assert_envelope(refused, 400, 400003)
    assert "tags[]" in refused.json()["errors"][0]["message"]
    assert "20" in refused.json()["errors"][0]["message"]


async def test_bytes_that_are_not_utf8_match_nothing_and_never_fail(
    app: KolejkaApp, personas: dict[str, str]
) -> None:
    answer = await call(app, "GET", PATH + "?user_login=%ED%A0%80", auth=personas["admin"])
    assert (answer.status, answer.json()) == (200, {"count": 0, "result": []})


async def test_it_takes_the_permission_get_connections(
    app: KolejkaApp, components: Components, personas: dict[str, str]
) -> None:
    refused = await call(app, "GET", PATH, auth=personas["reader"])
    assert_envelope(refused, 403, 403001)
    assert "GET connections" in refused.json()["errors"][0]["message"]
    assert_envelope(await call(app, "GET", PATH, auth=personas["stranger"]), 401, 401002)
    assert_envelope(await call(app, "GET", PATH), 401, 401001)
    await components.api_users.add("reports", "reports-password-1", ["GET connections"])
    allowed = await call(app, "GET", PATH, auth=basic("reports", "reports-password-1"))
    assert (allowed.status, allowed.json()) == (200, {"count": 0, "result": []})
    topic = await call(app, "GET", PATH + "/x/topic", auth=basic("reports", "reports-password-1"))
    assert_envelope(topic, 403, 403001)


async def test_head_answers_without_a_body(app: KolejkaApp, personas: dict[str, str]) -> None:
    answer = await call(app, "HEAD", PATH, auth=personas["admin"])
    assert (answer.status, answer.body) == (200, b"")


async def test_a_known_calls_topic_is_empty_and_an_unknown_call_is_404(
    app: KolejkaApp, components: Components, clock: FrozenClock, personas: dict[str, str]
) -> None:
    await calls(components, clock, ("PJSIP/1001-00000001", "613459851", Outcome.ANSWERED, 3))
    known = await call(app, "GET", PATH + "/PJSIP%2F1001-00000001/topic", auth=personas["admin"])
    assert (known.status, known.json()) == (
        200,
        {"topic_id": None, "agent_login": "", "comment": "", "custom_fields": []},
    )
    for unknown in ("nope", "%C2%85", "x" * 300):
        answer = await call(app, "GET", f"{PATH}/{unknown}/topic", auth=personas["admin"])
        assert_envelope(answer, 404, 404008)
    assert_envelope(await call(app, "POST", PATH, auth=personas["admin"]), 405, 405001)


async def test_the_ingest_apis_member_reports_complete_the_row_with_the_agents_name(
    app: KolejkaApp, components: Components, clock: FrozenClock, personas: dict[str, str]
) -> None:
    await components.agents.add(NewAgent("jkowalski", "Jan", "Kowalski"))
    await components.api_users.add("pbx", "pbx-secret-1234", ["*"])
    pbx = basic("pbx", "pbx-secret-1234")
    member = "/api/queues/2/members/jkowalski"
    body = {"call_id": "c1", "phone_number": "613459851"}
    assert (
        await call(app, "POST", "/api/queues/2/callers", auth=pbx, json_body=body)
    ).status == 201
    clock.advance(9)
    for path, report in (
        (member, {"event": "ringing", "call_id": "c1"}),
        ("/api/queues/2/callers/c1/leave", {"outcome": "answered"}),
        (member, {"event": "connected", "call_id": "c1", "hold_time": 8}),
        (
            member,
            {"event": "completed", "call_id": "c1", "talk_time": 95, "completed_by": "caller"},
        ),
    ):
        answer = await call(app, "POST", path, auth=pbx, json_body=report)
        assert answer.status == 200, answer.json()
    (row,) = (await listed(app, personas))["result"]
    assert {key: row[key] for key in ("disposition", "duration", "billsec")} == {
        "disposition": "ANSWERED",
        "duration": 103,
        "billsec": 95,
    }
    assert (row["user"], row["user_login"], row["disconnected_by"]) == (
        "Jan Kowalski",
        "jkowalski",
        "Customer",
    )
    page = await listed(app, personas, "?user_login=jkowalski")
    assert [r["connection_id"] for r in page["result"]] == ["c1"]
    topic = await call(app, "GET", PATH + "/c1/topic", auth=personas["admin"])
    assert topic.json()["agent_login"] == "jkowalski"


async def test_simultaneous_departures_and_reads_each_answer_and_record_each_call_once(
    app: KolejkaApp, components: Components, personas: dict[str, str]
) -> None:
    for index in range(40):
        await components.lists.join(2, f"c{index}", "613459851")
    await listed(app, personas)  # the credentials checked once; the burst meets the cache

    async def leave(index: int) -> int:
        path = f"/api/queues/2/callers/c{index}/leave"
        body = {"outcome": "answered" if index % 2 else "abandoned"}
        return (await call(app, "POST", path, auth=personas["admin"], json_body=body)).status

    async def read() -> int:
        return (await call(app, "GET", PATH + "?queue_id=2", auth=personas["admin"])).status

    statuses = await asyncio.gather(
        *(leave(index) for index in range(40)),
        *(leave(index) for index in range(0, 40, 4)),  # repeats: 404, and no second row
        *(read() for _ in range(40)),
    )
    assert sorted(set(statuses)) == [200, 404]
    assert statuses.count(404) == 10
    page = await listed(app, personas, "?limit=100")
    assert page["count"] == 40
    assert len({row["connection_id"] for row in page["result"]}) == 40


async def test_a_page_is_kept_until_a_call_leaves_or_an_agent_changes(
    app: KolejkaApp, components: Components, clock: FrozenClock, personas: dict[str, str]
) -> None:
    assert (await listed(app, personas))["count"] == 0
    await calls(components, clock, ("c1", "613459851", Outcome.ABANDONED, 3))
    assert (await listed(app, personas))["count"] == 1  # the departure said so
    # A row written behind the service's back (no change told) is not seen while the page is
    # kept; any change then shows it.
    assert isinstance(components.database, Database)
    await SqliteConnections(components.database).record(
        Connection("c0", 2, "613459851", clock.instant, Disposition.ANSWERED, timedelta(0))
    )
    assert (await listed(app, personas))["count"] == 1
    await components.changes.publish(Change(Topic.AGENTS))
    assert (await listed(app, personas))["count"] == 2
    assert (await listed(app, personas, "?limit=1"))["count"] == 2
