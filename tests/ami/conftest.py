"""AMI fixtures: a fake Asterisk on a real socket, and kolejka (real SQLite) following it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from kolejka.adapters.ami.listener import AmiListener
from kolejka.bootstrap import Components
from kolejka.settings import Settings
from tests.ami.fake_asterisk import FakeAsterisk
from tests.ami.helpers import ami_settings
from tests.support import eventually


@pytest.fixture
async def asterisk() -> AsyncIterator[FakeAsterisk]:
    fake = await FakeAsterisk().start()
    yield fake
    await fake.stop()


@pytest.fixture
def settings(database_path: Path, asterisk: FakeAsterisk) -> Settings:
    """The root fixture's settings, with the AMI listener pointed at the fake Asterisk."""
    return ami_settings(Settings(database_url=f"sqlite:///{database_path}"), asterisk)


@pytest.fixture
async def listener(components: Components) -> AsyncIterator[AmiListener]:
    """The listener bootstrap built, running as `kolejka serve` runs it."""
    assert components.ami is not None
    task = asyncio.create_task(components.ami.run())
    yield components.ami
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


@pytest.fixture
async def following(listener: AmiListener, asterisk: FakeAsterisk) -> AmiListener:
    """The listener, logged in and reconciled with the fake Asterisk."""
    await eventually(lambda: listener.link.up)
    return listener
