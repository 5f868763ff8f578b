"""Benchmark: the AMI listener, from bytes on a socket to callers in the SQLite waiting lists.

1. Throughput: events parsed and applied per second. A minimal Asterisk in this process sends a
   stream of queue events (Asterisk 22's packets from ../shared/ami/transcripts, with fresh call
   ids) over a real TCP socket to the real listener (parser, event table, PbxSync, WaitingLists,
   SQLite file in WAL mode), as fast as the socket takes them. Timed from the first byte sent to
   the last event applied. Bar: >= 20,000 events/s.
2. Latency: time from an event reaching the socket to the change being visible in
   GET /api/queues/2/waiting_list. `kolejka serve` runs in its own process with the listener
   configured; this process plays Asterisk at a steady 1,000 events/s and polls the waiting list
   over HTTP keep-alive as fast as it answers. A join counts as visible at the first poll answer
   that lists its number, a departure at the first that no longer does (so the figure includes
   up to one poll round trip). Bar: p99 <= 10 ms.

    flock /tmp/kolejka-bench.lock .venv/bin/python -m bench.ami_events [--events 60000]
        [--rounds 3] [--rate 1000] [--seconds 30] [--no-batch] [--no-latency] [--no-history]
        [--compare-history] [--no-store-jobs] [--scattered-numbers]

`--no-history` records no call history: each departure is instead one row of a `departures`
table, in the burst's transaction, as the listener recorded it before the history existed (what
the wait estimate read then; migration 0014 dropped the table once the estimate read the history).
That is the "before" of what recording the history costs the listener, measured on the same code
otherwise (issue 14's bar: <= 10 %).
`--compare-history` measures both in turns (off, on, on, off, ...: `--rounds` pairs) and prints
each pair's ratio and their median, which a noisy machine moves less than two separate runs.
The stores' own jobs run beside the listener as `kolejka serve` runs them (the SQLite
checkpoints on a thread of their own, so no commit of the listener copies the write-ahead log);
`--no-store-jobs` leaves them out, and the listener's commits checkpoint as SQLite does alone.
`--scattered-numbers` gives the callers numbers scattered as real callers' are, instead of
numbers rising one by one (which the history's index by number takes at its end, page by page).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import re
import sqlite3
import statistics
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager, nullcontext
from pathlib import Path
from typing import Any

from bench.common import ROOT, free_port, kolejka_serve
from kolejka.adapters.ami.queue_names import QueueNames
from kolejka.adapters.sql.times import to_micros
from kolejka.adapters.sqlite.database import Database
from kolejka.bootstrap import Components, build
from kolejka.domain.phone import PhoneNumbers
from kolejka.domain.queues import Departure, Queue
from kolejka.settings import Settings

CAPTURE = ROOT.parent / "shared" / "ami" / "transcripts" / "queue_caller_events.txt"
USER, PASSWORD = "bench", "bench-password"
AMI_USER, AMI_SECRET = "kolejka", "bench-secret"
WAITING = 20  # callers waiting at any moment: each leaves once 20 more have joined


# The event stream ------------------------------------------------------------------------------


def templates() -> dict[str, str]:
    """The first captured packet of each queue event, with CRLF line ends."""
    found: dict[str, str] = {}
    for block in CAPTURE.read_text(encoding="utf-8").split("\n\n"):
        name = block.split("\n", 1)[0].removeprefix("Event: ")
        found.setdefault(name, block.strip("\n").replace("\n", "\r\n") + "\r\n\r\n")
    return found


def caller_packet(template: str, index: int, queue: str) -> bytes:
    text = re.sub(r"Uniqueid: \S+", f"Uniqueid: {call_id(index)}", template)
    text = re.sub(r"Linkedid: \S+", f"Linkedid: 1795800000.{index}", text)
    text = re.sub(r"Channel: \S+", f"Channel: PJSIP/trunk-{index:08x}", text)
    text = re.sub(r"CallerIDNum: \S+", f"CallerIDNum: {number(index)}", text)
    text = re.sub(r"CallerIDName: [^\r]+", f"CallerIDName: Caller {index}", text)
    return re.sub(r"Queue: \S+", f"Queue: {queue}", text).encode()


# Callers' numbers rise one by one unless `--scattered-numbers`: then each call's number is a
# fixed shuffle of its index over 400 million (a multiplier coprime with the span), as real
# callers' numbers are scattered, and the history's index by number gets writes all over it.
SCATTERED = [False]
_SPAN = 400_000_000


def number(index: int) -> str:
    if SCATTERED[0]:
        return f"48{500_000_000 + index * 2_654_435_761 % _SPAN}"
    return f"48{600000000 + index}"


def stream(count: int, queue: str) -> list[tuple[str, int, bytes]]:
    """`count` queue events: joins, and departures (every other one abandoned) of earlier joiners.

    Each item is (kind, caller index, packet); kind is "join", "leave" or "" (an abandon, whose
    departure its QueueCallerLeave completes).
    """
    packets = templates()
    events: list[tuple[str, int, bytes]] = []
    joined = left = 0
    while len(events) < count:
        events.append(("join", joined, caller_packet(packets["QueueCallerJoin"], joined, queue)))
        joined += 1
        if joined - left > WAITING:
            if left % 2:
                events.append(("", left, caller_packet(packets["QueueCallerAbandon"], left, queue)))
            events.append(("leave", left, caller_packet(packets["QueueCallerLeave"], left, queue)))
            left += 1
    return events[:count]


# A minimal Asterisk ----------------------------------------------------------------------------


class BenchAsterisk:
    """Banner, Login, Ping and an empty QueueStatus; then whatever the benchmark sends."""

    def __init__(self) -> None:
        self.writer: asyncio.StreamWriter | None = None
        self.ready = asyncio.Event()
        self.port = free_port()

    async def start(self) -> asyncio.Server:
        return await asyncio.start_server(self.serve, "127.0.0.1", self.port)

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"Asterisk Call Manager/11.0.0\r\n")
        try:
            while True:
                raw = await reader.readuntil(b"\r\n\r\n")
                fields = dict(
                    line.split(": ", 1) for line in raw.decode().split("\r\n") if ": " in line
                )
                action, action_id = fields.get("Action", ""), fields.get("ActionID", "")
                head = f"Response: Success\r\nActionID: {action_id}\r\n"
                if action == "Login":
                    writer.write(f"{head}Message: Authentication accepted\r\n\r\n".encode())
                    writer.write(b"Event: FullyBooted\r\nStatus: Fully Booted\r\n\r\n")
                elif action == "QueueStatus":
                    writer.write(f"{head}EventList: start\r\n\r\n".encode())
                    writer.write(
                        f"Event: QueueStatusComplete\r\nActionID: {action_id}\r\n"
                        "EventList: Complete\r\nListItems: 0\r\n\r\n".encode()
                    )
                    self.writer = writer
                    self.ready.set()
                else:
                    self.answer(action, fields, writer)
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    def answer(self, action: str, fields: dict[str, str], writer: asyncio.StreamWriter) -> None:
        """Any other action: a Ping's answer (bench/callbacks.py answers Originate too)."""
        head = f"Response: Success\r\nActionID: {fields.get('ActionID', '')}\r\n"
        writer.write(f"{head}Ping: Pong\r\n\r\n".encode())


