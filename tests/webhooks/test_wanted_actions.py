"""Which actions the subscriptions want: known without the store once read, forgotten when a
subscription is added or removed, so the next caller's event follows the change at once."""

from __future__ import annotations

from kolejka.bootstrap import Components
from kolejka.domain.queues import Outcome, Queue
from kolejka.domain.webhooks import Action

URL = "http://127.0.0.1:9/hook"


async def outbox_actions(live: Components) -> list[str]:
    assert live.webhooks is not None
    events = await live.webhooks.store.following(0, [a.value for a in Action], 100)
    return [event.action for event in events]


async def test_what_is_wanted_is_unknown_until_read_and_again_after_a_change(
    live: Components,
) -> None:
    webhooks = live.webhooks
    assert webhooks is not None
    assert webhooks.known_wants("CALLER_JOINED") is None
    assert not await webhooks.wants("CALLER_JOINED")
    assert webhooks.known_wants("CALLER_JOINED") is False
    added, _ = await webhooks.register({"actions": ["CALLER_JOINED"], "subscription_url": URL})
    assert webhooks.known_wants("CALLER_JOINED") is None
    assert await webhooks.wants("CALLER_JOINED")
    assert webhooks.known_wants("CALLER_JOINED") is True
    assert webhooks.known_wants("CALLER_LEFT") is False
    await webhooks.remove(added.webhook_id)
    assert webhooks.known_wants("CALLER_JOINED") is None


async def test_callers_events_follow_the_subscriptions_as_they_change(live: Components) -> None:
    assert live.webhooks is not None
    await live.queues.put(Queue(7, "Obsługa klienta"))
    await live.lists.join(7, "a", "613459851")  # nobody subscribed: no event
    added, _ = await live.webhooks.register(
        {"actions": ["CALLER_JOINED", "CALLER_LEFT"], "subscription_url": URL}
    )
    await live.lists.join(7, "b", "613459852")
    await live.lists.leave("a", Outcome.ANSWERED)
    await live.webhooks.remove(added.webhook_id)
    await live.lists.leave("b", Outcome.ABANDONED)  # nobody subscribed again
    assert await outbox_actions(live) == ["CALLER_JOINED", "CALLER_LEFT"]
