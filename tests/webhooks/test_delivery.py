"""Delivery to a real HTTP receiver on 127.0.0.1: failures, timeouts and outages are retried,
every event arrives in order and signed; the last attempt parks an event, one call redelivers it;
private addresses are refused unless allowed."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from kolejka.bootstrap import Components, build, create_app
from kolejka.domain.queues import Outcome, Queue
from kolejka.services.ports import Change, Topic
from kolejka.settings import Settings
from tests.factories import add_person
from tests.support import FAST_HASHER, basic, call, eventually
from tests.webhooks.helpers import webhook_settings
from tests.webhooks.receiver import Receiver, signed_correctly

EVERYTHING = [
    "CUSTOMER_CREATED",
    "CUSTOMER_UPDATED",
    "CUSTOMER_DELETED",
    "CALLER_JOINED",
    "CALLER_LEFT",
]


@pytest.fixture
def settings(database_path: Path) -> Settings:
    # Enough attempts to outlast the outages below; each retry waits 10-50 ms.
    return webhook_settings(database_path, webhook_max_attempts=1000)


async def subscribe(components: Components, receiver: Receiver, **extra: Any) -> tuple[int, str]:
    assert components.webhooks is not None
    values = {"actions": EVERYTHING, "subscription_url": receiver.url, **extra}
    added, secret = await components.webhooks.register(values)
    return added.webhook_id, secret


async def attempts(components: Components, webhook_id: int) -> list[Any]:
    assert components.webhooks is not None
    return list((await components.webhooks.deliveries(webhook_id)).attempts)


async def test_every_event_arrives_in_order_and_signed_through_failures_timeouts_and_an_outage(
    delivering: Components, receiver: Receiver
) -> None:
    components = delivering
    webhook_id, secret = await subscribe(
        components, receiver, http_auth_user="crm", http_auth_password="pa:ss"
    )
    receiver.script = [500, 503, "stall", 404, 500]
    await components.queues.put(Queue(2, "Obsługa klienta"))
    jan = await add_person(components.crm, "Jan", "Kowalski", "+48 746 842 523")
    await components.lists.join(2, "call-1", "746842523")
    await components.lists.join(2, "call-2", "613459851")
    await eventually(lambda: len(receiver.event_ids()) >= 1, seconds=20)
    await receiver.stop()  # down: connections refused
    await components.lists.leave("call-1", Outcome.ANSWERED)
    await components.crm.update_customer(jan.customer_id, {"name": "Janusz"})

    async def refused() -> bool:
        return any(
            a.status == 0 and "Connect" in a.error for a in await attempts(components, webhook_id)
        )

    await eventually(refused, seconds=20)
    await receiver.start()  # back, on the same port
    await components.lists.leave("call-2", Outcome.ABANDONED)
    await eventually(lambda: len(receiver.event_ids()) == 6, seconds=20)

    ids = receiver.event_ids()
    assert ids == sorted(ids)
    first_of_each: dict[int, Any] = {}
    for received in receiver.accepted:
        assert signed_correctly(received, secret)
        assert received.headers["authorization"] == basic("crm", "pa:ss")
        assert received.headers["content-type"] == "application/json; charset=utf-8"
        body = received.json()
        assert received.headers["x-kolejka-event-id"] == str(body["event_id"])
        first_of_each.setdefault(body["event_id"], body)
    bodies = [first_of_each[i] for i in ids]
    assert [b["action"] for b in bodies] == [
        "CUSTOMER_CREATED",
        "CALLER_JOINED",
        "CALLER_JOINED",
        "CALLER_LEFT",
        "CUSTOMER_UPDATED",
        "CALLER_LEFT",
    ]
    assert list(bodies[0]) == ["action", "customer_id", "company_id", "date", "event_id"]
    assert bodies[0]["customer_id"] == jan.customer_id
    assert bodies[0]["company_id"] == ""
    joined = bodies[1]
    assert list(joined) == [
        "action",
        "queue_id",
        "call_id",
        "phone_number",
        "caller_name",
        "started_at",
        "customer_id",
        "customer_label",
        "date",
        "event_id",
    ]
    assert joined["customer_id"] == jan.customer_id
    # The CRM's name as of the event's first delivery, which may come before or after the
    # rename above: test_a_body_is_fixed_at_its_first_delivery... pins which one is sent.
    assert joined["customer_label"] in ("Jan Kowalski", "Janusz Kowalski")
    assert bodies[2]["customer_id"] is None
    assert len(joined["date"]) == 19
    assert joined["started_at"] == joined["date"]
    left = bodies[3]
    assert left["outcome"] == "answered"
    assert left["call_id"] == "call-1"
    assert isinstance(left["waited"], int)
    assert bodies[5]["outcome"] == "abandoned"
    outcomes = {a.outcome for a in await attempts(components, webhook_id)}
    assert outcomes == {"delivered", "failed"}


async def test_a_body_is_fixed_at_its_first_delivery_the_same_on_retry_and_to_every_subscriber(
    delivering: Components, receiver: Receiver
) -> None:
    """The join's row holds only what the join knew; the CRM's match is added when the event is
    first rendered, and those bytes are what every attempt and every subscriber gets, even after
    the customer is renamed. An event first rendered after the rename names the new name."""
    components = delivering
    assert components.webhooks is not None
    await components.queues.put(Queue(2, "Obsługa klienta"))
    jan = await add_person(components.crm, "Jan", "Kowalski", "+48 746 842 523")
    receiver.script = [500, 503, 500]  # the first request shows the event was rendered
    late = Receiver()  # not listening yet: its subscription's attempts are refused
    first, first_secret = await subscribe(components, receiver, actions=["CALLER_JOINED"])
    second, second_secret = await subscribe(components, late, actions=["CALLER_JOINED"])
    await components.lists.join(2, "call-1", "746842523")
    await eventually(lambda: receiver.requests >= 1, seconds=20)
    await components.crm.update_customer(jan.customer_id, {"name": "Janusz"})
    await eventually(lambda: len(receiver.accepted) == 1, seconds=20)
    await late.start()
    try:
        await eventually(lambda: len(late.accepted) == 1, seconds=20)
        (retried,) = receiver.accepted
        (other,) = late.accepted
        assert retried.body == other.body  # the same bytes, each signed with its own secret
        assert signed_correctly(retried, first_secret)
        assert signed_correctly(other, second_secret)
        body = retried.json()
        assert body["customer_id"] == jan.customer_id
        assert body["customer_label"] == "Jan Kowalski"
        assert body["phone_number"] == "746842523"
        assert body["call_id"] == "call-1"
        tries = [a for a in await attempts(components, first) if a.event_id == body["event_id"]]
        assert [a.outcome for a in reversed(tries)] == ["failed"] * 3 + ["delivered"]
        assert any(a.status == 0 for a in await attempts(components, second))
        # Rendered after the rename: the new name.
        await components.lists.join(2, "call-2", "+48746842523")
        await eventually(lambda: len(late.accepted) == 2, seconds=20)
        assert late.accepted[1].json()["customer_label"] == "Janusz Kowalski"
        assert late.accepted[1].json()["phone_number"] == "746842523"  # as the list shows it
    finally:
        await late.stop()


async def test_an_event_is_parked_after_the_last_attempt_and_one_call_redelivers_it(
    database_path: Path, receiver: Receiver
) -> None:
    components = build(webhook_settings(database_path, webhook_max_attempts=2), hasher=FAST_HASHER)
    assert components.delivery is not None
    task = asyncio.create_task(components.delivery.run())
    try:
        await components.api_users.add("admin", "admin-pass", ["*"])
        app = create_app(components)
        auth = basic("admin", "admin-pass")
        webhook_id, _ = await subscribe(components, receiver)
        receiver.script = [500, 500]
        await components.queues.put(Queue(2, "Obsługa klienta"))
        await components.lists.join(2, "call-1", "613459851")
        await components.lists.join(2, "call-2", "613459852")
        # The first is parked, and the next goes on without it.
        await eventually(lambda: len(receiver.event_ids()) == 1, seconds=20)
        shown = await call(app, "GET", f"/api/webhooks/{webhook_id}/deliveries", auth=auth)
        assert shown.status == 200
        (parked,) = shown.json()["parked"]
        assert parked["action"] == "CALLER_JOINED"
        assert parked["attempts"] == 2
        assert [a["outcome"] for a in shown.json()["attempts"]][-2:] == ["parked", "failed"]
        assert parked["event_id"] not in receiver.event_ids()

        again = await call(
            app,
            "POST",
            f"/api/webhooks/{webhook_id}/deliveries/{parked['event_id']}/redeliver",
            auth=auth,
        )
        assert again.status == 202
        await eventually(lambda: parked["event_id"] in receiver.event_ids(), seconds=20)

        async def unparked() -> bool:
            answer = await call(app, "GET", f"/api/webhooks/{webhook_id}/deliveries", auth=auth)
            return bool(answer.json()["parked"] == [])

        await eventually(unparked, seconds=20)
        metrics = await call(app, "GET", "/metrics", auth=auth)
        text = metrics.body.decode()
        assert 'kolejka_webhook_deliveries_total{outcome="parked"} 1' in text
        assert "kolejka_webhook_queue_depth" in text
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        components.close()


async def test_loopback_is_refused_at_connect_time_unless_allowed(
    database_path: Path, receiver: Receiver
) -> None:
    import asyncio

    components = build(
        webhook_settings(database_path, webhook_allow_private=0, webhook_max_attempts=2),
        hasher=FAST_HASHER,
    )
    assert components.delivery is not None
    task = asyncio.create_task(components.delivery.run())
    try:
        # Registered by name: the check is made on the address it resolves to, when connecting.
        webhook_id, _ = await subscribe(
            components,
            Receiver(port=receiver.port),
            subscription_url=receiver.url.replace("127.0.0.1", "localhost"),
        )
        await components.queues.put(Queue(2, "Obsługa klienta"))
        await components.lists.join(2, "call-1", "613459851")

        async def parked() -> bool:
            found = await attempts(components, webhook_id)
            return any(a.outcome == "parked" for a in found)

        await eventually(parked, seconds=20)
        found = await attempts(components, webhook_id)
        assert all("not allowed" in a.error for a in found)
        assert receiver.requests == 0
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        components.close()


async def test_an_ip_literal_is_refused_at_connect_time_unless_allowed(
    database_path: Path, receiver: Receiver
) -> None:
    components = build(
        webhook_settings(database_path, webhook_allow_private=0, webhook_max_attempts=2),
        hasher=FAST_HASHER,
    )
    assert components.delivery is not None
    task = asyncio.create_task(components.delivery.run())
    try:
        webhook_id, _ = await subscribe(components, receiver)  # http://127.0.0.1:<port>/hook
        await components.queues.put(Queue(2, "Obsługa klienta"))
        await components.lists.join(2, "call-1", "613459851")

        async def parked() -> bool:
            found = await attempts(components, webhook_id)
            return any(a.outcome == "parked" for a in found)

        await eventually(parked, seconds=20)
        found = await attempts(components, webhook_id)
        assert all("not allowed" in a.error and a.status == 0 for a in found)
        assert receiver.requests == 0
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        components.close()


async def test_an_endless_answer_is_read_only_up_to_the_cap_and_a_redirect_is_not_followed(
    delivering: Components, receiver: Receiver
) -> None:
    # The first event's answer never ends; the second's points elsewhere (a failure, retried).
    receiver.script = ["flood", "redirect"]
    webhook_id, _ = await subscribe(delivering, receiver)
    await delivering.queues.put(Queue(2, "Obsługa klienta"))
    await delivering.lists.join(2, "call-1", "613459851")
    await delivering.lists.join(2, "call-2", "613459852")

    async def both() -> bool:
        # The receiver holds the retried event before delivery has recorded its attempt (it
        # does so once the answer is read): wait for the record too, or this read can miss it.
        recorded = await attempts(delivering, webhook_id)
        return len(receiver.event_ids()) == 2 and len(recorded) == 3

    await eventually(both, seconds=10)
    found = await attempts(delivering, webhook_id)
    assert [(a.status, a.outcome) for a in reversed(found)] == [
        (200, "delivered"),
        (307, "failed"),
        (200, "delivered"),
    ]
    assert receiver.requests == 3  # nothing went to /elsewhere


async def test_delivery_stops_when_cancelled_just_as_a_change_wakes_it(
    live: Components, receiver: Receiver
) -> None:
    """A change and the stop in one step of the loop: on Python 3.11, `asyncio.wait_for` would
    return the wake-up and drop the cancellation, so a subscription's task went on for ever and
    stopping hung (CI stop 20 waited 90 minutes on it)."""
    delivery = live.delivery
    assert delivery is not None
    await subscribe(live, receiver)
    for _ in range(20):
        running = asyncio.create_task(delivery.run())
        await eventually(lambda: bool(delivery.delivering), seconds=5)
        await asyncio.sleep(0.02)  # every task idles, waiting for a change
        await live.changes.publish(Change(Topic.ALL))  # wakes them, in this same step
        running.cancel()
        async with asyncio.timeout(5):
            await asyncio.gather(running, return_exceptions=True)
        assert delivery.delivering == frozenset()
