"""Benchmark: GET /api/queues/2/waiting_list against the shared ceiling, in one run.

Twenty callers wait in queue 2 and the CRM holds 100,000 customers. `kolejka serve` (uvicorn with
uvloop and httptools, one worker, plus kolejka's connection guards) and ../shared/bench/ceiling.py
(serving the very same bytes under uvicorn with uvloop and httptools, one worker) take turns under
the same wrk load, ROUNDS times; the ratio app/ceiling is what we report.

    flock /tmp/kolejka-bench.lock .venv/bin/python -m bench.waiting_list [--seconds 10] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from bench.common import against_ceiling
from kolejka.adapters.sqlite.database import Database
from kolejka.bootstrap import build
from kolejka.domain.queues import Queue
from kolejka.settings import Settings

USER, PASSWORD = "api_user", "api_pass"
AUTHORIZATION = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()


def customer_number(index: int) -> str:
    return f"+48 5{index:08d}"


def prepare(database: Path, customers: int, callers: int) -> None:
    """A database with `customers` CRM customers and `callers` callers waiting in queue 2."""
    components = build(Settings(database_url=f"sqlite:///{database}"))
    assert isinstance(components.database, Database)
    sql = components.database.connection
    now = datetime.now(UTC)
    micros = int(now.timestamp() * 1_000_000)
    with sql:
        sql.execute("BEGIN")
        sql.executemany(
            "INSERT INTO customers (customer_id, kind, name, surname, company_name, updated_at)"
            " VALUES (?, 'person', ?, ?, '', ?)",
            ((i, f"Name{i}", f"Surname{i}", micros) for i in range(1, customers + 1)),
        )
        sql.executemany(
            "INSERT INTO customer_phone_numbers (customer_id, position, raw, normalized)"
            " VALUES (?, 0, ?, ?)",
            (
                (i, customer_number(i), components.phones.normalise(customer_number(i)))
                for i in range(1, customers + 1)
            ),
        )

    async def fill() -> None:
        await components.queues.put(Queue(2, "Obsługa klienta"))
        await components.api_users.add(USER, PASSWORD, ["*"])
        for index in range(callers):
            # Every other caller is a known customer, the rest strangers.
            number = customer_number(index * 4000 + 1) if index % 2 == 0 else f"61345{index:04d}"
            await components.lists.join(2, f"call-{index}", number)

    asyncio.run(fill())
    components.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--callers", type=int, default=20)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder:
        workdir = Path(folder)
        database = workdir / "bench.db"
        prepare(database, args.customers, args.callers)
        env = {"KOLEJKA_DATABASE_URL": f"sqlite:///{database}", "KOLEJKA_LOG_LEVEL": "WARNING"}
        print(f"{args.callers} callers, {args.customers:,} customers")
        against_ceiling(
            env,
            "/api/queues/2/waiting_list",
            AUTHORIZATION,
            workdir,
            args.seconds,
            args.rounds,
            args.connections,
        )


if __name__ == "__main__":
    main()
