"""Migration 0011 on every engine: the call history's table rebuilt with its CHECKs spelt as
ORed equalities keeps every row, and still refuses a disposition or direction it does not know."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from kolejka.adapters.postgres.database import PostgresDatabase
from kolejka.adapters.sql.connections import (
    COLUMNS,
    DEPARTURE_COLUMNS,
    insert_sql,
    upsert_sql,
)
from kolejka.adapters.sqlite.database import Database
from tests.contract.schema_versions import schema_at
from tests.servers import fresh_schema

# Calls as kolejka wrote them at schema version 10: every disposition, both directions, the
# columns most rows leave empty filled in on some.
ROWS = [
    ("1700000000.1", 2, 1_700_000_000_000_000, "+48600100200", "+48600100200", "", "INBOUND",
     "ANSWERED", 12, 340, "jkowalski", "Agent", ""),
    ("1700000000.2", 2, 1_700_000_060_000_000, "600100201", "600100201", "", "INBOUND",
     "NO ANSWER", 45, 0, "", "Customer", ""),
    ("1700000000.3", 3, 1_700_000_120_000_000, "", "", "", "INBOUND", "FAILED", 7, 0, "", "", ""),
    ("1700000000.4", 3, 1_700_000_180_000_000, "", "", "+48600100201", "OUTBOUND", "BUSY", 0, 0,
     "anowak", "", "ext-204"),
]  # fmt: skip
INSERT = f"INSERT INTO connections ({COLUMNS}) VALUES ({', '.join(['?'] * 13)})"  # noqa: S608
SELECT = f"SELECT {COLUMNS} FROM connections ORDER BY connection_id"  # noqa: S608


@dataclass
class Migrated:
    """The database after the migration: its rows, and an insert of one row (raises if refused)."""

    rows: Callable[[], Awaitable[list[tuple[Any, ...]]]]
    insert: Callable[[tuple[Any, ...]], Awaitable[None]]
    refused: type[Exception]


@pytest.fixture(params=["sqlite", "postgresql"])
async def migrated(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Migrated]:
    if request.param == "sqlite":
        db = Database(str(tmp_path / "old.db"))
        with schema_at(10):
            assert db.migrate()[-1] == 10
        db.connection.executemany(INSERT, ROWS)
        assert db.migrate()[0] == 11  # and any later ones

        async def rows() -> list[tuple[Any, ...]]:
            return [tuple(row) for row in db.connection.execute(SELECT)]

        async def insert(row: tuple[Any, ...]) -> None:
            db.connection.execute(INSERT, row)

        yield Migrated(rows, insert, db.connection.IntegrityError)
        db.close()
        return
    async with fresh_schema(request.getfixturevalue("postgres_url")) as url:
        pg = PostgresDatabase(url, pool_size=1)
        with schema_at(10):
            assert (await pg.migrate())[-1] == 10
        numbered = INSERT.replace("?", "{}").format(*(f"${n}" for n in range(1, 14)))
        connection = await asyncpg.connect(url)
        try:
            await connection.executemany(numbered, ROWS)
            assert (await pg.migrate())[0] == 11

            async def pg_rows() -> list[tuple[Any, ...]]:
                return [tuple(row) for row in await connection.fetch(SELECT)]

            async def pg_insert(row: tuple[Any, ...]) -> None:
                await connection.execute(numbered, *row)

            yield Migrated(pg_rows, pg_insert, asyncpg.CheckViolationError)
        finally:
            await connection.close()
            await pg.aclose()


async def test_every_call_recorded_before_the_migration_reads_the_same_after_it(
    migrated: Migrated,
) -> None:
    assert await migrated.rows() == ROWS


@pytest.mark.parametrize(
    ("column", "value"), [(7, "ANSWERED "), (7, "answered"), (7, ""), (6, "INBOUND?"), (6, "")]
)
async def test_the_rebuilt_table_still_refuses_a_disposition_or_direction_it_does_not_know(
    migrated: Migrated, column: int, value: str
) -> None:
    row = list(ROWS[0])
    row[0], row[column] = "1700000000.9", value
    with pytest.raises(migrated.refused):
        await migrated.insert(tuple(row))
    assert await migrated.rows() == ROWS


async def test_the_rebuilt_table_takes_each_disposition_and_direction_it_knows(
    migrated: Migrated,
) -> None:
    for index, row in enumerate(ROWS):
        await migrated.insert((f"1800000000.{index}", *row[1:]))
    assert len(await migrated.rows()) == 2 * len(ROWS)


def test_writing_a_call_on_sqlite_opens_no_ephemeral_table(tmp_path: Path) -> None:
    """What the migration is for: SQLite's IN of more than two values fills a temporary table
    for every row written; the ORed equalities are plain comparisons."""
    db = Database(str(tmp_path / "new.db"))
    db.migrate()
    departure = insert_sql(numbered=False, columns=DEPARTURE_COLUMNS)
    for sql in (upsert_sql(numbered=False), insert_sql(numbered=False), departure):
        unbound = [None] * sql.count("?")
        opcodes = [row[1] for row in db.connection.execute(f"EXPLAIN {sql}", unbound)]
        assert "Insert" in opcodes or "IdxInsert" in opcodes
        assert "OpenEphemeral" not in opcodes
    db.close()
