"""Benchmark: `GET /api/connections` over ten million recorded calls, on SQLite and PostgreSQL.

1. Fill: `--calls` calls (default 10,000,000) spread over the last 89 days, 10 queues (queue 2
   has a tenth of them), 200,000 callers, 50 agents, a third abandoned; plus `--stale` calls
   older than KOLEJKA_HISTORY_DAYS (90), which the service prunes in the background while it is
   measured. Written straight into the `connections` table (indexes built after the rows), not
   through the API: the point is the read side.
2. Read: `kolejka serve` (uvicorn, one worker) on that database; open-loop GETs of
   `/api/connections?queue_id=2&date_from=<a day of the last 30>&limit=100` at `--rate` per
   second for `--seconds`, over 8 keep-alive connections, each timed from when it was due.
   Meanwhile `--departures` callers a second join and leave queue 2 through the ingest API
   (each a new row, and a change that drops the pages the service keeps); `--offsets 200`
   spreads the reads over 6,000 pages, so that nearly none is kept. Bar: p99 <= 20 ms at 200
   requests/s.
3. The abandoned list (`--read abandoned`): the fill adds `--abandoned` abandoned calls today
   in queue 2 (from two thirds as many numbers, so some callers gave up several times), a fifth
   of those numbers answered later and a twentieth called back (answered OUTBOUND rows, in
   E.164 as the dialler writes them); then open-loop GETs of `/api/queues/{1..10}/abandoned`
   at `--rate`, while `--departures` calls a second leave queue 2 (each one makes queue 2's
   list be computed again). Same bar.

    flock /tmp/kolejka-bench.lock .venv/bin/python -m bench.connections [--engine sqlite]
        [--calls 10000000] [--rate 200] [--seconds 30] [--offsets 1] [--departures 5]
        [--database FILE] [--read connections|abandoned|both] [--abandoned 3000]
        [--postgres URL [--filled]]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import random
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from itertools import chain
from pathlib import Path
from zoneinfo import ZoneInfo

import asyncpg

from bench.common import kolejka_serve, paced_gets, percentile, postgres_schema
from kolejka.adapters.postgres.database import PostgresDatabase
from kolejka.adapters.sql.times import to_micros
from kolejka.adapters.sqlite.database import Database

USER, PASSWORD = "bench", "bench-password"
AUTHORIZATION = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
QUEUES = 10
CALLERS = 200_000
AGENTS = 50
CHUNK = 100_000
# The migration's indexes, dropped while filling and built again after (their SQL is read back
# from the database, so this list only names them).
INDEXES = (
    "connections_by_date",
    "connections_by_queue",
    "connections_by_src",
    "connections_by_dst",
    "connections_by_agent",
    "connections_outbound",
)
COLUMNS = (
    "connection_id",
    "queue_id",
    "started_at",
    "src",
    "src_key",
    "dst",
    "direction",
    "disposition",
    "wait_seconds",
    "talk_seconds",
    "user_login",
    "disconnected_by",
    "transferred_to",
)


Row = tuple[object, ...]
ZONE = ZoneInfo("Europe/Warsaw")


def rows(calls: int, stale: int, now: datetime, seed: int = 14) -> Iterator[tuple[object, ...]]:
    """`stale` calls from 100-120 days ago, then `calls` over the last 89 days, oldest first."""
    rng = random.Random(seed)
    spans = [
        (stale, now - timedelta(days=120), timedelta(days=20)),
        (calls, now - timedelta(days=89), timedelta(days=89)),
    ]
    serial = 0
    for count, start, span in spans:
        step = span / max(count, 1)
        first = to_micros(start)
        micros_step = step / timedelta(microseconds=1)
        for index in range(count):
            serial += 1
            started = first + int(index * micros_step)
            caller = rng.randrange(CALLERS)
            abandoned = rng.random() < 0.33
            wait = rng.randrange(1, 300)
            yield (
                f"{started // 1_000_000}.{serial}",
                1 + serial % QUEUES,
                started,
                f"6{caller:08d}",
                f"6{caller:08d}",  # the key of the number as written
                "",
                "INBOUND",
                "NO ANSWER" if abandoned else "ANSWERED",
                wait,
                0 if abandoned else rng.randrange(10, 900),
                "" if abandoned else f"agent{rng.randrange(AGENTS):02d}",
                "Customer" if abandoned else rng.choice(("Agent", "Customer")),
                "",
            )


def abandoned_today(count: int, now: datetime, seed: int = 15) -> Iterator[tuple[object, ...]]:
    """`count` abandoned calls in queue 2 since midnight (Europe/Warsaw), from `count * 2 // 3`
    numbers of their own; a fifth of the numbers answered later, a twentieth called back."""
    rng = random.Random(seed)
    midnight = datetime.combine(now.astimezone(ZONE).date(), datetime.min.time(), tzinfo=ZONE)
    first, last = to_micros(midnight), to_micros(now - timedelta(minutes=1))
    numbers = max(count * 2 // 3, 1)

    def row(call: str, src: str, dst: str, direction: str, disposition: str, wait: int) -> Row:
        started = last if disposition == "ANSWERED" else rng.randrange(first, last)
        hung_up = "Customer" if disposition == "NO ANSWER" else "Agent"
        talk = 0 if disposition == "NO ANSWER" else 60
        return (
            call,
            2,
            started,
            src,
            src,
            dst,
            direction,
            disposition,
            wait,
            talk,
            "",
            hung_up,
            "",
        )

    for index in range(count):
        yield row(f"abandoned-{index}", f"7{index % numbers:08d}", "", "INBOUND", "NO ANSWER", 60)
    for index in range(0, numbers, 5):
        yield row(f"answered-{index}", f"7{index:08d}", "", "INBOUND", "ANSWERED", 30)
    for index in range(1, numbers, 20):
        yield row(f"callback-{index}", "", f"+487{index:08d}", "OUTBOUND", "ANSWERED", 0)


def chunks(source: Iterator[tuple[object, ...]]) -> Iterator[list[tuple[object, ...]]]:
    chunk: list[tuple[object, ...]] = []
    for row in source:
        chunk.append(row)
        if len(chunk) == CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def fill_sqlite(path: Path, calls: int, stale: int, now: datetime, abandoned: int) -> None:
    Database(str(path)).migrate()
    sql = sqlite3.connect(path, isolation_level=None)
    sql.execute("PRAGMA synchronous = OFF")
    sql.execute("PRAGMA cache_size = -400000")
    definitions = [
        row[0]
        for name in INDEXES
        for row in sql.execute("SELECT sql FROM sqlite_master WHERE name = ?", (name,))
    ]
    for name in INDEXES:
        sql.execute(f"DROP INDEX {name}")
    marks = ", ".join("?" * len(COLUMNS))
    statement = f"INSERT INTO connections ({', '.join(COLUMNS)}) VALUES ({marks})"  # noqa: S608
    sql.execute("BEGIN")
    for chunk in chunks(chain(rows(calls, stale, now), abandoned_today(abandoned, now))):
        sql.executemany(statement, chunk)
    sql.execute("COMMIT")
    for definition in definitions:
        sql.execute(definition)
    sql.execute("ANALYZE")
    sql.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    sql.close()


async def fill_postgres(url: str, calls: int, stale: int, now: datetime, abandoned: int) -> None:
    pg = PostgresDatabase(url)
    await pg.migrate()
    await pg.aclose()
    connection = await asyncpg.connect(url)
    try:
        definitions = [
            row[0]
            for row in await connection.fetch(
                "SELECT indexdef FROM pg_indexes WHERE indexname = ANY($1::text[])"
                " AND schemaname = current_schema()",
                list(INDEXES),
            )
        ]
        for name in INDEXES:
            await connection.execute(f"DROP INDEX {name}")
        for chunk in chunks(chain(rows(calls, stale, now), abandoned_today(abandoned, now))):
            await connection.copy_records_to_table("connections", records=chunk, columns=COLUMNS)
        await connection.execute("SET maintenance_work_mem = '512MB'")
        for definition in definitions:
            await connection.execute(definition)
        await connection.execute("VACUUM ANALYZE connections")
    finally:
        await connection.close()


def kolejka(env: dict[str, str], *args: str, stdin: str = "") -> None:
    """A `kolejka` command; one that finds its work done (a reused file's user) is fine."""
    subprocess.run(
        [sys.executable, "-m", "kolejka", *args],
        env={**os.environ, **env},
        input=stdin,
        text=True,
        check=False,
        capture_output=True,
    )


async def departures(base: str, rate: float, seconds: float) -> int:
    """Callers join queue 2 and leave it through the ingest API, `rate` departures a second:
    each one is a new row and tells the service its kept pages are out of date."""
    host, port = base.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    done = 0
    start = time.monotonic()
    for index in range(int(rate * seconds)):
        delay = start + index / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        call_id = f"bench-{uuid.uuid4().hex}"
        for path, body in (
            ("/api/queues/2/callers", f'{{"call_id":"{call_id}","phone_number":"601100200"}}'),
            (f"/api/queues/2/callers/{call_id}/leave", '{"outcome":"answered"}'),
        ):
            request = (
                f"POST {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: {AUTHORIZATION}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
            )
            writer.write((request + body).encode())
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
            await reader.readexactly(length)
        done += 1
    writer.close()
    return done


def measure(env: dict[str, str], now: datetime, args: argparse.Namespace) -> None:
    kolejka(env, "users", "add", USER, "-p", "*", stdin=PASSWORD)
    for queue_id in range(1, QUEUES + 1):
        kolejka(env, "queues", "add", str(queue_id), f"Kolejka {queue_id}")
    if args.read in ("connections", "both"):
        days = [(now - timedelta(days=day)).astimezone(ZONE).date() for day in range(1, 31)]
        pages = [
            f"/api/connections?queue_id=2&date_from={day}&limit=100"
            + (f"&offset={offset}" if offset else "")
            for day in days
            for offset in range(args.offsets)
        ]
        print("  GET /api/connections?queue_id=2&date_from=...&limit=100", flush=True)
        read(env, pages, args)
    if args.read in ("abandoned", "both"):
        lists = [f"/api/queues/{queue_id}/abandoned" for queue_id in range(1, QUEUES + 1)]
        print("  GET /api/queues/{1..10}/abandoned", flush=True)
        read(env, lists, args, show_sizes=True)


def read(
    env: dict[str, str], paths: list[str], args: argparse.Namespace, show_sizes: bool = False
) -> None:
    """Open-loop GETs of `paths` at `args.rate` while calls leave queue 2; prints percentiles."""
    rate, seconds, departure_rate = args.rate, args.seconds, args.departures

    async def run(url: str) -> tuple[list[float], int, int]:
        reads = paced_gets(url, paths, AUTHORIZATION, rate, seconds)
        writes = departures(url, departure_rate, seconds)
        (latencies, errors), written = await asyncio.gather(reads, writes)
        return latencies, errors, written

    with kolejka_serve(env) as url:
        if show_sizes:
            print(f"  entries per list: {list_sizes(url, paths)}", flush=True)
        # The first requests warm the page cache the way a day of use would.
        asyncio.run(paced_gets(url, paths[:30], AUTHORIZATION, 50, 2))
        latencies, errors, written = asyncio.run(run(url))
    print(
        f"  {len(paths)} distinct paths, {written} departures meanwhile"
        f" ({departure_rate:.0f}/s, each invalidating kept answers)",
        flush=True,
    )
    print(
        f"  {len(latencies)} requests at {rate:.0f}/s, {errors} not 200:"
        f" p50 {percentile(latencies, 0.5) * 1000:.2f} ms,"
        f" p90 {percentile(latencies, 0.9) * 1000:.2f} ms,"
        f" p99 {percentile(latencies, 0.99) * 1000:.2f} ms,"
        f" max {max(latencies) * 1000:.2f} ms (bar p99 <= 20 ms)",
        flush=True,
    )


def list_sizes(url: str, paths: list[str]) -> list[int]:
    sizes = []
    for path in paths:
        request = urllib.request.Request(url + path, headers={"Authorization": AUTHORIZATION})
        with urllib.request.urlopen(request, timeout=30) as response:
            sizes.append(len(json.loads(response.read())))
    return sizes


def remaining_stale(count: int, sqlite_path: Path | None, url: str | None, now: datetime) -> int:
    cutoff = to_micros(now - timedelta(days=90))
    query = "SELECT COUNT(*) FROM connections WHERE started_at < "
    if sqlite_path is not None:
        with sqlite3.connect(sqlite_path) as sql:
            return int(sql.execute(query + "?", (cutoff,)).fetchone()[0])
    assert url is not None

    async def ask() -> int:
        connection = await asyncpg.connect(url)
        try:
            return int(await connection.fetchval(query + "$1", cutoff))
        finally:
            await connection.close()

    return asyncio.run(ask())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--engine", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--calls", type=int, default=10_000_000)
    parser.add_argument("--stale", type=int, default=100_000)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument(
        "--offsets", type=int, default=1, help="pages per day: offsets 0.. (200: no page kept)"
    )
    parser.add_argument("--departures", type=float, default=5.0, help="calls leaving a second")
    parser.add_argument(
        "--read", choices=["connections", "abandoned", "both"], default="connections"
    )
    parser.add_argument(
        "--abandoned", type=int, default=3000, help="abandoned calls today in queue 2"
    )
    parser.add_argument(
        "--database", type=Path, help="SQLite: fill this file, or reuse it if it exists"
    )
    parser.add_argument(
        "--postgres",
        default=os.environ.get(
            "KOLEJKA_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
        ),
    )
    parser.add_argument(
        "--filled",
        action="store_true",
        help="PostgreSQL: --postgres already holds the calls (e.g. ?search_path=SCHEMA); measure",
    )
    args = parser.parse_args()
    now = datetime.now(UTC)
    engines = ["sqlite", "postgresql"] if args.engine == "both" else [args.engine]
    with tempfile.TemporaryDirectory() as folder:
        for engine in engines:
            print(f"{engine}: {args.calls:,} calls (+{args.stale:,} to prune)", flush=True)
            started = time.monotonic()
            if engine == "sqlite":
                path = args.database or Path(folder) / "history.db"
                if path.exists():
                    print(f"  reusing {path} (its stale calls pruned by an earlier run)")
                else:
                    fill_sqlite(path, args.calls, args.stale, now, args.abandoned)
                size = path.stat().st_size / 1e9
                print(f"  ready in {time.monotonic() - started:.0f} s, {size:.2f} GB", flush=True)
                env = {"KOLEJKA_DATABASE_URL": f"sqlite:///{path}"}
                measure(env, now, args)
                print(f"  stale left: {remaining_stale(args.stale, path, None, now):,}")
                continue
            if args.filled:
                print(f"  reusing the calls at {args.postgres}", flush=True)
                measure({"KOLEJKA_DATABASE_URL": args.postgres}, now, args)
                continue
            with postgres_schema(args.postgres) as url:
                asyncio.run(fill_postgres(url, args.calls, args.stale, now, args.abandoned))
                print(f"  filled in {time.monotonic() - started:.0f} s", flush=True)
                measure({"KOLEJKA_DATABASE_URL": url}, now, args)
                print(f"  stale left: {remaining_stale(args.stale, None, url, now):,}")


if __name__ == "__main__":
    main()
