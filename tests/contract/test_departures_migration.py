"""Migration 0014: the wait estimate reads the call history, and the `departures` table goes on
SQLite. On PostgreSQL it stays, so that an instance not yet upgraded still records a caller's
departure there (docs/operations.md, "Migrations")."""

from __future__ import annotations

from typing import Any

from tests.contract.stores import SqlStores

# What the version before 0014 wrote as each caller left (SqliteWaitingCallers.leave).
OLD_INSERT = (
    "INSERT INTO departures (call_id, queue_id, outcome, hold_seconds, started_at, left_at)"
    " VALUES ({}, {}, {}, {}, {}, {})"
)
ROW = ("1700000000.42", 2, "answered", 12.5, 1_795_707_336_250_000, 1_795_707_348_750_000)


async def test_sqlite_drops_the_departures_table_and_postgresql_keeps_it_for_older_instances(
    sql: SqlStores,
) -> None:
    db: Any = sql.connections.db  # type: ignore[attr-defined]
    if sql.engine == "sqlite":
        found = db.connection.execute(
            "SELECT name FROM sqlite_master WHERE name LIKE 'departures%'"
        ).fetchall()
        assert found == []
        return
    await db.execute(OLD_INSERT.format("$1", "$2", "$3", "$4", "$5", "$6"), *ROW)
    assert await db.fetchval("SELECT count(*) FROM departures") == 1
