"""Every page of the call history is an index range: no filter reads the whole connections table,
and no page sorts every matching row (the order comes from the index, newest first).

How statements are recorded and explained: tests/contract/query_plans.py. With ten million calls
a scan or a sort of a large range costs seconds; bench/connections.py measures the real figure.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from kolejka.adapters.postgres.stores import PostgresConnections
from kolejka.adapters.sqlite.database import Database
from kolejka.adapters.sqlite.stores import SqliteConnections
from kolejka.domain.connections import Connection, ConnectionQuery, Disposition
from kolejka.services.ports import ConnectionStore
from tests.contract.query_plans import Recording, recording, scans, sorts

T0 = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
TABLE = re.compile(r"\bconnections\b")
# A `src` filter asks for every key its number may have been written as.
ONE_NUMBER = ("+48601100200", "48601100200", "0048601100200", "601100200")
# Every filter alone, and the combinations reports use; each with and without a date range.
FILTERS: list[dict[str, object]] = [
    {},
    {"queue_id": 2},
    {"src_keys": ONE_NUMBER},
    {"dst_keys": ("225000000", *ONE_NUMBER)},
    {"customer_keys": ONE_NUMBER},
    {"user_login": "jkowalski"},
    {"connection_id": "1416225570.341"},
    {"queue_id": 2, "user_login": "jkowalski"},
    {"queue_id": 2, "src_keys": ONE_NUMBER},
    {"queue_id": 2, "customer_keys": ONE_NUMBER},
]


@pytest.fixture(params=["sqlite", "postgresql"])
async def history(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[tuple[ConnectionStore, Recording]]:
    postgres_url = "" if request.param == "sqlite" else request.getfixturevalue("postgres_url")
    async with recording(request.param, tmp_path, postgres_url) as database:
        store: ConnectionStore
        if isinstance(database.database, Database):
            store = SqliteConnections(database.database)
        else:
            store = PostgresConnections(database.database)
        yield store, database


async def test_no_page_of_the_history_scans_or_sorts_the_table(
    history: tuple[ConnectionStore, Recording],
) -> None:
    store, database = history
    await store.record(
        Connection("c1", 2, "601100200", T0, Disposition.ANSWERED, timedelta(0), src_key="+48")
    )
    database.clear()
    for filters in FILTERS:
        for dates in ({}, {"date_from": T0}, {"date_from": T0, "date_to": T0}):
            await store.page(ConnectionQuery(**filters, **dates))  # type: ignore[arg-type]
            await store.page(ConnectionQuery(offset=100, **filters, **dates))  # type: ignore[arg-type]
    await store.prune(T0, 500)
    await store.get("c1")
    queries = database.queries(TABLE)
    assert len(queries) >= len(FILTERS) * 3
    slow = {}
    for statement, args in queries.items():
        plan = await database.plan(statement, args)
        # A count reads the matching index range to its bound: it needs no order; one call
        # (connection_id, the primary key) is at most one row to sort.
        # A number's calls (a `src`, `dst` or `customer_id` filter) come under several keys, one
        # index range each: they are merged by a sort of that one number's calls, never of the
        # table.
        ordered = statement.lstrip().startswith("SELECT connection_id") and not any(
            term in statement for term in ("connection_id = ", "src_key IN", "dst IN")
        )
        if scans(database.engine, plan, "connections") or (
            ordered and sorts(database.engine, plan)
        ):
            slow[statement] = plan
    assert slow == {}
