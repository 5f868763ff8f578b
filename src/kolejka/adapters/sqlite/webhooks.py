"""The webhooks' tables in SQLite (ports.WebhookStore, through adapters/sql/webhooks.py)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from functools import cache
from sqlite3 import Connection
from typing import Any, TypeVar

from kolejka.adapters.sql.webhooks import Sql, SqlWebhooks, event_insert, event_inserts
from kolejka.adapters.sqlite.database import Database, insert_flat
from kolejka.domain.webhooks import NewEvent

T = TypeVar("T")


def write_events(sql: Database | Connection, events: Sequence[NewEvent]) -> None:
    """Adds `events` to the outbox inside the caller's write transaction: on the service's own
    connection (`sql` the Database) held to its commit (`HeldEvents`), on a connection apart (a
    batch on its thread) at once."""
    if isinstance(sql, Database):
        held = held_events(sql)
        for event in events:
            held.add(*event_insert(event))
    elif len(events) == 1:
        sql.execute(*event_insert(events[0]))
    elif events:
        for statement, rows in event_inserts(events):
            sql.executemany(statement, rows)


class HeldEvents:
    """The outbox's rows of the open transaction on the service's own connection, held to its
    commit and written then as statements of many rows (`Database.holds`).

    The AMI listener adds one or two for each event of a burst (a caller's join or departure),
    and a statement run for each (bound, stepped and reset) was a third of what webhooks cost
    the listener (callgrind, bench/ami_instructions.py --webhooks). A burst's joins and
    departures alternate, so its rows are kept by statement, each with its event id: the ids
    number the events in the order they were added, as one statement a row would have (the
    transaction holds the write lock: nobody else numbers one meanwhile). A write or a read of
    the outbox on this connection (`SqliteSql`) writes what is held first. Outside a
    transaction that `Database.writing` began, an event is written at once."""

    __slots__ = ("_added", "_db", "_rows")

    def __init__(self, db: Database) -> None:
        self._db = db
        # By statement: each row's place among the transaction's events, then its values.
        self._rows: dict[str, list[object]] = {}
        self._added = 0
        db.holds(self)

    def add(self, statement: str, values: Sequence[object]) -> None:
        """One event: `statement` (an INSERT of `event_insert`'s) with its `values`."""
        if not self._db.holding:
            self._db.connection.execute(statement, values)
            return
        run = self._rows.get(statement)
        if run is None:
            run = self._rows[statement] = []
        run.append(self._added)
        run.extend(values)
        self._added += 1

    def write(self, sql: Connection) -> None:
        if not self._added:
            return
        rows, self._rows, self._added = self._rows, {}, 0
        (last,) = sql.execute("SELECT max(event_id) FROM webhook_events").fetchone()
        first = 1 if last is None else last + 1  # as SQLite numbers a row (no AUTOINCREMENT)
        for statement, values in rows.items():
            numbered, width = _numbered(statement)
            values[::width] = [first + place for place in values[::width]]  # type: ignore[operator]
            insert_flat(sql, numbered, width, values)

    def drop(self) -> None:
        self._rows, self._added = {}, 0


@cache
def _numbered(statement: str) -> tuple[str, int]:
    """`statement` (`event_insert`'s) with the event's id as its first value; how many values a
    row of it has."""
    head, rest = statement.split(" (", 1)
    columns, values = rest.split(") VALUES (", 1)
    return f"{head} (event_id, {columns}) VALUES (?, {values}", values.count("?") + 1


def held_events(db: Database) -> HeldEvents:
    """The outbox's `HeldEvents` of `db`, one for the connection."""
    for held in db.held:
        if isinstance(held, HeldEvents):
            return held
    return HeldEvents(db)


class SqliteSql:
    """adapters/sql/webhooks.Sql on the service's connection. Its calls never give the event loop
    away, so a transaction (`Database.writing`) holds only what its work writes."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def rows(self, query: str, *args: object) -> list[tuple[Any, ...]]:
        self.db.write_held()  # an event held for the open transaction's commit is read too
        return list(self.db.connection.execute(query, args).fetchall())

    async def run(self, query: str, *args: object) -> int:
        async with self.db.writing():
            self.db.write_held()  # the events held before this write come before it
            return self.db.connection.execute(query, args).rowcount

    async def many(self, query: str, rows: Sequence[Sequence[object]]) -> None:
        if not rows:
            return
        async with self.db.writing():
            self.db.write_held()
            self.db.connection.executemany(query, rows)

    async def atomically(self, work: Callable[[Sql], Awaitable[T]]) -> T:
        async with self.db.writing():
            return await work(self)


def sqlite_webhooks(db: Database) -> SqlWebhooks:
    return SqlWebhooks(SqliteSql(db))
