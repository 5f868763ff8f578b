"""Brute force: repeated wrong credentials answer 429 with Retry-After; others keep working."""

from __future__ import annotations

import asyncio
import base64
import logging
import threading
import time
from collections import Counter
from collections.abc import Iterator
from typing import Literal

import pytest
from argon2 import PasswordHasher
from hypothesis import given
from hypothesis import strategies as st

from kolejka.adapters.http.app import KolejkaApp
from kolejka.adapters.local.failures import LocalFailureCounter
from kolejka.adapters.local.known_addresses import LocalKnownAddresses
from kolejka.bootstrap import Components, build, create_app
from kolejka.domain.queues import Queue
from kolejka.observability import logs
from kolejka.services.ports import FailureCounter
from kolejka.services.throttle import LoginThrottle
from kolejka.settings import Settings
from tests.support import CANARY, PERSONAS, FrozenClock, assert_envelope, basic, call

pytestmark = pytest.mark.usefixtures("queue_2")
LIST = "/api/queues/2/waiting_list"
ATTACKER, OFFICE = "203.0.113.9", "198.51.100.7"


class CountingHasher(PasswordHasher):
    """Real argon2 that records the password of every check, in the order the checks start."""

    def __init__(self, time_cost: int = 1, memory_cost: int = 1024) -> None:
        super().__init__(time_cost=time_cost, memory_cost=memory_cost, parallelism=1)
        self.started: list[str] = []
        self.first_started = threading.Event()

    def verify(self, hash: str | bytes, password: str | bytes) -> Literal[True]:
        self.started.append(password if isinstance(password, str) else password.decode())
        self.first_started.set()
        return super().verify(hash, password)


@pytest.fixture
def components(settings: Settings, clock: FrozenClock) -> Iterator[Components]:
    """The suite's components with a hasher that counts its checks."""
    built = build(settings, clock=clock, hasher=CountingHasher())
    yield built
    built.close()


def checks(components: Components) -> list[str]:
    hasher = components.authenticator.hasher
    assert isinstance(hasher, CountingHasher)
    return hasher.started


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


async def test_a_throttled_address_cannot_try_a_guess_against_a_cached_credential(
    app: KolejkaApp, components: Components, personas: dict[str, str]
) -> None:
    """Found by a black-box attack: over its limit, an address got 429 for every wrong guess
    and 200 for the right password while a client that polls kept it cached, which told the
    attacker which guess was the password."""
    assert (await call(app, "GET", LIST, auth=personas["reader"], client=OFFICE)).status == 200
    for attempt in range(10):
        await call(app, "GET", LIST, auth=basic("reader", f"guess{attempt}"), client=ATTACKER)

    right_guess = await call(app, "GET", LIST, auth=personas["reader"], client=ATTACKER)

    assert_envelope(right_guess, 429, 429001)
    # The client that polls, at its own address, is not held up by the attacker's failures.
    assert (await call(app, "GET", LIST, auth=personas["reader"], client=OFFICE)).status == 200
    # Once the throttle lets the address try again, its right password is answered at once.
    throttle = components.authenticator.throttle
    assert throttle is not None
    throttle.clock = lambda: time.time() + 180
    again = await call(app, "GET", LIST, auth=personas["reader"], client=ATTACKER)
    assert again.status == 200


async def test_parallel_first_requests_with_the_right_password_are_one_attempt(
    app: KolejkaApp, components: Components, personas: dict[str, str]
) -> None:
    """Found by a black-box attack: thirty requests at once with a right password not yet
    cached (a client's start, or its cached entry lapsing) each counted as an attempt, and
    twenty got 429."""
    answers = await asyncio.gather(
        *(call(app, "GET", LIST, auth=personas["reader"], client=OFFICE) for _ in range(30))
    )

    assert Counter(answer.status for answer in answers) == {200: 30}
    assert checks(components).count(personas_password(personas["reader"])) == 1


def personas_password(header: str) -> str:
    return base64.b64decode(header.split()[1]).decode().partition(":")[2]


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


