"""PostgreSQL's CallbackStore; the table is SQLite's (0006_callbacks.sql). A due callback is
claimed with `FOR UPDATE SKIP LOCKED`: instances claiming at once each get different rows, and
none waits for another's."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from kolejka.adapters.postgres.database import Connection as Sql
from kolejka.adapters.postgres.database import PostgresDatabase, affected
from kolejka.adapters.postgres.webhooks import write_events
from kolejka.adapters.sql import connections as history_sql
from kolejka.adapters.sql.callback_rows import COLUMNS, decode, encode_attempts
from kolejka.adapters.sql.times import to_micros
from kolejka.domain.callbacks import Callback, NewCallback
from kolejka.domain.connections import Connection
from kolejka.domain.webhooks import NewEvent
from kolejka.services.ports import FinishedAttempt

_OPEN = "state IN ('pending', 'dialling')"


class PostgresCallbacks:
    """Satisfies ports.CallbackStore."""

    def __init__(self, db: PostgresDatabase) -> None:
        self.db = db
        self._record = history_sql.insert_sql(numbered=True)

    async def schedule(self, new: NewCallback) -> Callback:
        row = await self.db.fetchrow(
            "INSERT INTO callbacks (queue_id, phone_number, call_at, created_at)"  # noqa: S608
            " VALUES ($1, $2, $3, $4)"
            f" ON CONFLICT (queue_id, phone_number) WHERE {_OPEN} DO UPDATE SET"
            " call_at = CASE WHEN callbacks.state = 'pending'"
            " THEN LEAST(callbacks.call_at, excluded.call_at) ELSE callbacks.call_at END"
            f" RETURNING {COLUMNS}",
            new.queue_id,
            new.phone_number,
            to_micros(new.call_at),
            to_micros(new.created_at),
        )
        assert row is not None
        return decode(tuple(row))

    async def get(self, callback_id: int) -> Callback | None:
        row = await self.db.fetchrow(
            f"SELECT {COLUMNS} FROM callbacks WHERE callback_id = $1",  # noqa: S608
            callback_id,
        )
        return None if row is None else decode(tuple(row))

    async def in_queue(self, queue_id: int, limit: int) -> Sequence[Callback]:
        rows = await self.db.fetch(
            f"SELECT {COLUMNS} FROM callbacks WHERE queue_id = $1"  # noqa: S608
            " ORDER BY callback_id DESC LIMIT $2",
            queue_id,
            limit,
        )
        return [decode(tuple(row)) for row in rows]

    async def cancel(self, callback_id: int) -> Callback | None:
        await self.db.execute(
            "UPDATE callbacks SET state = 'cancelled' WHERE callback_id = $1 AND state = 'pending'",
            callback_id,
        )
        return await self.get(callback_id)

    async def claim_due(
        self,
        due_by: datetime,
        claim: str,
        claimed_at: datetime,
        until: datetime,
        limit: int,
        only_queue: int | None = None,
        skip_queues: Sequence[int] = (),
    ) -> Sequence[Callback]:
        rows = await self.db.fetch(
            "UPDATE callbacks SET state = 'dialling', claim = $1, claimed_at = $2,"  # noqa: S608
            " claimed_until = $3 WHERE callback_id IN (SELECT callback_id FROM callbacks"
            " WHERE state = 'pending' AND call_at <= $4"
            " AND ($5::integer IS NULL OR queue_id = $5) AND queue_id <> ALL($6::integer[])"
            " ORDER BY call_at, callback_id LIMIT $7 FOR UPDATE SKIP LOCKED)"
            f" AND state = 'pending' RETURNING {COLUMNS}",
            claim,
            to_micros(claimed_at),
            to_micros(until),
            to_micros(due_by),
            only_queue,
            list(skip_queues),
            limit,
        )
        return sorted(
            (decode(tuple(row)) for row in rows), key=lambda c: (c.call_at, c.callback_id)
        )

    async def claim_expired(
        self, now: datetime, claim: str, until: datetime, limit: int
    ) -> Sequence[Callback]:
        rows = await self.db.fetch(
            "UPDATE callbacks SET claim = $1, claimed_until = $2 WHERE callback_id IN"  # noqa: S608
            " (SELECT callback_id FROM callbacks WHERE state = 'dialling'"
            " AND claimed_until < $3 ORDER BY claimed_until LIMIT $4 FOR UPDATE SKIP LOCKED)"
            f" AND state = 'dialling' AND claimed_until < $3 RETURNING {COLUMNS}",
            claim,
            to_micros(until),
            to_micros(now),
            limit,
        )
        return [decode(tuple(row)) for row in rows]

    async def finish(
        self,
        callback: Callback,
        claim: str,
        record: Connection | None = None,
        events: Sequence[NewEvent] = (),
    ) -> bool:
        async def finish(sql: Sql) -> bool:
            return await self._finish(sql, callback, claim, record, events)

        if record is None and not events:
            return await self.db.run(finish)  # one statement: no transaction needed
        return await self.db.transaction(finish)

    async def finish_many(self, finished: Sequence[FinishedAttempt]) -> list[bool]:
        async def finish_each(sql: Sql) -> list[bool]:
            return [
                await self._finish(sql, f.callback, f.claim, f.record, f.events) for f in finished
            ]

        return await self.db.transaction(finish_each)

    async def _finish(
        self,
        sql: Sql,
        callback: Callback,
        claim: str,
        record: Connection | None,
        events: Sequence[NewEvent],
    ) -> bool:
        done = await sql.execute(
            "UPDATE callbacks SET state = $1, call_at = $2, attempts = $3, claim = NULL,"
            " claimed_at = NULL, claimed_until = NULL"
            " WHERE callback_id = $4 AND state = 'dialling' AND claim = $5",
            callback.state.value,
            to_micros(callback.call_at),
            encode_attempts(callback.attempts),
            callback.callback_id,
            claim,
        )
        if affected(done) != 1:
            return False
        if record is not None:
            await sql.execute(self._record, *history_sql.values(record))
        await write_events(sql, events)
        return True

    async def due_next(self, queue_id: int, limit: int) -> Sequence[Callback]:
        rows = await self.db.fetch(
            f"SELECT {COLUMNS} FROM callbacks WHERE queue_id = $1 AND {_OPEN}"  # noqa: S608
            " ORDER BY call_at, callback_id LIMIT $2",
            queue_id,
            limit,
        )
        return [decode(tuple(row)) for row in rows]
