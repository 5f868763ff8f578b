"""One AMI listener across instances: the lease holder follows Asterisk; another takes over."""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.ami.fake_asterisk import FakeAsterisk, events
from tests.ami.helpers import SUPPORT, ami_env
from tests.e2e.client import as_json
from tests.multi.deployment import Deployment, call
from tests.support import LiveServer

pytestmark = [pytest.mark.slow, pytest.mark.needs_postgres, pytest.mark.needs_redis]

JOINS = events("queue_caller_events.txt", "QueueCallerJoin")
ABANDONS = events("queue_caller_events.txt", "QueueCallerAbandon")
LEAVES = events("queue_caller_events.txt", "QueueCallerLeave")


async def pbx_state(server: LiveServer) -> str:
    health = as_json(await call(server, "GET", "/health"))
    return str(health["pbx"]["state"])


async def waiting_numbers(server: LiveServer) -> list[str]:
    answer = await call(server, "GET", f"/api/queues/{SUPPORT}/waiting_list")
    if answer.status != 200:
        return []
    return [entry["phone_number"] for entry in as_json(answer)]


async def within(seconds: float, check: object) -> float:
    started = time.monotonic()
    while not await check():  # type: ignore[operator]
        assert time.monotonic() - started < seconds, f"not within {seconds} s"
        await asyncio.sleep(0.05)
    return time.monotonic() - started


async def test_one_instance_follows_asterisk_and_another_takes_over_and_resyncs_when_it_dies(
    deployment: Deployment, asterisk: FakeAsterisk
) -> None:
    first, second = await deployment.start(2, **ami_env(asterisk))

    async def one_up_one_standby() -> bool:
        states = sorted([await pbx_state(first), await pbx_state(second)])
        return states == ["standby", "up"]

    await within(10, one_up_one_standby)
    await asyncio.sleep(1.0)  # a few lease renewals: still one listener
    assert asterisk.logins == 1
    assert len(asterisk.sessions) == 1
    leader, survivor = (first, second) if await pbx_state(first) == "up" else (second, first)

    await asterisk.push(*JOINS)
    three = ["+4915110000003", "+4915110000002", "+4915110000001"]

    async def both_show_three() -> bool:
        return await waiting_numbers(leader) == await waiting_numbers(survivor) == three

    await within(2, both_show_three)

    assert leader.process is not None
    leader.process.kill()  # no goodbye: the lease must expire
    died = time.monotonic()
    statuses_before = asterisk.queue_status_requests()
    asterisk.happen(ABANDONS[0], LEAVES[0])  # the first caller hangs up while nobody listens

    async def survivor_follows() -> bool:
        return await pbx_state(survivor) == "up"

    await within(10, survivor_follows)
    took_over = time.monotonic() - died
    assert took_over < 10, took_over
    assert asterisk.queue_status_requests() > statuses_before  # it resynced

    async def gap_reconciled() -> bool:
        return await waiting_numbers(survivor) == three[:2]

    await within(2, gap_reconciled)
    assert asterisk.logins == 2
