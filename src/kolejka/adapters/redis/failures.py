"""Login attempt counts in Redis (ports.FailureCounter), so the login throttle holds across
instances: an attacker spreading guesses over every instance behind the load balancer meets
the same limit as one who sends them all to one.

Each (key, minute bucket) is a counter that expires after two windows. A reservation is one
MULTI/EXEC (INCR, EXPIRE, GET of the previous bucket): Redis runs it as a unit, so each of two
instances' simultaneous attempts sees its own new count and at most `limit` of them pass. When
Redis does not answer, the count reads as zero: the throttle fails open rather than locking
every client out, and the password check itself still stands.
"""

from __future__ import annotations

import logging

from kolejka.adapters.redis.connection import Client, RedisConnection
from kolejka.domain.errors import StoreUnavailable

log = logging.getLogger(__name__)


class RedisFailureCounter:
    """Satisfies ports.FailureCounter."""

    def __init__(self, connection: RedisConnection, window_seconds: float = 60.0) -> None:
        self.redis = connection
        self.expire = int(window_seconds * 2) + 1

    def _key(self, key: str, bucket: int) -> str:
        return self.redis.key("login_failures", bucket, key)

    async def reserve(self, key: str, bucket: int) -> tuple[int, int]:
        async def reserve(client: Client) -> tuple[int, int]:
            async with client.pipeline(transaction=True) as pipe:
                pipe.incr(self._key(key, bucket))
                pipe.expire(self._key(key, bucket), self.expire)
                pipe.get(self._key(key, bucket - 1))
                current, _, previous = await pipe.execute()
            return int(previous or 0), int(current)

        try:
            return await self.redis.run(reserve)
        except StoreUnavailable:
            log.warning("could not count a login attempt: Redis is unavailable")
            return 0, 0

    async def counts(self, key: str, bucket: int) -> tuple[int, int]:
        try:
            previous, current = await self.redis.run(
                lambda client: client.mget(self._key(key, bucket - 1), self._key(key, bucket))
            )
        except StoreUnavailable:
            return 0, 0
        return int(previous or 0), int(current or 0)

    async def release(self, key: str, bucket: int) -> None:
        async def release(client: Client) -> None:
            # Never below zero, though the key should outlive any attempt by two windows.
            if await client.decr(self._key(key, bucket)) < 0:
                await client.delete(self._key(key, bucket))

        try:
            await self.redis.run(release)
        except StoreUnavailable:
            log.warning("could not take back a login attempt: Redis is unavailable")
