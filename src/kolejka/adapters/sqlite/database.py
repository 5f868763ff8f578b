"""One SQLite database file: connection settings, migrations, and cross-process change polling.

The service runs on one event loop, and its queries are index lookups that take microseconds, so
they run on the loop's thread rather than paying a thread hop each time. Long work (a CRM import)
runs in its own process. While such a process holds the file's write lock, readers go on (WAL),
and the service's writes wait for the lock without holding up the loop (`Database.writing`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import cache
from itertools import chain
from pathlib import Path
from typing import Protocol, TypeVar

from kolejka.adapters.sql.schema import migrations, render
from kolejka.domain.errors import StoreUnavailable
from kolejka.services.ports import Change, ChangeFeed, Topic

log = logging.getLogger(__name__)

T = TypeVar("T")

# Each engine's spelling of the few things SQL dialects disagree on.
SQLITE_DIALECT = {
    "identity": "INTEGER PRIMARY KEY",
    "json_object": "json_object",
    "json_each": "json_each",
    "as_json": "",
    "bytewise": "",
    "postgres_only": "--",  # starts a line that only PostgreSQL runs
    "sqlite_only": "",  # starts a line that only SQLite runs
}


def path_from_url(url: str) -> str:
    """`sqlite:///relative.db`, `sqlite:////abs/path.db` or `sqlite://:memory:`."""
    if not url.startswith("sqlite://"):
        raise ValueError(f"not an SQLite URL: {url!r}")
    rest = url.removeprefix("sqlite://")
    if rest in (":memory:", "/:memory:"):
        return ":memory:"
    return rest.removeprefix("/") or "kolejka.db"


# How long a blocking statement waits for another process's lock (SQLite's busy_timeout).
BUSY_TIMEOUT_MS = 5000


@contextmanager
def atomic(sql: sqlite3.Connection) -> Iterator[None]:
    """A write transaction for code off the event loop (CLI commands, the demo's seeding).

    It waits for another process's write lock inside SQLite, blocking its thread; the service's
    stores use `Database.writing` instead.
    """
    if sql.in_transaction:
        yield
        return
    with sql:
        sql.execute("BEGIN IMMEDIATE")
        yield


def _locked(error: sqlite3.OperationalError) -> bool:
    code = getattr(error, "sqlite_errorcode", 0) & 0xFF  # the primary code of an extended one
    return code in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


def _connect(path: str) -> sqlite3.Connection:
    connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    connection.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    if path != ":memory:":
        connection.execute("PRAGMA journal_mode = WAL")
    connection.execute("PRAGMA synchronous = NORMAL")
    connection.execute("PRAGMA foreign_keys = ON")
    return connection


def _data_version(connection: sqlite3.Connection) -> int:
    return int(connection.execute("PRAGMA data_version").fetchone()[0])


# The most rows one statement of many writes: 64 x 13 values, below the 999 values an SQLite
# older than 3.32 takes in one statement (32,766 since).
_MOST_ROWS = 64


def insert_rows(sql: sqlite3.Connection, one_row: str, rows: Sequence[tuple[object, ...]]) -> None:
    """`one_row` for each of `rows`, in order, as statements of many rows each (64, 32, ..., 1:
    few texts, each prepared once). Not `executemany`: SQLite opens the table and each of its
    indexes again for every run of a statement, which made a call's row cost half as much again
    as its share of one statement of many rows (42.6k instructions against 28.9k at 40 rows a
    commit: bench/connections_insert.py, docs/pbx-asterisk.md)."""
    if rows:
        insert_flat(sql, one_row, len(rows[0]), list(chain.from_iterable(rows)))


def insert_flat(sql: sqlite3.Connection, one_row: str, width: int, values: list[object]) -> None:
    """`insert_rows` for rows of `width` values each, given one after another in `values`."""
    rows = len(values) // width
    done, size = 0, _MOST_ROWS
    while done < rows:
        while size > rows - done:
            size >>= 1
        sql.execute(_many_rows(one_row, size), values[done * width : (done + size) * width])
        done += size


@cache
def _many_rows(one_row: str, count: int) -> str:
    """`one_row` (an INSERT of one row of values) as the same INSERT of `count` rows. Rows of
    one statement are written in order, each meeting its ON CONFLICT as `executemany`'s would."""
    if count == 1:
        return one_row
    head, rest = one_row.split(" VALUES (", 1)
    marks, tail = rest.split(")", 1)
    return f"{head} VALUES {', '.join([f'({marks})'] * count)}{tail}"


class Held(Protocol):
    """Writes kept for the commit of each transaction a `Database.writing` begins (`holds`)."""

    def write(self, sql: sqlite3.Connection) -> None:
        """Writes what is held, inside the open transaction, and forgets it."""
        ...

    def drop(self) -> None:
        """Forgets what is held: its transaction rolled back."""
        ...


class Database:
    def __init__(self, path: str) -> None:
        self.path = path
        # How long a write waits for another process's write lock before it answers 503.
        self.lock_wait_seconds = BUSY_TIMEOUT_MS / 1000
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self.connection = _connect(path)
        # The data version `watch` last saw: another process's writes are those that change it.
        self._seen_version = self.data_version()
        # `writing_apart`'s connection (made when first needed), taken by one batch at a time.
        self._apart: sqlite3.Connection | None = None
        self._apart_turn: asyncio.Lock | None = None
        # `reading_apart`'s connection, for long reads (the abandoned lists), one at a time.
        self._reader: sqlite3.Connection | None = None
        self._reader_turn: asyncio.Lock | None = None
        # Set while no `writing_apart` transaction is open: the loop's writes wait on it, not
        # in rounds of sleep, for the lock that transaction holds (the call history's batches).
        self._apart_idle: asyncio.Event | None = None
        self._trace: Callable[[str], object] | None = None
        # What keeps writes for the commit of the transaction a `writing` began (`holds`), and
        # whether such a transaction is open.
        self._held: list[Held] = []
        self.holding = False

    @classmethod
    def from_url(cls, url: str) -> Database:
        return cls(path_from_url(url))

    def migrate(self) -> list[int]:
        """Applies the migrations this database lacks, each in its own transaction."""
        current = self.connection.execute("PRAGMA user_version").fetchone()[0]
        applied = []
        for version, template in migrations():
            if version <= current:
                continue
            script = render(template, SQLITE_DIALECT)
            # executescript commits first; BEGIN inside the script keeps the migration atomic.
            self.connection.executescript(
                f"BEGIN IMMEDIATE;\n{script}\nPRAGMA user_version = {version};\nCOMMIT;"
            )
            applied.append(version)
            log.info("applied migration %04d", version)
        return applied

    def data_version(self) -> int:
        """Changes whenever another connection (another process) commits to the file."""
        return _data_version(self.connection)

    async def watch(self, changes: ChangeFeed, interval: float = 0.25) -> None:
        """Publishes Change(Topic.ALL) when another process wrote (e.g. `kolejka crm import`)."""
        self._seen_version = self.data_version()
        while True:
            await asyncio.sleep(interval)
            try:
                version = self.data_version()
            except sqlite3.Error:
                log.exception("cannot read the SQLite data version")
                continue
            if version != self._seen_version:
                self._seen_version = version
                await changes.publish(Change(Topic.ALL))

    async def checkpoints(self, interval: float = 1.0) -> None:
        """Copies the write-ahead log into the database file on a thread of its own.

        Left to itself, SQLite does this inside the commit that finds the log past 1,000 pages,
        and after a large import that is the service's next write, on the event loop's thread:
        0.2-0.8 s of nothing else answered. While this runs, the service's commits never do it.
        """
        if self.path == ":memory:":
            return
        checkpointer = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self.connection.execute("PRAGMA wal_autocheckpoint = 0")
        try:
            while True:
                await asyncio.sleep(interval)
                job = asyncio.ensure_future(
                    asyncio.to_thread(checkpointer.execute, "PRAGMA wal_checkpoint(PASSIVE)")
                )
                try:
                    await asyncio.shield(job)
                except asyncio.CancelledError:
                    await asyncio.wait([job])  # the thread ends before its connection closes
                    raise
                except sqlite3.Error:
                    log.exception("cannot checkpoint the SQLite write-ahead log")
        finally:
            self.connection.execute("PRAGMA wal_autocheckpoint = 1000")
            checkpointer.close()

    def writing(self) -> _Writing:
        """A write transaction, or a part of the one already open (a batch).

        When another process (an import) holds the write lock, this waits for it on the event
        loop, so the service keeps answering meanwhile; after `lock_wait_seconds` it raises
        StoreUnavailable (503). The body must not give the event loop away: the connection is
        shared, and another task's writes would land in this transaction.
        """
        return _Writing(self)

    def holds(self, held: Held) -> None:
        """`held` keeps writes for the commit of each transaction a `writing` begins (while
        `holding`): they are written just before it commits, and dropped if it rolls back."""
        self._held.append(held)

    @property
    def held(self) -> tuple[Held, ...]:
        return tuple(self._held)

    def write_held(self) -> None:
        """Writes what is held now, inside the open transaction: for a write that must come
        after it, or a read that must see it."""
        for held in self._held:
            held.write(self.connection)

    async def writing_apart(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """`work(connection)` in one write transaction, run on a thread and a connection of its own.

        For a write too long for the event loop's thread (a batch of 1,000 customers at a
        million): the loop keeps answering meanwhile, its reads see the database as it was until
        the commit (WAL), and its own writes wait for the lock as they wait for an import's. All
        of `work` lands, or none (cancelled, none). The commit is this process's own, so `watch`
        does not take it for another process's (which would drop every cached credential).
        An in-memory database is one connection's alone: there `work` runs on the loop.
        """
        if self.path == ":memory:":
            async with self.writing():
                self.write_held()  # `work` writes at once: after what was held before it
                return work(self.connection)
        if self._apart_turn is None:
            self._apart_turn = asyncio.Lock()
        if self._apart_idle is None:
            self._apart_idle = asyncio.Event()
            self._apart_idle.set()
        async with self._apart_turn:
            apart = self._apart_connection()
            await self._begin(apart)
            self._apart_idle.clear()
            try:
                # Under the lock no one else commits; a version unlike `watch`'s is unseen.
                foreign = self.data_version() != self._seen_version
                job = asyncio.ensure_future(asyncio.to_thread(work, apart))
                try:
                    result = await asyncio.shield(job)
                except BaseException:
                    if not job.done():  # cancelled: the thread ends before its work is undone
                        await asyncio.wait([job])
                    apart.rollback()
                    raise
                self._commit_apart(apart, foreign)
                return result
            finally:
                self._apart_idle.set()

    def _apart_connection(self) -> sqlite3.Connection:
        if self._apart is None:
            self._apart = _connect(self.path)
            self._apart.execute("PRAGMA wal_autocheckpoint = 0")  # `checkpoints` does it
            self._apart.set_trace_callback(self._trace)
        return self._apart

    def _commit_apart(self, apart: sqlite3.Connection, foreign: bool) -> None:
        """Commits; then, if no other process wrote since `watch` looked, tells it the new version.

        Taking the lock again at once, and finding the version as it was right after the commit,
        proves no other process committed in between; failing that, `watch` reports a change.
        """
        try:
            apart.commit()
        except BaseException:
            apart.rollback()
            raise
        committed = _data_version(apart)
        try:
            apart.execute("PRAGMA busy_timeout = 0")
            apart.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError:
            return  # another process is writing: `watch` will see a change, and report it
        finally:
            apart.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        try:
            if not foreign and _data_version(apart) == committed:
                self._seen_version = self.data_version()
        finally:
            apart.rollback()

    async def reading_apart(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """`work(connection)` on a thread and a connection of its own, for a read that takes the
        event loop's thread too long (thousands of rows): SQLite lets go of the GIL while it
        reads, so the loop keeps answering. It sees what was committed (WAL), not a burst's
        open transaction. An in-memory database is one connection's alone: there `work` runs
        on the loop."""
        if self.path == ":memory:":
            return work(self.connection)
        if self._reader_turn is None:
            self._reader_turn = asyncio.Lock()
        async with self._reader_turn:
            if self._reader is None:
                self._reader = _connect(self.path)
                self._reader.set_trace_callback(self._trace)
            return await asyncio.to_thread(work, self._reader)

    def trace(self, callback: Callable[[str], object] | None) -> None:
        """Calls `callback` with each SQL statement run on any of this database's connections."""
        self._trace = callback
        for connection in (self.connection, self._apart, self._reader):
            if connection is not None:
                connection.set_trace_callback(callback)

    async def _begin(self, connection: sqlite3.Connection | None = None) -> None:
        sql = connection or self.connection
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.lock_wait_seconds
        pause = 0.001
        while True:
            try:
                # Asking without SQLite's own wait, which would block the whole event loop.
                sql.execute("PRAGMA busy_timeout = 0")
                try:
                    sql.execute("BEGIN IMMEDIATE")
                    return
                finally:
                    sql.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            except sqlite3.OperationalError as error:
                if not _locked(error):
                    raise
                if loop.time() >= deadline:
                    raise StoreUnavailable(
                        "the SQLite database is locked by another process (an import?)"
                    ) from error
            idle = self._apart_idle
            if sql is self.connection and idle is not None and not idle.is_set():
                # Our own other connection holds the lock: it is free the moment that ends.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout_at(deadline):
                        await idle.wait()
                continue
            await asyncio.sleep(pause)
            pause = min(pause * 2, 0.05)

    def _drop_held(self) -> None:
        for held in self._held:
            held.drop()

    def close(self) -> None:
        if self._apart is not None:
            self._apart.close()
            self._apart = None
        if self._reader is not None:
            self._reader.close()
            self._reader = None
        self.connection.close()


class _Writing:
    """Database.writing: a class, not a generator, as it wraps every write of a burst."""

    __slots__ = ("began", "db")

    def __init__(self, db: Database) -> None:
        self.db = db
        self.began = False

    async def __aenter__(self) -> None:
        if not self.db.connection.in_transaction:
            await self.db._begin()
            self.began = True
            self.db.holding = True

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: object
    ) -> None:
        if not self.began:
            return
        db = self.db
        db.holding = False
        sql = db.connection
        if kind is not None:
            db._drop_held()
            sql.rollback()
            return
        try:
            db.write_held()
            sql.commit()
        except BaseException:
            db._drop_held()
            sql.rollback()
            raise
