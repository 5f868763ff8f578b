"""Calls to a server-backed store (PostgreSQL, Redis) that end in time, whatever the server does.

A stopped server refuses at once, but a hung one (or a lost network) would keep a request waiting
for minutes. Every call therefore runs under a deadline: past it, or on an error that means the
server cannot be reached, the caller gets `StoreUnavailable` (503001 on the wire) and the call's
own clean-up (a driver cancelling a query, resetting a pooled connection) goes on in the
background, so even that cannot hold the request.

Once a call has failed, calls in the next `retry_seconds` fail at once without trying: a request
that needs the store several times (or the login throttle, then the waiting list) then waits for
one timeout, not one per call. After that a call tries the server again. The guard also remembers
whether its store answers, for /health and /metrics, and logs each change of state once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from kolejka.domain.errors import StoreUnavailable

log = logging.getLogger(__name__)

T = TypeVar("T")


class StoreGuard:
    """Runs a store's calls under a deadline and turns outages into StoreUnavailable."""

    def __init__(
        self,
        name: str,
        timeout: float,
        is_outage: Callable[[BaseException], bool],
        retry_seconds: float = 0.5,
    ) -> None:
        self.name = name
        self.timeout = timeout
        self.is_outage = is_outage
        self.retry_seconds = retry_seconds
        self._retry_at = 0.0
        self.up = True
        self.since = time.time()
        self.detail = ""
        self.failures = 0
        self._cleaning: set[asyncio.Future[Any]] = set()

    async def __call__(self, operation: Callable[[], Awaitable[T]]) -> T:
        if not self.up and time.monotonic() < self._retry_at:
            raise StoreUnavailable(f"{self.name} is unavailable")
        call: asyncio.Future[T] = asyncio.ensure_future(operation())
        try:
            async with asyncio.timeout(self.timeout):
                result = await asyncio.shield(call)
        except TimeoutError:
            self._abandon(call)
            self.failed("timed out")
            raise StoreUnavailable(f"{self.name} did not answer in {self.timeout:g} s") from None
        except asyncio.CancelledError:
            self._abandon(call)
            raise
        except Exception as error:
            if self.is_outage(error):
                self.failed("unreachable")
                raise StoreUnavailable(f"{self.name} is unreachable") from error
            raise
        self.answered()
        return result

    def failed(self, detail: str) -> None:
        """Notes an outage; `detail` is a fixed phrase, never an error text (it may hold a URL)."""
        self.failures += 1
        self._retry_at = time.monotonic() + self.retry_seconds
        if self.up or detail != self.detail:
            log.warning(
                "%s unavailable (%s)",
                self.name,
                detail,
                extra={"store": self.name, "state": "down"},
            )
            self.since = time.time()
        self.up = False
        self.detail = detail

    def answered(self) -> None:
        if not self.up:
            log.warning("%s is back", self.name, extra={"store": self.name, "state": "up"})
            self.up = True
            self.since = time.time()
            self.detail = ""

    def as_wire(self) -> dict[str, object]:
        return {
            "state": "up" if self.up else "down",
            "since": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.since)),
            "detail": self.detail,
        }

    def _abandon(self, call: asyncio.Future[T]) -> None:
        # The driver finishes cancelling on its own time; keep a reference until it has, and
        # read its outcome so nothing is reported as "never retrieved".
        if call.done():
            if not call.cancelled():
                call.exception()
            return
        call.cancel()
        self._cleaning.add(call)
        call.add_done_callback(self._cleaned)

    def _cleaned(self, call: asyncio.Future[T]) -> None:
        self._cleaning.discard(call)
        if not call.cancelled():
            call.exception()
