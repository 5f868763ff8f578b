"""The abandoned list reads index ranges only: today's calls of a queue from the queue's index,
each caller's later calls from the index by number, and the day's callbacks from the partial
index of outbound calls. No statement reads the whole connections table.

How statements are recorded and explained: tests/contract/query_plans.py.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from kolejka.adapters.postgres.stores import PostgresConnections, PostgresCustomers
from kolejka.adapters.sqlite.database import Database
from kolejka.adapters.sqlite.stores import SqliteConnections, SqliteCustomers
from kolejka.domain.connections import Connection, Direction, Disposition
from kolejka.services.ports import ConnectionStore, CustomerDirectory
from tests.contract.query_plans import Recording, recording, scans

T0 = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
TABLES = re.compile(r"\b(connections|customer_phone_numbers)\b")


@pytest.fixture(params=["sqlite", "postgresql"])
async def history(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[tuple[ConnectionStore, CustomerDirectory, Recording]]:
    postgres_url = "" if request.param == "sqlite" else request.getfixturevalue("postgres_url")
    async with recording(request.param, tmp_path, postgres_url) as database:
        store: ConnectionStore
        customers: CustomerDirectory
        if isinstance(database.database, Database):
            store = SqliteConnections(database.database)
            customers = SqliteCustomers(database.database)
        else:
            store = PostgresConnections(database.database)
            customers = PostgresCustomers(database.database)
        yield store, customers, database


async def analyse(database: Recording) -> None:
    """Statistics, as a live database has them (autovacuum; SQLite's are left out on purpose:
    the statement names its index there)."""
    if isinstance(database.database, Database):
        return
    await database.database.execute("ANALYZE connections")


async def test_the_abandoned_list_reads_no_whole_table(
    history: tuple[ConnectionStore, CustomerDirectory, Recording],
) -> None:
    store, customers, database = history
    for n in range(200):  # a day of calls, mostly answered: what the statistics see
        disposition = Disposition.NO_ANSWER if n % 3 == 0 else Disposition.ANSWERED
        at = T0 + timedelta(minutes=n)
        number = f"6011{n:05d}"
        await store.record(
            Connection(f"c{n}", 2, number, at, disposition, timedelta(0), src_key=number)
        )
    await store.record(
        Connection(
            "cb",
            2,
            "",
            T0,
            Disposition.ANSWERED,
            timedelta(0),
            dst="+48601100200",
            direction=Direction.OUTBOUND,
        )
    )
    await analyse(database)
    database.clear()
    assert (await store.abandoned(2, T0, T0 + timedelta(days=1))).abandons
    await customers.sole_matches(["+48601100200", "+48500600700"])
    queries = database.queries(TABLES)
    assert len(queries) == 3
    slow = {}
    used = set()
    for statement, args in queries.items():
        plan = await database.plan(statement, args)
        used.update(re.findall(r"connections_(?:by_queue|outbound|by_src)", " ".join(plan)))
        if scans(database.engine, plan, "(connections|customer_phone_numbers|c|a)"):
            slow[statement] = plan
    assert slow == {}
    # The day's range of the queue's calls, and of its callbacks (not every call of the day).
    assert used == {"connections_by_queue", "connections_outbound", "connections_by_src"}