async def test_a_hundred_simultaneous_guesses_from_one_address_get_at_most_ten_checks(
    app: KolejkaApp, components: Components, personas: dict[str, str]
) -> None:
    guesses = [
        call(app, "GET", LIST, auth=basic("admin", f"guess{n}"), client=ATTACKER)
        for n in range(100)
    ]
    answers = await asyncio.gather(*guesses)

    statuses = Counter(answer.status for answer in answers)
    assert statuses[401] <= 10
    assert statuses[401] + statuses[429] == 100
    assert len([p for p in checks(components) if p.startswith("guess")]) <= 10
    for answer in answers:
        if answer.status == 429:
            assert_envelope(answer, 429, 429001)


async def test_a_right_password_does_not_count_towards_the_limit(
    app: KolejkaApp, components: Components, personas: dict[str, str]
) -> None:
    components.authenticator.cache_seconds = 0  # every request checks the password
    for attempt in range(9):
        await call(app, "GET", LIST, auth=basic("reader", f"guess{attempt}"), client=OFFICE)
    for _ in range(5):
        assert (await call(app, "GET", LIST, auth=personas["reader"], client=OFFICE)).status == 200


async def test_guesses_from_rotating_addresses_do_not_lock_a_known_address_out(
    app: KolejkaApp, components: Components, personas: dict[str, str]
) -> None:
    components.authenticator.cache_seconds = 0  # the PBX's cached credential has expired
    assert (await call(app, "GET", LIST, auth=personas["reader"], client=OFFICE)).status == 200
    for attempt in range(15):
        address = f"192.0.2.{attempt + 1}"
        await call(app, "GET", LIST, auth=basic("reader", f"guess{attempt}"), client=address)

    assert (await call(app, "GET", LIST, auth=personas["reader"], client=OFFICE)).status == 200
    # Anyone else must still wait: the per-user limit holds for addresses not known.
    elsewhere = await call(app, "GET", LIST, auth=personas["reader"], client="192.0.2.200")
    assert_envelope(elsewhere, 429, 429001)


async def test_a_burst_from_one_address_does_not_starve_another_clients_first_login(
    settings: Settings, clock: FrozenClock
) -> None:
    # Slow enough that the burst's checks are still running when the office's login comes.
    hasher = CountingHasher(time_cost=3, memory_cost=16384)
    built = build(settings, clock=clock, hasher=hasher)
    try:
        for name, permissions in PERSONAS.items():
            await built.api_users.add(name, f"{name}-{CANARY}", permissions)
        app = create_app(built)
        await built.queues.put(Queue(2, "Q"))
        burst = [
            asyncio.ensure_future(
                call(app, "GET", LIST, auth=basic("admin", f"guess{n}"), client=ATTACKER)
            )
            for n in range(100)
        ]
        assert await asyncio.to_thread(hasher.first_started.wait, 10)

        office = await call(
            app, "GET", LIST, auth=basic("reader", f"reader-{CANARY}"), client=OFFICE
        )

        assert office.status == 200
        ahead = hasher.started.index(f"reader-{CANARY}")
        # Only the attacker's own share of the check slots went first, not its whole burst.
        assert ahead <= built.authenticator.checks.per_address + 1
        assert not all(task.done() for task in burst)
        await asyncio.gather(*burst)
    finally:
        built.close()


async def test_the_text_log_names_the_user_and_address_of_failed_and_throttled_logins(
    app: KolejkaApp, personas: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    logs.configure("INFO", "text")
    try:
        for attempt in range(11):
            await call(app, "GET", LIST, auth=basic("admin", f"guess{attempt}"), client=ATTACKER)
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)

    lines = capsys.readouterr().err.splitlines()
    failed = [line for line in lines if "failed login" in line]
    throttled = [line for line in lines if "login throttled" in line]
    assert len(failed) == 10
    assert len(throttled) == 1
    for line in failed + throttled:
        assert "username='admin'" in line
        assert f"client_address='{ATTACKER}'" in line
        assert "guess" not in line


class SteppedClock:
    def __init__(self) -> None:
        self.now = 60.0 * 16_667  # the start of a minute bucket

    def __call__(self) -> float:
        return self.now


async def fail(throttle: LoginThrottle, times: int, address: str = "a") -> None:
    for _ in range(times):
        assert not (await throttle.reserve(address, None)).wait  # and never succeeded


async def assert_retry_after_is_the_true_wait(
    throttle: LoginThrottle, clock: SteppedClock, username: str | None = None
) -> int:
    """After Retry-After seconds an attempt goes ahead; a second sooner it would not."""
    wait = (await throttle.reserve("a", username)).wait
    assert wait > 0
    start = clock.now
    clock.now = start + wait - 1
    assert (await throttle.reserve("a", username)).wait > 0
    clock.now = start + wait
    assert (await throttle.reserve("a", username)).wait == 0
    return wait


