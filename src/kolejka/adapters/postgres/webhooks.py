"""The webhooks' tables in PostgreSQL (ports.WebhookStore, through adapters/sql/webhooks.py).

Events are numbered by an identity column, and a subscription reads on from the last number it
finished: a transaction that took number 7 but committed after number 8 was read would be
skipped. So every transaction that writes events takes the outbox's turn first (a transaction
advisory lock, `outbox_turn`): numbers commit in order.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from kolejka.adapters.postgres.database import (
    OUTBOX_LOCK,
    Connection,
    PostgresDatabase,
    affected,
    lock_key,
)
from kolejka.adapters.sql.webhooks import Sql, SqlWebhooks, event_inserts
from kolejka.domain.webhooks import NewEvent

T = TypeVar("T")


@functools.lru_cache(maxsize=256)
def numbered(query: str) -> str:
    """`?` placeholders as PostgreSQL's `$1, $2, ...`."""
    count = iter(range(1, 1000))
    return re.sub(r"\?", lambda _: f"${next(count)}", query)


async def outbox_turn(sql: Connection) -> None:
    await sql.execute(
        "SELECT pg_advisory_xact_lock($1, hashtext(current_schema()))", lock_key(OUTBOX_LOCK)
    )


async def write_events(sql: Connection, events: Sequence[NewEvent]) -> None:
    """Adds `events` to the outbox inside the caller's transaction, in the outbox's turn."""
    if events:
        await outbox_turn(sql)
        for statement, rows in event_inserts(events):
            await sql.executemany(numbered(statement), rows)


class PostgresSql:
    """adapters/sql/webhooks.Sql on the pool, or on one connection inside a transaction."""

    def __init__(self, db: PostgresDatabase, connection: Connection | None = None) -> None:
        self.db = db
        self.connection = connection

    async def _on(self, work: Callable[[Connection], Awaitable[T]]) -> T:
        if self.connection is not None:
            return await work(self.connection)
        return await self.db.run(work)

    async def rows(self, query: str, *args: object) -> list[tuple[Any, ...]]:
        found = await self._on(lambda sql: sql.fetch(numbered(query), *args))
        return [tuple(row) for row in found]

    async def run(self, query: str, *args: object) -> int:
        return affected(await self._on(lambda sql: sql.execute(numbered(query), *args)))

    async def many(self, query: str, rows: Sequence[Sequence[object]]) -> None:
        if not rows:
            return
        await self._on(lambda sql: sql.executemany(numbered(query), rows))

    async def atomically(self, work: Callable[[Sql], Awaitable[T]]) -> T:
        async def inside(sql: Connection) -> T:
            await outbox_turn(sql)
            return await work(PostgresSql(self.db, sql))

        return await self.db.transaction(inside)


def postgres_webhooks(db: PostgresDatabase) -> SqlWebhooks:
    return SqlWebhooks(PostgresSql(db))
