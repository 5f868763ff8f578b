"""`POST /api/queues/{id}/schedule_call` exactly as Thulium documents it, kolejka's list and
cancel, and the abuse every hardened endpoint takes: bad ids, bodies, types, lone surrogates,
C1 controls, sizes, permissions, unknown query parameters, HEAD, and concurrent requests."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from kolejka.adapters.http.app import KolejkaApp
from kolejka.bootstrap import Components
from kolejka.domain.callbacks import CallbackState
from tests.support import CANARY, FrozenClock, assert_envelope, basic, call

SCHEDULE = "/api/queues/2/schedule_call"
LISTED = "/api/queues/2/scheduled_calls"
# Thulium's example body; 2020-11-06 14:42:11 in Warsaw is 13:42:11 UTC.
EXAMPLE = {"phone_number": "500333222", "call_at": "2020-11-06 14:42:11"}


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(datetime(2020, 11, 6, 12, 0, tzinfo=UTC))


@pytest.fixture
async def admin(personas: dict[str, str], queue_2: int) -> str:
    return personas["admin"]


async def stored(components: Components) -> list[tuple[str, datetime, str]]:
    return [
        (c.phone_number, c.call_at, c.state.value)
        for c in await components.callbacks.store.in_queue(2, 100)
    ]


async def test_thuliums_example_answers_201_with_an_empty_body_and_is_stored_in_local_time(
    app: KolejkaApp, components: Components, admin: str
) -> None:
    answer = await call(app, "POST", SCHEDULE, auth=admin, json_body=EXAMPLE)
    assert (answer.status, answer.body) == (201, b"")
    assert await stored(components) == [
        ("+48500333222", datetime(2020, 11, 6, 13, 42, 11, tzinfo=UTC), "pending")
    ]


async def test_without_call_at_or_with_a_past_one_it_is_due_now(
    app: KolejkaApp, components: Components, admin: str, clock: FrozenClock
) -> None:
    await call(app, "POST", SCHEDULE, auth=admin, json_body={"phone_number": "500333222"})
    past = {"phone_number": "600111222", "call_at": "2019-01-01 00:00:00"}
    assert (await call(app, "POST", SCHEDULE, auth=admin, json_body=past)).status == 201
    assert {at for _, at, _ in await stored(components)} == {clock.now()}


async def test_a_second_request_makes_no_second_call_and_keeps_the_earlier_time(
    app: KolejkaApp, components: Components, admin: str
) -> None:
    later = {"phone_number": "+48 500 333 222", "call_at": "2020-11-06 18:00:00"}
    assert (await call(app, "POST", SCHEDULE, auth=admin, json_body=later)).status == 201
    assert (await call(app, "POST", SCHEDULE, auth=admin, json_body=EXAMPLE)).status == 201
    assert (await call(app, "POST", SCHEDULE, auth=admin, json_body=later)).status == 201
    assert await stored(components) == [
        ("+48500333222", datetime(2020, 11, 6, 13, 42, 11, tzinfo=UTC), "pending")
    ]


async def test_concurrent_requests_for_one_number_make_one_callback(
    app: KolejkaApp, components: Components, admin: str
) -> None:
    await call(app, "GET", LISTED, auth=admin)  # the credential verified once, then cached
    answers = await asyncio.gather(
        *(call(app, "POST", SCHEDULE, auth=admin, json_body=EXAMPLE) for _ in range(20))
    )
    assert {a.status for a in answers} == {201}
    assert len(await stored(components)) == 1


@pytest.mark.parametrize(
    ("body", "field_name"),
    [
        ({}, "phone_number"),
        ({"phone_number": ""}, "phone_number"),
        ({"phone_number": None}, "phone_number"),
        ({"phone_number": 500333222}, "phone_number"),
        ({"phone_number": ["500333222"]}, "phone_number"),
        ({"phone_number": "abc"}, "phone_number"),
        ({"phone_number": "12"}, "phone_number"),
        ({"phone_number": "5" * 65}, "phone_number"),
        ({"phone_number": "500\u0085333222"}, "phone_number"),
        ({"phone_number": "500333222\r\nAction: Originate"}, "phone_number"),
        ({"phone_number": "500333222", "call_at": "2020-11-06T14:42:11"}, "call_at"),
        ({"phone_number": "500333222", "call_at": "2020-02-30 10:00:00"}, "call_at"),
        ({"phone_number": "500333222", "call_at": 1604670131}, "call_at"),
        ({"phone_number": "500333222", "call_at": ""}, "call_at"),
        ({"phone_number": "500333222", "call_at": "2020-11-06 14:42:11\u0085"}, "call_at"),
        ({"phone_number": "500333222", "call_at": "2021-11-06 14:42:11"}, "call_at"),
        ({"phone_number": "500333222", "queue_id": 3}, "queue_id"),
    ],
)
async def test_every_bad_input_is_a_400_naming_the_field_and_nothing_is_stored(
    app: KolejkaApp, components: Components, admin: str, body: object, field_name: str
) -> None:
    answer = await call(app, "POST", SCHEDULE, auth=admin, json_body=body)
    assert_envelope(answer, 400, 400003)
    assert field_name in answer.json()["errors"][0]["message"]
    assert await stored(components) == []


async def test_a_time_beyond_the_horizon_says_how_far_one_may_schedule(
    app: KolejkaApp, admin: str
) -> None:
    body = {"phone_number": "500333222", "call_at": "2020-12-07 12:00:00"}
    answer = await call(app, "POST", SCHEDULE, auth=admin, json_body=body)
    assert_envelope(answer, 400, 400003)
    assert answer.json()["errors"][0]["message"] == (
        "Invalid field call_at: is more than 30 days ahead."
    )


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"", 400003),
        (b"[]", 400003),
        (b'"500333222"', 400003),
        (b"{", 400002),
        (b'{"phone_number": "\\ud800"}', 400003),
        (b'{"\\udfff": "x"}', 400003),
    ],
)
async def test_bodies_that_are_no_object_of_text_are_refused(
    app: KolejkaApp, components: Components, admin: str, body: bytes, code: int
) -> None:
    assert_envelope(await call(app, "POST", SCHEDULE, auth=admin, body=body), 400, code)
    assert await stored(components) == []


async def test_sizes_types_and_unknown_query_parameters(
    app: KolejkaApp, components: Components, admin: str
) -> None:
    huge = {"phone_number": "500333222", "pad": "x" * 70_000}
    assert_envelope(await call(app, "POST", SCHEDULE, auth=admin, json_body=huge), 413, 413001)
    form = b"phone_number=500333222"
    answer = await call(app, "POST", SCHEDULE, auth=admin, body=form, content_type="text/plain")
    assert_envelope(answer, 415, 415001)
    answer = await call(app, "POST", SCHEDULE + "?force=1", auth=admin, json_body=EXAMPLE)
    assert_envelope(answer, 400, 400003)
    assert await stored(components) == []


@pytest.mark.parametrize("queue", ["0", "-2", "2.0", "%2F2", "abc", "99999999999", "%ED%A0%80"])
async def test_bad_queue_ids_are_400_and_unknown_queues_404(
    app: KolejkaApp, components: Components, admin: str, queue: str
) -> None:
    answer = await call(
        app, "POST", f"/api/queues/{queue}/schedule_call", auth=admin, json_body=EXAMPLE
    )
    assert_envelope(answer, 400, 400001)
    answer = await call(app, "POST", "/api/queues/3/schedule_call", auth=admin, json_body=EXAMPLE)
    assert_envelope(answer, 404, 404002)
    assert await components.callbacks.store.in_queue(3, 10) == []


async def test_permissions_are_named_as_thulium_names_them(
    app: KolejkaApp, components: Components, personas: dict[str, str], queue_2: int
) -> None:
    await components.api_users.add("crm", f"crm-{CANARY}", ["POST queues/:id/schedule_call"])
    crm = basic("crm", f"crm-{CANARY}")
    assert (await call(app, "POST", SCHEDULE, auth=crm, json_body=EXAMPLE)).status == 201
    assert_envelope(await call(app, "GET", LISTED, auth=crm), 403, 403001)
    assert_envelope(await call(app, "DELETE", LISTED + "/1", auth=crm), 403, 403001)
    answer = await call(app, "POST", SCHEDULE, auth=personas["reader"], json_body=EXAMPLE)
    assert_envelope(answer, 403, 403001)
    answer = await call(app, "POST", SCHEDULE, json_body=EXAMPLE)
    assert_envelope(answer, 401, 401001)
    answer = await call(app, "POST", SCHEDULE, auth=personas["stranger"], json_body=EXAMPLE)
    assert_envelope(answer, 401, 401002)
    assert len(await stored(components)) == 1


async def test_head_and_other_methods(app: KolejkaApp, admin: str) -> None:
    assert_envelope(await call(app, "GET", SCHEDULE, auth=admin), 405, 405001)
    head = await call(app, "HEAD", SCHEDULE, auth=admin)
    assert (head.status, head.body) == (405, b"")
    head = await call(app, "HEAD", LISTED, auth=admin)
    assert (head.status, head.body) == (200, b"")


async def test_the_list_shows_pending_and_finished_callbacks_with_attempts_newest_first(
    app: KolejkaApp, components: Components, admin: str, clock: FrozenClock
) -> None:
    await call(app, "POST", SCHEDULE, auth=admin, json_body=EXAMPLE)
    await call(app, "POST", SCHEDULE, auth=admin, json_body={"phone_number": "+4915110000001"})
    (claimed,) = await components.callbacks.claim(1, timedelta(minutes=1))
    assert claimed.claim is not None
    clock.advance(25)
    from kolejka.domain.callbacks import DialOutcome

    await components.callbacks.report(claimed.callback_id, claimed.claim, DialOutcome.BUSY)
    answer = await call(app, "GET", LISTED, auth=admin)
    assert answer.status == 200
    assert answer.json() == [
        {
            "callback_id": 2,
            "queue_id": 2,
            "phone_number": "+4915110000001",
            "call_at": "2020-11-06 13:05:25",
            "created_at": "2020-11-06 13:00:00",
            "state": "pending",
            "outcome": "busy",
            "attempts": [
                {
                    "attempt": 1,
                    "started_at": "2020-11-06 13:00:00",
                    "finished_at": "2020-11-06 13:00:25",
                    "outcome": "busy",
                }
            ],
        },
        {
            "callback_id": 1,
            "queue_id": 2,
            "phone_number": "500333222",
            "call_at": "2020-11-06 14:42:11",
            "created_at": "2020-11-06 13:00:00",
            "state": "pending",
            "outcome": None,
            "attempts": [],
        },
    ]
    assert_envelope(
        await call(app, "GET", "/api/queues/3/scheduled_calls", auth=admin), 404, 404002
    )
    answer = await call(app, "GET", LISTED + "?state=pending", auth=admin)
    assert_envelope(answer, 400, 400003)


async def test_a_pending_callback_is_cancelled_and_others_cannot_be(
    app: KolejkaApp, components: Components, admin: str
) -> None:
    await call(app, "POST", SCHEDULE, auth=admin, json_body=EXAMPLE)
    await call(app, "POST", SCHEDULE, auth=admin, json_body={"phone_number": "600111222"})
    answer = await call(app, "DELETE", LISTED + "/1", auth=admin)
    assert (answer.status, answer.body) == (204, b"")
    assert_envelope(await call(app, "DELETE", LISTED + "/1", auth=admin), 409, 409015)
    assert_envelope(await call(app, "DELETE", LISTED + "/99", auth=admin), 404, 404015)
    assert_envelope(await call(app, "DELETE", LISTED + "/abc", auth=admin), 400, 400001)
    other = "/api/queues/3/scheduled_calls/2"
    assert_envelope(await call(app, "DELETE", other, auth=admin), 404, 404002)
    states = {c.callback_id: c.state for c in await components.callbacks.store.in_queue(2, 10)}
    assert states == {1: CallbackState.CANCELLED, 2: CallbackState.PENDING}
    # Cancelled: the number can be scheduled again.
    assert (await call(app, "POST", SCHEDULE, auth=admin, json_body=EXAMPLE)).status == 201
    assert len(await stored(components)) == 3


async def test_every_wrong_field_is_named_in_one_answer_and_nothing_is_stored(
    app: KolejkaApp, components: Components, admin: str
) -> None:
    """Found by a black-box attack: only the first wrong field was named."""
    body = {"phone_number": "x", "call_at": "bad", "colour": "red"}
    answer = await call(app, "POST", SCHEDULE, auth=admin, json_body=body)

    assert answer.status == 400
    named = [error["message"].split(":")[0] for error in answer.json()["errors"]]
    assert named == ["Invalid field colour", "Invalid field phone_number", "Invalid field call_at"]
    assert all(error["code"] == 400003 for error in answer.json()["errors"])
    assert await stored(components) == []
