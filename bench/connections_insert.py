"""Probe: what SQLite spends writing one call's row, in instructions (callgrind).

Writes N and 2N departure rows into the call history's table, made by the migrations as they
are (every index), in commits of `--per-commit` rows through the statement and values the store
uses, and prints the instructions one more row costs. `--schema 0010` stops at migration 10
(the CHECKs written with IN), which shows what migration 0011 saved; `--per-commit` shows what
bigger batches would save; `--executemany` writes each commit's rows with one `executemany`, as
the store did before it wrote statements of many rows each (`database.insert_rows`).

    .venv/bin/python -m bench.connections_insert [--rows 2000] [--per-commit 40] [--schema 0010]
        [--executemany]

Rows are made in the parent and read from a file, so making them is no part of the count. No
timing, so no lock is needed.
"""

from __future__ import annotations

import argparse
import pickle
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.common import callgrind_instructions
from kolejka.adapters.sql import connections as history_sql
from kolejka.adapters.sql.schema import migrations
from kolejka.adapters.sqlite import database as sqlite_database
from kolejka.adapters.sqlite.database import insert_rows
from kolejka.domain.connections import Connection, DisconnectedBy, Disposition

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def rows(count: int) -> list[tuple[object, ...]]:
    """`count` departures as the AMI listener records them (every other one abandoned)."""
    made = []
    for index in range(count):
        answered = index % 2 == 0
        row = Connection(
            connection_id=f"1795800000.{index}",
            queue_id=7,
            src=f"48{600000000 + index}",
            src_key=f"48{600000000 + index}",
            started_at=T0 + timedelta(milliseconds=index),
            disposition=Disposition.ANSWERED if answered else Disposition.NO_ANSWER,
            wait=timedelta(seconds=12),
            disconnected_by=DisconnectedBy.UNKNOWN if answered else DisconnectedBy.CUSTOMER,
        )
        values = history_sql.departure_values(row)
        assert values is not None
        made.append(values)
    return made


def write(path: Path, schema: int, per_commit: int, executemany: bool) -> None:
    """The probe itself: a new database at `schema`, then the rows in `path`, as the store."""
    batch = pickle.loads(path.read_bytes())  # noqa: S301 (the parent's own file)
    with tempfile.TemporaryDirectory() as folder:
        chosen = [(version, sql) for version, sql in migrations() if version <= schema]
        sqlite_database.migrations = lambda: chosen  # type: ignore[attr-defined]
        db = sqlite_database.Database(f"{folder}/kolejka.db")
        db.migrate()
        sql = db.connection
        sql.execute("PRAGMA wal_autocheckpoint = 0")  # as in the service
        insert = history_sql.insert_sql(False, history_sql.DEPARTURE_COLUMNS)
        for start in range(0, len(batch), per_commit):
            sql.execute("BEGIN IMMEDIATE")
            if executemany:
                sql.executemany(insert, batch[start : start + per_commit])
            else:
                insert_rows(sql, insert, batch[start : start + per_commit])
            sql.execute("COMMIT")
        db.close()


def instructions(path: Path, schema: int, per_commit: int, executemany: bool, out: Path) -> int:
    module = ["bench.connections_insert", "--run", str(path), "--schema", str(schema)]
    module += ["--per-commit", str(per_commit)] + (["--executemany"] if executemany else [])
    return callgrind_instructions(module, out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=2000, help="N: runs write N and 2N")
    parser.add_argument("--per-commit", type=int, default=40)
    parser.add_argument("--schema", type=int, default=max(v for v, _ in migrations()))
    parser.add_argument("--executemany", action="store_true", help="one executemany a commit")
    parser.add_argument("--run", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run:
        write(Path(args.run), args.schema, args.per_commit, args.executemany)
        return
    n = args.rows
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        counts = []
        for count in (n, 2 * n):
            path = folder / f"{count}.rows"
            path.write_bytes(pickle.dumps(rows(count)))
            out = folder / f"{count}.out"
            counts.append(instructions(path, args.schema, args.per_commit, args.executemany, out))
    per_row = (counts[1] - counts[0]) / n
    print(
        f"schema {args.schema:04d}, {args.per_commit} rows a commit"
        f" ({'executemany' if args.executemany else 'statements of many rows'}):"
        f" {per_row:,.0f} instructions a row (callgrind, {n:,} and {2 * n:,} rows)"
    )


if __name__ == "__main__":
    main()
