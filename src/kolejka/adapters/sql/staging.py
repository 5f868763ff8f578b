"""An import's scratch space, for both engines: each checking process stages rows in a file.

`kolejka crm import` checks rows in several worker processes. Each stages what it checked in an
SQLite file of its own, in a private folder the import made (no lock shared with anyone, and the
CRM never sees a row before the import applies them); `gather` then copies every file's rows into
one connection's TEMP tables, from which each engine's import compares and writes. The workers
get `functools.partial(StagingFile, folder)`, pickled by qualified name: `StagingFile` stays a
top-level class of this module.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Sequence
from pathlib import Path

from kolejka.adapters.sql.crm_rows import dumps, dumps_details
from kolejka.domain.crm_import import ImportRow

# Each process that checks rows stages them in a file of its own (no locks shared with anyone).
STAGED_TABLES = """
CREATE TABLE IF NOT EXISTS staged_cards (
    line INTEGER PRIMARY KEY,
    identifier TEXT NOT NULL,
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    surname TEXT NOT NULL,
    company_name TEXT NOT NULL,
    email TEXT NOT NULL,
    type TEXT NOT NULL,
    group_name TEXT NOT NULL,
    account_manager TEXT NOT NULL,
    custom_fields TEXT NOT NULL,
    company_nip TEXT,
    company_details TEXT,
    company_custom_fields TEXT,
    numbers TEXT NOT NULL,
    customer_id INTEGER,
    nip TEXT NOT NULL,
    details TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS staged_numbers (
    line INTEGER NOT NULL,
    position INTEGER NOT NULL,
    raw TEXT NOT NULL,
    normalized TEXT
);
"""

# The same tables as TEMP tables of the connection that gathers every process's rows.
GATHERED_TABLES = STAGED_TABLES.replace("CREATE TABLE IF NOT EXISTS", "CREATE TEMP TABLE")


class StagingFile:
    """Satisfies ports.CrmStaging: one process's staged rows, in an SQLite file of its own."""

    def __init__(self, folder: str) -> None:
        self.folder = folder
        self._sql: sqlite3.Connection | None = None

    @property
    def sql(self) -> sqlite3.Connection:
        # Opened on first use: a worker that never gets rows leaves no file.
        if self._sql is None:
            path = Path(self.folder) / f"staged-{os.getpid()}.db"
            sql = sqlite3.connect(str(path), isolation_level=None)
            # A lost staging file only fails its import, which then writes nothing: no journal.
            sql.execute("PRAGMA journal_mode = OFF")
            sql.execute("PRAGMA synchronous = OFF")
            sql.executescript(STAGED_TABLES)
            self._sql = sql
        return self._sql

    def stage(self, rows: Sequence[ImportRow]) -> None:
        cards = [
            (
                row.line,
                row.identifier,
                row.kind,
                "" if row.kind == "company" else row.name,
                row.surname,
                row.name if row.kind == "company" else "",
                row.email,
                row.type,
                row.group,
                row.account_manager,
                dumps(row.custom_fields) if row.custom_fields else "{}",
                row.nip,
                None if row.company_details is None else dumps_details(row.company_details),
                None if row.company_custom_fields is None else dumps(row.company_custom_fields),
                "\x1f".join([raw for raw, _ in row.numbers]),
                row.customer_id,
                row.card_nip,
                "{}" if row.details is None else dumps_details(row.details),
            )
            for row in rows
        ]
        numbers = [
            (row.line, position, raw, e164)
            for row in rows
            for position, (raw, e164) in enumerate(row.numbers)
        ]
        with self.sql:
            self.sql.execute("BEGIN")
            self.sql.executemany(
                f"INSERT INTO staged_cards VALUES ({', '.join('?' * 18)})",  # noqa: S608
                cards,
            )
            self.sql.executemany("INSERT INTO staged_numbers VALUES (?, ?, ?, ?)", numbers)

    def close(self) -> None:
        if self._sql is not None:
            self._sql.close()


def gather(sql: sqlite3.Connection, folder: str) -> None:
    """Copies every process's staged rows into `sql`'s TEMP tables staged_cards/staged_numbers."""
    for number, path in enumerate(sorted(Path(folder).glob("staged-*.db"))):
        name = f"staged{number}"
        sql.execute("ATTACH DATABASE ? AS " + name, (str(path),))
        try:
            tables = sql.execute(
                f"SELECT count(*) FROM {name}.sqlite_master"  # noqa: S608
                " WHERE name IN ('staged_cards', 'staged_numbers')"
            ).fetchone()[0]
            if tables < 2:
                continue  # a worker stopped while it created its file, before any row
            with sql:
                sql.execute("BEGIN")
                for table in ("staged_cards", "staged_numbers"):
                    sql.execute(
                        f"INSERT INTO temp.{table} SELECT * FROM {name}.{table}"  # noqa: S608
                    )
        finally:
            sql.execute("DETACH DATABASE " + name)
