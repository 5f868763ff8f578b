"""SQLite's CallbackStore: every write in one `BEGIN IMMEDIATE` transaction, so of several
processes on one file exactly one claims a due callback (SQLite has one writer at a time)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from kolejka.adapters.sql import connections as history_sql
from kolejka.adapters.sql.callback_rows import COLUMNS, decode, encode_attempts
from kolejka.adapters.sql.times import to_micros
from kolejka.adapters.sqlite.database import Database
from kolejka.adapters.sqlite.webhooks import write_events
from kolejka.domain.callbacks import Callback, CallbackState, NewCallback
from kolejka.domain.connections import Connection
from kolejka.domain.webhooks import NewEvent
from kolejka.services.ports import FinishedAttempt

_OPEN = "state IN ('pending', 'dialling')"


class SqliteCallbacks:
    """Satisfies ports.CallbackStore."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.sql = db.connection
        self._record = history_sql.insert_sql(numbered=False)

    async def schedule(self, new: NewCallback) -> Callback:
        async with self.db.writing():
            row = self.sql.execute(
                "INSERT INTO callbacks (queue_id, phone_number, call_at, created_at)"  # noqa: S608
                " VALUES (?, ?, ?, ?)"
                f" ON CONFLICT (queue_id, phone_number) WHERE {_OPEN} DO UPDATE SET"
                " call_at = CASE WHEN callbacks.state = 'pending'"
                " THEN MIN(callbacks.call_at, excluded.call_at) ELSE callbacks.call_at END"
                f" RETURNING {COLUMNS}",
                (new.queue_id, new.phone_number, to_micros(new.call_at), to_micros(new.created_at)),
            ).fetchone()
        return decode(row)

    async def get(self, callback_id: int) -> Callback | None:
        row = self.sql.execute(
            f"SELECT {COLUMNS} FROM callbacks WHERE callback_id = ?",  # noqa: S608
            (callback_id,),
        ).fetchone()
        return None if row is None else decode(row)

    async def in_queue(self, queue_id: int, limit: int) -> Sequence[Callback]:
        rows = self.sql.execute(
            f"SELECT {COLUMNS} FROM callbacks WHERE queue_id = ?"  # noqa: S608
            " ORDER BY callback_id DESC LIMIT ?",
            (queue_id, limit),
        )
        return [decode(row) for row in rows]

    async def cancel(self, callback_id: int) -> Callback | None:
        async with self.db.writing():
            self.sql.execute(
                "UPDATE callbacks SET state = ? WHERE callback_id = ? AND state = ?",
                (CallbackState.CANCELLED.value, callback_id, CallbackState.PENDING.value),
            )
            row = self.sql.execute(
                f"SELECT {COLUMNS} FROM callbacks WHERE callback_id = ?",  # noqa: S608
                (callback_id,),
            ).fetchone()
        return None if row is None else decode(row)

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
        where = ["state = 'pending'", "call_at <= ?"]
        args: list[object] = [to_micros(due_by)]
        if only_queue is not None:
            where.append("queue_id = ?")
            args.append(only_queue)
        if skip_queues:
            where.append(f"queue_id NOT IN ({', '.join('?' * len(skip_queues))})")
            args.extend(skip_queues)
        # A read first: most rounds find nothing due, and need not take the write lock.
        probe = f"SELECT 1 FROM callbacks WHERE {' AND '.join(where)} LIMIT 1"  # noqa: S608
        if self.sql.execute(probe, args).fetchone() is None:
            return []
        async with self.db.writing():
            rows = self.sql.execute(
                "UPDATE callbacks SET state = 'dialling', claim = ?, claimed_at = ?,"  # noqa: S608
                " claimed_until = ? WHERE callback_id IN (SELECT callback_id FROM callbacks"
                f" WHERE {' AND '.join(where)} ORDER BY call_at, callback_id LIMIT ?)"
                f" RETURNING {COLUMNS}",
                (claim, to_micros(claimed_at), to_micros(until), *args, limit),
            ).fetchall()
        return sorted((decode(row) for row in rows), key=lambda c: (c.call_at, c.callback_id))

    async def claim_expired(
        self, now: datetime, claim: str, until: datetime, limit: int
    ) -> Sequence[Callback]:
        lapsed = self.sql.execute(
            "SELECT 1 FROM callbacks WHERE state = 'dialling' AND claimed_until < ? LIMIT 1",
            (to_micros(now),),
        ).fetchone()
        if lapsed is None:  # nearly always: no write lock for nothing
            return []
        async with self.db.writing():
            rows = self.sql.execute(
                "UPDATE callbacks SET claim = ?, claimed_until = ? WHERE callback_id IN"  # noqa: S608
                " (SELECT callback_id FROM callbacks WHERE state = 'dialling'"
                " AND claimed_until < ? ORDER BY claimed_until LIMIT ?)"
                f" RETURNING {COLUMNS}",
                (claim, to_micros(until), to_micros(now), limit),
            ).fetchall()
        return [decode(row) for row in rows]

    async def finish(
        self,
        callback: Callback,
        claim: str,
        record: Connection | None = None,
        events: Sequence[NewEvent] = (),
    ) -> bool:
        async with self.db.writing():
            return self._finish(callback, claim, record, events)

    async def finish_many(self, finished: Sequence[FinishedAttempt]) -> list[bool]:
        async with self.db.writing():
            return [self._finish(f.callback, f.claim, f.record, f.events) for f in finished]

    def _finish(
        self,
        callback: Callback,
        claim: str,
        record: Connection | None,
        events: Sequence[NewEvent],
    ) -> bool:
        """Inside the caller's write transaction."""
        done = self.sql.execute(
            "UPDATE callbacks SET state = ?, call_at = ?, attempts = ?, claim = NULL,"
            " claimed_at = NULL, claimed_until = NULL"
            " WHERE callback_id = ? AND state = 'dialling' AND claim = ?",
            (
                callback.state.value,
                to_micros(callback.call_at),
                encode_attempts(callback.attempts),
                callback.callback_id,
                claim,
            ),
        )
        if done.rowcount != 1:
            return False
        if record is not None:
            self.sql.execute(self._record, history_sql.values(record))
        write_events(self.db, events)
        return True

    async def due_next(self, queue_id: int, limit: int) -> Sequence[Callback]:
        rows = self.sql.execute(
            f"SELECT {COLUMNS} FROM callbacks WHERE queue_id = ? AND {_OPEN}"  # noqa: S608
            " ORDER BY call_at, callback_id LIMIT ?",
            (queue_id, limit),
        )
        return [decode(row) for row in rows]