def serve_env(database: Path, asterisk: BenchAsterisk) -> dict[str, str]:
    """`kolejka serve`'s settings: the SQLite file, and the listener following `asterisk`."""
    return {
        "KOLEJKA_DATABASE_URL": f"sqlite:///{database}",
        "KOLEJKA_AMI_HOST": "127.0.0.1",
        "KOLEJKA_AMI_PORT": str(asterisk.port),
        "KOLEJKA_AMI_USERNAME": AMI_USER,
        "KOLEJKA_AMI_SECRET": AMI_SECRET,
        "KOLEJKA_AMI_AUTH": "plain",
    }


# 1. Throughput -------------------------------------------------------------------------------


@asynccontextmanager
async def following(
    asterisk: BenchAsterisk,
    batch: bool = True,
    extra: Mapping[str, Any] | None = None,
    history: bool = True,
    store_jobs: bool = True,
) -> AsyncIterator[Components]:
    """The listener exactly as bootstrap wires it (metrics included), on a new SQLite file,
    logged in to `asterisk` and reconciled with it; stopped on the way out. `extra`: more
    settings (bench.webhooks turns webhooks on); `history` False: no call is recorded;
    `store_jobs`: the stores' jobs (the SQLite checkpoints) run beside it, as in the service."""
    with tempfile.TemporaryDirectory() as folder:
        settings = Settings(
            database_url=f"sqlite:///{folder}/kolejka.db",
            ami_host="127.0.0.1",
            ami_port=asterisk.port,
            ami_username=AMI_USER,
            ami_secret=AMI_SECRET,
            ami_auth="plain",
            ami_queues="support=7",
            **(extra or {}),
        )
        components = build(settings)
        listener = components.ami
        assert listener is not None
        if not batch:
            listener.sync.transaction = nullcontext
        if not history:
            as_before_the_history(components)
        jobs = [asyncio.ensure_future(job()) for job in components.store_jobs if store_jobs]
        task = asyncio.create_task(listener.run())
        await asterisk.ready.wait()
        while not listener.link.up:
            await asyncio.sleep(0.001)
        try:
            yield components
        finally:
            for running in (task, *jobs):
                running.cancel()
            await asyncio.gather(task, *jobs, return_exceptions=True)
            await asyncio.sleep(0.1)  # the fake Asterisk sees the hang-up and ends its session
            components.close()


