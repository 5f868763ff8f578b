"""Benchmark: kolejka on PostgreSQL + Redis against the embedded store, and across two instances.

1. Throughput of GET /api/queues/2/waiting_list (twenty callers waiting, 100,000 CRM customers),
   with `kolejka serve` on SQLite and on PostgreSQL + Redis holding the same data, and the shared
   ceiling serving the same bytes, in turns under the same wrk load, ROUNDS times. Reported: each
   against the ceiling, and PostgreSQL + Redis against SQLite (bar: >= 0.8).
2. Join-to-visible: two `kolejka serve` instances on PostgreSQL + Redis; a caller joins through
   one (POST /api/queues/2/callers) and the other is polled until its waiting list shows the
   caller. Time from sending the join to the first answer that shows it (bar: p99 <= 50 ms).

Needs PostgreSQL (KOLEJKA_BENCH_POSTGRES_URL, default the machine's `test` database; the data
goes in a schema of its own, dropped afterwards) and Redis (KOLEJKA_BENCH_REDIS_URL).

    flock /tmp/kolejka-bench.lock .venv/bin/python -m bench.instances [--seconds 10] [--rounds 3]
        [--joins 500] [--part all|throughput|visible]
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import os
import statistics
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg
import redis

from bench.common import ceiling, kolejka_serve, wrk
from bench.waiting_list import AUTHORIZATION, PASSWORD, USER, customer_number, prepare
from kolejka.bootstrap import build
from kolejka.domain.queues import Queue
from kolejka.settings import Settings

POSTGRES_URL = os.environ.get(
    "KOLEJKA_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("KOLEJKA_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
PATH = "/api/queues/2/waiting_list"


@contextmanager
def server_stores(customers: int, callers: int) -> Iterator[dict[str, str]]:
    """A schema and a Redis prefix holding the embedded benchmark's data; yields the env."""
    schema = f"kolejka_bench_{uuid.uuid4().hex[:8]}"
    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    url = f"{POSTGRES_URL}?search_path={schema}"
    asyncio.run(_execute(f'CREATE SCHEMA "{schema}"'))
    try:
        asyncio.run(_fill(url, prefix, customers, callers))
        yield {
            "KOLEJKA_DATABASE_URL": url,
            "KOLEJKA_LIVE_URL": REDIS_URL,
            "KOLEJKA_REDIS_PREFIX": prefix,
            "KOLEJKA_LOG_LEVEL": "WARNING",
        }
    finally:
        asyncio.run(_execute(f'DROP SCHEMA "{schema}" CASCADE'))
        client = redis.Redis.from_url(REDIS_URL)
        keys = list(client.scan_iter(match="{" + prefix + "}:*", count=1000))
        if keys:
            client.delete(*keys)
        client.close()


async def _execute(sql: str) -> None:
    connection = await asyncpg.connect(POSTGRES_URL)
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


async def _fill(url: str, prefix: str, customers: int, callers: int) -> None:
    settings = Settings(database_url=url, live_url=REDIS_URL, redis_prefix=prefix)
    components = await asyncio.to_thread(build, settings)
    micros = int(datetime.now(UTC).timestamp() * 1_000_000)
    connection = await asyncpg.connect(url)
    try:
        await connection.copy_records_to_table(
            "customers",
            columns=["customer_id", "kind", "name", "surname", "company_name", "updated_at"],
            records=(
                (i, "person", f"Name{i}", f"Surname{i}", "", micros)
                for i in range(1, customers + 1)
            ),
        )
        await connection.copy_records_to_table(
            "customer_phone_numbers",
            columns=["customer_id", "position", "raw", "normalized"],
            records=(
                (i, 0, customer_number(i), components.phones.normalise(customer_number(i)))
                for i in range(1, customers + 1)
            ),
        )
        await connection.execute(
            "SELECT setval(pg_get_serial_sequence('customers', 'customer_id'), $1)", customers
        )
        await connection.execute("ANALYZE")
    finally:
        await connection.close()
    await components.queues.put(Queue(2, "Obsługa klienta"))
    await components.api_users.add(USER, PASSWORD, ["*"])
    for index in range(callers):
        number = customer_number(index * 4000 + 1) if index % 2 == 0 else f"61345{index:04d}"
        await components.lists.join(2, f"call-{index}", number)
    await components.aclose()


def fetch(url: str) -> bytes:
    request = urllib.request.Request(url + PATH, headers={"Authorization": AUTHORIZATION})
    with urllib.request.urlopen(request) as response:
        body: bytes = response.read()
    return body


