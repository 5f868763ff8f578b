"""Faults: PostgreSQL or Redis stops, or hangs; kolejka answers 503 in time and recovers alone.

These tests stop servers, so they use private ones (tests.servers: a redis-server and a
PostgreSQL cluster of their own, on free ports), never the shared 5432 and 6379 that other
tests use at the same time. Each restarts what it stopped in a `finally`.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from kolejka.bootstrap import build
from kolejka.domain.queues import Queue
from kolejka.settings import Settings
from tests.ami.helpers import SUPPORT, ami_env
from tests.e2e.client import as_json
from tests.event_stream_client import open_streaming
from tests.multi.deployment import ADMIN, call
from tests.servers import (
    PrivatePostgres,
    PrivateRedis,
    drop_prefix,
    fresh_schema,
    postgres_bin_dir,
    unique_name,
)
from tests.support import (
    FAST_HASHER,
    Answer,
    LiveServer,
    basic,
    eventually,
    need_tool,
    unavailable,
)

pytestmark = [pytest.mark.slow, pytest.mark.needs_postgres, pytest.mark.needs_redis]

UNAVAILABLE = 503001


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    server = PrivateRedis(need_tool("redis-server"), tmp_path).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def private_postgres() -> Iterator[PrivatePostgres]:
    bin_dir = postgres_bin_dir()
    if bin_dir is None:
        unavailable("PostgreSQL's initdb and pg_ctl")
    assert bin_dir is not None
    server = PrivatePostgres(bin_dir).init().start()
    try:
        yield server
    finally:
        server.remove()


async def seeded_server(settings: Settings, folder: Path) -> LiveServer:
    """kolejka serve on `settings`, with an admin, queue 2, Jan Kowalski and his call waiting."""

    async def seed() -> None:
        components = build(settings, hasher=FAST_HASHER)
        await components.api_users.add(*ADMIN, ["*"])
        await components.queues.put(Queue(2, "Obsługa klienta"))
        await components.crm.add_customer(
            {"name": "Jan", "surname": "Kowalski", "phone_number": "746842523"}
        )
        await components.lists.join(2, "call-1", "746842523")
        await components.aclose()

    await asyncio.to_thread(asyncio.run, seed())
    server = LiveServer(
        folder / "faults.db",
        extra_env={
            "KOLEJKA_DATABASE_URL": settings.database_url,
            "KOLEJKA_LIVE_URL": settings.live_url,
            "KOLEJKA_REDIS_PREFIX": settings.redis_prefix,
        },
    )
    await asyncio.to_thread(server.start)
    return server


async def timed(server: LiveServer, path: str, method: str = "GET", body: object = None) -> Answer:
    """The answer, which must come within 2 s.

    A slow answer fails the test at once, even inside a check that `eventually` polls (which
    would take an AssertionError for "not yet").
    """
    started = time.monotonic()
    answer = await call(server, method, path, body)
    if time.monotonic() - started >= 2.0:
        pytest.fail(f"{path} took {time.monotonic() - started:.2f} s")
    return answer


def is_unavailable(answer: Answer) -> bool:
    if answer.status != 503:
        return False
    body = as_json(answer)
    return [error["code"] for error in body["errors"]] == [UNAVAILABLE] and "request_id" in body


@pytest.fixture
async def on_private_redis(
    postgres_url: str, private_redis: PrivateRedis, tmp_path: Path
) -> AsyncIterator[tuple[LiveServer, PrivateRedis]]:
    async with fresh_schema(postgres_url) as url:
        settings = Settings(database_url=url, live_url=private_redis.url, redis_prefix="faults")
        server = await seeded_server(settings, tmp_path)
        try:
            yield server, private_redis
        finally:
            await asyncio.to_thread(server.stop)


async def test_with_redis_stopped_the_live_lists_answer_503_the_crm_works_and_all_recovers(
    on_private_redis: tuple[LiveServer, PrivateRedis],
) -> None:
    server, redis = on_private_redis
    assert len(as_json(await timed(server, "/api/queues/2/waiting_list"))) == 1
    redis.stop()

    async def live_store_down() -> bool:
        health = as_json(await timed(server, "/health"))
        return bool(health["stores"]["live"]["state"] == "down")

    await eventually(live_store_down, seconds=10, step=0.1)
    assert is_unavailable(await timed(server, "/api/queues/2/waiting_list"))
    assert is_unavailable(await timed(server, "/api/queues/2/waiting_stats"))
    joined = await timed(server, "/api/queues/2/callers", "POST", {"call_id": "call-2"})
    assert is_unavailable(joined)
    # What does not need Redis keeps working.
    assert (await timed(server, "/api/customers")).status == 200
    assert (await timed(server, "/api/queues")).status == 200
    health = await timed(server, "/health")
    assert (health.status, as_json(health)["status"]) == (200, "degraded")
    metrics = (await timed(server, "/metrics")).body.decode()
    assert 'kolejka_store_up{store="live",engine="redis"} 0' in metrics

    redis.start()  # the same port and data; kolejka is not restarted

    async def served_again() -> bool:
        answer = await call(server, "GET", "/api/queues/2/waiting_list")
        return answer.status == 200

    await eventually(served_again, seconds=10, step=0.1)
    (entry,) = as_json(await timed(server, "/api/queues/2/waiting_list"))
    assert (entry["phone_number"], entry["customer_label"]) == ("746842523", "Jan Kowalski")
    again = await timed(server, "/api/queues/2/callers", "POST", {"call_id": "call-2"})
    assert again.status == 201

    async def healthy() -> bool:
        return bool(as_json(await timed(server, "/health"))["status"] == "ok")

    await eventually(healthy, seconds=5, step=0.1)


async def test_with_redis_hung_requests_answer_503_within_2_s_and_recover(
    on_private_redis: tuple[LiveServer, PrivateRedis],
) -> None:
    server, redis = on_private_redis
    assert redis.process is not None
    pid = redis.process.pid
    os.kill(pid, signal.SIGSTOP)  # the server neither answers nor closes its sockets
    try:
        assert is_unavailable(await timed(server, "/api/queues/2/waiting_stats"))
        assert (await timed(server, "/api/customers")).status == 200
    finally:
        os.kill(pid, signal.SIGCONT)

    async def served_again() -> bool:
        return (await call(server, "GET", "/api/queues/2/waiting_stats")).status == 200

    await eventually(served_again, seconds=10, step=0.1)


async def test_a_user_removed_while_redis_was_down_loses_its_open_stream_once_it_is_back(
    on_private_redis: tuple[LiveServer, PrivateRedis],
) -> None:
    server, redis = on_private_redis
    board = await open_streaming(server.port, "/api/wallboard/stream", basic(*ADMIN))
    redis.stop()

    async def feed_down() -> bool:
        health = as_json(await call(server, "GET", "/health"))
        return bool(health["stores"]["changes"]["state"] == "down")

    await eventually(feed_down, seconds=10, step=0.1)
    # The command writes to PostgreSQL but cannot tell the instances: Redis carries the feed.
    removed = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "kolejka", "users", "remove", ADMIN[0]],
        capture_output=True,
        text=True,
        env={**server.env},
        timeout=60,
    )
    assert removed.returncode == 0, removed.stderr
    redis.start()
    # Back on the feed, the instance cannot know what it missed, so it checks every stream.
    started = time.monotonic()
    assert await board.ended(timeout=5)
    assert time.monotonic() - started < 5
    board.close()


async def test_with_postgresql_stopped_the_crm_answers_503_cached_lists_stay_and_all_recovers(
    private_postgres: PrivatePostgres, redis_url: str, tmp_path: Path
) -> None:
    prefix = unique_name("faults")
    settings = Settings(database_url=private_postgres.url, live_url=redis_url, redis_prefix=prefix)
    server = await seeded_server(settings, tmp_path)
    try:
        assert len(as_json(await timed(server, "/api/queues/2/waiting_list"))) == 1
        private_postgres.stop()
        try:
            assert is_unavailable(await timed(server, "/api/customers"))
            assert is_unavailable(await timed(server, "/api/queues"))
            assert is_unavailable(await timed(server, "/api/queues/2/waiting_stats"))
            # Read from memory, and Redis still has the callers: the wallboard keeps its list.
            cached = await timed(server, "/api/queues/2/waiting_list")
            assert cached.status == 200
            assert as_json(cached)[0]["customer_label"] == "Jan Kowalski"
            health = as_json(await timed(server, "/health"))
            assert health["stores"]["database"]["state"] == "down"
            assert private_postgres.url.split("@")[1] not in str(health)
        finally:
            private_postgres.start()

        async def crm_again() -> bool:
            return (await call(server, "GET", "/api/customers")).status == 200

        await eventually(crm_again, seconds=10, step=0.1)
        (jan,) = as_json(await timed(server, "/api/customers"))
        assert (jan["name"], jan["surname"]) == ("Jan", "Kowalski")
        assert as_json(await timed(server, "/api/queues/2/waiting_stats"))["in_queue"] == 1

        async def healthy() -> bool:
            return bool(as_json(await timed(server, "/health"))["status"] == "ok")

        await eventually(healthy, seconds=5, step=0.1)
    finally:
        await asyncio.to_thread(server.stop)
        await drop_prefix(redis_url, prefix)
    assert "password" not in server.log().lower()


async def test_when_redis_comes_back_empty_the_callers_asterisk_knows_come_back(
    postgres_url: str, tmp_path: Path
) -> None:
    from tests.ami.fake_asterisk import FakeAsterisk, events

    redis = PrivateRedis(need_tool("redis-server"), tmp_path, persistent=False).start()
    asterisk = await FakeAsterisk().start()
    server: LiveServer | None = None
    try:
        async with fresh_schema(postgres_url) as url:
            settings = Settings(database_url=url, live_url=redis.url, redis_prefix="faults")
            await asyncio.to_thread(asyncio.run, _admin_only(settings))
            server = LiveServer(
                tmp_path / "empty.db",
                extra_env={
                    "KOLEJKA_DATABASE_URL": url,
                    "KOLEJKA_LIVE_URL": redis.url,
                    "KOLEJKA_REDIS_PREFIX": "faults",
                    "KOLEJKA_LEASE_SECONDS": "2",
                    **ami_env(asterisk),
                },
            )
            await asyncio.to_thread(server.start)
            stats = f"/api/queues/{SUPPORT}/waiting_stats"  # read from the store, never cached

            async def three_waiting() -> bool:
                answer = await call(server, "GET", stats)
                return answer.status == 200 and as_json(answer)["in_queue"] == 3

            await asterisk.wait_for_login(1, seconds=10)
            await asterisk.push(*events("queue_caller_events.txt", "QueueCallerJoin"))
            await eventually(three_waiting, seconds=10, step=0.1)
            redis.stop()
            redis.start()  # empty: it kept nothing
            emptied = await call(server, "GET", stats)
            assert emptied.status == 503 or as_json(emptied)["in_queue"] < 3
            await eventually(three_waiting, seconds=15, step=0.1)
            assert asterisk.logins >= 2  # the listener started afresh and reconciled
            await asyncio.to_thread(server.stop)
            assert "lost its data" in server.log()
    finally:
        if server is not None:
            await asyncio.to_thread(server.stop)
        await asterisk.stop()
        redis.stop()


async def _admin_only(settings: Settings) -> None:
    components = build(settings, hasher=FAST_HASHER)
    await components.api_users.add(*ADMIN, ["*"])
    await components.aclose()
