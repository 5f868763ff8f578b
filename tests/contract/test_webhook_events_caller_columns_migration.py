"""Migration 0013 on every engine: the callers' events get typed columns of their own. Events an
older version stored (JSON, already in the outbox when it is upgraded) are delivered with the same
bytes as before; an older version still running keeps writing the outbox; new callers' events
are written to the columns, without JSON."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import pytest

from kolejka.adapters.postgres.database import PostgresDatabase
from kolejka.adapters.postgres.webhooks import numbered, postgres_webhooks
from kolejka.adapters.sql.webhooks import SqlWebhooks
from kolejka.adapters.sqlite.database import Database
from kolejka.adapters.sqlite.webhooks import sqlite_webhooks
from kolejka.adapters.webhooks.delivery import render
from kolejka.domain.queues import Outcome, WaitingCaller, departure
from kolejka.domain.webhooks import Action, caller_joined, caller_left
from tests.contract.schema_versions import schema_at
from tests.servers import fresh_schema

WARSAW = ZoneInfo("Europe/Warsaw")
JOINED_AT = datetime(2026, 11, 26, 15, 35, 36, 250_000, tzinfo=UTC)
CALLER = WaitingCaller("1700000000.42", 2, "746842523", "", JOINED_AT)
GONE = departure(CALLER, Outcome.ANSWERED, JOINED_AT + timedelta(seconds=48))
ALL = [action.value for action in Action]

# The callers' events as the version before 0013 stored them: fields as JSON, instants in ISO
# 8601; one already rendered (its body stays what was sent).
OLD_JOINED = (
    '{"queue_id":2,"call_id":"1700000000.42","phone_number":"746842523","caller_name":"",'
    '"started_at":"2026-11-26T15:35:36.250000+00:00"}'
)
OLD_LEFT = (
    '{"queue_id":2,"call_id":"1700000000.42","phone_number":"746842523","outcome":"answered",'
    '"started_at":"2026-11-26T15:35:36.250000+00:00","waited":48}'
)
EVENTS = [
    (3, "CALLER_JOINED", 1_795_707_336_250_000, OLD_JOINED, None, None),
    (5, "CALLER_LEFT", 1_795_707_384_250_000, OLD_LEFT, None, None),
    (
        6,
        "CUSTOMER_CREATED",
        1_795_707_385_000_000,
        '{"customer_id":1,"company_id":""}',
        None,
        '{"x":1}',
    ),
]
INSERT_OLD = (
    "INSERT INTO webhook_events (event_id, action, occurred_at, body, source, rendered)"
    " VALUES (?, ?, ?, ?, ?, ?)"
)
# What a version before 0013 runs to add an event, still running while instances are replaced.
OLDER_WRITER = "INSERT INTO webhook_events (action, occurred_at, body) VALUES (?, ?, ?)"
COLUMNS = (
    "event_id, action, body, queue_id, call_id, phone_number, caller_name, outcome, started_at,"
    " waited"
)
SELECT = f"SELECT {COLUMNS} FROM webhook_events ORDER BY event_id"  # noqa: S608


@dataclass
class Migrated:
    webhooks: SqlWebhooks
    sql: Any  # run(query, *args), rows(query)


class SqliteRaw:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def run(self, query: str, *args: object) -> None:
        self.db.connection.execute(query, args)

    async def rows(self, query: str) -> list[tuple[Any, ...]]:
        return [tuple(row) for row in self.db.connection.execute(query)]


class PostgresRaw:
    def __init__(self, connection: asyncpg.Connection) -> None:
        self.connection = connection

    async def run(self, query: str, *args: object) -> None:
        await self.connection.execute(numbered(query), *args)

    async def rows(self, query: str) -> list[tuple[Any, ...]]:
        return [tuple(row) for row in await self.connection.fetch(query)]


@pytest.fixture(params=["sqlite", "postgresql"])
async def migrated(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Migrated]:
    if request.param == "sqlite":
        db = Database(str(tmp_path / "old.db"))
        with schema_at(12):
            assert db.migrate()[-1] == 12
        db.connection.executemany(INSERT_OLD, EVENTS)
        assert db.migrate()[0] == 13
        yield Migrated(sqlite_webhooks(db), SqliteRaw(db))
        db.close()
        return
    async with fresh_schema(request.getfixturevalue("postgres_url")) as url:
        pg = PostgresDatabase(url, pool_size=1)
        with schema_at(12):
            assert (await pg.migrate())[-1] == 12
        connection = await asyncpg.connect(url)
        try:
            await connection.executemany(numbered(INSERT_OLD), EVENTS)
            await connection.execute(
                "SELECT setval(pg_get_serial_sequence('webhook_events', 'event_id'), 6)"
            )
            assert (await pg.migrate())[0] == 13
            yield Migrated(postgres_webhooks(pg), PostgresRaw(connection))
        finally:
            await connection.close()
            await pg.aclose()


async def test_a_callers_event_stored_before_the_migration_is_sent_with_the_same_bytes(
    migrated: Migrated,
) -> None:
    old_joined, old_left, customer = await migrated.webhooks.following(0, ALL, 10)
    assert render(old_joined, WARSAW) == (
        b'{"action":"CALLER_JOINED","queue_id":2,"call_id":"1700000000.42",'
        b'"phone_number":"746842523","caller_name":"","started_at":"2026-11-26 16:35:36",'
        b'"date":"2026-11-26 16:35:36","event_id":3}'
    )
    assert render(old_left, WARSAW) == (
        b'{"action":"CALLER_LEFT","queue_id":2,"call_id":"1700000000.42",'
        b'"phone_number":"746842523","outcome":"answered","started_at":"2026-11-26 16:35:36",'
        b'"waited":48,"date":"2026-11-26 16:36:24","event_id":5}'
    )
    assert customer.rendered == '{"x":1}'
    # The same events written now read back the same, in their columns.
    await migrated.webhooks.append([caller_joined(CALLER), caller_left(GONE)])
    new_joined, new_left = await migrated.webhooks.following(customer.event_id, ALL, 10)
    for old, new in ((old_joined, new_joined), (old_left, new_left)):
        assert (new.action, new.occurred_at) == (old.action, old.occurred_at)
        assert list(new.fields.items()) == list(old.fields.items())
        assert render(new, WARSAW) == render(old, WARSAW).replace(
            f'"event_id":{old.event_id}'.encode(), f'"event_id":{new.event_id}'.encode()
        )


async def test_a_callers_event_is_written_to_its_columns_and_numbered_past_the_largest(
    migrated: Migrated,
) -> None:
    await migrated.webhooks.append(
        [caller_joined(CALLER), caller_left(replace(GONE, phone_number="746 842 523"))]
    )
    rows = await migrated.sql.rows(SELECT)
    micros = 1_795_707_336_250_000
    assert rows[len(EVENTS) :] == [
        (7, "CALLER_JOINED", None, 2, "1700000000.42", "746842523", "", None, micros, None),
        (8, "CALLER_LEFT", None, 2, "1700000000.42", "746 842 523", None, "answered", micros, 48),
    ]


async def test_an_older_version_still_running_keeps_writing_the_outbox(
    migrated: Migrated,
) -> None:
    await migrated.sql.run(OLDER_WRITER, "CALLER_JOINED", 1_795_707_336_250_000, OLD_JOINED)
    *_, older = await migrated.webhooks.following(0, ALL, 10)
    assert older.event_id == 7
    assert list(older.fields.items()) == list(caller_joined(CALLER).fields.items())
