"""kolejka.services.leadership: one job across instances, stopped before its lease can pass to
another."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

import pytest

from kolejka.adapters.redis.connection import RedisConnection
from kolejka.adapters.redis.lease import RedisLease
from kolejka.domain.errors import StoreUnavailable
from kolejka.services.leadership import Leadership
from tests.servers import drop_prefix, unique_name
from tests.support import eventually


class ScriptedLease:
    """A lease whose answers the test sets (satisfies ports.Lease)."""

    def __init__(self, seconds: float = 1.0) -> None:
        self.seconds = seconds
        self.granted = True
        self.unreachable = False
        self.released = 0

    async def acquire(self) -> bool:
        if self.unreachable:
            raise StoreUnavailable("lease store down")
        return self.granted

    async def renew(self) -> bool:
        return await self.acquire()

    async def release(self) -> None:
        self.released += 1


class Job:
    """Records when it runs; runs until cancelled."""

    def __init__(self, name: str = "job", log: list[tuple[str, str, float]] | None = None) -> None:
        self.name = name
        self.log = log if log is not None else []
        self.running = False
        self.starts = 0

    async def __call__(self) -> None:
        self.running = True
        self.starts += 1
        self.log.append((self.name, "start", time.monotonic()))
        try:
            await asyncio.Event().wait()
        finally:
            self.running = False
            self.log.append((self.name, "stop", time.monotonic()))


@contextlib.asynccontextmanager
async def running(leadership: Leadership) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(leadership.run())
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_the_job_runs_while_the_lease_is_held() -> None:
    lease, job = ScriptedLease(), Job()
    leadership = Leadership(lease, job)
    async with running(leadership):
        await eventually(lambda: job.running, 1.0)
        await asyncio.sleep(0.5)  # past a renewal or two
        assert job.running
        assert leadership.leading


async def test_the_job_stops_at_once_when_another_instance_holds_the_lease() -> None:
    lease, job = ScriptedLease(seconds=0.6), Job()
    async with running(Leadership(lease, job)):
        await eventually(lambda: job.running, 1.0)
        lease.granted = False
        assert await eventually(lambda: not job.running, 0.4) < 0.3  # at the next renewal (0.2 s)


async def test_the_job_stops_before_the_term_ends_when_the_lease_store_is_unreachable() -> None:
    lease, job = ScriptedLease(seconds=1.0), Job()
    async with running(Leadership(lease, job)):
        await eventually(lambda: job.running, 1.0)
        lease.unreachable = True
        cut = time.monotonic()
        await eventually(lambda: not job.running, 1.0)
        # The last hold began before the cut; the job stops a fifth of the term before that
        # hold ends (0.8 s after it began at most), so well inside the term as Redis counts it.
        assert time.monotonic() - cut < 0.9
        lease.unreachable = False
        await eventually(lambda: job.running, 1.0)
    assert job.starts == 2


async def test_letting_go_releases_the_lease_and_stops_the_job() -> None:
    lease, job = ScriptedLease(), Job()
    async with running(Leadership(lease, job)):
        await eventually(lambda: job.running, 1.0)
    assert not job.running
    assert lease.released == 1


async def test_a_job_that_fails_is_started_afresh() -> None:
    lease = ScriptedLease(seconds=0.5)
    attempts = []

    async def flaky() -> None:
        attempts.append(time.monotonic())
        if len(attempts) == 1:
            raise RuntimeError("boom")
        await asyncio.Event().wait()

    async with running(Leadership(lease, flaky)):
        await eventually(lambda: len(attempts) == 2, 2.0)


@pytest.fixture
async def redis_prefix(redis_url: str) -> AsyncIterator[str]:
    prefix = unique_name("leader")
    yield prefix
    await drop_prefix(redis_url, prefix)


async def test_of_instances_sharing_redis_exactly_one_runs_the_job_and_another_takes_over(
    redis_url: str, redis_prefix: str
) -> None:
    log: list[tuple[str, str, float]] = []
    connections = [RedisConnection(redis_url, redis_prefix) for _ in range(3)]
    jobs = [Job(f"instance-{i}", log) for i in range(3)]
    leaderships = [
        Leadership(RedisLease(c, "ami", 1.0, f"instance-{i}"), job)
        for i, (c, job) in enumerate(zip(connections, jobs, strict=True))
    ]
    tasks = [asyncio.create_task(leadership.run()) for leadership in leaderships]
    try:
        await eventually(lambda: sum(job.running for job in jobs) == 1, 3.0)
        await asyncio.sleep(1.0)
        assert sum(job.running for job in jobs) == 1
        leader = next(i for i, job in enumerate(jobs) if job.running)
        # The leader dies: its task is gone and its lease is never released, only expires.
        leaderships[leader].lease.release = _never  # type: ignore[method-assign]
        tasks[leader].cancel()
        died = time.monotonic()
        await eventually(lambda: any(job.running for job in jobs), 3.0)
        took_over = time.monotonic() - died
        assert took_over < 2.5, took_over  # term 1 s + a retry
        assert sum(job.running for job in jobs) == 1
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for connection in connections:
            await connection.aclose()
    # Never two at once: every start comes after the previous holder's stop.
    running_now: set[str] = set()
    for name, what, _ in sorted(log, key=lambda entry: entry[2]):
        if what == "start":
            assert not running_now, f"{name} started while {running_now} ran"
            running_now.add(name)
        else:
            running_now.discard(name)


async def _never() -> None:
    return None