# The departures table as migration 0001 made it, and the row the listener wrote into it for each
# departure (SqliteWaitingCallers.leave, before migration 0014).
_DEPARTURES = """
CREATE TABLE departures (
    call_id TEXT NOT NULL,
    queue_id INTEGER NOT NULL,
    outcome TEXT NOT NULL CHECK (outcome IN ('answered', 'abandoned')),
    hold_seconds DOUBLE PRECISION NOT NULL,
    started_at BIGINT NOT NULL,
    left_at BIGINT NOT NULL
);
CREATE INDEX departures_by_queue ON departures (queue_id, outcome, left_at);
"""
_DEPARTURE_ROW = (
    "INSERT INTO departures (call_id, queue_id, outcome, hold_seconds, started_at, left_at)"
    " VALUES (?, ?, ?, ?, ?, ?)"
)


def as_before_the_history(components: Components) -> None:
    """`--no-history`: no call is recorded; each departure is a row of `departures` instead, in
    the transaction of the burst that applied it, as before the call history existed."""
    assert isinstance(components.database, Database)
    sql = components.database.connection
    sql.executescript(_DEPARTURES)

    def departed(caller: object, gone: Departure, **_: object) -> None:
        sql.execute(
            _DEPARTURE_ROW,
            (
                gone.call_id,
                gone.queue_id,
                gone.outcome.value,
                gone.hold_time.total_seconds(),
                to_micros(gone.started_at),
                to_micros(gone.left_at),
            ),
        )

    components.history.departed = departed  # type: ignore[method-assign]


def call_id(index: int) -> str:
    """The Uniqueid of the stream's `index`th caller (`caller_packet`)."""
    return f"1795800000.{index}"


async def until_applied(sql: sqlite3.Connection, events: list[tuple[str, int, bytes]]) -> None:
    """Returns once the listener has applied `events`: its last departure is gone from the
    waiting list and its last joiner is on it (events are applied in order)."""
    last_leaver = next(caller for kind, caller, _ in reversed(events) if kind == "leave")
    last_joiner = next(caller for kind, caller, _ in reversed(events) if kind == "join")
    check = "SELECT call_id FROM waiting_callers WHERE call_id IN (?, ?)"
    wanted = [(call_id(last_joiner),)]
    while sql.execute(check, (call_id(last_leaver), call_id(last_joiner))).fetchall() != wanted:
        await asyncio.sleep(0.002)


