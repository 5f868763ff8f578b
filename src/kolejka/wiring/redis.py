"""Redis (KOLEJKA_LIVE_URL): the live waiting lists and agents' states, the change feed between
instances (pub/sub), the login counters and the AMI lease move there; the database keeps the
rest."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from contextlib import nullcontext

from kolejka.adapters.redis.agent_live import RedisAgentLive
from kolejka.adapters.redis.changes import RedisChangeFeed
from kolejka.adapters.redis.connection import RedisConnection
from kolejka.adapters.redis.failures import RedisFailureCounter
from kolejka.adapters.redis.known_addresses import RedisKnownAddresses
from kolejka.adapters.redis.lease import RedisLease
from kolejka.adapters.redis.waiting_callers import QueuesWithRedisLists, RedisWaitingCallers
from kolejka.adapters.sql.webhooks import SqlWebhooks
from kolejka.adapters.sqlite.database import Database
from kolejka.observability.health import FeedCheck, StoreCheck
from kolejka.settings import Settings
from kolejka.wiring.stores import Stores

log = logging.getLogger(__name__)


def with_redis(stores: Stores, settings: Settings) -> None:
    """Moves what is live into Redis, on top of the database's stores."""
    redis = RedisConnection(
        settings.live_url, settings.redis_prefix, settings.store_timeout_seconds
    )
    live = RedisWaitingCallers(redis)
    redis_feed = RedisChangeFeed(redis)
    stores.redis = redis
    stores.queues = QueuesWithRedisLists(stores.queues, live)
    stores.callers = live
    stores.agent_live = RedisAgentLive(redis)  # everything live is in Redis
    stores.changes = redis_feed
    stores.failures = RedisFailureCounter(redis)
    stores.known_addresses = RedisKnownAddresses(redis)
    stores.transaction = nullcontext  # the lists are not in the database: nothing to batch
    holder = settings.instance_name or f"{socket.gethostname()}:{os.getpid()}"
    stores.lease = RedisLease(redis, "ami", settings.lease_seconds, holder)
    # Redis carries the changes now; a SQLite file keeps its watcher (for the commands' writes).
    stores.background = [redis_feed.run]
    if isinstance(stores.database, Database):
        sqlite = stores.database
        stores.background.append(lambda: sqlite.watch(redis_feed, settings.change_poll_seconds))
    assert isinstance(stores.webhooks, SqlWebhooks)
    outbox = stores.webhooks
    stores.background.append(lambda: relay_events(live, outbox))
    stores.checks.append(StoreCheck("live", "redis", redis.ping))
    stores.checks.append(FeedCheck("redis", lambda: redis_feed.connected))


async def relay_events(live: RedisWaitingCallers, outbox: SqlWebhooks) -> None:
    """Copies the live lists' events from their Redis stream into the database's outbox."""
    while True:
        try:
            copied = await live.relay_events(outbox)
        except Exception:
            log.exception("webhooks: relaying events from Redis failed")
            copied = 0
        if not copied:
            await asyncio.sleep(0.05)
