"""ports.Lease: the AMI lease as a Redis key and as a PostgreSQL advisory lock."""

from __future__ import annotations

import asyncio
import time

from kolejka.adapters.postgres.database import LEASE_LOCK, lock_key
from kolejka.adapters.postgres.lease import PostgresLease
from kolejka.adapters.redis.lease import RedisLease
from kolejka.services.ports import Lease
from tests.contract.stores import LeaseFactory


async def vanish(lease: Lease) -> None:
    """The holder dies without letting go: its session ends, or it just stops renewing."""
    if isinstance(lease, PostgresLease):
        # As a crash would: the server ends the holder's session, seen from a second connection.
        # The server is shared, so only this schema's lease lock may match, and exactly once.
        connection = await lease.db.connect()
        try:
            ended = await connection.fetch(
                "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory'"
                " AND granted AND classid = $1 AND objid = hashtext(current_schema())"
                " AND objsubid = 2",
                lock_key(LEASE_LOCK),
            )
        finally:
            await connection.close()
        assert [row[0] for row in ended] == [True]
    else:
        assert isinstance(lease, RedisLease)  # its key simply expires


async def test_only_one_instance_holds_the_lease(leases: LeaseFactory) -> None:
    first, second = leases(2.0), leases(2.0)
    assert await first.acquire() is True
    assert await second.acquire() is False
    assert await first.acquire() is True  # taking it again while holding it is renewing


async def test_only_the_holder_can_renew(leases: LeaseFactory) -> None:
    first, second = leases(2.0), leases(2.0)
    assert await first.acquire()
    assert await first.renew() is True
    assert await second.renew() is False


async def test_releasing_lets_another_instance_take_it_at_once(leases: LeaseFactory) -> None:
    first, second = leases(5.0), leases(5.0)
    assert await first.acquire()
    await first.release()
    assert await first.renew() is False
    assert await second.acquire() is True


async def test_a_holder_that_vanishes_loses_the_lease_within_its_term(
    leases: LeaseFactory,
) -> None:
    first, second = leases(1.0), leases(1.0)
    assert await first.acquire()
    await vanish(first)
    started = time.monotonic()
    while not await second.acquire():
        assert time.monotonic() - started < 1.5, "the lease outlived its term"
        await asyncio.sleep(0.05)
    assert await first.renew() is False
