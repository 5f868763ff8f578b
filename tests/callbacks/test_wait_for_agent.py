"""The per-queue option "wait for a free agent" (KOLEJKA_CALLBACK_WAIT_FOR_AGENT): a due callback
is dialled only when the queue has a FREE agent, one per free agent, and only when nobody is
waiting who joined before the callback's place in line; other queues dial as before."""

from __future__ import annotations

from datetime import timedelta

from kolejka.bootstrap import Components
from kolejka.domain.agents import Membership
from kolejka.domain.queues import Outcome, Queue
from kolejka.services.callbacks import AgentsAndCallers, CallbackDialling
from tests.agents.support import ANOWAK, JKOWALSKI, put_live
from tests.callbacks.support import Dialer, round_of
from tests.support import FrozenClock


def dialling(components: Components, dialer: Dialer) -> CallbackDialling:
    return CallbackDialling(
        components.callbacks,
        dialer,
        claim_for=timedelta(minutes=2),
        wait_for_agent=(2,),
        occupancy=AgentsAndCallers(components.agents, components.callers),
    )


async def test_callbacks_wait_for_a_free_agent_and_go_one_per_free_agent(
    components: Components, clock: FrozenClock
) -> None:
    await components.queues.put(Queue(2, "Q"))
    await components.queues.put(Queue(7, "Other"))
    await components.agents.add(JKOWALSKI)
    await components.agents.add(ANOWAK)
    for number in ("500000001", "500000002", "500000003"):
        await components.callbacks.schedule(2, number, None)
        clock.advance(1)
    await components.callbacks.schedule(7, "500000009", None)
    dialer = Dialer()
    runner = dialling(components, dialer)
    await round_of(runner)
    assert dialer.dialled == ["+48500000009"]  # queue 7 does not wait; queue 2 has no agent
    await put_live(components, "jkowalski", (Membership(2, paused=True, pause_id=1),), clock.now())
    await round_of(runner)
    assert len(dialer.dialled) == 1  # paused is not free
    await put_live(components, "jkowalski", (Membership(2),), clock.now())
    await put_live(components, "anowak", (Membership(2), Membership(7)), clock.now())
    await round_of(runner)
    assert dialer.dialled[1:] == ["+48500000001", "+48500000002"]  # two free agents: two calls


async def test_a_caller_who_joined_earlier_is_not_passed_and_one_who_asked_keeps_their_place(
    components: Components, clock: FrozenClock
) -> None:
    await components.queues.put(Queue(2, "Q"))
    await components.agents.add(JKOWALSKI)
    await put_live(components, "jkowalski", (Membership(2),), clock.now())
    joined_at = clock.now()
    await components.lists.join(2, "call-1", "600000001", started_at=joined_at)
    clock.advance(60)
    await components.callbacks.schedule(2, "500000001", None)  # asked after call-1 joined
    # A caller who waited since before call-1 asked for a callback: their place is kept.
    await components.callbacks.schedule(2, "500000002", joined_at - timedelta(seconds=30))
    dialer = Dialer()
    runner = dialling(components, dialer)
    await round_of(runner)
    assert dialer.dialled == ["+48500000002"]
    await components.lists.leave("call-1", Outcome.ANSWERED, None, queue_id=2)
    await round_of(runner)
    assert dialer.dialled == ["+48500000002", "+48500000001"]
