"""Brute-force protection: too many failed logins from one address, or for one user, answer 429.

Failures are counted in one-minute buckets, and the rate is the sliding-window estimate
`previous bucket x (share of the window it still covers) + current bucket`, so a burst cannot hide
at a bucket boundary. Once an address or a user name reaches the limit, further unverified
attempts from that address, or for that name, are refused without checking a password until the
estimate falls; credentials verified before the attack (held in the authenticator's cache) keep
working, so an attacker cannot lock a logged-in wallboard out.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from kolejka.ports import FailureCounter


class LoginThrottle:
    def __init__(
        self,
        counter: FailureCounter,
        limit: int = 10,
        window_seconds: float = 60.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.counter = counter
        self.limit = limit
        self.window = window_seconds
        self.clock = clock

    async def wait_for(self, address: str, username: str | None) -> int:
        """Seconds the caller must wait before trying again; 0 when it may try now."""
        if self.limit <= 0:
            return 0
        now = self.clock()
        bucket, into = divmod(now, self.window)
        for key in _keys(address, username):
            previous, current = await self.counter.counts(key, int(bucket))
            estimate = previous * (1 - into / self.window) + current
            if estimate >= self.limit:
                return max(1, math.ceil(self.window - into))
        return 0

    async def failed(self, address: str, username: str | None) -> None:
        bucket = int(self.clock() // self.window)
        for key in _keys(address, username):
            await self.counter.add(key, bucket)


def _keys(address: str, username: str | None) -> list[str]:
    keys = [f"address:{address}"]
    if username:
        keys.append(f"user:{username}")
    return keys


class LocalFailureCounter:
    """Failure counts in this process's memory; bounded, forgetting buckets older than a window."""

    def __init__(self, max_entries: int = 100_000) -> None:
        self.max_entries = max_entries
        self._counts: dict[tuple[str, int], int] = {}

    async def add(self, key: str, bucket: int) -> None:
        if len(self._counts) >= self.max_entries:
            self._counts = {k: v for k, v in self._counts.items() if k[1] >= bucket - 1}
            if len(self._counts) >= self.max_entries:
                self._counts.clear()  # a flood of distinct keys: start afresh rather than grow
        self._counts[(key, bucket)] = self._counts.get((key, bucket), 0) + 1

    async def counts(self, key: str, bucket: int) -> tuple[int, int]:
        return self._counts.get((key, bucket - 1), 0), self._counts.get((key, bucket), 0)
