"""One contract suite, every adapter: each storage port's tests run against each engine.

`sql` stands for the database's stores (SQLite, PostgreSQL in a fresh schema); `live` for the
live waiting lists (SQLite, PostgreSQL, Redis under a fresh key prefix); `feeds` makes change
feeds of one deployment (PostgreSQL LISTEN/NOTIFY, Redis pub/sub), as several instances hold.
Without the servers, their cases skip locally and fail under KOLEJKA_REQUIRE_SERVICES=1.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from kolejka.adapters.postgres.agents import PostgresAgentLive, PostgresAgents
from kolejka.adapters.postgres.callbacks import PostgresCallbacks
from kolejka.adapters.postgres.changes import PostgresChangeFeed
from kolejka.adapters.postgres.crm import PostgresCrm
from kolejka.adapters.postgres.database import PostgresDatabase
from kolejka.adapters.postgres.lease import PostgresLease
from kolejka.adapters.postgres.stores import (
    PostgresApiUsers,
    PostgresConnections,
    PostgresCustomers,
    PostgresQueues,
    PostgresWaitingCallers,
)
from kolejka.adapters.postgres.webhooks import postgres_webhooks
from kolejka.adapters.redis.agent_live import RedisAgentLive
from kolejka.adapters.redis.changes import RedisChangeFeed
from kolejka.adapters.redis.connection import RedisConnection
from kolejka.adapters.redis.lease import RedisLease
from kolejka.adapters.redis.waiting_callers import RedisWaitingCallers
from kolejka.adapters.shared_feed import SharedFeed
from kolejka.adapters.sqlite.agents import SqliteAgentLive, SqliteAgents
from kolejka.adapters.sqlite.callbacks import SqliteCallbacks
from kolejka.adapters.sqlite.crm import SqliteCrm
from kolejka.adapters.sqlite.database import Database
from kolejka.adapters.sqlite.stores import (
    SqliteApiUsers,
    SqliteConnections,
    SqliteCustomers,
    SqliteQueues,
    SqliteWaitingCallers,
)
from kolejka.adapters.sqlite.webhooks import sqlite_webhooks
from kolejka.domain.queues import Queue
from kolejka.services.ports import (
    AgentDirectory,
    AgentLiveStore,
    CallbackStore,
    Lease,
)
from tests.contract.stores import CallbackRecords, FeedFactory, LeaseFactory, LiveLists, SqlStores
from tests.servers import drop_prefix, fresh_schema, unique_name


@pytest.fixture(params=["sqlite", "postgresql"])
async def sql(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[SqlStores]:
    if request.param == "sqlite":
        db = Database(str(tmp_path / "contract.db"))
        db.migrate()
        yield SqlStores(
            "sqlite",
            SqliteQueues(db),
            SqliteApiUsers(db),
            SqliteCrm(db),
            SqliteCustomers(db),
            SqliteConnections(db),
            sqlite_webhooks(db),
        )
        db.close()
        return
    async with fresh_schema(request.getfixturevalue("postgres_url")) as url:
        pg = PostgresDatabase(url)
        await pg.migrate()
        yield SqlStores(
            "postgresql",
            PostgresQueues(pg),
            PostgresApiUsers(pg),
            PostgresCrm(pg),
            PostgresCustomers(pg),
            PostgresConnections(pg),
            postgres_webhooks(pg),
        )
        await pg.aclose()


async def nothing_to_relay() -> None:
    return None


@pytest.fixture(params=["sqlite", "postgresql", "redis"])
async def live(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[LiveLists]:
    if request.param == "sqlite":
        db = Database(str(tmp_path / "live.db"))
        db.migrate()
        queues = SqliteQueues(db)
        yield LiveLists(
            "sqlite",
            SqliteWaitingCallers(db),
            lambda q: queues.put(Queue(q, "Q")),
            sqlite_webhooks(db),
            nothing_to_relay,
        )
        db.close()
    elif request.param == "postgresql":
        async with fresh_schema(request.getfixturevalue("postgres_url")) as url:
            pg = PostgresDatabase(url)
            await pg.migrate()
            pg_queues = PostgresQueues(pg)
            yield LiveLists(
                "postgresql",
                PostgresWaitingCallers(pg),
                lambda q: pg_queues.put(Queue(q, "Q")),
                postgres_webhooks(pg),
                nothing_to_relay,
            )
            await pg.aclose()
    else:
        redis_url = request.getfixturevalue("redis_url")
        prefix = unique_name("live")
        connection = RedisConnection(redis_url, prefix)

        async def no_queues_in_redis(queue_id: int) -> None:
            return None

        relayed = Database(str(tmp_path / "relayed.db"))
        relayed.migrate()
        outbox = sqlite_webhooks(relayed)
        callers = RedisWaitingCallers(connection)

        async def relay() -> None:
            while await callers.relay_events(outbox):
                pass

        yield LiveLists("redis", callers, no_queues_in_redis, outbox, relay)
        relayed.close()
        await connection.aclose()
        await drop_prefix(redis_url, prefix)


@pytest.fixture(params=["sqlite", "postgresql"])
async def agent_directory(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[AgentDirectory]:
    """The agent and pause catalogues, in the database."""
    if request.param == "sqlite":
        db = Database(str(tmp_path / "agents.db"))
        db.migrate()
        yield SqliteAgents(db)
        db.close()
        return
    async with fresh_schema(request.getfixturevalue("postgres_url")) as url:
        pg = PostgresDatabase(url)
        await pg.migrate()
        yield PostgresAgents(pg)
        await pg.aclose()


@pytest.fixture(params=["sqlite", "postgresql", "redis"])
async def agent_live(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[AgentLiveStore]:
    """Agents' live records, wherever the live waiting lists may be."""
    if request.param == "sqlite":
        db = Database(str(tmp_path / "agent_live.db"))
        db.migrate()
        yield SqliteAgentLive(db)
        db.close()
    elif request.param == "postgresql":
        async with fresh_schema(request.getfixturevalue("postgres_url")) as url:
            pg = PostgresDatabase(url)
            await pg.migrate()
            yield PostgresAgentLive(pg)
            await pg.aclose()
    else:
        redis_url = request.getfixturevalue("redis_url")
        prefix = unique_name("agents")
        connection = RedisConnection(redis_url, prefix)
        yield RedisAgentLive(connection)
        await connection.aclose()
        await drop_prefix(redis_url, prefix)


