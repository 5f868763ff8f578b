"""Brute-force protection: too many failed logins from one address, or for one user, answer 429.

Attempts are counted in one-minute buckets, and the rate is the sliding-window estimate
`previous bucket x (share of the window it still covers) + current bucket`, so a burst cannot hide
at a bucket boundary. An attempt is reserved (counted atomically) *before* its password is
checked, so a hundred simultaneous guesses get `limit` checks, not a hundred; a reservation is
taken back when the password was right, so only failures hold the count up.

Once an address or a user name reaches the limit, further attempts from that address, or for that
name, are refused without checking a password until the estimate falls. Two things keep a real
client working during an attack on its user name: credentials verified lately are answered from
the authenticator's cache, and an address that signed in as the user with the right password
within `known_seconds` (a day by default) is spared the per-user limit (it still meets the
per-address one). docs/security.md has the threat model.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from kolejka.services.ports import FailureCounter, KnownAddresses

_TOLERANCE = 1e-6


@dataclass(frozen=True, slots=True)
class Reservation:
    """One attempt, counted under `keys` in `bucket`; refused when `wait` > 0 (nothing held).
    `address_refused`: refused for the address's own failures, not only for the user name's."""

    address: str
    username: str | None
    keys: tuple[str, ...]
    bucket: int
    wait: int = 0
    address_refused: bool = False


class LoginThrottle:
    def __init__(
        self,
        counter: FailureCounter,
        limit: int = 10,
        window_seconds: float = 60.0,
        clock: Callable[[], float] = time.time,
        *,
        known: KnownAddresses,
        known_seconds: float = 86_400.0,
    ) -> None:
        self.counter = counter
        self.limit = limit
        self.window = window_seconds
        self.clock = clock
        self.known = known
        self.known_seconds = known_seconds

    async def reserve(self, address: str, username: str | None) -> Reservation:
        """Counts an attempt before its password is checked; refused (wait > 0) over the limit."""
        if self.limit <= 0:
            return Reservation(address, username, (), 0)
        keys = [_address_key(address)]
        if username and not (self.known_seconds > 0 and await self.known.known(username, address)):
            keys.append(f"user:{username}")
        now = self.clock()
        bucket, into = divmod(now, self.window)
        held: list[str] = []
        for key in keys:
            previous, current = await self.counter.reserve(key, int(bucket))
            held.append(key)
            # `current` holds this attempt: the others make `current - 1`.
            wait = self.retry_after(previous, current - 1, into)
            if wait:
                # Stop reserving at the first refusal, so simultaneous attempts that passed one
                # key are not refused at the next by attempts that will not be checked anyway;
                # only read the rest, for a Retry-After that covers every key.
                await self.release(Reservation(address, username, tuple(held), int(bucket)))
                for other in keys[len(held) :]:
                    previous, current = await self.counter.counts(other, int(bucket))
                    wait = max(wait, self.retry_after(previous, current, into))
                # The address's key comes first: refused there, the address is over its limit.
                by_address = len(held) == 1
                return Reservation(address, username, (), int(bucket), wait, by_address)
        return Reservation(address, username, tuple(held), int(bucket))

    async def address_wait(self, address: str) -> int:
        """Seconds until `address` may try again, 0 when it may now: after a failure, whether
        that one took the address to its limit."""
        if self.limit <= 0:
            return 0
        bucket, into = divmod(self.clock(), self.window)
        previous, current = await self.counter.counts(_address_key(address), int(bucket))
        return self.retry_after(previous, current, into)

    async def succeeded(self, reservation: Reservation) -> None:
        """The password was right: the attempt is not a failure, and the address is known."""
        await self.release(reservation)
        if reservation.username and self.known_seconds > 0:
            await self.known.remember(reservation.username, reservation.address, self.known_seconds)

    async def release(self, reservation: Reservation) -> None:
        """Takes the attempt back uncounted (it succeeded, or was never checked)."""
        for key in reservation.keys:
            await self.counter.release(key, reservation.bucket)

    def retry_after(self, previous: int, current: int, into: float) -> int:
        """Whole seconds until the estimate falls below the limit, if no one fails meanwhile.

        The estimate decays continuously: within this bucket as the previous one slides out,
        then (from the next bucket on) as this one does. 0 when an attempt may go ahead now.
        """
        window = self.window
        # A hair under the limit: 100 x (1 - 54/60) is 9.999999 in floating point, and must
        # count as 10. The wait is computed against the same threshold the check uses.
        limit = self.limit - _TOLERANCE
        if previous * (1 - into / window) + current < limit:
            return 0
        if current < limit:
            # previous x (1 - (into + s) / window) + current < limit
            seconds = window * (1 - (limit - current) / previous) - into
        else:
            # The next bucket: current x (1 - u / window) < limit, from window - into on.
            seconds = window - into + window * (1 - limit / current)
        # Strictly after the moment it reaches the threshold, in whole seconds.
        return max(1, math.floor(seconds) + 1)


def _address_key(address: str) -> str:
    """The counter an address's attempts are counted under (`reserve`, `address_wait`)."""
    return f"address:{address}"