async def throughput_round(
    count: int,
    batch: bool,
    extra: Mapping[str, Any] | None = None,
    prepare: Callable[[Components], Awaitable[Callable[[], Awaitable[None]]]] | None = None,
    history: bool = True,
    store_jobs: bool = True,
    per_cpu: list[float] | None = None,
) -> float:
    """The listener fed `count` events as fast as the socket takes them.

    `extra` settings and `prepare` (run before the first byte; what it returns is awaited at the
    end) let bench.webhooks measure the listener with webhooks to deliver beside it. `per_cpu`
    gets the events per second of this process's CPU time (every thread's), which other jobs
    on the machine move less than the events per second of the clock.
    """
    events = stream(count, "support")
    data = b"".join(packet for _, _, packet in events)
    departures = sum(1 for kind, _, _ in events if kind == "leave")
    asterisk = BenchAsterisk()
    server = await asterisk.start()
    async with following(asterisk, batch, extra, history, store_jobs) as components:
        finish = await prepare(components) if prepare is not None else None
        assert isinstance(components.database, Database)
        sql = components.database.connection
        assert asterisk.writer is not None
        started, cpu_started = time.perf_counter(), time.process_time()
        asterisk.writer.write(data)
        # Done when every event is applied, and (unless --no-history) every call written to
        # the history: what the journal holds at the end is written now, as a read of the
        # history would, not after the half second the journal otherwise waits for more.
        await until_applied(sql, events)
        if history:
            await components.history.flush()
        elapsed = time.perf_counter() - started
        cpu = time.process_time() - cpu_started
        waiting = len(await components.callers.waiting(7))
        if finish is not None:
            await finish()
    server.close()
    joins = sum(1 for kind, _, _ in events if kind == "join")
    assert waiting + departures == joins, (waiting, departures, joins)
    if per_cpu is not None:
        per_cpu.append(count / cpu)
    return count / elapsed


def parse_only(count: int) -> float:
    from kolejka.adapters.ami.events import translate
    from kolejka.adapters.ami.protocol import PacketParser

    data = b"Asterisk Call Manager/11.0.0\r\n" + b"".join(p for _, _, p in stream(count, "2"))
    names = QueueNames()
    parser = PacketParser()
    started = time.perf_counter()
    for offset in range(0, len(data), 65536):
        for packet in parser.feed(data[offset : offset + 65536]):
            translate(packet, names)
    return count / (time.perf_counter() - started)


# 2. Latency ----------------------------------------------------------------------------------


