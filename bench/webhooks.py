"""Benchmark: webhooks at 1,000 AMI events/s fanned out to 10 local subscribers.

1. Delivery latency: `kolejka serve` runs in its own process, following a minimal Asterisk that
   this process plays at a steady `--rate` events/s (bench.ami_events' packets), and leaves
   delivery to a `kolejka webhooks deliver --workers N` process (or, with --inline, delivers on
   its own event loop, as KOLEJKA_WEBHOOK_DELIVER=1 does); 10 subscriptions (CALLER_JOINED,
   CALLER_LEFT) point at 10 receivers on 127.0.0.1, served by another process (on uvloop) that
   answers 200 at once and notes when each event arrived. Latency is from the AMI packet
   reaching the socket to its event reaching a receiver, per delivery. Bar: p99 <= 1 s.
2. The AMI listener's throughput (bench.ami_events' in-process round: socket -> SQLite), rounds
   alternating: without webhooks; with the 10 subscriptions but nothing delivering (what writing
   the outbox costs); with them delivered by the delivery process (or, with --inline, on the
   listener's event loop). Each round's arms run in turns (first in one round, last in the
   next), and each round's ratio to the round without webhooks is reported, with their median,
   which a noisy machine moves less than the ratio of two medians. Bar: within 10% (>= 0.90).
   `--pin` puts this process (the listener and its Asterisk) on core 0 and the receivers and
   delivery processes on core 1: the listener has a core of its own in every arm, as it has
   when delivery runs on another core or machine, instead of sharing two cores with a delivery
   process that runs flat out (at the listener's full rate, ten deliveries an event).

    flock /tmp/kolejka-bench.lock .venv/bin/python -m bench.webhooks [--rate 1000]
        [--seconds 20] [--subscribers 10] [--events 60000] [--rounds 3] [--workers 1]
        [--inline] [--pin]
    flock /tmp/kolejka-bench.lock .venv/bin/python -m bench.webhooks --drain 10000

3. With --drain N: delivery alone, draining an outbox of N events to the subscribers.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager, nullcontext
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import uvloop

from bench.ami_events import BenchAsterisk, serve_env, stream, throughput_round
from bench.common import free_port, kolejka_serve
from kolejka.bootstrap import Components, build
from kolejka.domain.queues import Queue, WaitingCaller
from kolejka.domain.webhooks import caller_joined
from kolejka.settings import Settings

KEY = "bench-webhook-key-0123456789abcdef"
# What runs the receivers and the delivery processes: with --pin, on core 1 (this process on 0).
HELPERS_ON: list[str] = []
WEBHOOK_ENV = {
    "KOLEJKA_WEBHOOK_KEY": KEY,
    "KOLEJKA_WEBHOOK_ALLOW_HTTP": "1",
    "KOLEJKA_WEBHOOK_ALLOW_PRIVATE": "1",
}
WEBHOOK_SETTINGS: dict[str, Any] = {
    "webhook_key": KEY,
    "webhook_allow_http": 1,
    "webhook_allow_private": 1,
}
ACTIONS = ["CALLER_JOINED", "CALLER_LEFT"]


# The receivers: a process of their own ------------------------------------------------------


OK = b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"


class Receiving(asyncio.Protocol):
    """A stand-in for a remote subscriber costing as little CPU as it can, so the bench measures
    kolejka's delivery and not the receivers: it splits requests on their Content-Length, keeps
    each body with its arrival time (read only at the end) and answers a fixed 200."""

    def __init__(self, port: int, arrived: list[tuple[int, bytes, float]]) -> None:
        self.port = port
        self.arrived = arrived
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport's subclasses, only alike.
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer + data if self.buffer else data
        now = time.time()
        answers = 0
        while True:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                break
            at = buffer.find(b"Content-Length:", 0, end)  # as aiohttp spells it
            if at < 0:
                head = buffer[:end].lower()
                at = head.find(b"content-length:")
            stop = buffer.find(b"\r\n", at)
            length = int(buffer[at + 15 : stop]) if at >= 0 else 0
            if len(buffer) < end + 4 + length:
                break
            self.arrived.append((self.port, buffer[end + 4 : end + 4 + length], now))
            buffer = buffer[end + 4 + length :]
            answers += 1
        self.buffer = buffer
        if answers and self.transport is not None:
            self.transport.write(OK * answers)


async def receive(ports: list[int], out: Path) -> None:
    """Answers 200 to every POST on each port; on SIGTERM writes what arrived, when."""
    arrived: list[tuple[int, bytes, float]] = []
    loop = asyncio.get_running_loop()
    servers = [
        await loop.create_server(lambda p=p: Receiving(p, arrived), "127.0.0.1", p)  # type: ignore[misc]
        for p in ports
    ]
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    out.with_suffix(".ready").write_text("ready")
    await stop.wait()
    for server in servers:
        server.close()
    noted = []
    for port, body, at in arrived:
        event = json.loads(body)
        noted.append((port, event["action"], event["call_id"], at))
    out.write_text(json.dumps(noted))


class Receivers:
    def __init__(self, count: int, folder: Path) -> None:
        self.ports = [free_port() for _ in range(count)]
        self.out = folder / "arrived.json"
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Receivers:
        self.process = subprocess.Popen(
            [*HELPERS_ON, sys.executable, "-m", "bench.webhooks", "--receive", str(self.out)]
            + [str(p) for p in self.ports]
        )
        while not self.out.with_suffix(".ready").exists():
            if self.process.poll() is not None:  # a port taken meanwhile, say: not forever
                raise RuntimeError(f"the receivers exited ({self.process.returncode})")
            time.sleep(0.05)
        return self

    def arrived(self) -> list[tuple[int, str, str, float]]:
        """Stops the receivers; what arrived."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(30)
        found: list[tuple[int, str, str, float]] = json.loads(self.out.read_text())
        return found

    def __exit__(self, *exc: object) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()

    def urls(self) -> list[str]:
        return [f"http://127.0.0.1:{port}/hook" for port in self.ports]


