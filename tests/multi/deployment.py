"""A deployment of several `kolejka serve` processes sharing PostgreSQL (a fresh schema) and
Redis (a fresh key prefix), as behind a load balancer, and how the tests speak to it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

from kolejka.bootstrap import build
from kolejka.domain.queues import Queue
from kolejka.settings import Settings
from tests.e2e.client import request
from tests.servers import drop_prefix, fresh_schema, unique_name
from tests.support import FAST_HASHER, Answer, LiveServer

ADMIN = ("admin", "admin-secret")


@dataclass
class Deployment:
    """Instances sharing a database and, when `redis_url` is set, a Redis."""

    database_url: str
    redis_url: str
    prefix: str
    folder: Path
    servers: list[LiveServer] = field(default_factory=list)

    @property
    def env(self) -> dict[str, str]:
        return {
            "KOLEJKA_DATABASE_URL": self.database_url,
            "KOLEJKA_LIVE_URL": self.redis_url,
            "KOLEJKA_REDIS_PREFIX": self.prefix,
            "KOLEJKA_LEASE_SECONDS": "2",
        }

    def settings(self) -> Settings:
        return Settings(
            database_url=self.database_url, live_url=self.redis_url, redis_prefix=self.prefix
        )

    async def start(self, count: int = 1, **extra_env: str) -> list[LiveServer]:
        started = []
        for _ in range(count):
            name = f"instance-{len(self.servers)}"
            env = {**self.env, "KOLEJKA_INSTANCE_NAME": name, **extra_env}
            server = LiveServer(self.folder / f"{name}.db", extra_env=env)
            await asyncio.to_thread(server.start)
            self.servers.append(server)
            started.append(server)
        return started


@contextlib.asynccontextmanager
async def deployed(postgres_url: str, redis_url: str, tmp_path: Path) -> AsyncIterator[Deployment]:
    prefix = unique_name("multi")
    async with fresh_schema(postgres_url) as url:
        found = Deployment(url, redis_url, prefix, tmp_path)

        async def seed() -> None:
            components = build(found.settings(), hasher=FAST_HASHER)
            await components.api_users.add(*ADMIN, ["*"])
            await components.queues.put(Queue(2, "Obsługa klienta"))
            await components.aclose()

        await asyncio.to_thread(asyncio.run, seed())
        try:
            yield found
        finally:
            await asyncio.gather(*(asyncio.to_thread(s.stop) for s in found.servers))
            if redis_url:
                await drop_prefix(redis_url, prefix)


async def call(
    server: LiveServer, method: str, path: str, body: object = None, user: tuple[str, str] = ADMIN
) -> Answer:
    return await asyncio.to_thread(request, server.url, method, path, user=user, body=body)
