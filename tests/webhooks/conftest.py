"""Components with webhooks on: a key, plain http and 127.0.0.1 allowed (the local receiver)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from kolejka.bootstrap import Components, build
from kolejka.settings import Settings
from tests.support import FAST_HASHER
from tests.webhooks.helpers import webhook_settings
from tests.webhooks.receiver import Receiver


@pytest.fixture
def settings(database_path: Path) -> Settings:
    return webhook_settings(database_path)


@pytest.fixture
def live(settings: Settings) -> Iterator[Components]:
    """Components on the system clock (leases and backoff run on real time)."""
    built = build(settings, hasher=FAST_HASHER)
    yield built
    built.close()


@pytest.fixture
async def delivering(live: Components) -> AsyncIterator[Components]:
    assert live.delivery is not None
    task = asyncio.create_task(live.delivery.run())
    yield live
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    started = await Receiver().start()
    yield started
    await started.stop()
