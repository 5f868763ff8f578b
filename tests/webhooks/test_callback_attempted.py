"""`CALLBACK_ATTEMPTED` to a real HTTP receiver on 127.0.0.1: one signed event per attempt of a
scheduled callback, with its outcome and what comes next; none written when nobody subscribes."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest

from kolejka.bootstrap import Components
from kolejka.domain.callbacks import DialOutcome
from kolejka.domain.queues import Queue
from kolejka.settings import Settings
from tests.support import eventually
from tests.webhooks.helpers import webhook_settings
from tests.webhooks.receiver import Receiver, signed_correctly

WIRE_TIME = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d")
CLAIM = timedelta(minutes=2)


@pytest.fixture
def settings(database_path: Path) -> Settings:
    # Two attempts, the second due at once after the first.
    return webhook_settings(database_path, callback_attempts=2, callback_retry_seconds=0)


async def attempt(components: Components, outcome: DialOutcome) -> None:
    (claimed,) = await components.callbacks.claim(1, CLAIM)
    assert claimed.claim is not None
    await components.callbacks.report(claimed.callback_id, claimed.claim, outcome)


async def test_each_attempt_arrives_signed_with_its_outcome_and_next_attempt(
    delivering: Components, receiver: Receiver
) -> None:
    components = delivering
    assert components.webhooks is not None
    values = {"actions": ["CALLBACK_ATTEMPTED"], "subscription_url": receiver.url}
    _, secret = await components.webhooks.register(values)
    await components.queues.put(Queue(2, "Obsługa klienta"))
    callback = await components.callbacks.schedule(2, "500333222", None)
    await attempt(components, DialOutcome.BUSY)
    await attempt(components, DialOutcome.NO_ANSWER)
    await eventually(lambda: len(set(receiver.event_ids())) == 2, seconds=20)
    bodies = []
    for received in receiver.accepted:
        assert signed_correctly(received, secret)
        bodies.append(received.json())
    first, last = bodies[0], bodies[-1]
    assert list(first) == [
        "action",
        "callback_id",
        "queue_id",
        "phone_number",
        "attempt",
        "outcome",
        "started_at",
        "finished_at",
        "state",
        "next_attempt_at",
        "connection_id",
        "date",
        "event_id",
    ]
    assert {k: first[k] for k in ("action", "callback_id", "queue_id", "phone_number")} == {
        "action": "CALLBACK_ATTEMPTED",
        "callback_id": callback.callback_id,
        "queue_id": 2,
        "phone_number": "500333222",
    }
    assert (first["attempt"], first["outcome"], first["state"]) == (1, "busy", "pending")
    assert first["connection_id"] == f"callback-{callback.callback_id}-1"
    for field in ("started_at", "finished_at", "next_attempt_at", "date"):
        assert WIRE_TIME.fullmatch(first[field]), field
    assert first["date"] == first["finished_at"]
    assert (last["attempt"], last["outcome"], last["state"]) == (2, "no_answer", "failed")
    assert last["next_attempt_at"] is None
    assert last["event_id"] > first["event_id"]


async def test_nothing_is_written_for_attempts_nobody_subscribes_to(live: Components) -> None:
    components = live
    assert components.webhooks is not None
    await components.queues.put(Queue(2, "Obsługa klienta"))
    await components.callbacks.schedule(2, "500333222", None)
    await attempt(components, DialOutcome.ANSWERED)
    assert await components.webhooks.store.following(0, ["CALLBACK_ATTEMPTED"], 10) == []
    # The attempt is recorded all the same: state, and its row in the call history.
    assert (await components.history.connection("callback-1-1")).dst == "+48500333222"
