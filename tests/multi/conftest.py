"""Fixtures for several `kolejka serve` processes sharing PostgreSQL and Redis
(tests/multi/deployment.py), and a fake Asterisk for them to listen to."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.ami.fake_asterisk import FakeAsterisk
from tests.multi.deployment import Deployment, deployed


@pytest.fixture
async def deployment(
    postgres_url: str, redis_url: str, tmp_path: Path
) -> AsyncIterator[Deployment]:
    """PostgreSQL and Redis, as docs/operations.md recommends."""
    async with deployed(postgres_url, redis_url, tmp_path) as found:
        yield found


@pytest.fixture(params=["postgresql+redis", "postgresql"])
async def any_deployment(
    request: pytest.FixtureRequest, postgres_url: str, tmp_path: Path
) -> AsyncIterator[Deployment]:
    """PostgreSQL and Redis, or PostgreSQL alone (LISTEN/NOTIFY, the lists in the database)."""
    redis_url = request.getfixturevalue("redis_url") if "redis" in request.param else ""
    async with deployed(postgres_url, redis_url, tmp_path) as found:
        yield found


@pytest.fixture
async def asterisk() -> AsyncIterator[FakeAsterisk]:
    fake = await FakeAsterisk().start()
    yield fake
    await fake.stop()
