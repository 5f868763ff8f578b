"""A budget for argon2 work: so many password checks at once overall, fewer from one address.

An argon2 check takes a core for tens of milliseconds by design. Without a bound, a burst of
guesses fills every worker thread and a real client's first login waits behind all of them.
Checks from one address queue behind each other (`per_address` at a time) before they may take
one of the `overall` slots, so one address never holds more than its share and another client's
check starts as soon as a slot is free.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager


class PasswordChecks:
    def __init__(self, overall: int | None = None, per_address: int | None = None) -> None:
        self.overall = overall or max(2, os.cpu_count() or 2)
        self.per_address = per_address or max(1, self.overall // 2)
        self._slots = asyncio.Semaphore(self.overall)
        # address -> (its semaphore, how many checks hold or await it); dropped at zero.
        self._addresses: dict[str, tuple[asyncio.Semaphore, list[int]]] = {}

    async def run(self, address: str, check: Callable[[], bool]) -> bool:
        """`check` in a worker thread, once a slot is free for `address`.

        The slot is held until the thread ends even if the caller goes away: a thread cannot be
        cancelled, and a client that hangs up must not free a slot its hash still occupies.
        """
        async with self.slot(address):
            thread = asyncio.ensure_future(asyncio.to_thread(check))
            try:
                return await asyncio.shield(thread)
            except asyncio.CancelledError:
                await asyncio.wait([thread])
                raise

    @asynccontextmanager
    async def slot(self, address: str) -> AsyncIterator[None]:
        """Held while one password is checked for a client at `address`."""
        entry = self._addresses.get(address)
        if entry is None:
            entry = self._addresses[address] = (asyncio.Semaphore(self.per_address), [0])
        semaphore, users = entry
        users[0] += 1
        try:
            async with semaphore, self._slots:
                yield
        finally:
            users[0] -= 1
            if not users[0]:
                del self._addresses[address]
