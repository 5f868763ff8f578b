"""Migration 0012 on every engine: the outbox keeps every event, numbers the next one past the
largest, and still stores a relayed event once; on SQLite a local event (no `source`) is written
to the table alone, in no index."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from kolejka.adapters.postgres.database import PostgresDatabase
from kolejka.adapters.postgres.webhooks import numbered
from kolejka.adapters.sql.webhooks import INSERT_EVENT, INSERT_RELAYED, relayed_row
from kolejka.adapters.sqlite.database import Database
from tests.contract.schema_versions import schema_at
from tests.servers import fresh_schema

# Events as kolejka stored them at schema version 11: local ones (no source), relayed ones, one
# already rendered, and a gap in the ids where pruning left one.
EVENTS = [
    (3, "CALLER_JOINED", 1_700_000_000_000_000, '{"call_id":"a"}', None, None),
    (4, "CALLER_JOINED", 1_700_000_001_000_000, '{"call_id":"b"}', "1700000001000-0", None),
    (6, "CALLER_LEFT", 1_700_000_002_000_000, '{"call_id":"a"}', None, '{"action":"x"}'),
    (7, "CALLER_LEFT", 1_700_000_003_000_000, '{"call_id":"b"}', "1700000003000-0", None),
]
COLUMNS = "event_id, action, occurred_at, body, source, rendered"
INSERT_OLD = f"INSERT INTO webhook_events ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)"  # noqa: S608
SELECT = f"SELECT {COLUMNS} FROM webhook_events ORDER BY event_id"  # noqa: S608


@dataclass
class Migrated:
    """The outbox after the migration: its rows, and the outbox's two statements."""

    rows: Callable[[], Awaitable[list[tuple[Any, ...]]]]
    local: Callable[[tuple[Any, ...]], Awaitable[None]]
    relayed: Callable[[tuple[Any, ...]], Awaitable[None]]


def _relayed(row: tuple[Any, ...]) -> tuple[object, ...]:
    """(action, occurred_at, body, source) as the relay stores a stream entry of its JSON."""
    return relayed_row(json.dumps(row[:3]), row[3])


@pytest.fixture(params=["sqlite", "postgresql"])
async def migrated(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Migrated]:
    if request.param == "sqlite":
        db = Database(str(tmp_path / "old.db"))
        with schema_at(11):
            assert db.migrate()[-1] == 11
        db.connection.executemany(INSERT_OLD, EVENTS)
        assert db.migrate()[0] == 12  # and any later ones

        async def rows() -> list[tuple[Any, ...]]:
            return [tuple(row) for row in db.connection.execute(SELECT)]

        async def local(row: tuple[Any, ...]) -> None:
            db.connection.execute(INSERT_EVENT, row)

        async def relayed(row: tuple[Any, ...]) -> None:
            db.connection.execute(INSERT_RELAYED, _relayed(row))

        yield Migrated(rows, local, relayed)
        db.close()
        return
    async with fresh_schema(request.getfixturevalue("postgres_url")) as url:
        pg = PostgresDatabase(url, pool_size=1)
        with schema_at(11):
            assert (await pg.migrate())[-1] == 11
        connection = await asyncpg.connect(url)
        try:
            await connection.executemany(numbered(INSERT_OLD), EVENTS)
            # As an identity column does when rows come with their ids: moved on by hand.
            await connection.execute(
                "SELECT setval(pg_get_serial_sequence('webhook_events', 'event_id'), 7)"
            )
            assert (await pg.migrate())[0] == 12

            async def pg_rows() -> list[tuple[Any, ...]]:
                return [tuple(row) for row in await connection.fetch(SELECT)]

            async def pg_local(row: tuple[Any, ...]) -> None:
                await connection.execute(numbered(INSERT_EVENT), *row)

            async def pg_relayed(row: tuple[Any, ...]) -> None:
                await connection.execute(numbered(INSERT_RELAYED), *_relayed(row))

            yield Migrated(pg_rows, pg_local, pg_relayed)
        finally:
            await connection.close()
            await pg.aclose()


async def test_every_event_stored_before_the_migration_reads_the_same_after_it(
    migrated: Migrated,
) -> None:
    assert await migrated.rows() == EVENTS


async def test_the_next_event_is_numbered_past_the_largest(migrated: Migrated) -> None:
    await migrated.local(("CALLER_JOINED", 1_700_000_004_000_000, '{"call_id":"c"}'))
    assert [row[0] for row in await migrated.rows()] == [3, 4, 6, 7, 8]


async def test_a_relayed_event_is_still_stored_once_and_local_ones_each_time(
    migrated: Migrated,
) -> None:
    again = ("CALLER_JOINED", 1_700_000_001_000_000, '{"call_id":"b"}', "1700000001000-0")
    await migrated.relayed(again)
    new = ("CALLER_JOINED", 1_700_000_005_000_000, '{"call_id":"d"}', "1700000005000-0")
    await migrated.relayed(new)
    await migrated.relayed(new)
    for _ in range(2):
        await migrated.local(("CALLER_JOINED", 1_700_000_006_000_000, '{"call_id":"e"}'))
    rows = await migrated.rows()
    assert [row[4] for row in rows[len(EVENTS) :]] == ["1700000005000-0", None, None]


def test_a_local_event_on_sqlite_is_written_to_no_index(tmp_path: Path) -> None:
    """What the migration is for: a UNIQUE column indexes every row, NULL keys included, so each
    event a local change wrote was inserted twice; the one index left is partial, of relayed
    events only."""
    db = Database(str(tmp_path / "new.db"))
    db.migrate()
    # (seq, name, unique, origin, partial) of each index
    indexes = list(db.connection.execute("PRAGMA index_list(webhook_events)"))
    assert [(row[1], row[2], row[4]) for row in indexes] == [("webhook_events_by_source", 1, 1)]
    db.connection.execute(INSERT_EVENT, ("CALLER_JOINED", 1, "{}"))
    db.connection.execute(INSERT_RELAYED, _relayed(("CALLER_JOINED", 2, "{}", "1-0")))
    (indexed,) = db.connection.execute(
        "SELECT count(*) FROM webhook_events INDEXED BY webhook_events_by_source"
        " WHERE source IS NOT NULL"
    ).fetchone()
    assert indexed == 1
    db.close()
