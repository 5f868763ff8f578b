"""Benchmark: `GET /api/queues/2/callers` (position, expected wait, today's calls, customer of
each waiting caller) over ten million recorded calls, on SQLite and PostgreSQL.

1. Fill: the call history of bench.connections (`--calls`, default 10,000,000, over the last 89
   days, 10 queues, 200,000 callers), written straight into the table.
2. Read: `kolejka serve` (uvicorn, one worker); `--waiting` callers (default 50) wait in queue 2,
   their numbers drawn from the history's callers, so each has calls today or earlier; open-loop
   GETs of `/api/queues/2/callers` at `--rate` per second for `--seconds`, over 8 keep-alive
   connections, each timed from when it was due. Meanwhile `--departures` callers a second join
   and leave queue 2 (each a new row, and the queue's pace read again).

    flock /tmp/kolejka-bench.lock .venv/bin/python -m bench.caller_waits [--engine sqlite]
        [--calls 10000000] [--waiting 50] [--rate 100] [--seconds 30] [--departures 5]
        [--database FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import tempfile
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

from bench.common import kolejka_serve, paced_gets, percentile, postgres_schema
from bench.connections import (
    AUTHORIZATION,
    CALLERS,
    PASSWORD,
    USER,
    departures,
    fill_postgres,
    fill_sqlite,
    kolejka,
)

PATH = "/api/queues/2/callers"


def join(url: str, waiting: int) -> None:
    """`waiting` callers join queue 2, with numbers of the history's callers."""
    rng = random.Random(14)
    for index in range(waiting):
        body = json.dumps(
            {"call_id": f"waiting-{index}", "phone_number": f"6{rng.randrange(CALLERS):08d}"}
        )
        sent = urllib.request.Request(
            f"{url}/api/queues/2/callers", data=body.encode(), method="POST"
        )
        sent.add_header("Authorization", AUTHORIZATION)
        sent.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(sent, timeout=10) as answer:
            assert answer.status in (200, 201)


def look(url: str) -> tuple[int, int, int]:
    """(callers listed, of them with an expected wait, calls today listed in all)."""
    sent = urllib.request.Request(f"{url}{PATH}")
    sent.add_header("Authorization", AUTHORIZATION)
    with urllib.request.urlopen(sent, timeout=10) as answer:
        callers = json.loads(answer.read())
    expected = sum(1 for caller in callers if caller["expected_wait"] is not None)
    return len(callers), expected, sum(caller["calls_today"]["count"] for caller in callers)


def measure(
    env: dict[str, str], waiting: int, rate: float, seconds: float, departure_rate: float
) -> None:
    kolejka(env, "users", "add", USER, "-p", "*", stdin=PASSWORD)
    kolejka(env, "queues", "add", "2", "Obsługa klienta")
    with kolejka_serve(env) as url:
        join(url, waiting)
        listed, expected, today = look(url)

        async def run() -> tuple[list[float], int, int]:
            reads = paced_gets(url, [PATH], AUTHORIZATION, rate, seconds)
            writes = departures(url, departure_rate, seconds)
            (latencies, errors), written = await asyncio.gather(reads, writes)
            return latencies, errors, written

        asyncio.run(paced_gets(url, [PATH], AUTHORIZATION, 20, 1))  # warm up
        latencies, errors, written = asyncio.run(run())
    print(
        f"  {listed} callers listed, {expected} with an expected wait, {today} calls today"
        f" among them; {written} departures meanwhile ({departure_rate:.0f}/s)",
        flush=True,
    )
    print(
        f"  {len(latencies)} requests at {rate:.0f}/s, {errors} not 200:"
        f" p50 {percentile(latencies, 0.5) * 1000:.2f} ms,"
        f" p90 {percentile(latencies, 0.9) * 1000:.2f} ms,"
        f" p99 {percentile(latencies, 0.99) * 1000:.2f} ms,"
        f" max {max(latencies) * 1000:.2f} ms",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--engine", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--calls", type=int, default=10_000_000)
    parser.add_argument("--waiting", type=int, default=50)
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--departures", type=float, default=5.0, help="calls leaving a second")
    parser.add_argument("--database", type=Path, help="SQLite: fill this file, or reuse it")
    parser.add_argument(
        "--postgres",
        default=os.environ.get(
            "KOLEJKA_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
        ),
    )
    args = parser.parse_args()
    now = datetime.now(UTC)
    engines = ["sqlite", "postgresql"] if args.engine == "both" else [args.engine]
    with tempfile.TemporaryDirectory() as folder:
        for engine in engines:
            print(f"{engine}: {args.calls:,} calls, {args.waiting} waiting", flush=True)
            started = time.monotonic()
            if engine == "sqlite":
                path = args.database or Path(folder) / "history.db"
                if path.exists():
                    print(f"  reusing {path}")
                else:
                    fill_sqlite(path, args.calls, 0, now, 0)
                print(f"  ready in {time.monotonic() - started:.0f} s", flush=True)
                env = {"KOLEJKA_DATABASE_URL": f"sqlite:///{path}"}
                measure(env, args.waiting, args.rate, args.seconds, args.departures)
                continue
            with postgres_schema(args.postgres) as url:
                asyncio.run(fill_postgres(url, args.calls, 0, now, 0))
                print(f"  filled in {time.monotonic() - started:.0f} s", flush=True)
                env = {"KOLEJKA_DATABASE_URL": url}
                measure(env, args.waiting, args.rate, args.seconds, args.departures)


if __name__ == "__main__":
    main()