@pytest.fixture(params=["sqlite", "postgresql"])
async def callback_stores(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[list[CallbackStore]]:
    """Two callback stores on one database, each on its own connection, as two processes'."""
    if request.param == "sqlite":
        path = str(tmp_path / "callbacks.db")
        dbs = [Database(path), Database(path)]
        dbs[0].migrate()
        yield [SqliteCallbacks(db) for db in dbs]
        for db in dbs:
            db.close()
        return
    async with fresh_schema(request.getfixturevalue("postgres_url")) as url:
        pgs = [PostgresDatabase(url), PostgresDatabase(url)]
        await pgs[0].migrate()
        yield [PostgresCallbacks(pg) for pg in pgs]
        for pg in pgs:
            await pg.aclose()


@pytest.fixture(params=["postgresql", "redis"])
async def feeds(request: pytest.FixtureRequest) -> AsyncIterator[FeedFactory]:
    """Makes change feeds of one deployment, each listening as an instance's would."""
    tasks: list[asyncio.Task[None]] = []
    closers: list[Callable[[], Awaitable[None]]] = []

    async def listening(feed: SharedFeed, run: Callable[[], Awaitable[None]]) -> SharedFeed:
        tasks.append(asyncio.create_task(run()))  # type: ignore[arg-type]
        for _ in range(500):
            if feed.connected:
                return feed
            await asyncio.sleep(0.01)
        raise AssertionError("the feed did not connect in 5 s")

    async with contextlib.AsyncExitStack() as stack:
        if request.param == "postgresql":
            url = await stack.enter_async_context(
                fresh_schema(request.getfixturevalue("postgres_url"))
            )

            async def make() -> SharedFeed:
                db = PostgresDatabase(url)
                closers.append(db.aclose)
                feed = PostgresChangeFeed(db)
                return await listening(feed, feed.run)

        else:
            redis_url = request.getfixturevalue("redis_url")
            prefix = unique_name("feed")
            stack.push_async_callback(drop_prefix, redis_url, prefix)

            async def make() -> SharedFeed:
                connection = RedisConnection(redis_url, prefix)
                closers.append(connection.aclose)
                feed = RedisChangeFeed(connection)
                return await listening(feed, feed.run)

        yield make
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for close in closers:
            await close()


@pytest.fixture(params=["postgresql", "redis"])
async def leases(request: pytest.FixtureRequest) -> AsyncIterator[LeaseFactory]:
    """Makes leases on one and the same job, each as a separate instance would hold it."""
    closers: list[Callable[[], Awaitable[None]]] = []
    async with contextlib.AsyncExitStack() as stack:
        if request.param == "postgresql":
            url = await stack.enter_async_context(
                fresh_schema(request.getfixturevalue("postgres_url"))
            )

            def make(seconds: float) -> Lease:
                db = PostgresDatabase(url)
                lease = PostgresLease(db, seconds)
                closers.extend([lease.release, db.aclose])
                return lease

        else:
            redis_url = request.getfixturevalue("redis_url")
            prefix = unique_name("lease")

            def make(seconds: float) -> Lease:
                connection = RedisConnection(redis_url, prefix)
                closers.append(connection.aclose)
                return RedisLease(connection, "ami", seconds, "test")

            stack.push_async_callback(drop_prefix, redis_url, prefix)

        yield make
        for close in closers:
            with contextlib.suppress(Exception):
                await close()


@pytest.fixture(params=["sqlite", "postgresql"])
async def callback_records(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[CallbackRecords]:
    if request.param == "sqlite":
        db = Database(str(tmp_path / "records.db"))
        db.migrate()
        yield CallbackRecords(SqliteCallbacks(db), SqliteConnections(db), sqlite_webhooks(db))
        db.close()
        return
    async with fresh_schema(request.getfixturevalue("postgres_url")) as url:
        pg = PostgresDatabase(url)
        await pg.migrate()
        yield CallbackRecords(PostgresCallbacks(pg), PostgresConnections(pg), postgres_webhooks(pg))
        await pg.aclose()
