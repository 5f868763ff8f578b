"""Bulk import into the built-in CRM on PostgreSQL: staged locally, then applied in one transaction.

The rows are checked and staged exactly as for SQLite (`StagingFile`: each checking process
writes a file of its own in a private folder), so the import touches the database only once
everything is checked. Then, in one transaction, the staged rows are copied into TEMP tables with
COPY, compared with the cards by `identifier`, and the changes written: all or none. Interrupted
before the commit, nothing of the file is in the CRM. PostgreSQL's MVCC lets the service read and
write meanwhile; only the cards the import changes are locked, and only until it commits.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg

from kolejka.adapters.postgres.database import PostgresDatabase
from kolejka.adapters.sql.export import EXPORT_SELECT, export_row
from kolejka.adapters.sql.staging import GATHERED_TABLES, StagingFile, gather
from kolejka.adapters.sql.times import to_micros
from kolejka.domain.crm_import import ImportCounts
from kolejka.services.ports import CrmStaging

log = logging.getLogger(__name__)

_STAGED_COLUMNS = (
    "line, identifier, kind, name, surname, company_name, email, type, group_name,"
    " account_manager, custom_fields, company_nip, company_details, company_custom_fields, numbers,"
    " customer_id, nip, details"
)
_TEMP_TABLES = """
CREATE TEMP TABLE staged_cards (
    line BIGINT PRIMARY KEY, identifier TEXT NOT NULL, kind TEXT NOT NULL, name TEXT NOT NULL,
    surname TEXT NOT NULL, company_name TEXT NOT NULL, email TEXT NOT NULL, type TEXT NOT NULL,
    group_name TEXT NOT NULL, account_manager TEXT NOT NULL, custom_fields TEXT NOT NULL,
    company_nip TEXT, company_details TEXT, company_custom_fields TEXT, numbers TEXT NOT NULL,
    customer_id BIGINT, nip TEXT NOT NULL, details TEXT NOT NULL
) ON COMMIT DROP;
CREATE TEMP TABLE staged_numbers (
    line BIGINT NOT NULL, position INTEGER NOT NULL, raw TEXT NOT NULL, normalized TEXT
) ON COMMIT DROP;
"""
# What each staged card means for the CRM (the last line of an identifier was kept when staged
# rows were gathered): a new card, a changed one, or the same as stored. A row without an
# identifier matches its `customer_id` only while that card has none and is exactly like the
# row; otherwise it is 'unmatched' (refused, written nowhere), as on SQLite.
_PLAN = """
CREATE TEMP TABLE plan ON COMMIT DROP AS
SELECT s.line, s.identifier, c.customer_id,
       CASE
         WHEN c.customer_id IS NULL AND s.identifier <> '' THEN 'insert'
         WHEN c.customer_id IS NULL THEN 'unmatched'
         WHEN c.kind IS DISTINCT FROM s.kind OR c.name IS DISTINCT FROM s.name
           OR c.surname IS DISTINCT FROM s.surname
           OR c.company_name IS DISTINCT FROM s.company_name
           OR c.email IS DISTINCT FROM s.email OR c.type IS DISTINCT FROM s.type
           OR c.group_name IS DISTINCT FROM s.group_name
           OR c.account_manager IS DISTINCT FROM s.account_manager
           OR c.custom_fields IS DISTINCT FROM s.custom_fields
           OR c.nip IS DISTINCT FROM s.nip OR c.details IS DISTINCT FROM s.details
           OR k.nip IS DISTINCT FROM s.company_nip
           OR k.details IS DISTINCT FROM s.company_details
           OR k.custom_fields IS DISTINCT FROM s.company_custom_fields
           OR COALESCE((SELECT string_agg(p.raw, chr(31) ORDER BY p.position)
                        FROM customer_phone_numbers p WHERE p.customer_id = c.customer_id), '')
              IS DISTINCT FROM s.numbers
         THEN CASE WHEN s.identifier <> '' THEN 'update' ELSE 'unmatched' END
         ELSE 'same'
       END AS action
FROM staged_cards s
LEFT JOIN customers ci ON ci.identifier = s.identifier AND ci.identifier <> ''
LEFT JOIN customers cn
  ON cn.customer_id = s.customer_id AND s.identifier = '' AND cn.identifier = ''
