"""With the live lists in Redis, a join's event goes through the Redis stream, the relay and the
database's outbox to the receiver."""

from __future__ import annotations

import asyncio
from pathlib import Path

from kolejka.bootstrap import build
from kolejka.domain.queues import Outcome, Queue
from tests.servers import drop_prefix, unique_name
from tests.support import FAST_HASHER, eventually
from tests.webhooks.helpers import webhook_settings
from tests.webhooks.receiver import Receiver, signed_correctly


async def test_events_of_lists_in_redis_are_relayed_and_delivered(
    database_path: Path, redis_url: str, receiver: Receiver
) -> None:
    prefix = unique_name("webhooks")
    settings = webhook_settings(database_path, live_url=redis_url, redis_prefix=prefix)
    components = build(settings, hasher=FAST_HASHER)
    tasks = [asyncio.ensure_future(task()) for task in components.background]
    try:
        assert components.webhooks is not None
        _, secret = await components.webhooks.register(
            {"actions": ["CALLER_JOINED", "CALLER_LEFT"], "subscription_url": receiver.url}
        )
        await components.queues.put(Queue(2, "Obsługa klienta"))
        await components.lists.join(2, "call-1", "613459851")
        await components.lists.leave("call-1", Outcome.ABANDONED)
        await eventually(lambda: len(receiver.event_ids()) == 2, seconds=20)
        actions = [r.json()["action"] for r in receiver.accepted]
        assert actions == ["CALLER_JOINED", "CALLER_LEFT"]
        assert all(signed_correctly(r, secret) for r in receiver.accepted)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await components.aclose()
        await drop_prefix(redis_url, prefix)
