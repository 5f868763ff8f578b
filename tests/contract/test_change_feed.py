"""ports.ChangeFeed between instances: PostgreSQL LISTEN/NOTIFY and Redis pub/sub.

(The in-process LocalChangeFeed is what every instance's own part delivers synchronously.)
"""

from __future__ import annotations

import asyncio
import time

from kolejka.adapters.shared_feed import decode, encode
from kolejka.services.ports import Change, Topic
from tests.contract.stores import FeedFactory


async def heard_within(changes: list[Change], wanted: Change, seconds: float) -> float:
    started = time.monotonic()
    while wanted not in changes:
        if time.monotonic() - started > seconds:
            raise AssertionError(f"{wanted} not delivered in {seconds} s; got {changes}")
        await asyncio.sleep(0.001)
    return time.monotonic() - started


async def test_a_change_reaches_this_process_before_publish_returns(feeds: FeedFactory) -> None:
    feed = await feeds()
    heard: list[Change] = []
    feed.subscribe(heard.append)
    await feed.publish(Change(Topic.QUEUE, 2))
    assert heard == [Change(Topic.QUEUE, 2)]


async def test_a_change_reaches_every_other_instance_within_100_ms(feeds: FeedFactory) -> None:
    here, there, elsewhere = await feeds(), await feeds(), await feeds()
    heard_there: list[Change] = []
    heard_elsewhere: list[Change] = []
    there.subscribe(heard_there.append)
    elsewhere.subscribe(heard_elsewhere.append)
    await here.publish(Change(Topic.QUEUE, 7))
    await here.publish(Change(Topic.CRM))
    assert await heard_within(heard_there, Change(Topic.CRM), 0.1) < 0.1
    assert await heard_within(heard_elsewhere, Change(Topic.CRM), 0.1) < 0.1
    assert heard_there == heard_elsewhere == [Change(Topic.QUEUE, 7), Change(Topic.CRM)]


async def test_an_instance_does_not_hear_its_own_change_twice(feeds: FeedFactory) -> None:
    here, there = await feeds(), await feeds()
    heard_here: list[Change] = []
    heard_there: list[Change] = []
    here.subscribe(heard_here.append)
    there.subscribe(heard_there.append)
    await here.publish(Change(Topic.USERS))
    await heard_within(heard_there, Change(Topic.USERS), 1.0)
    await asyncio.sleep(0.05)
    assert heard_here == [Change(Topic.USERS)]


def test_messages_name_their_origin_and_foreign_ones_are_refused() -> None:
    assert decode(encode("abc", Change(Topic.QUEUE, 12))) == ("abc", Change(Topic.QUEUE, 12))
    assert decode(encode("abc", Change(Topic.ALL))) == ("abc", Change(Topic.ALL))
    assert decode("garbage") is None
    assert decode("abc queue x12") is None
    assert decode("abc no-identifier 1") is None
    assert decode("abc bogus ") is None  # a topic nobody here knows is not one of ours


async def test_an_agents_change_reaches_every_other_instance(feeds: FeedFactory) -> None:
    here, there = await feeds(), await feeds()
    heard: list[Change] = []
    there.subscribe(heard.append)
    await here.publish(Change(Topic.AGENTS))
    await heard_within(heard, Change(Topic.AGENTS), 1.0)
    assert decode(encode("abc", Change(Topic.AGENTS))) == ("abc", Change(Topic.AGENTS))