LEFT JOIN customers c ON c.customer_id = COALESCE(ci.customer_id, cn.customer_id)
LEFT JOIN companies k ON k.customer_id = c.customer_id
"""
_CARD_COLUMNS = (
    "kind, name, surname, company_name, email, type, group_name, account_manager, custom_fields,"
    " nip, details"
)
_CHANGED = "SELECT customer_id FROM plan WHERE action = 'update'"


class PostgresCrmImport:
    """Satisfies ports.CrmImport on PostgreSQL."""

    def __init__(self, db: PostgresDatabase) -> None:
        self.db = db
        db.migrate_now()
        # Staging files (a million rows take ~150 MB) go to the system's temporary folder.
        self.folder = tempfile.mkdtemp(prefix=".kolejka-import-")

    def staging_opener(self) -> Callable[[], CrmStaging]:
        return functools.partial(StagingFile, self.folder)

    def apply(self, updated_at: datetime) -> ImportCounts:
        started = time.monotonic()
        counts = asyncio.run(self._apply(to_micros(updated_at)))
        log.info(
            "applied %d staged cards in %.1f s: %d new, %d changed",
            counts.added + counts.changed + counts.unchanged,
            time.monotonic() - started,
            counts.added,
            counts.changed,
        )
        return counts

    def close(self) -> None:
        self.db.close()
        shutil.rmtree(self.folder, ignore_errors=True)

    async def _apply(self, micros: int) -> ImportCounts:
        connection = await self.db.connect()
        try:
            async with connection.transaction():
                await connection.execute(_TEMP_TABLES)
                with _step("copy"):
                    await self._copy_staged(connection)
                    await connection.execute("ANALYZE staged_cards; ANALYZE staged_numbers")
                with _step("plan"):
                    await connection.execute(_PLAN)
                    await connection.execute("ANALYZE plan")
                counts = await _counts(connection)
                if counts.added or counts.changed:
                    await _write(connection, micros)
            return counts
        finally:
            await connection.close()

    async def _copy_staged(self, connection: asyncpg.Connection[Any]) -> None:
        """Every staged card (the last line of each identifier) and its numbers, by COPY."""
        scratch = sqlite3.connect(str(Path(self.folder) / "gathered.db"), isolation_level=None)
        try:
            scratch.execute("PRAGMA journal_mode = OFF")
            scratch.executescript(GATHERED_TABLES)
            gather(scratch, self.folder)
            scratch.execute(
                "CREATE INDEX temp.by_identifier ON staged_cards (identifier, customer_id, line)"
            )
            last = (
                "SELECT max(t.line) FROM temp.staged_cards t"
                " WHERE t.identifier = s.identifier AND t.customer_id IS s.customer_id"
            )
            cards = scratch.execute(
                f"SELECT {_STAGED_COLUMNS} FROM temp.staged_cards s"  # noqa: S608
                f" WHERE s.line = ({last}) ORDER BY s.line"
            )
            await connection.copy_records_to_table(
                "staged_cards", records=_batches(cards), columns=_STAGED_COLUMNS.split(", ")
            )
            numbers = scratch.execute(
                "SELECT line, position, raw, normalized FROM temp.staged_numbers"
                " ORDER BY line, position"
            )
            await connection.copy_records_to_table("staged_numbers", records=_batches(numbers))
        finally:
            scratch.close()


@contextmanager
def _step(name: str) -> Iterator[None]:
    started = time.monotonic()
    yield
    log.debug("import step %s: %.2f s", name, time.monotonic() - started)


def _batches(cursor: sqlite3.Cursor) -> Iterator[tuple[Any, ...]]:
    while rows := cursor.fetchmany(10_000):
        yield from rows


async def _counts(connection: asyncpg.Connection[Any]) -> ImportCounts:
    found = {
        row[0]: row[1]
        for row in await connection.fetch("SELECT action, count(*) FROM plan GROUP BY action")
    }
    unmatched = await connection.fetch(
        "SELECT line FROM plan WHERE action = 'unmatched' ORDER BY line"
    )
    return ImportCounts(
        found.get("insert", 0),
        found.get("update", 0),
        found.get("same", 0),
        tuple(row[0] for row in unmatched),
    )


async def _write(connection: asyncpg.Connection[Any], micros: int) -> None:
    with _step("write numbers of changed cards"):
        await connection.execute(
            f"DELETE FROM customer_phone_numbers WHERE customer_id IN ({_CHANGED})"  # noqa: S608
        )
    with _step("write changed cards"):
        await connection.execute(
            f"UPDATE customers c SET ({_CARD_COLUMNS}, updated_at) ="  # noqa: S608
            f" (SELECT {_CARD_COLUMNS}, $1::bigint FROM staged_cards s WHERE s.line = p.line)"
            " FROM plan p WHERE p.action = 'update' AND c.customer_id = p.customer_id",
            micros,
        )
    # Cards that stopped being a company's lose the company row (members keep none).
    with _step("write company rows of former companies"):
        await connection.execute(
            f"DELETE FROM companies WHERE customer_id IN ({_CHANGED})"  # noqa: S608
            " AND customer_id IN (SELECT customer_id FROM customers WHERE kind = 'person')"
        )
    # New cards get ids from the identity column, in the file's order.
    with _step("write new cards"):
        await connection.execute(
            f"INSERT INTO customers ({_CARD_COLUMNS}, identifier, updated_at)"  # noqa: S608
            f" SELECT {_CARD_COLUMNS}, s.identifier, $1 FROM plan p"
            " JOIN staged_cards s ON s.line = p.line WHERE p.action = 'insert' ORDER BY p.line",
            micros,
        )
    with _step("write ids of new cards"):
        await connection.execute(
            "UPDATE plan p SET customer_id = c.customer_id FROM customers c"
            " WHERE p.action = 'insert' AND c.identifier = p.identifier"
        )
    with _step("write numbers"):
        await connection.execute(
            "INSERT INTO customer_phone_numbers (customer_id, position, raw, normalized)"
            " SELECT p.customer_id, n.position, n.raw, n.normalized FROM staged_numbers n"
            " JOIN plan p ON p.line = n.line WHERE p.action IN ('insert', 'update')"
            " ORDER BY p.customer_id"
        )
    # What the custom_fields filter reads: a person's own, a company's card the company's.
    with _step("write custom field values"):
        await connection.execute(
            f"DELETE FROM custom_field_values WHERE customer_id IN ({_CHANGED})"  # noqa: S608
        )
        custom = (
            "CASE WHEN s.kind = 'company' THEN s.company_custom_fields ELSE s.custom_fields END"
        )
        await connection.execute(
            "INSERT INTO custom_field_values (customer_id, name, value)"  # noqa: S608
            f" SELECT p.customer_id, j.key, j.value FROM plan p JOIN staged_cards s"
            f" ON s.line = p.line, jsonb_each_text(({custom})::jsonb) j"
            f" WHERE p.action IN ('insert', 'update') AND {custom} <> '{{}}'"
        )
    with _step("write companies"):
        await connection.execute(
            "INSERT INTO companies (customer_id, nip, details, custom_fields)"
            " SELECT p.customer_id, s.company_nip, s.company_details, s.company_custom_fields"
            " FROM plan p JOIN staged_cards s ON s.line = p.line"
            " WHERE p.action IN ('insert', 'update') AND s.kind = 'company'"
            " ON CONFLICT (customer_id) DO UPDATE SET nip = excluded.nip,"
            " details = excluded.details, custom_fields = excluded.custom_fields"
        )


def export_rows(db: PostgresDatabase) -> Iterator[dict[str, object]]:
    """Every card as an import row, by customer_id, from one snapshot (a read-only transaction)."""
    loop = asyncio.new_event_loop()
    connection: asyncpg.Connection[Any] = loop.run_until_complete(db.connect())
    try:
        transaction = connection.transaction(isolation="repeatable_read", readonly=True)
        loop.run_until_complete(transaction.start())
        after = 0
        while True:
            cards = loop.run_until_complete(
                connection.fetch(
                    f"{EXPORT_SELECT} WHERE c.customer_id > $1 ORDER BY c.customer_id LIMIT 5000",
                    after,
                )
            )
            if not cards:
                break
            after = cards[-1][0]
            owned: dict[int, list[str]] = {card[0]: [] for card in cards}
            for number in loop.run_until_complete(
                connection.fetch(
                    "SELECT customer_id, raw FROM customer_phone_numbers"
                    " WHERE customer_id = ANY($1::bigint[]) ORDER BY customer_id, position",
                    list(owned),
                )
            ):
                owned[number[0]].append(number[1])
            for card in cards:
                yield export_row(card, owned[card[0]])
        loop.run_until_complete(transaction.rollback())
    finally:
        loop.run_until_complete(connection.close())
        loop.close()
