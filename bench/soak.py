"""Soak: one instance under mixed HTTP load and a stream of AMI events, then an audit.

For DURATION seconds (default 60) it drives about RATE requests/s (default 1,000) of mixed reads
(waiting_list, waiting_stats, queues) and ingest writes (callers joining and leaving queue 2)
over keep-alive connections, while a fake Asterisk feeds AMI_RATE events/s (default 200) of
callers joining and leaving queue 3 to the instance's AMI listener. Then it stops and reports:
requests by status code (bar: zero 5xx); callers joined vs visible vs left in both queues (bar:
none lost or duplicated); the server's RSS at start and end (bar: growth <= 10%); p50/p99 latency.

    flock /tmp/kolejka-bench.lock .venv/bin/python -m bench.soak [--duration 60] [--rate 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import collections
import itertools
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench.common import free_port, wait_for_port
from kolejka.domain.phone import PhoneNumbers

USER, PASSWORD = "soak", "soak-pass"
AUTHORIZATION = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
HTTP_QUEUE, AMI_QUEUE = 2, 3


# --- a fake Asterisk, just enough of AMI for the listener -------------------------------------


@dataclass
class FakeAsterisk:
    rate: float
    waiting: dict[str, str] = field(default_factory=dict)  # uniqueid -> number
    joined: int = 0
    left: int = 0
    sent: int = 0
    running: bool = True

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"Asterisk Call Manager/11.0.0\r\n")
        feeding: asyncio.Task[None] | None = None
        try:
            while True:
                packet = await _read_packet(reader)
                if packet is None:
                    return
                action = packet.get("action", "").lower()
                reply = {"Response": "Success"}
                if "actionid" in packet:
                    reply["ActionID"] = packet["actionid"]
                if action == "challenge":
                    reply["Challenge"] = "840151246"
                if action == "login":
                    reply["Message"] = "Authentication accepted"
                    writer.write(_packet(reply) + _packet({"Event": "FullyBooted"}))
                    continue
                if action == "queuestatus":
                    reply.update({"EventList": "start", "Message": "Queue status will follow"})
                    writer.write(_packet(reply))
                    for uniqueid, number in self.waiting.items():
                        entry = {"Event": "QueueEntry", "Queue": str(AMI_QUEUE),
                                 "Uniqueid": uniqueid, "CallerIDNum": number,
                                 "CallerIDName": "", "Wait": "1", "Position": "1"}  # fmt: skip
                        entry["ActionID"] = packet.get("actionid", "")
                        writer.write(_packet(entry))
                    writer.write(_packet({"Event": "QueueStatusComplete",
                                          "ActionID": packet.get("actionid", ""),
                                          "EventList": "Complete"}))  # fmt: skip
                    if feeding is None:
                        feeding = asyncio.create_task(self._feed(writer))
                    continue
                writer.write(_packet(reply))
        finally:
            if feeding is not None:
                feeding.cancel()
            writer.close()

    async def _feed(self, writer: asyncio.StreamWriter) -> None:
        serial = itertools.count()
        started = time.monotonic()
        while self.running:
            due = started + self.sent / self.rate
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            if len(self.waiting) < 20 or (len(self.waiting) < 60 and random.random() < 0.5):
                n = next(serial)
                uniqueid, number = f"1795{n:06d}.{n}", f"48700{n:06d}"
                self.waiting[uniqueid] = number
                self.joined += 1
                event = {"Event": "QueueCallerJoin", "Queue": str(AMI_QUEUE)}
                event |= {"Uniqueid": uniqueid, "CallerIDNum": number, "CallerIDName": "Soak"}
                writer.write(_packet(event))
            else:
                uniqueid = next(iter(self.waiting))
                del self.waiting[uniqueid]
                self.left += 1
                event = {"Event": "QueueCallerLeave", "Queue": str(AMI_QUEUE), "Uniqueid": uniqueid,
                         "Position": "1", "Count": "0"}  # fmt: skip
                writer.write(_packet(event))
            self.sent += 1
            await writer.drain()


def _packet(fields: dict[str, str]) -> bytes:
    return "".join(f"{k}: {v}\r\n" for k, v in fields.items()).encode() + b"\r\n"


async def _read_packet(reader: asyncio.StreamReader) -> dict[str, str] | None:
    packet: dict[str, str] = {}
    while True:
        line = await reader.readline()
        if not line:
            return None
        text = line.decode(errors="replace").strip()
        if not text:
            if packet:
                return packet
            continue
        key, _, value = text.partition(":")
        packet[key.strip().lower()] = value.strip()


# --- an HTTP/1.1 keep-alive client --------------------------------------------------------------


class Connection:
    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, method: str, path: str, body: object = None) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        assert self.reader is not None
        payload = b"" if body is None else json.dumps(body).encode()
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: soak\r\nAuthorization: {AUTHORIZATION}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n"
        )
        self.writer.write(head.encode() + payload)
        status_line = await self.reader.readline()
        status = int(status_line.split()[1])
        length = 0
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode().partition(":")
            if name.lower() == "content-length":
                length = int(value)
        return status, await self.reader.readexactly(length)


@dataclass
class Tally:
    statuses: collections.Counter[int] = field(default_factory=collections.Counter)
    latencies: list[float] = field(default_factory=list)
    joined: set[str] = field(default_factory=set)
    left: set[str] = field(default_factory=set)


async def client(
    port: int, rate: float, until: float, tally: Tally, serial: itertools.count[int]
) -> None:
    connection = Connection(port)
    sent, started = 0, time.monotonic()
    rng = random.Random()
    while time.monotonic() < until:
        due = started + sent / rate
        await asyncio.sleep(max(0.0, due - time.monotonic()))
        sent += 1
        roll = rng.random()
        waiting = sorted(tally.joined - tally.left)
        # 15% writes; the queue does a bounded random walk between 20 and 60 waiting callers,
        # as a real queue does, so its size does not grow with the soak's length.
        joins = len(waiting) < 20 or (len(waiting) < 60 and rng.random() < 0.5)
        if roll < 0.15 and joins:
            call = f"http-{next(serial)}"
            method, path = "POST", f"/api/queues/{HTTP_QUEUE}/callers"
            body: object = {"call_id": call, "phone_number": f"6{int(call[5:]):08d}"}
        elif roll < 0.15 and waiting:
            call = rng.choice(waiting)
            tally.left.add(call)  # claimed before sending, so no other client leaves it too
            method, path = "POST", f"/api/queues/{HTTP_QUEUE}/callers/{call}/leave"
            body = {"outcome": rng.choice(["answered", "abandoned"])}
        else:
            queue = rng.choice([HTTP_QUEUE, AMI_QUEUE])
            method, body = "GET", None
            path = rng.choice(
                [f"/api/queues/{queue}/waiting_list"] * 8
                + [f"/api/queues/{queue}/waiting_stats", "/api/queues"]
            )
        begun = time.perf_counter()
        status, _ = await connection.request(method, path, body)
        tally.latencies.append(time.perf_counter() - begun)
        tally.statuses[status] += 1
        if method == "POST" and path.endswith("/callers") and status == 201:
            tally.joined.add(body["call_id"])  # type: ignore[index]
        elif path.endswith("/leave") and status != 200:
            tally.left.discard(call)


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


async def sample_rss(pid: int, until: float, every: float = 10.0) -> list[int]:
    """The server's RSS (KiB) every EVERY seconds until UNTIL: a leak shows as a steady climb."""
    series = []
    while time.monotonic() + every <= until + 0.5:
        await asyncio.sleep(every)
        series.append(rss_kib(pid))
    return series


