"""The webhooks' tables in SQLite (ports.WebhookStore, through adapters/sql/webhooks.py)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from sqlite3 import Connection, Cursor
from typing import Any, TypeVar

from kolejka.adapters.sql.webhooks import Sql, SqlWebhooks, event_insert, event_inserts
from kolejka.adapters.sqlite.database import Database
from kolejka.domain.webhooks import NewEvent

T = TypeVar("T")


def write_events(
    sql: Connection | Cursor,
    events: Sequence[NewEvent],
    at: datetime | None = None,
    at_micros: int = 0,
    start: datetime | None = None,
    start_micros: int = 0,
) -> None:
    """Adds `events` to the outbox inside the caller's write transaction. `sql` may be a cursor
    kept for it: Connection.execute makes a new one each time. `at`/`start` with their
    microseconds: instants the caller converted already (`event_insert`)."""
    if len(events) == 1:  # a caller's join or departure: no list, no executemany iterator
        sql.execute(*event_insert(events[0], at, at_micros, start, start_micros))
    elif events:
        for statement, rows in event_inserts(events):
            sql.executemany(statement, rows)


class SqliteSql:
    """adapters/sql/webhooks.Sql on the service's connection. Its calls never give the event loop
    away, so a transaction (`Database.writing`) holds only what its work writes."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def rows(self, query: str, *args: object) -> list[tuple[Any, ...]]:
        return list(self.db.connection.execute(query, args).fetchall())

    async def run(self, query: str, *args: object) -> int:
        async with self.db.writing():
            return self.db.connection.execute(query, args).rowcount

    async def many(self, query: str, rows: Sequence[Sequence[object]]) -> None:
        if not rows:
            return
        async with self.db.writing():
            self.db.connection.executemany(query, rows)

    async def atomically(self, work: Callable[[Sql], Awaitable[T]]) -> T:
        async with self.db.writing():
            return await work(self)


def sqlite_webhooks(db: Database) -> SqlWebhooks:
    return SqlWebhooks(SqliteSql(db))
