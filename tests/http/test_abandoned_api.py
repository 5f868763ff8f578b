"""`GET /api/queues/{id}/abandoned` and `POST .../abandoned/{phone_number}/schedule_call`:
today's callers who gave up and were not reached since, exactly on the wire, and calling one back;
with the abuse every hardened endpoint takes."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from kolejka.adapters.http.app import KolejkaApp
from kolejka.adapters.sqlite.database import Database
from kolejka.adapters.sqlite.stores import SqliteConnections
from kolejka.bootstrap import Components
from kolejka.domain.connections import Connection, Direction, Disposition
from kolejka.domain.phone import number_key
from kolejka.domain.queues import Outcome, Queue
from kolejka.settings import Settings
from tests.factories import add_person
from tests.support import CANARY, FrozenClock, assert_envelope, basic, call, eventually

LIST = "/api/queues/2/abandoned"
# 2014-08-06 12:30:35 UTC is 14:30:35 in Warsaw: "today" began at 2014-08-05 22:00 UTC.
START = datetime(2014, 8, 6, 12, 30, 35, tzinfo=UTC)


def schedule(number: str, queue: int | str = 2) -> str:
    return f"/api/queues/{queue}/abandoned/{number}/schedule_call"


@pytest.fixture
def settings(database_path: Path) -> Settings:
    # Every change shows at once here; the throttle has a test of its own.
    return Settings(database_url=f"sqlite:///{database_path}", abandoned_refresh_seconds=0)


@pytest.fixture
async def admin(personas: dict[str, str], queue_2: int, components: Components) -> str:
    await components.queues.put(Queue(3, "Sprzedaż"))
    return personas["admin"]


async def gave_up(
    components: Components,
    clock: FrozenClock,
    call_id: str,
    number: str,
    waited: int,
    queue: int = 2,
) -> None:
    await components.lists.join(queue, call_id, number)
    clock.advance(waited)
    await components.lists.leave(call_id, Outcome.ABANDONED)
    clock.advance(60)


async def answered(
    components: Components, clock: FrozenClock, call_id: str, number: str, queue: int = 2
) -> None:
    await components.lists.join(queue, call_id, number)
    clock.advance(5)
    await components.lists.leave(call_id, Outcome.ANSWERED)
    clock.advance(60)


async def called_back(
    components: Components, clock: FrozenClock, call_id: str, e164: str, disposition: Disposition
) -> None:
    """A callback attempt's history row, as issue 15's dialler writes it (common-context.md)."""
    assert isinstance(components.database, Database)
    row = Connection(
        connection_id=call_id,
        queue_id=2,
        src="",
        started_at=clock.now(),
        disposition=disposition,
        wait=timedelta(0),
        dst=number_key(e164),
        direction=Direction.OUTBOUND,
    )
    await SqliteConnections(components.database).record(row)
    clock.advance(60)


async def listed(app: KolejkaApp, auth: str, path: str = LIST) -> Any:
    answer = await call(app, "GET", path, auth=auth)
    assert answer.status == 200, answer.body
    assert answer.headers["content-type"] == "application/json; charset=utf-8"
    return answer.json()


async def test_each_caller_is_one_entry_with_its_attempts_its_longest_wait_and_its_customer(
    app: KolejkaApp, components: Components, clock: FrozenClock, admin: str
) -> None:
    jan = await add_person(components.crm, "Jan", "Kowalski", "+48 746 842 523")
    await gave_up(components, clock, "c1", "+48 601 100 200", 75)
    await gave_up(components, clock, "c2", "746842523", 20)
    await gave_up(components, clock, "c3", "601100200", 30)
    await gave_up(components, clock, "c4", "+4915110000001", 5)
    assert await listed(app, admin) == [
        {
            "phone_number": "+4915110000001",
            "customer_id": None,
            "customer_label": None,
            "times_abandoned": 1,
            "first_attempt_at": "2014-08-06 14:35:40",
            "last_attempt_at": "2014-08-06 14:35:40",
            "longest_wait": 5,
        },
        {
            "phone_number": "601100200",
            "customer_id": None,
            "customer_label": None,
            "times_abandoned": 2,
            "first_attempt_at": "2014-08-06 14:30:35",
            "last_attempt_at": "2014-08-06 14:34:10",
            "longest_wait": 75,
        },
        {
            "phone_number": "746842523",
            "customer_id": jan.customer_id,
            "customer_label": "Jan Kowalski",
            "times_abandoned": 1,
            "first_attempt_at": "2014-08-06 14:32:50",
            "last_attempt_at": "2014-08-06 14:32:50",
            "longest_wait": 20,
        },
    ]


async def test_a_caller_answered_later_in_the_queue_or_called_back_is_off_the_list(
    app: KolejkaApp, components: Components, clock: FrozenClock, admin: str
) -> None:
    await gave_up(components, clock, "c1", "601100200", 10)
    await gave_up(components, clock, "c2", "500600700", 10)
    await gave_up(components, clock, "c3", "500600701", 10)
    await gave_up(components, clock, "c4", "500600702", 10)
    await answered(components, clock, "c5", "601 100 200")
    await called_back(components, clock, "cb1", "+48500600700", Disposition.ANSWERED)
    await called_back(components, clock, "cb2", "+48500600701", Disposition.NO_ANSWER)
    await answered(components, clock, "c6", "500600702", queue=3)  # another queue's answer
    numbers = [entry["phone_number"] for entry in await listed(app, admin)]
    assert numbers == ["500600702", "500600701"]
    # Giving up again after being reached puts the caller back, counting only the new attempt.
    await gave_up(components, clock, "c7", "601100200", 10)
    (again,) = [e for e in await listed(app, admin) if e["phone_number"] == "601100200"]
    assert again["times_abandoned"] == 1


async def test_only_todays_abandons_in_the_time_zone_count(
    app: KolejkaApp, components: Components, clock: FrozenClock, admin: str
) -> None:
    await gave_up(components, clock, "c1", "601100200", 10)
    clock.instant = datetime(2014, 8, 6, 21, 59, 0, tzinfo=UTC)  # 23:59 in Warsaw
    assert len(await listed(app, admin)) == 1
    await gave_up(components, clock, "c2", "500600700", 10)
    clock.instant = datetime(2014, 8, 6, 22, 0, 1, tzinfo=UTC)  # a new day began
    assert await listed(app, admin) == []
    assert await listed(app, admin, "/api/queues/3/abandoned") == []


async def test_while_calls_keep_ending_the_list_is_computed_at_most_once_a_refresh_interval(
    app: KolejkaApp, components: Components, clock: FrozenClock, admin: str, settings: Settings
) -> None:
    throttled = create_app_with(components, replace(settings, abandoned_refresh_seconds=0.3))
    assert await listed(throttled, admin) == []
    await gave_up(components, clock, "c1", "601100200", 10)
    assert await listed(throttled, admin) == []  # computed a moment ago: served as it was
    waited = await eventually(lambda: _one(throttled, admin), seconds=3)
    assert waited >= 0.2


async def _one(app: KolejkaApp, auth: str) -> bool:
    return len(await listed(app, auth)) == 1


def create_app_with(components: Components, settings: Settings) -> KolejkaApp:
    from kolejka.bootstrap import create_app

    components.settings = settings
    return create_app(components)


@pytest.mark.parametrize("queue", ["0", "-2", "2.0", "%2F2", "abc", "99999999999", "%ED%A0%80"])
async def test_bad_queue_ids_are_400_and_unknown_queues_404(
    app: KolejkaApp, admin: str, queue: str
) -> None:
    assert_envelope(
        await call(app, "GET", f"/api/queues/{queue}/abandoned", auth=admin), 400, 400001
    )
    assert_envelope(await call(app, "GET", "/api/queues/4/abandoned", auth=admin), 404, 404002)


async def test_query_parameters_methods_and_head(app: KolejkaApp, admin: str) -> None:
    for query in ("?limit=10", "?date_from=2014-08-06", "?%ED%A0%80=1", "?" + "a=1&" * 40):
        answer = await call(app, "GET", LIST + query, auth=admin)
        assert_envelope(answer, 400, 400003)
    head = await call(app, "HEAD", LIST, auth=admin)
    assert (head.status, head.body) == (200, b"")
    assert_envelope(await call(app, "DELETE", LIST, auth=admin), 405, 405001)
    assert_envelope(await call(app, "GET", schedule("601100200"), auth=admin), 405, 405001)


async def test_each_endpoint_has_its_own_permission(
    app: KolejkaApp,
    components: Components,
    clock: FrozenClock,
    personas: dict[str, str],
    admin: str,
) -> None:
    await gave_up(components, clock, "c1", "601100200", 10)
    await components.api_users.add("desk", f"desk-{CANARY}", ["GET queues/:id/abandoned"])
    await components.api_users.add(
        "caller", f"caller-{CANARY}", ["POST queues/:id/abandoned/:phone_number/schedule_call"]
    )
    desk, caller = basic("desk", f"desk-{CANARY}"), basic("caller", f"caller-{CANARY}")
    assert len(await listed(app, desk)) == 1
    assert_envelope(await call(app, "POST", schedule("601100200"), auth=desk), 403, 403001)
    assert_envelope(await call(app, "GET", LIST, auth=caller), 403, 403001)
    assert (await call(app, "POST", schedule("601100200"), auth=caller)).status == 201
    assert_envelope(await call(app, "GET", LIST, auth=personas["reader"]), 403, 403001)
    assert_envelope(await call(app, "GET", LIST), 401, 401001)
    assert_envelope(await call(app, "GET", LIST, auth=personas["stranger"]), 401, 401002)
    assert_envelope(await call(app, "POST", schedule("601100200")), 401, 401001)


async def pending(components: Components, queue: int = 2) -> list[tuple[str, datetime]]:
    return [
        (c.phone_number, c.call_at) for c in await components.callbacks.store.in_queue(queue, 100)
    ]


async def test_scheduling_a_listed_caller_answers_201_empty_and_dials_now_or_at_call_at(
    app: KolejkaApp, components: Components, clock: FrozenClock, admin: str
) -> None:
    await gave_up(components, clock, "c1", "601100200", 10)
    await gave_up(components, clock, "c2", "500600700", 10)
    answer = await call(app, "POST", schedule("601100200"), auth=admin)
    assert (answer.status, answer.body) == (201, b"")
    later = {"call_at": "2014-08-06 18:00:00"}
    answer = await call(
        app, "POST", schedule("%2B48%20500%20600%20700"), auth=admin, json_body=later
    )
    assert (answer.status, answer.body) == (201, b"")
    assert sorted(await pending(components)) == [
        ("+48500600700", datetime(2014, 8, 6, 16, 0, tzinfo=UTC)),
        ("+48601100200", clock.now()),
    ]


async def test_a_second_request_makes_no_second_call_and_keeps_the_earlier_time(
    app: KolejkaApp, components: Components, clock: FrozenClock, admin: str
) -> None:
    await gave_up(components, clock, "c1", "601100200", 10)
    await call(app, "GET", LIST, auth=admin)  # the credential verified once, then cached
    bodies = [{"call_at": "2014-08-06 18:00:00"}, {"call_at": "2014-08-06 17:00:00"}] * 10
    answers = await asyncio.gather(
        *(call(app, "POST", schedule("601100200"), auth=admin, json_body=b) for b in bodies)
    )
    assert {a.status for a in answers} == {201}
    assert await pending(components) == [("+48601100200", datetime(2014, 8, 6, 15, 0, tzinfo=UTC))]


async def test_a_number_not_on_the_list_is_404_in_the_envelope_and_nothing_is_scheduled(
    app: KolejkaApp, components: Components, clock: FrozenClock, admin: str
) -> None:
    await gave_up(components, clock, "c1", "601100200", 10)
    await answered(components, clock, "c2", "500600700")
    await gave_up(components, clock, "c3", "500600701", 10, queue=3)
    for number, queue in (("500600700", 2), ("500600701", 2), ("500600702", 2), ("601100200", 3)):
        answer = await call(app, "POST", schedule(number, queue), auth=admin)
        assert_envelope(answer, 404, 404020)
    answer = await call(
        app, "POST", schedule("500600702"), auth=admin, headers={"Accept-Language": "en"}
    )
    assert answer.json()["errors"][0]["message"] == (
        'Number "500600702" is not on queue 2\'s abandoned list: it did not abandon the queue'
        " today, or it was reached since."
    )
    polish = await call(
        app, "POST", schedule("500600702"), auth=admin, headers={"Accept-Language": "pl"}
    )
    assert "nie porzucił dziś" in polish.json()["errors"][0]["message"]
    assert_envelope(await call(app, "POST", schedule("601100200", 4), auth=admin), 404, 404002)
    assert await pending(components) == []
    assert await pending(components, 3) == []


@pytest.mark.parametrize(
    "number",
    [
        "abc",
        "12",
        "5" * 65,
        "%ED%A0%80",  # a lone surrogate, UTF-8 encoded: no text
        "%F0%9F%98%80",
        "601100200%0A",
        "601100200%C2%85",
        "601100200%00",
        "%2E%2E",
        "601100200;DROP",
    ],
)
async def test_a_path_that_names_no_phone_number_is_400(
    app: KolejkaApp, components: Components, clock: FrozenClock, admin: str, number: str
) -> None:
    await gave_up(components, clock, "c1", "601100200", 10)
    answer = await call(app, "POST", schedule(number), auth=admin)
    assert_envelope(answer, 400, 400003)
    assert "phone_number" in answer.json()["errors"][0]["message"]
    assert await pending(components) == []


async def test_huge_paths_and_bad_queue_ids_never_reach_the_store(
    app: KolejkaApp, components: Components, admin: str
) -> None:
    answer = await call(app, "POST", schedule("6" * 20_000), auth=admin)
    assert_envelope(answer, 400, 400003)
    answer = await call(app, "POST", schedule("%36" * 5_000), auth=admin)
    assert_envelope(answer, 400, 400003)
    for queue in ("0", "abc", "%ED%A0%80", "9" * 5_000):
        assert_envelope(
            await call(app, "POST", schedule("601100200", queue), auth=admin), 400, 400001
        )
    assert await pending(components) == []


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"[]", 400003),
        (b'"now"', 400003),
        (b"{", 400002),
        (b'{"call_at": "\\ud800"}', 400003),
        (b'{"\\udfff": "x"}', 400003),
        (b'{"phone_number": "601100200"}', 400003),
        (b'{"call_at": "2014-08-06T18:00:00"}', 400003),
        (b'{"call_at": 1407340800}', 400003),
        (b'{"call_at": "2015-08-06 18:00:00"}', 400003),
    ],
)
async def test_bad_bodies_are_refused_and_nothing_is_scheduled(
    app: KolejkaApp, components: Components, clock: FrozenClock, admin: str, body: bytes, code: int
) -> None:
    await gave_up(components, clock, "c1", "601100200", 10)
    assert_envelope(
        await call(app, "POST", schedule("601100200"), auth=admin, body=body), 400, code
    )
    answer = await call(
        app,
        "POST",
        schedule("601100200"),
        auth=admin,
        body=b"call_at=now",
        content_type="text/plain",
    )
    assert_envelope(answer, 415, 415001)
    answer = await call(app, "POST", schedule("601100200") + "?force=1", auth=admin)
    assert_envelope(answer, 400, 400003)
    huge = b'{"call_at": "' + b"x" * 70_000 + b'"}'
    assert_envelope(
        await call(app, "POST", schedule("601100200"), auth=admin, body=huge), 413, 413001
    )
    assert await pending(components) == []


async def test_on_postgresql_the_list_and_its_callback_work_alike(
    postgres_url: str, clock: FrozenClock
) -> None:
    from kolejka.bootstrap import build, create_app
    from tests.servers import fresh_schema
    from tests.support import FAST_HASHER

    async with fresh_schema(postgres_url) as url:
        settings = Settings(database_url=url, abandoned_refresh_seconds=0)
        components = build(settings, clock=clock, hasher=FAST_HASHER)
        try:
            app = create_app(components)
            await components.queues.put(Queue(2, "Obsługa klienta"))
            await components.api_users.add("admin", f"admin-{CANARY}", ["*"])
            admin = basic("admin", f"admin-{CANARY}")
            jan = await add_person(components.crm, "Jan", "Kowalski", "746842523")
            await gave_up(components, clock, "c1", "746842523", 40)
            await gave_up(components, clock, "c2", "601100200", 10)
            await answered(components, clock, "c3", "601100200")
            assert await listed(app, admin) == [
                {
                    "phone_number": "746842523",
                    "customer_id": jan.customer_id,
                    "customer_label": "Jan Kowalski",
                    "times_abandoned": 1,
                    "first_attempt_at": "2014-08-06 14:30:35",
                    "last_attempt_at": "2014-08-06 14:30:35",
                    "longest_wait": 40,
                }
            ]
            answer = await call(app, "POST", schedule("746842523"), auth=admin)
            assert (answer.status, answer.body) == (201, b"")
            assert await pending(components) == [("+48746842523", clock.now())]
            answer = await call(app, "POST", schedule("601100200"), auth=admin)
            assert_envelope(answer, 404, 404020)
        finally:
            await components.aclose()