async def soak(args: argparse.Namespace, workdir: Path) -> int:
    asterisk = FakeAsterisk(args.ami_rate)
    ami = await asyncio.start_server(asterisk.serve, "127.0.0.1", 0)
    ami_port = ami.sockets[0].getsockname()[1]
    database = workdir / "soak.db"
    env = {
        **os.environ,
        "KOLEJKA_DATABASE_URL": f"sqlite:///{database}",
        "KOLEJKA_LOG_LEVEL": "WARNING",
    }
    for command in (
        ["queues", "add", str(HTTP_QUEUE), "HTTP"],
        ["queues", "add", str(AMI_QUEUE), "AMI"],
    ):
        subprocess.run(
            [sys.executable, "-m", "kolejka", *command], env=env, check=True, capture_output=True
        )
    subprocess.run([sys.executable, "-m", "kolejka", "users", "add", USER, "-p", "*"], env=env,
                   input=PASSWORD.encode(), check=True, capture_output=True)  # fmt: skip
    port = free_port()
    server_env = {**env, "KOLEJKA_AMI_HOST": "127.0.0.1", "KOLEJKA_AMI_PORT": str(ami_port),
                  "KOLEJKA_AMI_USERNAME": "kolejka", "KOLEJKA_AMI_SECRET": "soak-secret",
                  "KOLEJKA_AMI_AUTH": "plain"}  # fmt: skip
    log_path = workdir / "server.log"
    with log_path.open("wb") as log:
        server = subprocess.Popen([sys.executable, "-m", "kolejka", "serve", "--port", str(port)],
                                  env=server_env, stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
    try:
        wait_for_port(port, server)
        tally, serial = Tally(), itertools.count()
        await asyncio.sleep(1)
        cold_rss = rss_kib(server.pid)
        per_client = args.rate / args.connections
        # The warm-up is the same load, unmeasured: it fills what a server fills once (SQLite's
        # page cache, the verified-credential cache, allocator arenas), so that start-to-end
        # growth measures what the soak itself keeps.
        warm_until = time.monotonic() + args.warmup
        await asyncio.gather(
            *(client(port, per_client, warm_until, tally, serial) for _ in range(args.connections))
        )
        start_rss = rss_kib(server.pid)
        measured_from, ami_from = sum(tally.statuses.values()), asterisk.sent
        until = time.monotonic() + args.duration
        load = [client(port, per_client, until, tally, serial) for _ in range(args.connections)]
        samples = asyncio.create_task(sample_rss(server.pid, until))
        await asyncio.gather(*load)
        ami_sent = asterisk.sent - ami_from
        asterisk.running = False
        await asyncio.sleep(1)  # let the last events land
        end_rss = rss_kib(server.pid)
        series = await samples

        audit = Connection(port)
        _, http_body = await audit.request("GET", f"/api/queues/{HTTP_QUEUE}/waiting_list")
        _, ami_body = await audit.request("GET", f"/api/queues/{AMI_QUEUE}/waiting_list")
    finally:
        server.terminate()
        server.wait(10)
        await asyncio.sleep(0.2)  # the fake Asterisk sees the listener go
        ami.close()

    http_visible = [e["phone_number"] for e in json.loads(http_body)]
    phones = PhoneNumbers("PL")
    http_expected = sorted(phones.display(f"6{int(c[5:]):08d}") for c in tally.joined - tally.left)
    ami_visible = [e["phone_number"] for e in json.loads(ami_body)]
    ami_expected = sorted(phones.display(n) for n in asterisk.waiting.values())
    total = sum(tally.statuses.values()) - measured_from
    server_errors = sum(n for status, n in tally.statuses.items() if status >= 500)
    latencies = sorted(tally.latencies)
    p50 = statistics.median(latencies) * 1000
    p99 = latencies[int(len(latencies) * 0.99)] * 1000
    growth = (end_rss - start_rss) / start_rss * 100
    http_ok = sorted(http_visible) == http_expected and len(set(http_visible)) == len(http_visible)
    ami_ok = sorted(ami_visible) == ami_expected and len(set(ami_visible)) == len(ami_visible)
    http_left = len(tally.left & tally.joined)
    rows = [
        (
            "requests by status",
            str(dict(sorted(tally.statuses.items()))),
            "zero 5xx",
            server_errors == 0,
        ),
        (
            "ingest callers joined / left / visible (expected)",
            f"{len(tally.joined):,} / {http_left:,} / {len(http_visible)} ({len(http_expected)})",
            "none lost or duplicated",
            http_ok,
        ),
        (
            "AMI callers joined / left / visible (expected)",
            f"{asterisk.joined:,} / {asterisk.left:,} / {len(ami_visible)} ({len(ami_expected)})",
            "none lost or duplicated",
            ami_ok,
        ),
        (
            "server RSS start / end",
            f"{start_rss / 1024:.1f} / {end_rss / 1024:.1f} MiB ({growth:+.1f}%)",
            "growth <= 10%",
            growth <= 10,
        ),
        (
            "server RSS cold / every 10 s",
            f"{cold_rss / 1024:.1f} / " + ", ".join(f"{kib / 1024:.1f}" for kib in series) + " MiB",
            "",
            True,
        ),
        ("latency p50 / p99", f"{p50:.2f} / {p99:.2f} ms", "", True),
    ]
    print(
        f"warm-up {args.warmup:.0f} s, then {args.duration:.0f} s: "
        f"{total:,} requests ({total / args.duration:,.0f}/s), "
        f"{ami_sent:,} AMI events ({ami_sent / args.duration:,.0f}/s)"
    )
    print("| measure | value | bar |\n| --- | --- | --- |")
    for name, value, bar, ok in rows:
        verdict = f"{bar}: {'met' if ok else 'MISSED'}" if bar else ""
        print(f"| {name} | {value} | {verdict} |")
    return 0 if all(ok for *_, ok in rows) else 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--duration", type=float, default=60)
    parser.add_argument("--warmup", type=float, default=10)
    parser.add_argument("--rate", type=float, default=1000)
    parser.add_argument("--ami-rate", type=float, default=200)
    parser.add_argument("--connections", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        raise SystemExit(asyncio.run(soak(args, Path(folder))))


if __name__ == "__main__":
    main()
