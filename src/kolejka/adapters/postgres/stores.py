"""PostgreSQL implementations of the storage ports: queues, waiting callers, customers, API users.

The tables and their meaning are SQLite's (kolejka.adapters.sqlite.stores): instants are
microseconds since 1970 UTC in BIGINT columns, permissions a JSON list in TEXT.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from kolejka.adapters.postgres.database import (
    JOIN_LOCK,
    Connection,
    PostgresDatabase,
    affected,
    lock_key,
)
from kolejka.adapters.postgres.webhooks import write_events
from kolejka.adapters.sql import connections as history_sql
from kolejka.adapters.sql.times import from_micros, to_micros
from kolejka.domain.abandoned import AbandonedCalls
from kolejka.domain.connections import Connection as CallRecord
from kolejka.domain.connections import ConnectionPage, ConnectionQuery
from kolejka.domain.customers import CustomerKind, CustomerMatch, customer_label
from kolejka.domain.queues import Departure, Joined, Queue, WaitingCaller
from kolejka.domain.webhooks import caller_joined, caller_left
from kolejka.services.ports import HistoryWrite, JournalEntry, Journalled, StoredApiUser


class PostgresQueues:
    """Satisfies ports.QueueDirectory."""

    def __init__(self, db: PostgresDatabase) -> None:
        self.db = db

    async def get(self, queue_id: int) -> Queue | None:
        row = await self.db.fetchrow(
            "SELECT queue_id, name FROM queues WHERE queue_id = $1", queue_id
        )
        return Queue(row[0], row[1]) if row else None

    async def all(self) -> Sequence[Queue]:
        rows = await self.db.fetch("SELECT queue_id, name FROM queues ORDER BY queue_id")
        return [Queue(row[0], row[1]) for row in rows]

    async def put(self, queue: Queue) -> None:
        await self.db.execute(
            "INSERT INTO queues (queue_id, name) VALUES ($1, $2)"
            " ON CONFLICT (queue_id) DO UPDATE SET name = excluded.name",
            queue.queue_id,
            queue.name,
        )

    async def remove(self, queue_id: int) -> bool:
        return await self.db.execute("DELETE FROM queues WHERE queue_id = $1", queue_id) > 0


_CALLER_COLUMNS = "call_id, queue_id, phone_number, caller_name, started_at"


class PostgresWaitingCallers:
    """Satisfies ports.WaitingCallerStore, when the live lists stay in the database."""

    def __init__(self, db: PostgresDatabase) -> None:
        self.db = db

    async def join(self, caller: WaitingCaller, announce: bool = False) -> Joined:
        async def insert(sql: Connection) -> bool:
            # Join numbers order callers who joined in the same microsecond; taking turns keeps
            # two instances from handing out the same one.
            await sql.execute(
                "SELECT pg_advisory_xact_lock($1, hashtext(current_schema()))",
                lock_key(JOIN_LOCK),
            )
            inserted = await sql.fetchval(
                f"INSERT INTO waiting_callers ({_CALLER_COLUMNS}, join_seq)"  # noqa: S608
                " SELECT $1, $2, $3, $4, $5, COALESCE(MAX(join_seq), 0) + 1 FROM waiting_callers"
                " ON CONFLICT (call_id) DO NOTHING RETURNING call_id",
                caller.call_id,
                caller.queue_id,
                caller.phone_number,
                caller.caller_name,
                to_micros(caller.started_at),
            )
            if inserted is not None and announce:
                await write_events(sql, [caller_joined(caller)])
            return inserted is not None

        created = await self.db.transaction(insert)
        stored = await self.find(caller.call_id)
        assert stored is not None
        return Joined(stored, created)

    async def find(self, call_id: str) -> WaitingCaller | None:
        row = await self.db.fetchrow(
            f"SELECT {_CALLER_COLUMNS} FROM waiting_callers WHERE call_id = $1",  # noqa: S608
            call_id,
        )
        return WaitingCaller(row[0], row[1], row[2], row[3], from_micros(row[4])) if row else None

    async def leave(self, departure: Departure, announce: bool = False) -> bool:
        async def move(sql: Connection) -> bool:
            gone = await sql.fetchval(
                "DELETE FROM waiting_callers WHERE call_id = $1 RETURNING call_id",
                departure.call_id,
            )
            if gone is None:
                return False
            if announce:
                await write_events(sql, [caller_left(departure)])
            return True

        return await self.db.transaction(move)

    async def waiting(self, queue_id: int) -> Sequence[tuple[int, WaitingCaller]]:
        rows = await self.db.fetch(
            f"SELECT {_CALLER_COLUMNS}, join_seq FROM waiting_callers"  # noqa: S608
            " WHERE queue_id = $1",
            queue_id,
        )
        return [
            (row[5], WaitingCaller(row[0], row[1], row[2], row[3], from_micros(row[4])))
            for row in rows
        ]


class PostgresCustomers:
    """The built-in CRM's phone book, as far as the waiting list needs it (ports.CustomerDirectory).

    Cards are written through the CRM (`kolejka.services.crm`), which tells the change feed.
    """

    def __init__(self, db: PostgresDatabase) -> None:
        self.db = db

    async def owners(self, e164: str, limit: int = 2) -> Sequence[CustomerMatch]:
        rows = await self.db.fetch(
            "SELECT DISTINCT c.customer_id, c.kind, c.name, c.surname, c.company_name"
            " FROM customer_phone_numbers p JOIN customers c ON c.customer_id = p.customer_id"
            " WHERE p.normalized = $1 LIMIT $2",
            e164,
            limit,
        )
        return [
            CustomerMatch(row[0], customer_label(CustomerKind(row[1]), row[2], row[3], row[4]))
            for row in rows
        ]

    async def sole_owners(self, numbers: Sequence[str]) -> Mapping[str, int]:
        if not numbers:
            return {}
        rows = await self.db.fetch(
            "SELECT normalized, MIN(customer_id) FROM customer_phone_numbers"
            " WHERE normalized = ANY($1::text[]) GROUP BY normalized"
            " HAVING COUNT(DISTINCT customer_id) = 1",
            list(numbers),
        )
        return {row[0]: row[1] for row in rows}

    async def sole_matches(self, numbers: Sequence[str]) -> Mapping[str, CustomerMatch]:
        if not numbers:
            return {}
        rows = await self.db.fetch(
            "SELECT s.normalized, c.customer_id, c.kind, c.name, c.surname, c.company_name"
            " FROM (SELECT normalized, MIN(customer_id) AS customer_id"
            " FROM customer_phone_numbers WHERE normalized = ANY($1::text[])"
            " GROUP BY normalized HAVING COUNT(DISTINCT customer_id) = 1) AS s"
            " JOIN customers c ON c.customer_id = s.customer_id",
            list(numbers),
        )
        return {
            row[0]: CustomerMatch(
                row[1], customer_label(CustomerKind(row[2]), row[3], row[4], row[5])
            )
            for row in rows
        }


class PostgresApiUsers:
    """Satisfies ports.ApiUserStore."""

    def __init__(self, db: PostgresDatabase) -> None:
        self.db = db

    async def get(self, username: str) -> StoredApiUser | None:
        row = await self.db.fetchrow(
            "SELECT username, password_hash, permissions FROM api_users WHERE username = $1",
            username,
        )
        return _user(row[0], row[1], row[2]) if row else None

    async def all(self) -> Sequence[StoredApiUser]:
        rows = await self.db.fetch(
            "SELECT username, password_hash, permissions FROM api_users"
            ' ORDER BY username COLLATE "C"'  # bytewise, as SQLite orders
        )
        return [_user(row[0], row[1], row[2]) for row in rows]

    async def put(self, user: StoredApiUser) -> None:
        await self.db.execute(
            "INSERT INTO api_users (username, password_hash, permissions) VALUES ($1, $2, $3)"
            " ON CONFLICT (username) DO UPDATE SET password_hash = excluded.password_hash,"
            " permissions = excluded.permissions",
            user.username,
            user.password_hash,
            json.dumps(list(user.permissions)),
        )

    async def remove(self, username: str) -> bool:
        return await self.db.execute("DELETE FROM api_users WHERE username = $1", username) > 0


def _user(username: str, password_hash: str, permissions: str) -> StoredApiUser:
    return StoredApiUser(username, password_hash, tuple(json.loads(permissions)))


class PostgresConnections:
    """The call history (ports.ConnectionStore)."""

    def __init__(self, db: PostgresDatabase) -> None:
        self.db = db
        self._insert = history_sql.insert_sql(numbered=True)
        self._upsert = history_sql.upsert_sql(numbered=True)
        self._abandoned = history_sql.abandoned_sql(numbered=True)
        self._callbacks_answered = history_sql.callbacks_answered_sql(numbered=True)
        self._answered_waits = history_sql.answered_waits_sql(numbered=True)

    async def record(self, row: CallRecord) -> bool:
        return await self.db.execute(self._insert, *history_sql.values(row)) > 0

    async def save(self, row: CallRecord) -> None:
        await self.db.execute(self._upsert, *history_sql.values(row))

    async def write(self, writes: Sequence[HistoryWrite], *, settles: bool = False) -> None:
        """One transaction and one round of statements per burst (asyncpg's `executemany`
        sends a run of rows as one pipeline), where a row at a time took a round trip each.
        PostgreSQL keeps no journal (`journal`): `settles` has nothing to empty."""
        if not writes:
            return
        batch = history_sql.statements(writes, numbered=True)

        async def run(sql: Connection) -> None:
            for statement in batch:
                if statement.events:
                    if affected(await sql.execute(statement.sql, *statement.rows[0])):
                        await write_events(sql, statement.events)
                elif len(statement.rows) == 1:
                    await sql.execute(statement.sql, *statement.rows[0])
                else:
                    await sql.executemany(statement.sql, statement.rows)

        await self.db.transaction(run)

    async def journal(self, writes: Sequence[Journalled]) -> bool:
        """No journal: a burst's rows are written into `connections` by the history's writer
        (the listener's bursts on PostgreSQL share no transaction with it)."""
        return False

    async def settle(self) -> None:
        """No journal to write."""

    async def journalled(self) -> list[JournalEntry]:
        return []

    async def get(self, connection_id: str) -> CallRecord | None:
        row = await self.db.fetchrow(
            f"SELECT {history_sql.COLUMNS} FROM connections"  # noqa: S608
            " WHERE connection_id = $1",
            connection_id,
        )
        return history_sql.connection(row) if row else None

    async def page(self, query: ConnectionQuery) -> ConnectionPage:
        if query.matches_nothing:
            return ConnectionPage(0, [])
        page, page_args = history_sql.page_sql(query, numbered=True)
        count, count_args = history_sql.count_sql(query, numbered=True)

        async def both(sql: Connection) -> ConnectionPage:
            rows = await sql.fetch(page, *page_args)
            if not query.counted:
                return ConnectionPage(len(rows), [history_sql.connection(row) for row in rows])
            found = await sql.fetchval(count, *count_args)
            return ConnectionPage(int(found), [history_sql.connection(row) for row in rows])

        return await self.db.run(both)

    async def answered_waits(self, queue_id: int, since: datetime, limit: int) -> list[timedelta]:
        rows = await self.db.fetch(self._answered_waits, queue_id, to_micros(since), limit)
        return [timedelta(seconds=row[0]) for row in rows]

    async def abandoned(self, queue_id: int, since: datetime, until: datetime) -> AbandonedCalls:
        args = (queue_id, to_micros(since), to_micros(until))

        async def both(sql: Connection) -> tuple[list[Any], list[Any]]:
            abandons = await sql.fetch(self._abandoned, *args)
            return abandons, await sql.fetch(self._callbacks_answered, *args)

        abandons, callbacks = await self.db.run(both)
        # Thousands of rows to decode: on a thread, so the event loop keeps answering.
        return await asyncio.to_thread(history_sql.abandoned_calls, abandons, callbacks)

    async def prune(self, before: datetime, batch: int) -> int:
        return await self.db.execute(history_sql.prune_sql(numbered=True), to_micros(before), batch)
