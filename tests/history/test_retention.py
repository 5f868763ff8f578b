"""KOLEJKA_HISTORY_DAYS: calls older than that are pruned in the background, in small batches."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from datetime import timedelta

import pytest

from kolejka.bootstrap import Components, build
from kolejka.domain.connections import ConnectionQuery
from kolejka.domain.queues import Outcome, Queue
from kolejka.settings import Settings
from tests.support import FAST_HASHER, FrozenClock, eventually


async def call_ids(components: Components) -> list[str]:
    page = await components.history.page(ConnectionQuery())
    return [row.connection_id for row in page.rows]


async def record_calls(components: Components, clock: FrozenClock, *ages_in_days: int) -> None:
    """One call per age, each that many days before the clock's present."""
    await components.queues.put(Queue(2, "Obsługa klienta"))
    now = clock.instant
    for age in sorted(ages_in_days, reverse=True):
        clock.instant = now - timedelta(days=age)
        await components.lists.join(2, f"{age}d", "613459851")
        await components.lists.leave(f"{age}d", Outcome.ANSWERED)
    clock.instant = now


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return dataclasses.replace(settings, history_days=30)


async def test_calls_older_than_the_kept_days_are_pruned_in_batches(
    components: Components, clock: FrozenClock
) -> None:
    await record_calls(components, clock, 200, 120, 31, 29, 1)
    assert components.history.keep_days == 30
    assert await components.history.prune(batch=1, pause=0) == 3
    assert await call_ids(components) == ["1d", "29d"]
    assert await components.history.prune(batch=1, pause=0) == 0


async def test_the_service_prunes_in_the_background_by_kolejka_history_days(
    settings: Settings, clock: FrozenClock
) -> None:
    components = build(settings, clock=clock, hasher=FAST_HASHER)
    try:
        await record_calls(components, clock, 31, 29)
        assert components.history.prune_forever in components.background
        task = asyncio.create_task(components.history.prune_forever())

        async def pruned() -> bool:
            assert await call_ids(components) == ["29d"]
            return True

        await eventually(pruned)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    finally:
        components.close()


def test_kolejka_history_days_is_read_and_checked() -> None:
    assert Settings.from_env({"KOLEJKA_HISTORY_DAYS": "7"}).history_days == 7
    assert Settings.from_env({}).history_days == 90
    for wrong in ("0", "-1", "40000", "seven"):
        with pytest.raises(ValueError, match="KOLEJKA_HISTORY_DAYS"):
            Settings.from_env({"KOLEJKA_HISTORY_DAYS": wrong})
