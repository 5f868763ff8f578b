"""`POST /api/queues/{id}/callers/{call_id}/schedule_call`: a caller waiting now asks (through the
PBX's IVR) to be called back, and keeps their place in line: the callback takes their number and
the moment they joined. With "wait for a free agent" it is dialled when they would have reached
the head of the queue, after they hung up. And the abuse every hardened endpoint takes."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from kolejka.adapters.http.app import KolejkaApp
from kolejka.bootstrap import Components
from kolejka.domain.agents import Membership
from kolejka.domain.queues import Outcome, Queue
from kolejka.services.callbacks import AgentsAndCallers, CallbackDialling
from tests.agents.support import JKOWALSKI, put_live
from tests.callbacks.support import Dialer, round_of
from tests.support import CANARY, FrozenClock, assert_envelope, basic, call

PERMISSION = "POST queues/:id/callers/:call_id/schedule_call"
JOINED = datetime(2020, 11, 6, 12, 0, tzinfo=UTC)  # 13:00:00 in Warsaw


def path(call_id: str = "1700000000.42", queue_id: object = 2) -> str:
    return f"/api/queues/{queue_id}/callers/{call_id}/schedule_call"


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(JOINED)


@pytest.fixture
async def ivr(components: Components, queue_2: int) -> str:
    """The PBX's API user: it may ask for this and nothing else."""
    await components.api_users.add("ivr", f"ivr-{CANARY}", [PERMISSION])
    return basic("ivr", f"ivr-{CANARY}")


@pytest.fixture
async def waiting(components: Components, queue_2: int, clock: FrozenClock) -> str:
    await components.lists.join(2, "1700000000.42", "500333222", started_at=JOINED)
    clock.advance(95)  # the caller has waited 95 s when they press the key
    return "1700000000.42"


async def test_the_callback_takes_the_callers_number_and_place_and_answers_201_with_it(
    app: KolejkaApp, components: Components, ivr: str, waiting: str
) -> None:
    answer = await call(app, "POST", path(waiting), auth=ivr)
    assert answer.status == 201
    assert answer.json() == {
        "callback_id": 1,
        "queue_id": 2,
        "phone_number": "500333222",
        "call_at": "2020-11-06 13:00:00",
        "created_at": "2020-11-06 13:01:35",
        "state": "pending",
        "outcome": None,
        "attempts": [],
    }
    (stored,) = await components.callbacks.store.in_queue(2, 10)
    assert (stored.phone_number, stored.call_at) == ("+48500333222", JOINED)
    # The caller still waits: asking changes nothing in the queue; they may now hang up.
    assert [c.call_id for _, c in await components.callers.waiting(2)] == [waiting]


async def test_asking_again_or_with_an_empty_object_keeps_one_callback(
    app: KolejkaApp, components: Components, ivr: str, waiting: str
) -> None:
    first = await call(app, "POST", path(waiting), auth=ivr, json_body={})
    again = await call(app, "POST", path(waiting), auth=ivr)
    assert (first.status, again.status) == (201, 201)
    assert first.json()["callback_id"] == again.json()["callback_id"]
    assert len(await components.callbacks.store.in_queue(2, 10)) == 1


async def test_an_earlier_callback_for_the_number_keeps_the_earlier_time(
    app: KolejkaApp, components: Components, ivr: str, waiting: str
) -> None:
    await components.callbacks.schedule(2, "500333222", JOINED + timedelta(hours=2))
    answer = await call(app, "POST", path(waiting), auth=ivr)
    assert answer.json()["call_at"] == "2020-11-06 13:00:00"  # the place wins: it is earlier


async def test_unknown_calls_queues_and_ids_answer_in_the_envelope_and_store_nothing(
    app: KolejkaApp, components: Components, ivr: str, waiting: str, personas: dict[str, str]
) -> None:
    admin = personas["admin"]
    assert_envelope(await call(app, "POST", path("no-such-call"), auth=admin), 404, 404003)
    await components.queues.put(Queue(3, "Other"))
    # Waiting, but in another queue.
    assert_envelope(await call(app, "POST", path(waiting, 3), auth=admin), 404, 404003)
    assert_envelope(await call(app, "POST", path(waiting, 9), auth=admin), 404, 404002)
    for bad in ("0", "-1", "abc", "99999999999999999999", "%ED%A0%80"):
        assert_envelope(await call(app, "POST", path(waiting, bad), auth=admin), 400, 400001)
    # A lone surrogate's bytes, U+FFFD, and an id longer than any call's: no such call.
    for odd in ("%ED%A0%80", "%FF", "x" * 5000, "%2F..%2F", "a%00b"):
        assert_envelope(await call(app, "POST", path(odd), auth=admin), 404, 404003)
    assert await components.callbacks.store.in_queue(2, 10) == []
    assert await components.callbacks.store.in_queue(3, 10) == []


async def test_a_withheld_number_cannot_be_called_back(
    app: KolejkaApp, components: Components, ivr: str
) -> None:
    for call_id, number in (("anon", "anonymous"), ("none", ""), ("junk", "abc")):
        await components.lists.join(2, call_id, number)
        answer = await call(app, "POST", path(call_id), auth=ivr)
        assert_envelope(answer, 409, 409040)
    assert await components.callbacks.store.in_queue(2, 10) == []


