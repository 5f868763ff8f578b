"""One job across all instances: run it only while holding a lease, stop it when the lease may go.

Several instances share the waiting lists, but only one may follow the PBX: two listeners would
apply every event twice and reconcile against each other. `Leadership.run` (a background task on
every instance) tries to take the lease; the instance that has it runs the job and renews the
lease every third of its term. The job is stopped, before anyone else could take the lease,
as soon as the hold is no longer certain: when a renewal is refused, or when renewals have
failed (the lease store is unreachable) until a fifth of the term is left. Each start of the job
is a fresh start (the AMI listener logs in and reconciles), so whoever takes over resyncs.

Timing is this process's monotonic clock, started *before* each acquire or renew is sent: the
server's expiry counts from when it received the command, which is later, so our idea of the
hold always ends first.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

from kolejka.services.ports import Lease, Task

log = logging.getLogger(__name__)


class Leadership:
    """Runs `job` only while this instance holds `lease`."""

    def __init__(
        self,
        lease: Lease,
        job: Task,
        name: str = "job",
        retry_seconds: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.lease = lease
        self.job = job
        self.name = name
        self.term = lease.seconds
        self.renew_every = self.term / 3
        self.margin = self.term / 5
        self.retry_seconds = retry_seconds if retry_seconds is not None else min(1.0, self.term / 5)
        self.clock = clock
        self.leading = False
        self.terms = 0  # how many times this instance has taken the lease

    async def run(self) -> None:
        """Until cancelled: wait for the lease, lead while it holds, and wait again."""
        while True:
            started = self.clock()
            if await self._attempt(self.lease.acquire, self.retry_seconds):
                await self._lead(started)
            await asyncio.sleep(self.retry_seconds)

    async def _lead(self, held_from: float) -> None:
        valid_until = held_from + self.term
        self.leading = True
        self.terms += 1
        log.info("took the %s lease; starting it", self.name, extra={"lease": self.name})
        job = asyncio.ensure_future(self.job())
        reason = "cancelled"
        try:
            next_renewal = held_from + self.renew_every
            while True:
                stop_at = valid_until - self.margin
                wake = min(next_renewal, stop_at)
                await asyncio.wait({job}, timeout=max(0.0, wake - self.clock()))
                if job.done():
                    reason = "the job ended"
                    break
                if self.clock() >= stop_at:
                    reason = "the lease could not be renewed in time"
                    break
                sent = self.clock()
                renewed = await self._attempt(self.lease.renew, stop_at - sent)
                if renewed is None:
                    next_renewal = min(self.clock() + self.retry_seconds / 2, stop_at)
                    continue
                if not renewed:
                    reason = "another instance holds the lease"
                    break
                valid_until = sent + self.term
                next_renewal = sent + self.renew_every
        finally:
            self.leading = False
            await self._stop(job)
            if reason != "cancelled":
                log.warning("stopped the %s: %s", self.name, reason, extra={"lease": self.name})
            with contextlib.suppress(Exception):
                async with asyncio.timeout(self.retry_seconds):
                    await self.lease.release()

    async def _stop(self, job: asyncio.Future[None]) -> None:
        if not job.done():
            job.cancel()
        with contextlib.suppress(BaseException):
            await asyncio.shield(job)
        if job.done() and not job.cancelled() and job.exception() is not None:
            log.error("the %s failed", self.name, exc_info=job.exception())

    async def _attempt(self, call: Callable[[], Awaitable[bool]], within: float) -> bool | None:
        """The lease's answer, or None when the lease store did not give one in time."""
        try:
            async with asyncio.timeout(max(within, 0.01)):
                return await call()
        except Exception:
            return None