async def subscribe(components: Components, urls: list[str]) -> None:
    assert components.webhooks is not None
    for url in urls:
        await components.webhooks.register({"actions": ACTIONS, "subscription_url": url})


# Where the CPU goes ---------------------------------------------------------------------------

TICKS = os.sysconf("SC_CLK_TCK")


def _descendants() -> dict[int, tuple[str, float]]:
    """This process's descendants: pid -> (what it is, CPU seconds used so far)."""
    found: dict[int, tuple[int, str, float]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        cpu = (int(fields[11]) + int(fields[12])) / TICKS
        # By the command's words, not its text: a checkout's path may hold "deliver" too.
        words = command.split()
        kind = (
            "receivers"
            if "--receive" in words
            else "delivery"
            if "deliver" in words
            else "serve"
            if "serve" in words
            else "other"
        )
        found[int(entry.name)] = (int(fields[1]), kind, cpu)
    mine: dict[int, tuple[str, float]] = {}
    parents = {os.getpid()}
    for _ in range(4):
        for pid, (parent, kind, cpu) in found.items():
            if parent in parents and pid not in mine:
                mine[pid] = (kind, cpu)
        parents = {os.getpid(), *mine}
    return mine


def _machine_busy() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine so far."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    idle = values[3] + values[4]
    return (sum(values) - idle) / TICKS, sum(values) / TICKS


class CpuShare:
    """CPU used by each part between `start` and `stop`, in cores (CPU seconds / wall seconds)."""

    def start(self) -> None:
        self.began = time.monotonic()
        self.before = _descendants()
        self.own = time.process_time()
        self.machine = _machine_busy()

    def stop(self) -> str:
        wall = time.monotonic() - self.began
        used: dict[str, float] = {"AMI player (bench)": time.process_time() - self.own}
        for pid, (kind, cpu) in _descendants().items():
            used[kind] = used.get(kind, 0.0) + cpu - self.before.get(pid, (kind, 0.0))[1]
        self.used = used
        busy, total = _machine_busy()
        ours = sum(used.values())
        all_busy = busy - self.machine[0]
        cores = (total - self.machine[1]) / wall
        parts = ", ".join(f"{kind} {cpu / wall:.2f}" for kind, cpu in used.items())
        return (
            f"CPU in cores over {wall:.0f} s: {parts}; everything else on the machine "
            f"{max(all_busy - ours, 0) / wall:.2f} (of {cores:.0f} cores)"
        )


# 1. Delivery latency --------------------------------------------------------------------------


@contextmanager
def delivery_process(database: str, workers: int, subscribers: int) -> Iterator[None]:
    """`kolejka webhooks deliver --workers N` on `database` (a sqlite:/// URL), until every
    subscription is claimed; stopped on the way out."""
    env = {
        **os.environ,
        **WEBHOOK_ENV,
        "KOLEJKA_DATABASE_URL": database,
        "KOLEJKA_LOG_LEVEL": "WARNING",
    }
    command = [sys.executable, "-m", "kolejka", "webhooks", "deliver", "--workers", str(workers)]
    process = subprocess.Popen(
        [*HELPERS_ON, *command],
        env=env,
        stdout=subprocess.DEVNULL,
    )
    try:
        path = database.removeprefix("sqlite:///")
        deadline = time.monotonic() + 30
        while _claimed(path) < subscribers:
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError("the delivery process claimed no subscriptions")
            time.sleep(0.1)
        yield
    finally:
        process.terminate()
        process.wait(30)


def _claimed(database: str) -> int:
    import sqlite3

    with sqlite3.connect(database) as sql:
        found = sql.execute("SELECT COUNT(*) FROM webhooks WHERE holder != ''").fetchone()[0]
    return int(found)


async def delivery_latency(
    seconds: float, rate: float, subscribers: int, workers: int, inline: bool
) -> dict[str, float]:
    count = int(seconds * rate)
    events = stream(count, "2")
    with tempfile.TemporaryDirectory() as name, Receivers(subscribers, Path(name)) as receivers:
        database = Path(name) / "kolejka.db"
        components = build(Settings(database_url=f"sqlite:///{database}", **WEBHOOK_SETTINGS))
        await components.queues.put(Queue(2, "Obsługa klienta"))
        await subscribe(components, receivers.urls())
        components.close()
        asterisk = BenchAsterisk()
        server = await asterisk.start()
        env = {
            **serve_env(database, asterisk),
            **WEBHOOK_ENV,
            "KOLEJKA_WEBHOOK_DELIVER": "1" if inline else "0",
        }
        sent: dict[tuple[str, str], float] = {}
        delivering = (
            nullcontext()
            if inline
            else delivery_process(f"sqlite:///{database}", workers, subscribers)
        )
        with kolejka_serve(env), delivering:
            await asyncio.wait_for(asterisk.ready.wait(), 30)
            await asyncio.sleep(1.5)  # the listener reconciles; the deliveries claim their leases
            assert asterisk.writer is not None
            share = CpuShare()
            share.start()
            started = time.perf_counter()
            for index, (kind, caller, packet) in enumerate(events):
                delay = started + index / rate - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                asterisk.writer.write(packet)
                if kind:
                    action = "CALLER_JOINED" if kind == "join" else "CALLER_LEFT"
                    sent[(action, f"1795800000.{caller}")] = time.time()
            achieved = count / (time.perf_counter() - started)
            expected = len(sent) * subscribers
            deadline = time.monotonic() + 60
            await asyncio.sleep(2.0)
            while time.monotonic() < deadline and not _drained(database, subscribers):
                await asyncio.sleep(0.5)
            cpu = share.stop()
        server.close()
        arrived = receivers.arrived()
    delays = sorted(
        (at - sent[(action, call_id)]) * 1000
        for _, action, call_id, at in arrived
        if (action, call_id) in sent
    )
    first = min(at for *_, at in arrived)
    last = max(at for *_, at in arrived)
    print(cpu)
    return {
        "rate": achieved,
        "events": len(sent),
        "expected": expected,
        "delivered": len(arrived),
        "per_second": len(arrived) / max(last - first, 1e-9),
        "p50": statistics.median(delays),
        "p99": delays[int(len(delays) * 0.99)],
        "max": delays[-1],
    }


def _drained(database: Path, subscribers: int) -> bool:
    """Every subscription's cursor has reached the newest event."""
    import sqlite3

    with sqlite3.connect(database) as sql:
        newest = sql.execute("SELECT MAX(event_id) FROM webhook_events").fetchone()[0] or 0
        done = sql.execute(
            "SELECT COUNT(*) FROM webhooks WHERE delivered_through >= ?", (newest,)
        ).fetchone()[0]
    return bool(done == subscribers)


# 1b. Delivery alone: draining a full outbox ------------------------------------------------


async def drain(events: int, subscribers: int, workers: int) -> dict[str, float]:
    """`events` CALLER_JOINED events written to the outbox first, then the delivery process
    started: deliveries a second from the first arrival to the last, with nothing else running
    (no AMI listener, no `kolejka serve`). Delivery's own throughput, the ceiling under the
    latency bench."""
    with tempfile.TemporaryDirectory() as name, Receivers(subscribers, Path(name)) as receivers:
        database = Path(name) / "kolejka.db"
        components = build(Settings(database_url=f"sqlite:///{database}", **WEBHOOK_SETTINGS))
        await subscribe(components, receivers.urls())
        assert components.webhooks is not None
        started = datetime.now(UTC)
        for first in range(0, events, 1000):
            await components.webhooks.emit(
                [
                    caller_joined(
                        WaitingCaller(f"1795800000.{i}", 2, f"61345{i % 10000:04d}", "", started)
                    )
                    for i in range(first, min(first + 1000, events))
                ]
            )
        components.close()
        share = CpuShare()
        share.start()
        with delivery_process(f"sqlite:///{database}", workers, subscribers):
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline and not _drained(database, subscribers):
                await asyncio.sleep(0.2)
            cpu = share.stop()  # while the delivery process is still there to be counted
        arrived = receivers.arrived()
    print(cpu)
    times = [at for *_, at in arrived]
    return {
        "delivered": len(arrived),
        "expected": events * subscribers,
        "per_second": len(arrived) / max(max(times) - min(times), 1e-9),
        # Includes the process's start and its claims: a few hundred ms of CPU in all.
        "cpu_us": share.used.get("delivery", 0.0) / max(len(arrived), 1) * 1e6,
    }


# 2. The listener's throughput, with and without webhooks --------------------------------------


async def throughput_with_webhooks(
    count: int, subscribers: int, delivered: bool, workers: int, inline: bool
) -> float:
    """The listener's round with `subscribers` subscriptions; `delivered`: with their events
    being delivered meanwhile (by a delivery process, or `inline` on the listener's loop)."""
    with tempfile.TemporaryDirectory() as name, Receivers(subscribers, Path(name)) as receivers:

        async def prepare(components: Components) -> Callable[[], Awaitable[None]]:
            await subscribe(components, receivers.urls())
            if not delivered:

                async def nothing() -> None:
                    return None

                return nothing
            if inline:
                assert components.delivery is not None
                task = asyncio.create_task(components.delivery.run())
                await asyncio.sleep(0.5)  # the tasks claim their subscriptions

                async def finish() -> None:
                    task.cancel()
                    await asyncio.gather(task, return_exceptions=True)

                return finish
            process = delivery_process(components.settings.database_url, workers, subscribers)
            process.__enter__()

            async def stop() -> None:
                process.__exit__(None, None, None)

            return stop

        rate = await throughput_round(count, True, WEBHOOK_SETTINGS, prepare)
        receivers.arrived()
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rate", type=float, default=1000.0)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--subscribers", type=int, default=10)
    parser.add_argument("--events", type=int, default=60_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=1, help="delivery processes")
    parser.add_argument(
        "--inline", action="store_true", help="deliver on kolejka serve's event loop instead"
    )
    parser.add_argument(
        "--drain",
        type=int,
        metavar="EVENTS",
        help="only time delivery draining an outbox of EVENTS events (no listener, no serve)",
    )
    parser.add_argument("--no-latency", action="store_true")
    parser.add_argument("--no-throughput", action="store_true")
    parser.add_argument(
        "--outbox-only",
        action="store_true",
        help="throughput rounds without webhooks and with the outbox only (no delivery)",
    )
    parser.add_argument(
        "--pin",
        action="store_true",
        help="the listener on core 0, the receivers and delivery processes on core 1",
    )
    parser.add_argument("--receive", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.pin:
        os.sched_setaffinity(0, {0})
        HELPERS_ON[:] = ["taskset", "-c", "1"]
    if args.receive:
        out, *ports = args.receive
        # On uvloop, as kolejka's side runs: the receivers stand in for subscribers on other
        # machines, and their turn is in every round trip the bench times.
        uvloop.run(receive([int(p) for p in ports], Path(out)))
        return
    if args.drain:
        drained = asyncio.run(drain(args.drain, args.subscribers, args.workers))
        print(
            f"Drain ({args.workers} delivery process(es)), {args.drain:,} events x "
            f"{args.subscribers} subscribers: {drained['delivered']:,.0f}/"
            f"{drained['expected']:,.0f} delivered, {drained['per_second']:,.0f} deliveries/s, "
            f"{drained['cpu_us']:.0f} µs of the delivery process's CPU a delivery"
        )
        return
    if not args.no_latency:
        found = asyncio.run(
            delivery_latency(args.seconds, args.rate, args.subscribers, args.workers, args.inline)
        )
        how = "inline" if args.inline else f"{args.workers} delivery process(es)"
        print(
            f"AMI event -> webhook delivered ({how}), {found['rate']:,.0f} AMI events/s, "
            f"{found['events']:,.0f} webhook events x {args.subscribers} subscribers: "
            f"{found['delivered']:,.0f}/{found['expected']:,.0f} delivered "
            f"({found['per_second']:,.0f}/s); p50 {found['p50']:.0f} ms, "
            f"p99 {found['p99']:.0f} ms, max {found['max']:.0f} ms"
        )
    if args.no_throughput:
        return
    without: list[float] = []
    outbox: list[float] = []
    with_: list[float] = []
    outbox_ratios: list[float] = []
    with_ratios: list[float] = []
    for round_number in range(args.rounds):
        # Each round a pair (or a triple), measured in turns: the first of a round runs first in
        # one round and last in the next, so the host speeding up or slowing down over a round
        # favours neither, and each round's ratio compares runs seconds apart.
        arms: list[str] = ["without", "outbox"] + ([] if args.outbox_only else ["delivered"])
        if round_number % 2:
            arms.reverse()
        rates: dict[str, float] = {}
        for arm in arms:
            if arm == "without":
                rates[arm] = asyncio.run(throughput_round(args.events, True))
            else:
                rates[arm] = asyncio.run(
                    throughput_with_webhooks(
                        args.events,
                        args.subscribers,
                        arm == "delivered",
                        args.workers,
                        args.inline,
                    )
                )
        without.append(rates["without"])
        outbox.append(rates["outbox"])
        outbox_ratios.append(rates["outbox"] / rates["without"])
        if "delivered" in rates:
            with_.append(rates["delivered"])
            with_ratios.append(rates["delivered"] / rates["without"])
    a = statistics.median(without)

    def series(rates: list[float], ratios: list[float]) -> str:
        listed = ", ".join(f"{r:,.0f}" for r in rates)
        paired = statistics.median(ratios)
        return (
            f"{listed} (median {statistics.median(rates):,.0f}); with / without, per round:"
            f" {', '.join(f'{r:.3f}' for r in ratios)}; median {paired:.3f}"
            f" ({100 * (paired - 1):+.1f}%; bar >= 0.90)"
        )

    how = "inline" if args.inline else f"{args.workers} delivery process(es)"
    if args.pin:
        how += "; listener on core 0, receivers and delivery on core 1"
    print(
        "AMI listener, socket -> SQLite, events/s: without webhooks "
        f"{', '.join(f'{r:,.0f}' for r in without)} (median {a:,.0f}); "
        f"{args.subscribers} subscriptions, nothing delivering {series(outbox, outbox_ratios)}"
        + (f"; delivered ({how}) {series(with_, with_ratios)}" if with_ else "")
    )


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()
