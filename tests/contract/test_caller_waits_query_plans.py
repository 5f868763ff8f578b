"""What `GET /api/queues/{id}/callers` asks of the call history is index ranges on both engines:
today's calls from every waiting number (one `IN` over their spellings, `connections_by_src`),
and the queue's last hour (its pace). Recorded from the real service, then explained."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from kolejka.adapters.local.changes import LocalChangeFeed
from kolejka.adapters.postgres.stores import (
    PostgresConnections,
    PostgresCustomers,
    PostgresQueues,
    PostgresWaitingCallers,
)
from kolejka.adapters.sqlite.database import Database
from kolejka.adapters.sqlite.stores import (
    SqliteConnections,
    SqliteCustomers,
    SqliteQueues,
    SqliteWaitingCallers,
)
from kolejka.domain.connections import Connection, Disposition
from kolejka.domain.phone import PhoneNumbers
from kolejka.domain.queues import Queue, WaitingCaller
from kolejka.services.caller_waits import CallerWaits
from kolejka.services.ports import (
    ConnectionStore,
    CustomerDirectory,
    QueueDirectory,
    WaitingCallerStore,
)
from tests.contract.query_plans import Recording, recording, scans
from tests.support import FrozenClock

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
TABLE = re.compile(r"\bconnections\b")
Stores = tuple[QueueDirectory, WaitingCallerStore, ConnectionStore, CustomerDirectory]


@pytest.fixture(params=["sqlite", "postgresql"])
async def history(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[tuple[Stores, Recording]]:
    postgres_url = "" if request.param == "sqlite" else request.getfixturevalue("postgres_url")
    async with recording(request.param, tmp_path, postgres_url) as database:
        db = database.database
        if isinstance(db, Database):
            yield (
                (
                    SqliteQueues(db),
                    SqliteWaitingCallers(db),
                    SqliteConnections(db),
                    SqliteCustomers(db),
                ),
                database,
            )
        else:
            yield (
                (
                    PostgresQueues(db),
                    PostgresWaitingCallers(db),
                    PostgresConnections(db),
                    PostgresCustomers(db),
                ),
                database,
            )


async def test_the_callers_read_the_history_through_index_ranges_only(
    history: tuple[Stores, Recording],
) -> None:
    (queues, callers, store, customers), database = history
    await queues.put(Queue(2, "Obsługa klienta"))
    for n, number in enumerate(["601100200", "+4915110000001", "613459851"]):
        await callers.join(WaitingCaller(f"w{n}", 2, number, "", NOW - timedelta(seconds=60 - n)))
    await store.record(
        Connection(
            "c1",
            2,
            "601100200",
            NOW - timedelta(minutes=5),
            Disposition.ANSWERED,
            timedelta(seconds=30),
            src_key="601100200",
        )
    )
    waits = CallerWaits(
        queues,
        callers,
        store,
        customers,
        PhoneNumbers("PL"),
        FrozenClock(NOW),
        ZoneInfo("Europe/Warsaw"),
        LocalChangeFeed(),
    )
    database.clear()
    found = await waits.callers(2)
    assert [len(caller.calls_today) for caller in found] == [1, 0, 0]
    queries = database.queries(TABLE)
    assert len(queries) == 2  # the queue's pace, and today's calls of every waiting number
    assert any("src_key IN" in statement for statement in queries)
    slow = {}
    for statement, args in queries.items():
        plan = await database.plan(statement, args)
        if scans(database.engine, plan, "connections"):
            slow[statement] = plan
    assert slow == {}
