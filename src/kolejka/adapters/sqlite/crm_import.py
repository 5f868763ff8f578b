"""Bulk import into the built-in CRM: stage everything, then apply it in one short transaction.

Why this shape: `kolejka crm import` may load a million cards while the service answers from the
same file. Each process that checks rows stages them in a file of its own in a hidden folder
beside the database (no lock on the database is taken, and the service never sees them). Then
the import's connection gathers them in TEMP tables, matches them to existing cards by
`identifier` and compares them under a read snapshot, and prepares the finished rows. Only then
does it take the write lock and write every change in one transaction: all of them or none, and
a rerun of the same file writes nothing. Interrupted before that commit, nothing of the file is
in the CRM (the folder is removed on the way out; after a hard kill it is left behind, harmless,
named `.kolejka-import-*`). In WAL mode the service keeps reading during the transaction; its own
writes wait for it.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

from kolejka.adapters.sql.export import EXPORT_SELECT, export_row
from kolejka.adapters.sql.staging import GATHERED_TABLES, StagingFile, gather
from kolejka.adapters.sql.times import to_micros
from kolejka.adapters.sqlite.database import Database
from kolejka.domain.crm_import import ImportCounts
from kolejka.services.ports import CrmStaging

log = logging.getLogger(__name__)

# The import's own connection gathers the staged rows in TEMP tables, private to it, and
# prepares the finished rows beside them.
_STAGING = (
    GATHERED_TABLES
    + """
