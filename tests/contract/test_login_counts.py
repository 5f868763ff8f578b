"""ports.FailureCounter and ports.KnownAddresses: in one process's memory, and in Redis shared
by several instances. Reservations are atomic (at most `limit` of simultaneous attempts pass,
whichever instance they reach) and an address known on one instance is known on all.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest

from kolejka.adapters.local.failures import LocalFailureCounter
from kolejka.adapters.local.known_addresses import LocalKnownAddresses
from kolejka.adapters.redis.connection import RedisConnection
from kolejka.adapters.redis.failures import RedisFailureCounter
from kolejka.adapters.redis.known_addresses import RedisKnownAddresses
from kolejka.services.throttle import LoginThrottle
from tests.servers import drop_prefix, unique_name

Instances = Callable[[], LoginThrottle]


@pytest.fixture(params=["memory", "redis"])
async def instances(request: pytest.FixtureRequest) -> AsyncIterator[Instances]:
    """Makes the login throttle of another instance of one deployment."""
    connections: list[RedisConnection] = []
    if request.param == "memory":
        counter, known = LocalFailureCounter(), LocalKnownAddresses()

        def make() -> LoginThrottle:
            return LoginThrottle(counter, limit=10, known=known)

        yield make
        return
    redis_url = request.getfixturevalue("redis_url")
    prefix = unique_name("throttle")

    def make_shared() -> LoginThrottle:
        connection = RedisConnection(redis_url, prefix)
        connections.append(connection)
        return LoginThrottle(
            RedisFailureCounter(connection), limit=10, known=RedisKnownAddresses(connection)
        )

    yield make_shared
    for connection in connections:
        await connection.aclose()
    await drop_prefix(redis_url, prefix)


async def test_of_a_hundred_simultaneous_attempts_on_two_instances_ten_pass(
    instances: Instances,
) -> None:
    first, second = instances(), instances()
    attempts = [(first if n % 2 else second).reserve("203.0.113.9", "admin") for n in range(100)]
    reservations = await asyncio.gather(*attempts)
    assert len([r for r in reservations if not r.wait]) == 10
    assert all(r.wait >= 1 for r in reservations if r.wait)


async def test_an_attempt_that_succeeded_does_not_count(instances: Instances) -> None:
    first, second = instances(), instances()
    for _ in range(30):
        await second.succeeded(await first.reserve("198.51.100.7", "reader"))
    assert not (await second.reserve("198.51.100.7", "reader")).wait


async def test_an_address_that_signed_in_on_one_instance_is_spared_the_user_limit_on_another(
    instances: Instances,
) -> None:
    first, second = instances(), instances()
    await first.succeeded(await first.reserve("198.51.100.7", "reader"))
    for n in range(15):
        await second.reserve(f"192.0.2.{n + 1}", "reader")  # wrong guesses: never succeeded

    assert not (await second.reserve("198.51.100.7", "reader")).wait
    assert (await second.reserve("192.0.2.200", "reader")).wait > 0
    assert (await first.reserve("198.51.100.7", "admin")).wait == 0  # spared for reader only