def throughput(args: argparse.Namespace, workdir: Path, server_env: dict[str, str]) -> None:
    database = workdir / "bench.db"
    prepare(database, args.customers, args.callers)
    embedded_env = {"KOLEJKA_DATABASE_URL": f"sqlite:///{database}", "KOLEJKA_LOG_LEVEL": "WARNING"}
    with kolejka_serve(embedded_env) as url:
        embedded_body = fetch(url)
    with kolejka_serve(server_env) as url:
        server_body = fetch(url)
    # Same callers, same customers, so the same answer but for the join instants.
    assert [e["customer_id"] for e in json.loads(embedded_body)] == [
        e["customer_id"] for e in json.loads(server_body)
    ], "the two stores do not hold the same data"
    print(f"body: {len(server_body)} bytes, {args.callers} callers, {args.customers:,} customers")

    rows, vs_embedded, embedded_vs_top, server_vs_top = [], [], [], []
    for round_number in range(1, args.rounds + 1):
        with ceiling(server_body, AUTHORIZATION, workdir) as url:
            top = wrk(url + PATH, AUTHORIZATION, args.seconds, args.connections)
        with kolejka_serve(embedded_env) as url:
            embedded = wrk(url + PATH, AUTHORIZATION, args.seconds, args.connections)
        with kolejka_serve(server_env) as url:
            served = wrk(url + PATH, AUTHORIZATION, args.seconds, args.connections)
        assert embedded.non_2xx == served.non_2xx == 0, "kolejka answered errors under load"
        vs_embedded.append(served.requests_per_second / embedded.requests_per_second)
        embedded_vs_top.append(embedded.requests_per_second / top.requests_per_second)
        server_vs_top.append(served.requests_per_second / top.requests_per_second)
        rows += [
            top.row(f"ceiling, round {round_number}"),
            embedded.row(f"kolejka on SQLite, round {round_number}"),
            served.row(f"kolejka on PostgreSQL + Redis, round {round_number}"),
        ]
    print("| server | requests/s | p50 ms | p99 ms | non-2xx |")
    print("| --- | ---: | ---: | ---: | ---: |")
    print("\n".join(rows))
    print()
    print(f"SQLite / ceiling: {_ratios(embedded_vs_top)}")
    print(f"PostgreSQL + Redis / ceiling: {_ratios(server_vs_top)}")
    print(f"PostgreSQL + Redis / SQLite: {_ratios(vs_embedded)} (bar >= 0.8)")


def join_to_visible(args: argparse.Namespace, server_env: dict[str, str]) -> None:
    with kolejka_serve(server_env) as here_url, kolejka_serve(server_env) as there_url:
        here = _connection(here_url)
        there = _connection(there_url)
        _get(here)  # both have checked the API user's password and hold the list ready,
        _get(there)  # as in service
        delays = []
        for index in range(args.joins):
            call_id = f"visible-{index}"
            number = f"5{index:08d}"
            started = time.perf_counter()
            status, _ = _request(
                here,
                "POST",
                "/api/queues/2/callers",
                json.dumps({"call_id": call_id, "phone_number": number}).encode(),
            )
            assert status == 201, status
            while number.encode() not in _get(there):
                if time.perf_counter() - started > 5:
                    raise SystemExit(f"caller {call_id} not visible after 5 s")
            delays.append((time.perf_counter() - started) * 1000)
            status, _ = _request(
                here,
                "POST",
                f"/api/queues/2/callers/{call_id}/leave",
                b'{"outcome": "answered"}',
            )
            assert status == 200, status
            time.sleep(0.005)
    delays.sort()
    p50 = delays[len(delays) // 2]
    p99 = delays[min(len(delays) - 1, int(len(delays) * 0.99))]
    print(
        f"join-to-visible across two instances, {len(delays)} joins: p50 {p50:.2f} ms,"
        f" p99 {p99:.2f} ms, max {delays[-1]:.2f} ms (bar: p99 <= 50 ms)"
    )


def _connection(url: str) -> http.client.HTTPConnection:
    return http.client.HTTPConnection(urlsplit(url).netloc, timeout=10)


def _request(
    connection: http.client.HTTPConnection, method: str, path: str, body: bytes | None = None
) -> tuple[int, bytes]:
    headers = {"Authorization": AUTHORIZATION, "Content-Type": "application/json"}
    connection.request(method, path, body=body, headers=headers)
    response = connection.getresponse()
    return response.status, response.read()


def _get(connection: http.client.HTTPConnection) -> bytes:
    status, body = _request(connection, "GET", PATH)
    assert status == 200, status
    return body


def _ratios(values: list[float]) -> str:
    listed = ", ".join(f"{v:.2f}" for v in values)
    return f"{listed}; median {statistics.median(values):.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--callers", type=int, default=20)
    parser.add_argument("--joins", type=int, default=500)
    parser.add_argument("--part", choices=["all", "throughput", "visible"], default="all")
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory() as folder,
        server_stores(args.customers, args.callers) as server_env,
    ):
        if args.part in ("all", "throughput"):
            throughput(args, Path(folder), server_env)
        if args.part in ("all", "visible"):
            join_to_visible(args, server_env)


if __name__ == "__main__":
    main()
