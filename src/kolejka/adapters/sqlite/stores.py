"""SQLite implementations of the storage ports."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

from kolejka.adapters.sql import connections as history_sql
from kolejka.adapters.sql.times import from_micros, to_micros
from kolejka.adapters.sql.webhooks import INSERT_JOINED, INSERT_LEFT, joined_row, left_row
from kolejka.adapters.sqlite.database import Database, insert_rows
from kolejka.adapters.sqlite.webhooks import held_events, write_events
from kolejka.domain.abandoned import AbandonedCalls
from kolejka.domain.connections import Connection, ConnectionPage, ConnectionQuery, Disposition
from kolejka.domain.customers import CustomerKind, CustomerMatch, customer_label
from kolejka.domain.queues import Departure, Joined, Queue, WaitingCaller
from kolejka.services.ports import HistoryWrite, JournalEntry, Journalled, StoredApiUser


class SqliteQueues:
    def __init__(self, db: Database) -> None:
        self.db = db
        self.sql = db.connection

    async def get(self, queue_id: int) -> Queue | None:
        row = self.sql.execute(
            "SELECT queue_id, name FROM queues WHERE queue_id = ?", (queue_id,)
        ).fetchone()
        return Queue(row[0], row[1]) if row else None

    async def all(self) -> Sequence[Queue]:
        rows = self.sql.execute("SELECT queue_id, name FROM queues ORDER BY queue_id")
        return [Queue(queue_id, name) for queue_id, name in rows]

    async def put(self, queue: Queue) -> None:
        async with self.db.writing():
            self.sql.execute(
                "INSERT INTO queues (queue_id, name) VALUES (?, ?)"
                " ON CONFLICT (queue_id) DO UPDATE SET name = excluded.name",
                (queue.queue_id, queue.name),
            )

    async def remove(self, queue_id: int) -> bool:
        async with self.db.writing():
            gone = self.sql.execute("DELETE FROM queues WHERE queue_id = ?", (queue_id,))
        return gone.rowcount > 0


_CALLER_COLUMNS = "call_id, queue_id, phone_number, caller_name, started_at"


def _caller(row: tuple[str, int, str, str, int]) -> WaitingCaller:
    return WaitingCaller(row[0], row[1], row[2], row[3], from_micros(row[4]))


class SqliteWaitingCallers:
    def __init__(self, db: Database) -> None:
        self.db = db
        self.sql = db.connection
        # The callers' events, held to the commit of the AMI listener's burst (`HeldEvents`).
        self._events = held_events(db)

    async def join(self, caller: WaitingCaller, announce: bool = False) -> Joined:
        started = to_micros(caller.started_at)
        async with self.db.writing():
            inserted = self.sql.execute(
                f"INSERT INTO waiting_callers ({_CALLER_COLUMNS}, join_seq)"  # noqa: S608
                " SELECT ?, ?, ?, ?, ?, COALESCE(MAX(join_seq), 0) + 1 FROM waiting_callers"
                " WHERE true ON CONFLICT (call_id) DO NOTHING",
                (
                    caller.call_id,
                    caller.queue_id,
                    caller.phone_number,
                    caller.caller_name,
                    started,
                ),
            ).rowcount
            if inserted == 1 and announce:
                self._events.add(INSERT_JOINED, joined_row(caller, started))
        stored = await self.find(caller.call_id)
        assert stored is not None
        return Joined(stored, inserted == 1)

    async def find(self, call_id: str) -> WaitingCaller | None:
        row = self.sql.execute(
            f"SELECT {_CALLER_COLUMNS} FROM waiting_callers WHERE call_id = ?",  # noqa: S608
            (call_id,),
        ).fetchone()
        return _caller(row) if row else None

    async def leave(self, departure: Departure, announce: bool = False) -> bool:
        async with self.db.writing():
            gone = self.sql.execute(
                "DELETE FROM waiting_callers WHERE call_id = ?", (departure.call_id,)
            ).rowcount
            if gone and announce:
                self._events.add(
                    INSERT_LEFT,
                    left_row(
                        departure, to_micros(departure.left_at), to_micros(departure.started_at)
                    ),
                )
        return gone > 0

    async def waiting(self, queue_id: int) -> Sequence[tuple[int, WaitingCaller]]:
        rows = self.sql.execute(
            f"SELECT {_CALLER_COLUMNS}, join_seq FROM waiting_callers"  # noqa: S608
            " WHERE queue_id = ?",
            (queue_id,),
        )
        return [(row[5], _caller(row[:5])) for row in rows]


class SqliteCustomers:
    """The built-in CRM's phone book, as far as the waiting list needs it (ports.CustomerDirectory).

    Cards are written through the CRM (`kolejka.services.crm`), which tells the change feed.
    """

    def __init__(self, db: Database) -> None:
        self.db = db
        self.sql = db.connection

    async def owners(self, e164: str, limit: int = 2) -> Sequence[CustomerMatch]:
        rows = self.sql.execute(
            "SELECT DISTINCT c.customer_id, c.kind, c.name, c.surname, c.company_name"
            " FROM customer_phone_numbers p JOIN customers c ON c.customer_id = p.customer_id"
            " WHERE p.normalized = ? LIMIT ?",
            (e164, limit),
        )
        return [
            CustomerMatch(row[0], customer_label(CustomerKind(row[1]), row[2], row[3], row[4]))
            for row in rows
        ]

    async def sole_owners(self, numbers: Sequence[str]) -> Mapping[str, int]:
        if not numbers:
            return {}
        marks = ", ".join("?" * len(numbers))
        rows = self.sql.execute(
            "SELECT normalized, MIN(customer_id) FROM customer_phone_numbers"  # noqa: S608
            f" WHERE normalized IN ({marks}) GROUP BY normalized"
            " HAVING COUNT(DISTINCT customer_id) = 1",
            list(numbers),
        )
        return dict(rows)

    async def sole_matches(self, numbers: Sequence[str]) -> Mapping[str, CustomerMatch]:
        """Thousands of numbers (an abandoned list): one statement, read on a thread."""
        if not numbers:
            return {}
        # One JSON array, not a placeholder a number: thousands of numbers in one statement.
        statement = (
            "SELECT s.normalized, c.customer_id, c.kind, c.name, c.surname, c.company_name"
            " FROM (SELECT normalized, MIN(customer_id) AS customer_id"
            " FROM customer_phone_numbers"
            " WHERE normalized IN (SELECT value FROM json_each(?))"
            " GROUP BY normalized HAVING COUNT(DISTINCT customer_id) = 1) AS s"
            " JOIN customers c ON c.customer_id = s.customer_id"
        )
        numbers_json = json.dumps(list(numbers))

        def read(sql: sqlite3.Connection) -> dict[str, CustomerMatch]:
            return {
                row[0]: CustomerMatch(
                    row[1], customer_label(CustomerKind(row[2]), row[3], row[4], row[5])
                )
                for row in sql.execute(statement, (numbers_json,))
            }

        return await self.db.reading_apart(read)


class SqliteApiUsers:
    def __init__(self, db: Database) -> None:
        self.db = db
        self.sql = db.connection

    async def get(self, username: str) -> StoredApiUser | None:
        row = self.sql.execute(
            "SELECT username, password_hash, permissions FROM api_users WHERE username = ?",
            (username,),
        ).fetchone()
        return _user(row) if row else None

    async def all(self) -> Sequence[StoredApiUser]:
        rows = self.sql.execute(
            "SELECT username, password_hash, permissions FROM api_users ORDER BY username"
        )
        return [_user(row) for row in rows]

    async def put(self, user: StoredApiUser) -> None:
        async with self.db.writing():
            self.sql.execute(
                "INSERT INTO api_users (username, password_hash, permissions) VALUES (?, ?, ?)"
                " ON CONFLICT (username) DO UPDATE SET password_hash = excluded.password_hash,"
                " permissions = excluded.permissions",
                (user.username, user.password_hash, json.dumps(list(user.permissions))),
            )

    async def remove(self, username: str) -> bool:
        async with self.db.writing():
            deleted = self.sql.execute("DELETE FROM api_users WHERE username = ?", (username,))
        return deleted.rowcount > 0


def _user(row: tuple[str, str, str]) -> StoredApiUser:
    return StoredApiUser(row[0], row[1], tuple(json.loads(row[2])))


class SqliteConnections:
    """The call history (ports.ConnectionStore). Writes join an open burst transaction."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.sql = db.connection
        self._insert = history_sql.insert_sql(numbered=False)
        self._upsert = history_sql.upsert_sql(numbered=False)
        self._abandoned = history_sql.abandoned_sql(numbered=False)
        self._callbacks_answered = history_sql.callbacks_answered_sql(numbered=False)
        self._answered_waits = history_sql.answered_waits_sql(numbered=False)

    async def record(self, row: Connection) -> bool:
        async with self.db.writing():
            stored = self.sql.execute(self._insert, history_sql.values(row)).rowcount
        return stored > 0

    async def save(self, row: Connection) -> None:
        async with self.db.writing():
            self.sql.execute(self._upsert, history_sql.values(row))

    async def write(self, writes: Sequence[HistoryWrite], *, settles: bool = False) -> None:
        """Joins an open transaction if there is one. Measured against a thread and connection
        of its own (`writing_apart`), this was as fast or faster: SQLite has one writer, so the
        listener's next burst waited for that transaction's lock anyway (docs/pbx-asterisk.md).
        """
        if not writes and not settles:
            return
        batch = history_sql.statements(writes, numbered=False)
        async with self.db.writing():
            _run(self.db, batch)
            if settles:
                self.sql.execute(_EMPTY_JOURNAL)

    async def journal(self, writes: Sequence[Journalled]) -> bool:
        """Appends to `connections_journal` (migration 0015), which has no index but its rowid:
        a burst's commit writes a page or two of it instead of one of every index of
        `connections`. The departures (most rows) bind their eight columns, as `write` does."""
        if not writes:
            return True
        runs: list[tuple[str, list[tuple[object, ...]]]] = []
        last_sql = ""
        for write in writes:
            at = write.announced_at
            micros = None if at is None else to_micros(at)
            values: tuple[object, ...] | None
            if write.whole:
                if write.row.disposition is not _ANSWERED:
                    return False  # `settle` relies on a whole row being ANSWERED
                sql = _JOURNAL_ROW
                kind = _PICKED_UP if write.picked_up else _SAVED
                values = (kind, micros, *history_sql.values(write.row))
            elif (values := history_sql.departure_values(write.row)) is not None:
                sql = _JOURNAL_DEPARTURE
                values = (micros, *values)
            else:
                sql = _JOURNAL_ROW
                values = (_RECORDED, micros, *history_sql.values(write.row))
            if sql is last_sql:
                runs[-1][1].append(values)
            else:
                runs.append((sql, [values]))
                last_sql = sql
        async with self.db.writing():
            for sql, rows in runs:
                insert_rows(self.sql, sql, rows)
        return True

    async def settle(self) -> None:
        """Writes the journal into `connections` and empties it, in one transaction, without a
        row passing through Python: two statements copy it, the recorded rows (in order, each
        kept unless its call has a row that is not FAILED) and then the rows saved whole (in
        order). That is what applying every write in the journal's order gives, because a row
        saved whole is ANSWERED (`journal` keeps no other): a recorded row after it changes
        nothing, and one before it is replaced by it."""
        async with self.db.writing():
            self.sql.execute(_SETTLE_RECORDED)
            self.sql.execute(_SETTLE_WHOLE)
            self.sql.execute(_EMPTY_JOURNAL)

    async def journalled(self) -> list[JournalEntry]:
        rows = self.sql.execute(
            f"SELECT kind, announced_at, {history_sql.COLUMNS}"  # noqa: S608
            " FROM connections_journal ORDER BY seq"
        ).fetchall()
        return [
            JournalEntry(
                history_sql.connection(row[2:]),
                row[0] != _RECORDED,
                None if row[1] is None else from_micros(row[1]),
                row[0] == _PICKED_UP,
            )
            for row in rows
        ]

    async def get(self, connection_id: str) -> Connection | None:
        row = self.sql.execute(
            f"SELECT {history_sql.COLUMNS} FROM connections"  # noqa: S608
            " WHERE connection_id = ?",
            (connection_id,),
        ).fetchone()
        return history_sql.connection(row) if row else None

    async def page(self, query: ConnectionQuery) -> ConnectionPage:
        if query.matches_nothing:
            return ConnectionPage(0, [])
        sql, args = history_sql.page_sql(query, numbered=False)
        rows = [history_sql.connection(row) for row in self.sql.execute(sql, args)]
        if not query.counted:
            return ConnectionPage(len(rows), rows)
        sql, args = history_sql.count_sql(query, numbered=False)
        (found,) = self.sql.execute(sql, args).fetchone()
        return ConnectionPage(found, rows)

    async def answered_waits(self, queue_id: int, since: datetime, limit: int) -> list[timedelta]:
        rows = self.sql.execute(self._answered_waits, (queue_id, to_micros(since), limit))
        return [timedelta(seconds=seconds) for (seconds,) in rows]

    async def abandoned(self, queue_id: int, since: datetime, until: datetime) -> AbandonedCalls:
        """Thousands of rows at the end of a busy day: read on a thread (`reading_apart`)."""
        args = (queue_id, to_micros(since), to_micros(until))
        abandoned, callbacks = self._abandoned, self._callbacks_answered

        def read(sql: sqlite3.Connection) -> AbandonedCalls:
            return history_sql.abandoned_calls(
                sql.execute(abandoned, args).fetchall(), sql.execute(callbacks, args).fetchall()
            )

        return await self.db.reading_apart(read)

    async def prune(self, before: datetime, batch: int) -> int:
        """On a thread and a connection of its own (`writing_apart`): deleting a batch from
        ten million rows and five indexes takes tens of milliseconds, which the event loop's
        thread must not spend while pages are asked for."""
        statement = history_sql.prune_sql(numbered=False)
        args = (to_micros(before), batch)
        return await self.db.writing_apart(lambda sql: int(sql.execute(statement, args).rowcount))


