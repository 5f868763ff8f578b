"""Benchmark: 1,000 clients streaming one queue's waiting list from one `kolejka serve`.

Twenty callers wait in queue 2. CLIENTS clients open `GET /api/queues/2/waiting_list/stream`
over their own sockets (one asyncio process, uvloop) and read every event. Then the script makes
CHANGES changes, one at a time: a caller joins through the ingest API with a phone number seen
nowhere before, and each client notes when an event carrying that number reaches it. The figure
per change is the time from just before the POST is written to the moment the *last* client has
it (so it includes the POST itself and the client process's own work on 1,000 sockets). After
each measured change the caller leaves again (unmeasured), so the list stays twenty long.

Memory per client is the server's RSS with every client connected, minus its RSS before any
stream opened (after a warm-up), divided by the number of clients.

    flock /tmp/kolejka-bench.lock .venv/bin/python -m bench.stream_clients [--clients 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.common import free_port, wait_for_port
from kolejka.bootstrap import build
from kolejka.domain.queues import Queue
from kolejka.settings import Settings

USER, PASSWORD = "api_user", "api_pass"
AUTHORIZATION = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
STREAM = "/api/queues/2/waiting_list/stream"


def prepare(database: Path, callers: int) -> None:
    components = build(Settings(database_url=f"sqlite:///{database}"))

    async def seed() -> None:
        await components.queues.put(Queue(2, "Obsługa klienta"))
        await components.api_users.add(USER, PASSWORD, ["*"])
        start = datetime.now(UTC) - timedelta(minutes=5)
        for n in range(callers):
            started = start + timedelta(seconds=n)
            await components.lists.join(2, f"seed-{n}", f"+48 61 345 {n:04d}", "", started)

    asyncio.run(seed())
    components.close()


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


async def http(port: int, method: str, path: str, body: object = None) -> tuple[int, bytes]:
    """One request on its own connection; enough HTTP/1.1 for the ingest API."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    data = b"" if body is None else json.dumps(body).encode()
    head = (
        f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: {AUTHORIZATION}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n"
        "Connection: close\r\n\r\n"
    )
    writer.write(head.encode() + data)
    answer = await reader.read()
    writer.close()
    status = int(answer.split(b" ", 2)[1])
    return status, answer.partition(b"\r\n\r\n")[2]


@dataclass
class Watch:
    """The change being measured: its marker and when each client saw it."""

    marker: bytes = b"\x00"
    seen: list[float] = field(default_factory=list)
    everyone: asyncio.Event = field(default_factory=asyncio.Event)
    clients: int = 0


async def client(port: int, watch: Watch, connected: asyncio.Event, ready: list[int]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        f"GET {STREAM} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: {AUTHORIZATION}\r\n"
        "Accept: text/event-stream\r\n\r\n".encode()
    )
    head = await reader.readuntil(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 200"):
        raise RuntimeError(head.decode(errors="replace"))
    tail = b""
    first = True
    marker = b""
    while True:
        data = await reader.read(65536)
        if not data:
            raise RuntimeError("the server ended a stream")
        if first and b"data:" in data:
            first = False
            ready[0] += 1
            if ready[0] == watch.clients:
                connected.set()
        window = tail + data
        if watch.marker != marker and watch.marker in window:
            marker = watch.marker
            watch.seen.append(time.perf_counter())
            if len(watch.seen) == watch.clients:
                watch.everyone.set()
        tail = data[-32:]


async def run(port: int, pid: int, clients: int, changes: int) -> dict[str, object]:
    status, _ = await http(port, "GET", "/api/queues/2/waiting_list")
    assert status == 200, status
    # One stream opened and closed first, so its code paths are loaded before the baseline.
    warm = asyncio.create_task(client(port, Watch(clients=1), asyncio.Event(), [0]))
    await asyncio.sleep(0.5)
    warm.cancel()
    await asyncio.sleep(0.5)
    before = rss_kib(pid)

    watch = Watch(clients=clients)
    connected = asyncio.Event()
    ready = [0]
    tasks = []
    started = time.perf_counter()
    for n in range(clients):
        tasks.append(asyncio.create_task(client(port, watch, connected, ready)))
        if n % 50 == 49:
            await asyncio.sleep(0.02)  # the listen backlog is not a benchmark subject
    await asyncio.wait_for(connected.wait(), 120)
    connect_seconds = time.perf_counter() - started
    await asyncio.sleep(1.0)
    with_clients = rss_kib(pid)

    last, median, missed = [], [], 0
    for k in range(changes):
        watch.marker = f'"5{k:08d}"'.encode()
        watch.seen = []
        watch.everyone = asyncio.Event()
        sent = time.perf_counter()
        status, _ = await http(
            port, "POST", "/api/queues/2/callers", {"call_id": f"m{k}", "phone_number": f"5{k:08d}"}
        )
        assert status == 201, status
        try:
            await asyncio.wait_for(watch.everyone.wait(), 10)
        except TimeoutError:
            missed += clients - len(watch.seen)
        if watch.seen:
            last.append((max(watch.seen) - sent) * 1000)
            median.append((statistics.median(watch.seen) - sent) * 1000)
        status, _ = await http(
            port, "POST", f"/api/queues/2/callers/m{k}/leave", {"outcome": "answered"}
        )
        assert status == 200, status
        await asyncio.sleep(0.3)
    after_changes = rss_kib(pid)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    last.sort()
    return {
        "clients": clients,
        "changes": changes,
        "connect_seconds": round(connect_seconds, 2),
        "last_client_ms": {
            "p50": round(statistics.median(last), 1),
            "p90": round(last[int(0.9 * (len(last) - 1))], 1),
            "p99": round(last[int(0.99 * (len(last) - 1))], 1),
            "max": round(last[-1], 1),
        },
        "median_client_ms_p50": round(statistics.median(median), 1),
        "missed_deliveries": missed,
        "rss_kib": {"before": before, "with_clients": with_clients, "after": after_changes},
        "kib_per_client": round((with_clients - before) / clients, 1),
        "kib_per_client_after_changes": round((after_changes - before) / clients, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--changes", type=int, default=200)
    parser.add_argument("--callers", type=int, default=20)
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, 4 * args.clients)), hard))
    with tempfile.TemporaryDirectory() as folder:
        database = Path(folder) / "kolejka.db"
        prepare(database, args.callers)
        port = free_port()
        server = subprocess.Popen(
            [sys.executable, "-m", "kolejka", "serve", "--port", str(port)],
            env={
                **os.environ,
                "KOLEJKA_DATABASE_URL": f"sqlite:///{database}",
                "KOLEJKA_LOG_LEVEL": "WARNING",
            },
            stdout=subprocess.DEVNULL,
        )
        try:
            wait_for_port(port, server)
            import uvloop

            result = uvloop.run(run(port, server.pid, args.clients, args.changes))
        finally:
            server.terminate()
            server.wait(15)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
