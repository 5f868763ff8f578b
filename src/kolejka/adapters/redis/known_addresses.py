"""Addresses that signed in lately as each API user, in Redis (ports.KnownAddresses).

Shared by the instances, so the per-user login limit spares a PBX whichever instance it reached
when it last signed in. One key per (user, address) with the remembered span as its expiry.
When Redis does not answer, no address is known: the per-user limit then applies to everyone,
as it would on a fresh start.
"""

from __future__ import annotations

import contextlib
import math

from kolejka.adapters.redis.connection import RedisConnection
from kolejka.domain.errors import StoreUnavailable


class RedisKnownAddresses:
    """Satisfies ports.KnownAddresses."""

    def __init__(self, connection: RedisConnection) -> None:
        self.redis = connection

    def _key(self, username: str, address: str) -> str:
        # A user name never holds ':' (HTTP Basic splits at the first), so the pair is unambiguous.
        return self.redis.key("login_known", username, address)

    async def remember(self, username: str, address: str, seconds: float) -> None:
        ttl = max(1, math.ceil(seconds))
        # When Redis is down the client still signs in; it is only not spared until next time.
        with contextlib.suppress(StoreUnavailable):
            await self.redis.run(lambda client: client.set(self._key(username, address), 1, ex=ttl))

    async def known(self, username: str, address: str) -> bool:
        try:
            found = await self.redis.run(lambda client: client.exists(self._key(username, address)))
        except StoreUnavailable:
            return False
        return bool(found)
