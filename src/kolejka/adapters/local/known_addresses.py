"""Addresses that signed in lately as each API user, in this process's memory
(ports.KnownAddresses), for one instance; redis/known_addresses.py shares them between instances.
"""

from __future__ import annotations

import time
from collections.abc import Callable


class LocalKnownAddresses:
    """(user, address) pairs that signed in lately, in this process's memory; bounded.

    When full, the pair signed in longest ago is forgotten first: only right passwords add
    pairs, so an attacker cannot flood it.
    """

    def __init__(
        self, max_entries: int = 100_000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.max_entries = max_entries
        self.clock = clock
        self._until: dict[tuple[str, str], float] = {}

    async def remember(self, username: str, address: str, seconds: float) -> None:
        self._until.pop((username, address), None)
        while len(self._until) >= self.max_entries:
            del self._until[next(iter(self._until))]
        self._until[(username, address)] = self.clock() + seconds

    async def known(self, username: str, address: str) -> bool:
        until = self._until.get((username, address))
        if until is None:
            return False
        if until < self.clock():
            del self._until[(username, address)]
            return False
        return True
