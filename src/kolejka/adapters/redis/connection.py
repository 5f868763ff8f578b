"""One Redis server: a client per event loop, the key prefix, and calls that end in time.

Keys are `{prefix}:...` with the prefix in braces, a Redis Cluster hash tag: every key of one
deployment lands in one slot, so the Lua scripts that touch several keys stay valid on a cluster,
and deployments (or test runs) with different prefixes share a server without meeting.

Like the PostgreSQL pool, a client is made on first use in the running event loop, and every call
goes through a `StoreGuard`. A connection broken by a restarted server is retried once at once,
so the first request after the server returns is already served.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

import redis.asyncio as aioredis
import redis.exceptions
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from kolejka.adapters.guard import StoreGuard
from kolejka.adapters.urls import redacted

log = logging.getLogger(__name__)

T = TypeVar("T")
Client = aioredis.Redis


def is_outage(error: BaseException) -> bool:
    """Whether `error` means Redis cannot serve us now (stopped, loading, read-only replica)."""
    return isinstance(
        error,
        (
            OSError,
            redis.exceptions.ConnectionError,  # includes BusyLoadingError
            redis.exceptions.TimeoutError,
            redis.exceptions.ReadOnlyError,
        ),
    )


class RedisConnection:
    """The client, the key prefix and the guard every Redis adapter of one deployment shares."""

    def __init__(self, url: str, prefix: str = "kolejka", timeout: float = 1.5) -> None:
        self.url = url
        self.where = redacted(url)
        self.prefix = prefix
        self.timeout = timeout
        self.guard = StoreGuard("Redis", timeout, is_outage)
        self._client: Client | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def key(self, *parts: object) -> str:
        return ":".join(["{" + self.prefix + "}", *(str(part) for part in parts)])

    def make_client(self) -> Client:
        """A new client of the server (the change feed's subscriber has its own)."""
        client: Client = aioredis.Redis.from_url(
            self.url,
            socket_timeout=self.timeout,
            socket_connect_timeout=self.timeout,
            retry=Retry(NoBackoff(), 1),
            retry_on_error=[redis.exceptions.ConnectionError],
            health_check_interval=0,
            client_name=f"kolejka-{self.prefix}",
        )
        return client

    def client(self) -> Client:
        loop = asyncio.get_running_loop()
        if self._client is None or self._loop is not loop:
            self._client, self._loop = self.make_client(), loop
        return self._client

    async def run(self, work: Callable[[Client], Awaitable[T]]) -> T:
        """`work` with this loop's client, under the guard."""
        client = self.client()
        return await self.guard(lambda: work(client))

    async def ping(self) -> bool:
        """Whether the server answers now (for /health); never raises."""
        try:
            await self.run(lambda client: client.ping())
        except Exception:
            return False
        return True

    async def aclose(self) -> None:
        client, loop, self._client, self._loop = self._client, self._loop, None, None
        if client is not None and loop is asyncio.get_running_loop():
            try:
                async with asyncio.timeout(self.timeout):
                    await client.aclose()
            except (TimeoutError, OSError, redis.exceptions.RedisError):
                log.debug("closing the Redis client failed", exc_info=True)

    def close(self) -> None:
        # A client made on another (finished) loop has nothing left to close cleanly.
        self._client = self._loop = None
