"""Brute force: repeated wrong credentials answer 429 with Retry-After; others keep working."""

from __future__ import annotations

import logging

import pytest

from kolejka.adapters.http.app import KolejkaApp
from kolejka.ports import FailureCounter
from kolejka.throttle import LocalFailureCounter, LoginThrottle
from tests.http.test_error_shape import assert_envelope
from tests.support import basic, call

pytestmark = pytest.mark.usefixtures("queue_2")
LIST = "/api/queues/2/waiting_list"
ATTACKER, OFFICE = "203.0.113.9", "198.51.100.7"


async def test_ten_failures_from_one_address_then_429_with_retry_after(
    app: KolejkaApp, personas: dict[str, str]
) -> None:
    for attempt in range(10):
        wrong = await call(
            app, "GET", LIST, auth=basic("admin", f"guess{attempt}"), client=ATTACKER
        )
        assert wrong.status == 401

    throttled = await call(app, "GET", LIST, auth=personas["reader"], client=ATTACKER)

    assert_envelope(throttled, 429, 429001)
    assert 1 <= int(throttled.headers["retry-after"]) <= 60


async def test_right_credentials_from_another_address_still_work(
    app: KolejkaApp, personas: dict[str, str]
) -> None:
    for attempt in range(12):
        await call(app, "GET", LIST, auth=basic("mallory", f"guess{attempt}"), client=ATTACKER)

    assert (await call(app, "GET", LIST, auth=personas["reader"], client=OFFICE)).status == 200


async def test_failures_for_one_user_name_from_many_addresses_throttle_that_name(
    app: KolejkaApp, personas: dict[str, str]
) -> None:
    for attempt in range(10):
        address = f"192.0.2.{attempt + 1}"
        await call(app, "GET", LIST, auth=basic("reader", f"guess{attempt}"), client=address)

    fresh_address = await call(app, "GET", LIST, auth=personas["reader"], client="192.0.2.200")
    assert_envelope(fresh_address, 429, 429001)
    other_user = await call(app, "GET", LIST, auth=personas["admin"], client="192.0.2.200")
    assert other_user.status == 200


async def test_a_credential_verified_before_the_attack_keeps_working(
    app: KolejkaApp, personas: dict[str, str]
) -> None:
    assert (await call(app, "GET", LIST, auth=personas["reader"], client=OFFICE)).status == 200
    for attempt in range(15):
        await call(app, "GET", LIST, auth=basic("reader", f"guess{attempt}"), client=ATTACKER)

    assert (await call(app, "GET", LIST, auth=personas["reader"], client=OFFICE)).status == 200


async def test_failed_logins_are_logged_without_the_password(
    app: KolejkaApp, personas: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        await call(app, "GET", LIST, auth=basic("admin", "Tr0ub4dor&3"), client=ATTACKER)
    failed = [r for r in caplog.records if r.getMessage() == "failed login"]
    assert len(failed) == 1
    assert failed[0].__dict__["username"] == "admin"
    assert failed[0].__dict__["client_address"] == ATTACKER
    assert "Tr0ub4dor" not in caplog.text


class SteppedClock:
    def __init__(self) -> None:
        self.now = 60.0 * 16_667 + 20  # 20 s into a minute bucket

    def __call__(self) -> float:
        return self.now


async def test_the_limit_slides_instead_of_resetting_at_a_minute_boundary() -> None:
    counter: FailureCounter = LocalFailureCounter()
    clock = SteppedClock()
    throttle = LoginThrottle(counter, limit=10, clock=clock)
    for _ in range(10):
        await throttle.failed("a", None)
    assert await throttle.wait_for("a", None) == 40

    clock.now += 45  # 5 s into the next bucket: 10 x 55/60 = 9.2 still count
    assert await throttle.wait_for("a", None) == 0
    await throttle.failed("a", None)
    assert await throttle.wait_for("a", None) > 0

    clock.now += 120
    assert await throttle.wait_for("a", None) == 0


async def test_the_local_counter_stays_bounded_under_a_flood_of_addresses() -> None:
    counter = LocalFailureCounter(max_entries=1000)
    for index in range(5000):
        await counter.add(f"address:{index}", 7)
    assert len(counter._counts) <= 1000