@pytest.mark.parametrize(
    ("failures", "seconds_in", "then_failures", "expected"),
    [
        (10, 20, 0, 41),  # only this bucket: it must slide out of the next one entirely
        (10, 50, 1, 2),  # last bucket's ten are sliding out: one more failure waits 2 s, not 55
        (0, 0, 0, 0),
    ],
)
async def test_retry_after_is_the_true_wait_as_the_estimate_decays(
    failures: int, seconds_in: float, then_failures: int, expected: int
) -> None:
    clock = SteppedClock()
    throttle = LoginThrottle(
        LocalFailureCounter(), limit=10, clock=clock, known=LocalKnownAddresses()
    )
    if not expected:
        assert (await throttle.reserve("a", None)).wait == 0
        return
    clock.now += seconds_in
    await fail(throttle, failures)
    if then_failures:
        clock.now += 15  # 5 s into the next bucket
        await fail(throttle, then_failures)
    assert await assert_retry_after_is_the_true_wait(throttle, clock) == expected


@given(
    previous=st.integers(0, 40),
    current=st.integers(0, 40),
    sixty_fourths_in=st.integers(0, 60 * 64 - 1),
    limit=st.integers(1, 12),
)
def test_retry_after_is_the_true_wait_for_any_counts(
    previous: int, current: int, sixty_fourths_in: int, limit: int
) -> None:
    async def check() -> None:
        clock = SteppedClock()
        counter = LocalFailureCounter()
        throttle = LoginThrottle(counter, limit=limit, clock=clock, known=LocalKnownAddresses())
        bucket = int(clock.now // 60)
        for _ in range(previous):
            await counter.reserve("address:a", bucket - 1)
        for _ in range(current):
            await counter.reserve("address:a", bucket)
        clock.now += sixty_fourths_in / 64
        if (await throttle.reserve("a", None)).wait:
            await assert_retry_after_is_the_true_wait(throttle, clock)

    asyncio.run(check())


async def test_retry_after_counts_failures_far_over_the_limit() -> None:
    # The 100 failures at 44 s (counted before attempts were reserved, or by another
    # instance with a higher limit): 16 s to the bucket's end, then 54 s of the next.
    clock = SteppedClock()
    counter = LocalFailureCounter()
    throttle = LoginThrottle(counter, limit=10, clock=clock, known=LocalKnownAddresses())
    clock.now += 44
    for _ in range(100):
        await counter.reserve("address:a", int(clock.now // 60))
    assert await assert_retry_after_is_the_true_wait(throttle, clock) == 71


async def test_retry_after_covers_the_user_limit_when_the_address_limit_refused_first() -> None:
    clock = SteppedClock()
    throttle = LoginThrottle(
        LocalFailureCounter(), limit=10, clock=clock, known=LocalKnownAddresses()
    )
    clock.now += 50
    await fail(throttle, 10)  # the address's failures, sliding out of the next bucket
    clock.now += 15
    await fail(throttle, 1)  # the address: 2 s to wait
    for n in range(10):  # the user name: 55 s to this bucket's end, and then a moment
        assert not (await throttle.reserve(f"192.0.2.{n}", "reader")).wait
    assert await assert_retry_after_is_the_true_wait(throttle, clock, "reader") == 56


async def test_the_limit_slides_instead_of_resetting_at_a_minute_boundary() -> None:
    counter: FailureCounter = LocalFailureCounter()
    clock = SteppedClock()
    clock.now += 20
    throttle = LoginThrottle(counter, limit=10, clock=clock, known=LocalKnownAddresses())
    await fail(throttle, 10)
    assert (await throttle.reserve("a", None)).wait == 41

    clock.now += 45  # 5 s into the next bucket: 10 x 55/60 = 9.2 still count
    await fail(throttle, 1)
    assert (await throttle.reserve("a", None)).wait > 0

    clock.now += 120
    assert (await throttle.reserve("a", None)).wait == 0


async def test_the_local_counter_stays_bounded_under_a_flood_of_addresses() -> None:
    counter = LocalFailureCounter(max_entries=1000)
    for index in range(5000):
        await counter.reserve(f"address:{index}", 7)
    assert len(counter) <= 1000