CREATE TEMP TABLE plan (
    line INTEGER PRIMARY KEY,
    identifier TEXT NOT NULL,
    customer_id INTEGER NOT NULL,
    action TEXT NOT NULL
);
CREATE TEMP TABLE new_cards (
    customer_id INTEGER PRIMARY KEY,
    action TEXT NOT NULL,
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    surname TEXT NOT NULL,
    company_name TEXT NOT NULL,
    email TEXT NOT NULL,
    type TEXT NOT NULL,
    group_name TEXT NOT NULL,
    account_manager TEXT NOT NULL,
    custom_fields TEXT NOT NULL,
    nip TEXT NOT NULL,
    details TEXT NOT NULL,
    identifier TEXT NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE TEMP TABLE new_numbers (
    customer_id INTEGER NOT NULL,
    position INTEGER NOT NULL,
    raw TEXT NOT NULL,
    normalized TEXT
);
CREATE TEMP TABLE new_companies (
    customer_id INTEGER PRIMARY KEY,
    nip TEXT,
    details TEXT,
    custom_fields TEXT
);
"""
)

# What each staged card means for the CRM: a new card (with the id it will get, after the
# largest one now), a changed one, or the same as stored. The last row of an identifier wins.
# A row without an identifier (an exported card that has none) matches its `customer_id` only
# while that card has no identifier and is exactly like the row; otherwise it is 'unmatched',
# refused and written nowhere, so an id from another database can never overwrite a card.
# (The outer query names `action` once: each mention would compute the comparison again.)
_PLAN = """
INSERT INTO temp.plan (line, identifier, customer_id, action)
SELECT line, identifier,
       CASE WHEN customer_id IS NULL AND identifier <> ''
            THEN :base + row_number()
                 OVER (PARTITION BY customer_id IS NULL AND identifier <> '' ORDER BY line)
            ELSE COALESCE(customer_id, 0) END,
       action
FROM (
  SELECT s.line AS line, s.identifier AS identifier, c.customer_id AS customer_id,
         CASE
           WHEN c.customer_id IS NULL AND s.identifier <> '' THEN 'insert'
           WHEN c.customer_id IS NULL THEN 'unmatched'
           WHEN c.kind IS NOT s.kind OR c.name IS NOT s.name OR c.surname IS NOT s.surname
             OR c.company_name IS NOT s.company_name OR c.email IS NOT s.email
             OR c.type IS NOT s.type OR c.group_name IS NOT s.group_name
             OR c.account_manager IS NOT s.account_manager
             OR c.custom_fields IS NOT s.custom_fields
             OR c.nip IS NOT s.nip OR c.details IS NOT s.details
             OR k.nip IS NOT s.company_nip OR k.details IS NOT s.company_details
             OR k.custom_fields IS NOT s.company_custom_fields
             OR COALESCE((SELECT group_concat(raw, char(31)) FROM
                            (SELECT raw FROM main.customer_phone_numbers p
                             WHERE p.customer_id = c.customer_id ORDER BY p.position)), '')
                IS NOT s.numbers
             THEN CASE WHEN s.identifier <> '' THEN 'update' ELSE 'unmatched' END
           ELSE 'same'
         END AS action
  FROM temp.staged_cards s
  LEFT JOIN main.customers ci ON ci.identifier = s.identifier AND ci.identifier <> ''
  LEFT JOIN main.customers cn
    ON cn.customer_id = s.customer_id AND s.identifier = '' AND cn.identifier = ''
  LEFT JOIN main.customers c ON c.customer_id = COALESCE(ci.customer_id, cn.customer_id)
  LEFT JOIN main.companies k ON k.customer_id = c.customer_id
  WHERE s.line = (SELECT max(t.line) FROM temp.staged_cards t
                  WHERE t.identifier = s.identifier AND t.customer_id IS s.customer_id)
)
"""
# The staged rows that are written: new and changed cards.
_WRITTEN = "p.action IN ('insert', 'update')"

_CARD_COLUMNS = (
    "kind, name, surname, company_name, email, type, group_name, account_manager, custom_fields,"
    " nip, details"
)


class SqliteCrmImport:
    """Satisfies ports.CrmImport: staged files gathered, compared, then applied all or none."""

    def __init__(self, url_or_path: str) -> None:
        # Its own connection: the TEMP tables belong to it and vanish with it.
        db = Database.from_url(url_or_path) if "://" in url_or_path else Database(url_or_path)
        db.migrate()
        self.db = db
        self.sql = db.connection
        self.sql.execute("PRAGMA temp_store = FILE")
        self.sql.execute("PRAGMA cache_size = -65536")
        self.sql.execute("PRAGMA temp.cache_size = -65536")
        self.sql.executescript(_STAGING)
        # Staging files go beside the database (a million rows take ~150 MB), not in /tmp.
        beside = None if db.path == ":memory:" else str(Path(db.path).resolve().parent)
        self.folder = tempfile.mkdtemp(prefix=".kolejka-import-", dir=beside)

    def staging_opener(self) -> Callable[[], CrmStaging]:
        return functools.partial(StagingFile, self.folder)

    def apply(self, updated_at: datetime) -> ImportCounts:
        """Writes every change in one transaction, or nothing when interrupted.

        The comparison and the rows to write are prepared under a read snapshot first, so the
        write lock is held only for copying finished rows into place.
        """
        micros = to_micros(updated_at)
        started = time.monotonic()
        gather(self.sql, self.folder)
        with self.sql:
            self.sql.execute("BEGIN")  # one snapshot for the comparison
            version, counts = self._prepare(micros)
        compared = time.monotonic()
        with self.sql:
            self.sql.execute("BEGIN IMMEDIATE")
            if self.db.data_version() != version:
                # Someone wrote since we compared: compare again, now under the write lock.
                version, counts = self._prepare(micros)
            if counts.added or counts.changed:
                self._write(counts)
        done = time.monotonic()
        log.info(
            "compared %d staged cards in %.1f s; wrote %d new and %d changed in %.1f s",
            counts.added + counts.changed + counts.unchanged,
            compared - started,
            counts.added,
            counts.changed,
            done - compared,
            extra={"write_lock_seconds": round(done - compared, 3)},
        )
        return counts

    def close(self) -> None:
        self.db.close()
        shutil.rmtree(self.folder, ignore_errors=True)

    def _prepare(self, micros: int) -> tuple[int, ImportCounts]:
        """Fills temp.plan and the finished rows; returns the data version they reflect."""
        sql = self.sql
        sql.execute(
            "CREATE INDEX IF NOT EXISTS temp.staged_by_identifier"
            " ON staged_cards (identifier, customer_id, line)"
        )
        version = self.db.data_version()
        base = sql.execute("SELECT COALESCE(max(customer_id), 0) FROM main.customers").fetchone()
        for table in ("plan", "new_cards", "new_numbers", "new_companies"):
            sql.execute(f"DELETE FROM temp.{table}")  # noqa: S608
        sql.execute(_PLAN, {"base": base[0]})
        sql.execute(
            f"INSERT INTO temp.new_cards (customer_id, action, {_CARD_COLUMNS}, identifier,"  # noqa: S608
            f" updated_at) SELECT p.customer_id, p.action, {_CARD_COLUMNS}, s.identifier, ?"
            " FROM temp.plan p JOIN temp.staged_cards s ON s.line = p.line"
            f" WHERE {_WRITTEN} ORDER BY p.customer_id",
            (micros,),
        )
        sql.execute(
            "INSERT INTO temp.new_numbers SELECT p.customer_id, n.position, n.raw, n.normalized"  # noqa: S608
            " FROM temp.staged_numbers n JOIN temp.plan p ON p.line = n.line"
            f" WHERE {_WRITTEN} ORDER BY p.customer_id, n.position"
        )
        sql.execute(
            "INSERT INTO temp.new_companies SELECT p.customer_id, s.company_nip,"  # noqa: S608
            " s.company_details, s.company_custom_fields FROM temp.plan p"
            " JOIN temp.staged_cards s ON s.line = p.line"
            f" WHERE {_WRITTEN} AND s.kind = 'company' ORDER BY p.customer_id"
        )
        return version, self._counts()

    def _indexes_to_rebuild(self, table: str, new: int) -> list[tuple[str, str]]:
        """`table`'s indexes, when this import adds so many rows to it that rebuilding is faster.

        Index entries for random numbers (or identifiers, e-mails) land all over the index;
        sorting them once in CREATE INDEX costs a third of that for a million cards. The
        definitions come from the schema, so the migrations stay the one place that says what an
        index is. DDL is transactional, and other connections keep reading their snapshot,
        index and all. (A unique index rebuilt still refuses a repeat: the transaction fails.)
        """
        existing = self.sql.execute(
            f"SELECT COALESCE(max(rowid), 0) FROM main.{table}"  # noqa: S608
        ).fetchone()[0]
        if new < 100_000 or new < existing // 2:
            return []
        rows = self.sql.execute(
            "SELECT name, sql FROM main.sqlite_master WHERE type = 'index'"
            " AND tbl_name = ? AND sql IS NOT NULL",
            (table,),
        )
        return [(str(name), str(definition)) for name, definition in rows]

    @contextlib.contextmanager
    def _rebuilding(self, table: str, new: int) -> Iterator[None]:
        """Drops `table`'s indexes around a large insert and builds them again after it."""
        rebuilt = self._indexes_to_rebuild(table, new)
        for name, _ in rebuilt:
            self.sql.execute(f'DROP INDEX main."{name}"')
        yield
        for _, definition in rebuilt:
            self.sql.execute(definition)

    def _counts(self) -> ImportCounts:
        found = dict(self.sql.execute("SELECT action, count(*) FROM temp.plan GROUP BY action"))
        unmatched = self.sql.execute(
            "SELECT line FROM temp.plan WHERE action = 'unmatched' ORDER BY line"
        )
        return ImportCounts(
            found.get("insert", 0),
            found.get("update", 0),
            found.get("same", 0),
            tuple(line for (line,) in unmatched),
        )

    def _write(self, counts: ImportCounts) -> None:
        sql = self.sql
        if counts.changed:
            changed = "SELECT customer_id FROM temp.new_cards WHERE action = 'update'"
            sql.execute(
                f"DELETE FROM main.customer_phone_numbers WHERE customer_id IN ({changed})"  # noqa: S608
            )
            sql.execute(
                f"UPDATE main.customers SET ({_CARD_COLUMNS}, updated_at) ="  # noqa: S608
                f" (SELECT {_CARD_COLUMNS}, updated_at FROM temp.new_cards n"
                f"  WHERE n.customer_id = customers.customer_id) WHERE customer_id IN ({changed})"
            )
            sql.execute(
                f"DELETE FROM main.custom_field_values WHERE customer_id IN ({changed})"  # noqa: S608
            )
            # Cards that stopped being a company's lose the company row (members keep none).
            sql.execute(
                f"DELETE FROM main.companies WHERE customer_id IN ({changed} AND kind = 'person')"  # noqa: S608
            )
        if counts.added:
            # New ids follow the largest one in the file's order: the table grows at its end.
            with self._rebuilding("customers", counts.added):
                sql.execute(
                    f"INSERT INTO main.customers (customer_id, {_CARD_COLUMNS}, identifier,"  # noqa: S608
                    f" updated_at) SELECT customer_id, {_CARD_COLUMNS}, identifier, updated_at"
                    " FROM temp.new_cards WHERE action = 'insert' ORDER BY customer_id"
                )
        numbers = sql.execute("SELECT count(*) FROM temp.new_numbers").fetchone()[0]
        with self._rebuilding("customer_phone_numbers", numbers):
            sql.execute(
                "INSERT INTO main.customer_phone_numbers (customer_id, position, raw, normalized)"
                " SELECT customer_id, position, raw, normalized FROM temp.new_numbers"
            )
        # What the custom_fields filter reads: a person's own, a company's card the company's.
        sql.execute(
            "INSERT INTO main.custom_field_values (customer_id, name, value)"
            " SELECT n.customer_id, j.key, j.value"
            " FROM temp.new_cards n, json_each(n.custom_fields) j"
            " WHERE n.kind = 'person' AND n.custom_fields <> '{}'"
            " UNION ALL SELECT k.customer_id, j.key, j.value"
            " FROM temp.new_companies k, json_each(k.custom_fields) j WHERE k.custom_fields <> '{}'"
        )
        sql.execute(
            "INSERT INTO main.companies (customer_id, nip, details, custom_fields)"
            " SELECT customer_id, nip, details, custom_fields FROM temp.new_companies WHERE true"
            " ON CONFLICT (customer_id) DO UPDATE SET nip = excluded.nip,"
            " details = excluded.details, custom_fields = excluded.custom_fields"
        )


def export_rows(db: Database) -> Iterator[dict[str, object]]:
    """Every card as an import row (persons and companies), by customer_id, from one snapshot."""
    sql = db.connection
    cards = sql.cursor()
    numbers = sql.cursor()
    sql.execute("BEGIN")
    try:
        cards.execute(f"{EXPORT_SELECT} ORDER BY c.customer_id")
        numbers.execute(
            "SELECT customer_id, raw FROM customer_phone_numbers ORDER BY customer_id, position"
        )
        pending = numbers.fetchone()
        for row in cards:
            owned = []
            while pending is not None and pending[0] < row[0]:
                pending = numbers.fetchone()
            while pending is not None and pending[0] == row[0]:
                owned.append(pending[1])
                pending = numbers.fetchone()
            yield export_row(row, owned)
    finally:
        sql.execute("COMMIT")
