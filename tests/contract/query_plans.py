"""Recording what a store executes, and explaining it: the query-plan tests' one mechanism.

The statements are not copied into the tests: the real stores run while the connection records
what it executes (sqlite3's trace callback, asyncpg's query logger), and each recorded statement
is then explained.

SQLite: a plan step `SCAN <table>` (without an index) reads the whole table. PostgreSQL: on tables
this small the planner rightly prefers a `Seq Scan`, so sequential scans are switched off and the
statements are explained as prepared statements' generic plans (`force_generic_plan`), which is
what asyncpg's cached statements get; a `Seq Scan` left in such a plan means no index can serve.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg

from kolejka.adapters.postgres.database import PostgresDatabase
from kolejka.adapters.sqlite.database import Database
from tests.servers import fresh_schema

CONTROL = re.compile(r"^\s*(BEGIN|COMMIT|ROLLBACK|PRAGMA|SAVEPOINT|RELEASE)\b", re.IGNORECASE)
Explain = Callable[[str, tuple[object, ...]], Awaitable[list[str]]]


@dataclass
class Recording:
    """One engine's database, and what its connections executed since `clear()`."""

    engine: str
    database: Database | PostgresDatabase
    statements: list[tuple[str, tuple[object, ...]]] = field(default_factory=list)
    explain: Explain | None = None

    def clear(self) -> None:
        self.statements.clear()

    def queries(self, tables: re.Pattern[str]) -> dict[str, tuple[object, ...]]:
        """The distinct statements about `tables`, transaction control left out."""
        return {
            statement: args
            for statement, args in self.statements
            if not CONTROL.match(statement) and tables.search(statement)
        }

    async def plan(self, statement: str, args: tuple[object, ...]) -> list[str]:
        assert self.explain is not None
        return await self.explain(statement, args)


@asynccontextmanager
async def recording(engine: str, tmp_path: Path, postgres_url: str) -> AsyncIterator[Recording]:
    """A migrated database of `engine` whose every statement is recorded."""
    if engine == "sqlite":
        db = Database(str(tmp_path / "plans.db"))
        db.migrate()
        recorded = Recording("sqlite", db)
        # Every connection's statements: a batch is written on a connection of its own.
        db.trace(lambda statement: recorded.statements.append((statement, ())))
        reader = sqlite3.connect(db.path)

        async def explain_sqlite(statement: str, args: tuple[object, ...]) -> list[str]:
            rows = reader.execute(f"EXPLAIN QUERY PLAN {statement}", args).fetchall()
            return [str(row[3]) for row in rows]

        recorded.explain = explain_sqlite
        try:
            yield recorded
        finally:
            reader.close()
            db.close()
        return
    async with fresh_schema(postgres_url) as url:
        pg = PostgresDatabase(url, pool_size=1)
        await pg.migrate()
        recorded = Recording("postgresql", pg)
        pool = await pg.pool()
        async with pool.acquire() as connection:
            connection.add_query_logger(
                lambda query: recorded.statements.append((query.query, tuple(query.args)))
            )
        plain = await asyncpg.connect(url)
        await plain.execute("SET enable_seqscan = off; SET plan_cache_mode = force_generic_plan")

        async def explain_postgres(statement: str, args: tuple[object, ...]) -> list[str]:
            await plain.execute(f"PREPARE hot AS {statement}")
            try:
                # A generic plan does not depend on the values, so NULLs stand for them.
                count = max((int(n) for n in re.findall(r"\$(\d+)", statement)), default=0)
                nulls = ", ".join(["NULL"] * count)
                rows = await plain.fetch(f"EXPLAIN EXECUTE hot{f'({nulls})' if count else ''}")
            finally:
                await plain.execute("DEALLOCATE hot")
            return [str(row[0]) for row in rows]

        recorded.explain = explain_postgres
        try:
            yield recorded
        finally:
            await plain.close()
            await pg.aclose()


def scans(engine: str, plan: list[str], table: str = r"\w+") -> list[str]:
    """The steps of `plan` that read a whole table (one named `table`, by default any)."""
    if engine == "sqlite":
        # `SCAN t` reads the whole table; `SCAN t USING INDEX` or `SEARCH` do not.
        return [step for step in plan if re.match(rf"\s*SCAN {table}\s*$", step)]
    return [step for step in plan if re.search(rf"Seq Scan on {table}\b", step)]


def sorts(engine: str, plan: list[str]) -> list[str]:
    """The steps of `plan` that sort every matching row (instead of reading an index in order)."""
    if engine == "sqlite":
        return [step for step in plan if "TEMP B-TREE" in step]
    return [step for step in plan if re.match(r"\s*(->\s*)?(Incremental )?Sort\b", step)]