class Poller:
    """GET waiting_list over one keep-alive connection, again and again; notes what it sees."""

    def __init__(self, port: int, path: str) -> None:
        self.port = port
        auth = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
        self.request = (
            f"GET {path} HTTP/1.1\r\nHost: bench\r\nAuthorization: Basic {auth}\r\n\r\n"
        ).encode()
        self.seen: dict[str, float] = {}  # number -> first instant listed
        self.gone: dict[str, float] = {}  # number -> first instant no longer listed
        self.polls = 0

    async def run(self) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        present: set[str] = set()
        while True:
            writer.write(self.request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(re.search(rb"content-length: (\d+)", head.lower()).group(1))  # type: ignore[union-attr]
            body = await reader.readexactly(length)
            now = time.perf_counter()
            self.polls += 1
            listed = {entry["phone_number"] for entry in json.loads(body)}
            for phone in listed - present:
                self.seen.setdefault(phone, now)
            for phone in present - listed:
                self.gone.setdefault(phone, now)
            present = listed


async def latency(seconds: float, rate: float) -> dict[str, object]:
    count = int(seconds * rate)
    events = stream(count, "2")
    phones = PhoneNumbers("PL")
    with tempfile.TemporaryDirectory() as folder:
        database = Path(folder) / "kolejka.db"
        components = build(Settings(database_url=f"sqlite:///{database}"))
        await components.queues.put(Queue(2, "Obsługa klienta"))
        await components.api_users.add(USER, PASSWORD, ["*"])
        components.close()
        asterisk = BenchAsterisk()
        server = await asterisk.start()
        with kolejka_serve(serve_env(database, asterisk)) as url:
            await asyncio.wait_for(asterisk.ready.wait(), 30)
            await asyncio.sleep(0.5)  # the listener reconciles with the empty QueueStatus
            poller = Poller(int(url.rsplit(":", 1)[1]), "/api/queues/2/waiting_list")
            polling = asyncio.create_task(poller.run())
            await asyncio.sleep(0.5)
            assert asterisk.writer is not None
            sent: list[tuple[str, str, float]] = []
            started = time.perf_counter()
            for index, (kind, caller, packet) in enumerate(events):
                due = started + index / rate
                delay = due - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                asterisk.writer.write(packet)  # the kernel has the bytes when write returns
                if kind:
                    sent.append((kind, phones.display(number(caller)), time.perf_counter()))
            achieved = count / (time.perf_counter() - started)
            await asyncio.sleep(1.0)
            polling.cancel()
            await asyncio.gather(polling, return_exceptions=True)
        await asyncio.sleep(0.1)  # the fake Asterisk sees kolejka go and ends its session
        server.close()
    delays, missed = [], 0
    for kind, phone, at in sent:
        observed = (poller.seen if kind == "join" else poller.gone).get(phone)
        if observed is None:
            missed += 1
        else:
            delays.append((observed - at) * 1000)
    delays.sort()
    return {
        "events": count,
        "rate": achieved,
        "measured": len(delays),
        "missed": missed,
        "polls": poller.polls,
        "p50": statistics.median(delays),
        "p90": delays[int(len(delays) * 0.90)],
        "p99": delays[int(len(delays) * 0.99)],
        "max": delays[-1],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=60_000, help="events per throughput round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--rate", type=float, default=1000.0, help="events/s for the latency run")
    parser.add_argument("--seconds", type=float, default=30.0, help="length of the latency run")
    parser.add_argument("--no-batch", action="store_true", help="one transaction per event")
    parser.add_argument("--no-latency", action="store_true", help="measure throughput only")
    parser.add_argument(
        "--no-history", action="store_true", help="record no call history (the 'before')"
    )
    parser.add_argument(
        "--compare-history",
        action="store_true",
        help="rounds without and with the history in turns; print the ratio (implies --no-latency)",
    )
    parser.add_argument(
        "--no-store-jobs", action="store_true", help="no SQLite checkpoints beside the listener"
    )
    parser.add_argument(
        "--scattered-numbers",
        action="store_true",
        help="callers' numbers scattered as real ones are, not rising one by one",
    )
    args = parser.parse_args()
    SCATTERED[0] = args.scattered_numbers

    print(f"parse + translate only: {parse_only(args.events):,.0f} events/s")

    def round_(history: bool, per_cpu: list[float] | None = None) -> float:
        return asyncio.run(
            throughput_round(
                args.events,
                batch=not args.no_batch,
                history=history,
                store_jobs=not args.no_store_jobs,
                per_cpu=per_cpu,
            )
        )

    if args.compare_history:
        compare_history(args.rounds, round_)
        return
    rates = [round_(not args.no_history) for _ in range(args.rounds)]
    shown = ", ".join(f"{r:,.0f}" for r in rates)
    median = statistics.median(rates)
    print(f"parsed and applied (socket -> SQLite): {shown} events/s; median {median:,.0f}")
    if args.no_latency:
        return
    result = asyncio.run(latency(args.seconds, args.rate))
    print(
        f"event on the socket -> visible in waiting_list at {result['rate']:,.0f} events/s: "
        f"p50 {result['p50']:.2f} ms, p90 {result['p90']:.2f} ms, p99 {result['p99']:.2f} ms, "
        f"max {result['max']:.2f} ms ({result['measured']} changes measured, "
        f"{result['missed']} missed, {result['polls']} polls)"
    )


def compare_history(pairs: int, round_: Callable[[bool, list[float]], float]) -> None:
    """`pairs` rounds without the history and as many with it, in turns (off-on, on-off, ...:
    neither side always runs first), and what recording costs: 1 - on / off. Also the same
    ratio of events per CPU second (the process's, every thread's), steadier when other jobs
    load the machine."""
    ratios, cpu_ratios, offs, ons = [], [], [], []
    for pair in range(pairs):
        order = (False, True) if pair % 2 == 0 else (True, False)
        per_cpu: dict[bool, list[float]] = {False: [], True: []}
        rates = {history: round_(history, per_cpu[history]) for history in order}
        offs.append(rates[False])
        ons.append(rates[True])
        ratios.append(rates[True] / rates[False])
        cpu_ratios.append(per_cpu[True][0] / per_cpu[False][0])
        print(
            f"pair {pair + 1}: off {rates[False]:,.0f}, on {rates[True]:,.0f} events/s:"
            f" on/off {ratios[-1]:.3f} (per CPU second {cpu_ratios[-1]:.3f})",
            flush=True,
        )
    ratio = statistics.median(ratios)
    print(
        f"history off median {statistics.median(offs):,.0f}, on {statistics.median(ons):,.0f}"
        f" events/s; on/off median {ratio:.3f}: recording costs {1 - ratio:.1%} (bar <= 10%);"
        f" per CPU second, median {statistics.median(cpu_ratios):.3f}"
    )


if __name__ == "__main__":
    main()