# The journal's `kind` of a write (migration 0015): recorded, saved whole, saved whole as a pick-up.
_RECORDED, _SAVED, _PICKED_UP = 0, 1, 2
_JOURNAL_DEPARTURE = (
    f"INSERT INTO connections_journal (kind, announced_at, {history_sql.DEPARTURE_COLUMNS})"  # noqa: S608
    f" VALUES ({_RECORDED}, {', '.join('?' * (history_sql.DEPARTURE_COLUMNS.count(',') + 2))})"
)
_JOURNAL_ROW = (
    f"INSERT INTO connections_journal (kind, announced_at, {history_sql.COLUMNS})"  # noqa: S608
    f" VALUES ({', '.join('?' * (history_sql.WIDTH + 2))})"
)

_ANSWERED = Disposition.ANSWERED
_SETTLE_RECORDED = (
    f"INSERT INTO connections ({history_sql.COLUMNS})"  # noqa: S608
    f" SELECT {history_sql.COLUMNS} FROM connections_journal WHERE kind = {_RECORDED}"
    " ORDER BY seq"
    f"{history_sql.RECORDED_OVER}"
)
_SETTLE_WHOLE = (
    f"INSERT INTO connections ({history_sql.COLUMNS})"  # noqa: S608
    f" SELECT {history_sql.COLUMNS} FROM connections_journal WHERE kind <> {_RECORDED}"
    " ORDER BY seq"
    f"{history_sql.SAVED_OVER}"
)
# No WHERE: SQLite empties the table whole, its pages back to the free list.
_EMPTY_JOURNAL = "DELETE FROM connections_journal"


def _run(db: Database, batch: Sequence[history_sql.Statement]) -> None:
    sql = db.connection
    for statement in batch:
        if statement.events:
            if sql.execute(statement.sql, statement.rows[0]).rowcount > 0:
                write_events(db, statement.events)
        elif len(statement.rows) == 1:
            sql.execute(statement.sql, statement.rows[0])
        else:
            insert_rows(sql, statement.sql, statement.rows)