async def test_bodies_and_query_parameters_are_refused_in_the_envelope(
    app: KolejkaApp, components: Components, ivr: str, waiting: str
) -> None:
    target = path(waiting)
    for body, code in (
        ({"phone_number": "600111222"}, 400003),  # the number is the caller's
        ({"call_at": "2020-11-06 14:00:00"}, 400003),  # so is the place
        ([], 400003),
        ("x", 400003),
    ):
        assert_envelope(await call(app, "POST", target, auth=ivr, json_body=body), 400, code)
    answer = await call(app, "POST", target, auth=ivr, body=b'{"\\ud800": 1}')
    assert_envelope(answer, 400, 400003)
    assert_envelope(await call(app, "POST", target, auth=ivr, body=b"{nope"), 400, 400002)
    answer = await call(app, "POST", target, auth=ivr, body=b"{}", content_type="text/plain")
    assert_envelope(answer, 415, 415001)
    huge = {"pad": "x" * 70_000}
    assert_envelope(await call(app, "POST", target, auth=ivr, json_body=huge), 413, 413001)
    assert_envelope(await call(app, "POST", target + "?force=1", auth=ivr), 400, 400003)
    assert await components.callbacks.store.in_queue(2, 10) == []


async def test_it_needs_its_own_permission(
    app: KolejkaApp, components: Components, waiting: str, personas: dict[str, str]
) -> None:
    target = path(waiting)
    assert_envelope(await call(app, "POST", target, auth=personas["ingest"]), 403, 403001)
    await components.api_users.add("thulium", f"t-{CANARY}", ["POST queues/:id/schedule_call"])
    thulium = basic("thulium", f"t-{CANARY}")
    assert_envelope(await call(app, "POST", target, auth=thulium), 403, 403001)
    assert_envelope(await call(app, "POST", target), 401, 401001)
    assert_envelope(await call(app, "POST", target, auth=personas["stranger"]), 401, 401002)
    assert_envelope(await call(app, "GET", target, auth=personas["admin"]), 405, 405001)
    assert await components.callbacks.store.in_queue(2, 10) == []


async def test_many_presses_at_once_make_one_callback(
    app: KolejkaApp, components: Components, ivr: str, waiting: str
) -> None:
    # The credential verified once (then cached), and the presses all at once.
    assert_envelope(await call(app, "POST", path("warm-up"), auth=ivr), 404, 404003)
    answers = await asyncio.gather(*(call(app, "POST", path(waiting), auth=ivr) for _ in range(20)))
    assert {a.status for a in answers} == {201}
    assert len({a.json()["callback_id"] for a in answers}) == 1
    assert len(await components.callbacks.store.in_queue(2, 10)) == 1


async def test_with_wait_for_agent_it_is_dialled_when_the_caller_would_have_reached_the_head(
    app: KolejkaApp, components: Components, ivr: str, waiting: str, clock: FrozenClock
) -> None:
    await components.agents.add(JKOWALSKI)
    await components.lists.join(2, "later", "600000002", started_at=JOINED + timedelta(seconds=30))
    await components.lists.join(2, "earlier", "600000001", started_at=JOINED - timedelta(minutes=1))
    assert (await call(app, "POST", path(waiting), auth=ivr)).status == 201
    await components.lists.leave(waiting, Outcome.ABANDONED)  # they hang up, as told they may
    dialer = Dialer()
    runner = CallbackDialling(
        components.callbacks,
        dialer,
        claim_for=timedelta(minutes=2),
        wait_for_agent=(2,),
        occupancy=AgentsAndCallers(components.agents, components.callers),
    )
    await put_live(components, "jkowalski", (Membership(2),), clock.now())
    await round_of(runner)
    assert dialer.dialled == []  # "earlier" joined before them and still waits
    await components.lists.leave("earlier", Outcome.ANSWERED)
    await round_of(runner)
    # Their place comes before "later", who joined 30 s after them: they are called now.
    assert dialer.dialled == ["+48500333222"]
    assert [c.call_id for _, c in await components.callers.waiting(2)] == ["later"]


async def test_a_caller_the_key_took_out_of_the_queue_is_found_in_the_history_for_a_while(
    app: KolejkaApp, components: Components, ivr: str, waiting: str, clock: FrozenClock
) -> None:
    """Asterisk takes a caller who presses a key out of the queue before the dialplan asks:
    the call, just abandoned, keeps its number and place all the same."""
    await components.lists.leave(waiting, Outcome.ABANDONED)
    answer = await call(app, "POST", path(waiting), auth=ivr)
    assert answer.status == 201
    assert (answer.json()["phone_number"], answer.json()["call_at"]) == (
        "500333222",
        "2020-11-06 13:00:00",
    )
    # Not long after, though, nor for an answered call, nor in another queue.
    await components.lists.join(2, "late", "600000001", started_at=clock.now())
    await components.lists.leave("late", Outcome.ABANDONED)
    await components.lists.join(2, "taken", "600000002")
    await components.lists.leave("taken", Outcome.ANSWERED)
    await components.queues.put(Queue(3, "Other"))
    assert_envelope(await call(app, "POST", path(waiting, 3), auth=ivr), 404, 404003)
    assert_envelope(await call(app, "POST", path("taken"), auth=ivr), 404, 404003)
    clock.advance(121)
    assert_envelope(await call(app, "POST", path("late"), auth=ivr), 404, 404003)
    assert len(await components.callbacks.store.in_queue(2, 10)) == 1
