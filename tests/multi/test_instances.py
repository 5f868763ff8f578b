"""Several instances over PostgreSQL and Redis (or PostgreSQL alone) give the same answers."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable

import pytest

from tests.e2e.client import as_json
from tests.multi.deployment import Deployment, call
from tests.support import LiveServer

pytestmark = [pytest.mark.slow, pytest.mark.needs_postgres, pytest.mark.needs_redis]

WAITING_LIST = "/api/queues/2/waiting_list"


async def on_next_request(deployment: Deployment, check: Callable[[], Awaitable[bool]]) -> None:
    """`check` holds on the very next request with Redis (a PUBLISH reaches every subscriber
    before the publisher hears it is done, and kolejka handles it as the bytes arrive). On
    PostgreSQL alone a NOTIFY reaches the others shortly after the commit: within 100 ms."""
    if deployment.redis_url:
        assert await check()
        return
    started = time.monotonic()
    while not await check():
        assert time.monotonic() - started < 0.1, "not within 100 ms"
        await asyncio.sleep(0.005)


async def numbers_waiting(server: LiveServer) -> list[str]:
    return [entry["phone_number"] for entry in as_json(await call(server, "GET", WAITING_LIST))]


async def test_a_caller_who_joined_through_one_instance_shows_on_another_within_100_ms(
    any_deployment: Deployment,
) -> None:
    here, there = await any_deployment.start(2)
    assert as_json(await call(there, "GET", WAITING_LIST)) == []  # `there` holds it ready now
    delays = []
    for index in range(5):
        number = f"61345985{index}"
        joined = await call(
            here, "POST", "/api/queues/2/callers", {"call_id": f"c{index}", "phone_number": number}
        )
        assert joined.status == 201
        started = time.monotonic()
        while number not in [
            e["phone_number"] for e in as_json(await call(there, "GET", WAITING_LIST))
        ]:
            assert time.monotonic() - started < 1.0
            await asyncio.sleep(0.002)
        delays.append(time.monotonic() - started)
    assert max(delays) < 0.1, delays
    stats = as_json(await call(there, "GET", "/api/queues/2/waiting_stats"))
    assert stats["in_queue"] == 5


async def test_a_crm_write_on_one_instance_shows_on_the_next_request_to_another(
    any_deployment: Deployment,
) -> None:
    here, there = await any_deployment.start(2)
    await call(
        here, "POST", "/api/queues/2/callers", {"call_id": "c1", "phone_number": "746842523"}
    )
    assert as_json(await call(there, "GET", WAITING_LIST))[0]["customer_label"] is None
    created = await call(
        here,
        "POST",
        "/api/customers",
        {"name": "Jan", "surname": "Kowalski", "phone_number": "746842523"},
    )
    assert created.status == 201
    customer_id = as_json(created)["customer_id"]
    for surname in ["Kowalski", "Nowak", "Wiśniewski", "Wójcik"]:
        if surname != "Kowalski":
            changed = await call(here, "PUT", f"/api/customers/{customer_id}", {"surname": surname})
            assert changed.status == 204, changed.body

        async def named(surname: str = surname) -> bool:
            entry = as_json(await call(there, "GET", WAITING_LIST))[0]
            return bool(entry["customer_id"] == customer_id) and bool(
                entry["customer_label"] == f"Jan {surname}"
            )

        await on_next_request(any_deployment, named)


async def test_an_api_user_removed_on_one_instance_is_refused_by_another(
    any_deployment: Deployment,
) -> None:
    here, there = await any_deployment.start(2)
    reader = ("reader", "reader-secret")
    assert (await call(here, "GET", "/api/queues", user=reader)).status == 401
    # `kolejka users` against the shared stores, as an operator would run it.
    add = subprocess.run(
        [sys.executable, "-m", "kolejka", "users", "add", "reader", "-p", "GET queues"],
        input="reader-secret\n",
        text=True,
        capture_output=True,
        env={**here.env},
        timeout=60,
    )
    assert add.returncode == 0, add.stderr
    assert (await call(there, "GET", "/api/queues", user=reader)).status == 200
    remove = subprocess.run(
        [sys.executable, "-m", "kolejka", "users", "remove", "reader"],
        capture_output=True,
        text=True,
        env={**here.env},
        timeout=60,
    )
    assert remove.returncode == 0, remove.stderr

    async def refused() -> bool:
        return (await call(there, "GET", "/api/queues", user=reader)).status == 401

    await on_next_request(any_deployment, refused)
    assert (await call(here, "GET", "/api/queues", user=reader)).status == 401
