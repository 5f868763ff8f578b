"""The change feed between instances over Redis pub/sub (ports.ChangeFeed).

One channel per deployment (`{prefix}:changes`); each message is `origin topic queue_id`. `run`
is the subscriber, a background task: it holds a connection of its own (a `Subscription`, which
delivers each message from the socket callback itself), checks it with a PING when the channel
is quiet (a server that hangs says nothing, it does not close the socket), and reconnects after
a short backoff whenever the connection fails.

On each (re)connection it also checks the deployment's epoch key, set once by whichever instance
comes first: a key that is gone, or changed, means Redis lost its data (restarted without
persistence, flushed, failed over to an empty replica). That is logged as an error, since
callers who joined through the ingest API are gone with it; callers the PBX knows come back as
the AMI listener reconciles (the lease vanished too, so its holder starts it afresh).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time

from kolejka.adapters.redis.connection import Client, RedisConnection
from kolejka.adapters.redis.subscriber import Subscription
from kolejka.adapters.shared_feed import SharedFeed

log = logging.getLogger(__name__)

QUIET_SECONDS = 1.0


class RedisChangeFeed(SharedFeed):
    """Satisfies ports.ChangeFeed across the instances of one Redis key prefix."""

    server = "Redis"

    def __init__(self, connection: RedisConnection, origin: str | None = None) -> None:
        super().__init__(origin)
        self.redis = connection
        self.channel = connection.key("changes")
        self.epoch_key = connection.key("epoch")
        self.epoch: bytes | str | None = None
        self.data_losses = 0

    async def send(self, message: str) -> None:
        await self.redis.run(lambda client: client.publish(self.channel, message))

    async def _check_epoch(self) -> None:
        async def check(client: Client) -> bytes | str | None:
            await client.set(self.epoch_key, os.urandom(8).hex(), nx=True)
            epoch: bytes | str | None = await client.get(self.epoch_key)
            return epoch

        epoch = await self.redis.run(check)
        if self.epoch is not None and epoch != self.epoch:
            self.data_losses += 1
            log.error(
                "Redis at %s lost its data (restarted without persistence?): callers who joined"
                " through the ingest API are gone; the PBX's come back as the AMI listener"
                " reconciles. Give Redis an append-only file (docs/operations.md).",
                self.redis.where,
                extra={"store": "Redis", "event": "data_lost"},
            )
        self.epoch = epoch

    async def listen(self) -> None:
        timeout = self.redis.timeout
        link = await Subscription.open(self.redis.url, self._message, timeout)
        try:
            await link.subscribe(self.channel, timeout)
            await self._check_epoch()
            await self.linked()
            log.info("change feed: subscribed to %s", self.redis.where)
            pinged = False
            while not link.closed.done():
                await asyncio.wait({link.closed}, timeout=QUIET_SECONDS / 2)
                quiet = time.monotonic() - link.heard_at
                if quiet < QUIET_SECONDS:
                    pinged = False
                elif not pinged:
                    link.ping()
                    pinged = True
                elif quiet > QUIET_SECONDS + timeout:
                    raise TimeoutError("Redis did not answer a PING")
            raise ConnectionError("Redis closed the subscription")
        finally:
            link.close()

    def _message(self, data: bytes) -> None:
        # Called from the socket's data_received: the change is delivered before any request
        # that arrives in the same event-loop turn is handled (see subscriber.py).
        self.heard(data.decode("utf-8", errors="replace"))
