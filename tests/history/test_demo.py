"""The demo's simulated callers are recorded in the call history as real ones are."""

from __future__ import annotations

import asyncio
import contextlib

from kolejka.bootstrap import Components
from kolejka.demo import seed, simulate
from kolejka.domain.connections import ConnectionQuery, Disposition
from tests.support import eventually


async def test_the_simulated_callers_who_leave_are_in_the_call_history(
    components: Components,
) -> None:
    await seed(components)
    task = asyncio.create_task(simulate(components, interval=0.002))

    async def some_recorded() -> bool:
        page = await components.history.page(ConnectionQuery())
        assert page.count >= 5
        assert {row.disposition for row in page.rows} <= {
            Disposition.ANSWERED,
            Disposition.NO_ANSWER,
        }
        return True

    try:
        await eventually(some_recorded)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
