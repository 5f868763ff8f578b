"""The AMI lease in Redis (ports.Lease): one key, set only if absent, with an expiry.

The key holds a token unique to the holder; renewing and releasing check the token in a Lua
script, so an instance whose hold has expired (and been taken by another) can neither extend
nor delete the new holder's lease. Expiry is the server's: a holder that dies simply stops
renewing, and the key is free `seconds` later.
"""

from __future__ import annotations

import os

from kolejka.adapters.redis.connection import RedisConnection

# KEYS: the lease; ARGV: token, milliseconds. 1 if we hold it (now for ARGV[2] ms more), else 0.
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


class RedisLease:
    """Satisfies ports.Lease."""

    def __init__(
        self, connection: RedisConnection, name: str, seconds: float, holder: str = ""
    ) -> None:
        self.redis = connection
        self.key = connection.key("lease", name)
        self.seconds = seconds
        # Who holds it, for an operator reading the key; the random part makes it this run's.
        self.token = f"{holder or 'kolejka'}/{os.urandom(6).hex()}"

    async def acquire(self) -> bool:
        millis = int(self.seconds * 1000)
        taken = await self.redis.run(
            lambda client: client.set(self.key, self.token, nx=True, px=millis)
        )
        return bool(taken) or await self.renew()

    async def renew(self) -> bool:
        millis = int(self.seconds * 1000)
        renewed = await self.redis.run(
            lambda client: client.eval(_RENEW, 1, self.key, self.token, millis)
        )
        return bool(renewed)

    async def release(self) -> None:
        await self.redis.run(lambda client: client.eval(_RELEASE, 1, self.key, self.token))

    async def holder(self) -> str | None:
        """The token of whoever holds the lease now (for /health and operators)."""
        value = await self.redis.run(lambda client: client.get(self.key))
        return value.decode() if isinstance(value, bytes) else value
