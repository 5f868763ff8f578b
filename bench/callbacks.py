"""Benchmark: callbacks dialled through Asterisk, and what the dialler costs the waiting list.

1. Throughput: 10,000 callbacks due in the same minute, all at its first second (the burst: the
   hardest case; `--spread` spreads them over the minute instead) in an SQLite file; the real
   AMI listener and dialler (`build`, as `kolejka serve` wires them, default settings) send
   each `Originate` to a minimal Asterisk in this process that answers at once
   (`Originate successfully queued`, then `OriginateResponse` `Reason: 4`). Reported: when the
   last one was originated (bar: within the minute), how late each was after its `call_at`
   (p50, p99, max), and how many were originated twice (bar: none).
2. Cost: GET /api/queues/2/waiting_list under wrk against `kolejka serve`, which follows that
   Asterisk over AMI, in turns: with callbacks off (no KOLEJKA_CALLBACK_CHANNEL) and with the
   dialler working through callbacks due all along the run (`--rate`, 10,000 a minute unless
   told; 0 runs the scheduler with nothing due). Bar: the dialler costs <= 5% of the
   requests/s. Also the requests answered per second of the server's CPU (from /proc), which
   other work on the machine moves far less than requests/s, and the share of a core the
   server got: the dialler's CPU is a fixed amount a second, so it is a larger part of a server
   that other work leaves only part of a core (2026-12-02: 0.3-0.6 of one, on a machine shared
   with two callgrind runs) than of one that has a whole core.
3. `--cpu`: what the dialler costs the server's CPU, per originate, without wrk: the server
   process's user + system time (from /proc) over `--seconds` with callbacks due (`--rate`)
   less the same without callbacks, divided by the originates sent meanwhile. CPU time
   holds still on a busy machine where requests/s do not, so this compares two builds' dialler
   well. It is the dialler's own cost with nothing else to do: under wrk the waiting list loses
   more than this share of a core (2026-12-02: about 3.4% of a core here, 10-20% fewer requests
   per CPU second there), so it is no stand-in for part 2.

Each round also swaps which runs first, with or without callbacks: give an even `--rounds`.
`--against PATH` runs the same servers from an older checkout (installed, with its .venv) in
turns with this one, and its own `bench.callbacks --no-cost` for the burst. `--pin` puts the
server on core 0 and wrk and the fake Asterisk on core 1. `--profile` prints where the burst's
time went (cProfile, this process: the dialler and the fake Asterisk both).

    flock /tmp/kolejka-bench.lock .venv/bin/python -m bench.callbacks [--callbacks 10000]
        [--seconds 10] [--rounds 3] [--rate 10000] [--no-cost] [--no-burst] [--cpu]
        [--against PATH] [--pin] [--profile]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import cProfile
import os
import pstats
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.ami_events import BenchAsterisk
from bench.common import free_port, wait_for_port, warm_up, wrk
from kolejka.adapters.sql.times import to_micros
from kolejka.adapters.sqlite.database import Database
from kolejka.bootstrap import build
from kolejka.domain.queues import Queue
from kolejka.settings import Settings

USER, PASSWORD = "api_user", "api_pass"
AUTHORIZATION = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
AMI_USER, AMI_SECRET = "kolejka", "bench-secret"
CHANNEL = "PJSIP/{number}@trunk"


class AnsweringAsterisk(BenchAsterisk):
    """bench.ami_events' Asterisk (Login, Ping, an empty QueueStatus), answering every
    Originate at once: `Originate successfully queued`, then `OriginateResponse` `Reason: 4`."""

    def __init__(self) -> None:
        super().__init__()
        self.originated: Counter[str] = Counter()
        self.first_at: dict[str, float] = {}  # Channel -> time.time() it was first sent

    def answer(self, action: str, fields: dict[str, str], writer: asyncio.StreamWriter) -> None:
        if action != "Originate":
            super().answer(action, fields, writer)
            return
        action_id, channel = fields.get("ActionID", ""), fields.get("Channel", "")
        self.first_at.setdefault(channel, time.time())
        self.originated[channel] += 1
        writer.write(
            f"Response: Success\r\nActionID: {action_id}\r\n"
            "Message: Originate successfully queued\r\n\r\n"
            f"Event: OriginateResponse\r\nPrivilege: call,all\r\nActionID: {action_id}\r\n"
            f"Response: Success\r\nChannel: {channel}\r\nContext: kolejka-callback\r\n"
            "Exten: 2\r\nReason: 4\r\nUniqueid: 1796075753.12\r\n\r\n".encode()
        )


def ami_env(asterisk: AnsweringAsterisk) -> dict[str, str]:
    return {
        "KOLEJKA_AMI_HOST": "127.0.0.1",
        "KOLEJKA_AMI_PORT": str(asterisk.port),
        "KOLEJKA_AMI_USERNAME": AMI_USER,
        "KOLEJKA_AMI_SECRET": AMI_SECRET,
        "KOLEJKA_AMI_AUTH": "plain",
    }


def number(index: int) -> str:
    return f"+48 5{index:08d}"


def seed(database: Path, count: int, first_due: datetime, spacing: timedelta) -> None:
    """`count` callbacks in queue 2, due one every `spacing` from `first_due`, and 20 callers."""
    components = build(Settings(database_url=f"sqlite:///{database}"))
    assert isinstance(components.database, Database)

    async def fill() -> None:
        await components.queues.put(Queue(2, "Obsługa klienta"))
        await components.api_users.add(USER, PASSWORD, ["*"])
        for index in range(20):
            await components.lists.join(2, f"call-{index}", f"61345{index:04d}")

    asyncio.run(fill())
    sql = components.database.connection
    created = to_micros(datetime.now(UTC))
    with sql:
        sql.execute("BEGIN")
        sql.executemany(
            "INSERT INTO callbacks (queue_id, phone_number, call_at, created_at)"
            " VALUES (2, ?, ?, ?)",
            (
                (
                    components.phones.normalise(number(i)),
                    to_micros(first_due + i * spacing),
                    created,
                )
                for i in range(count)
            ),
        )
    components.close()


# 1. Throughput -------------------------------------------------------------------------------


async def throughput(count: int, spread: bool) -> dict[str, float]:
    asterisk = AnsweringAsterisk()
    server = await asterisk.start()
    with tempfile.TemporaryDirectory() as folder:
        database = Path(folder) / "bench.db"
        first_due = datetime.now(UTC) + timedelta(seconds=3)
        spacing = timedelta(minutes=1) / count if spread else timedelta(0)
        await asyncio.to_thread(seed, database, count, first_due, spacing)
        settings = Settings.from_env(
            {
                "KOLEJKA_DATABASE_URL": f"sqlite:///{database}",
                "KOLEJKA_CALLBACK_CHANNEL": CHANNEL,
                **dict(ami_env(asterisk).items()),
            }
        )
        components = build(settings)
        assert components.ami is not None
        assert components.dialling is not None
        tasks = [
            asyncio.create_task(components.ami.run()),
            asyncio.create_task(components.dialling.run()),
        ]
        deadline = first_due + timedelta(minutes=2)
        while sum(asterisk.originated.values()) < count and datetime.now(UTC) < deadline:
            await asyncio.sleep(0.1)
        await asyncio.sleep(1.0)  # anything dialled twice would come now
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        states = Counter(
            c.state.value for c in await components.callbacks.store.in_queue(2, count + 1)
        )
        components.close()
    server.close()
    start = first_due.timestamp()
    late = []
    for channel, sent_at in asterisk.first_at.items():
        index = int(channel.removeprefix("PJSIP/5").removesuffix("@trunk"))
        late.append(sent_at - (start + index * spacing.total_seconds()))
    late.sort()
    times = sorted(asterisk.first_at.values())
    return {
        "originated": float(sum(asterisk.originated.values())),
        "twice": float(sum(1 for n in asterisk.originated.values() if n > 1)),
        "answered": float(states.get("answered", 0)),
        "last_after_first_due_s": times[-1] - start if times else float("nan"),
        "late_p50_ms": statistics.median(late) * 1000 if late else float("nan"),
        "late_p99_ms": late[int(len(late) * 0.99) - 1] * 1000 if late else float("nan"),
        "late_max_ms": late[-1] * 1000 if late else float("nan"),
    }


# 2. Cost to the waiting list -----------------------------------------------------------------


@contextlib.contextmanager
def asterisk_in_a_thread() -> Iterator[AnsweringAsterisk]:
    asterisk = AnsweringAsterisk()
    loop = asyncio.new_event_loop()
    started = threading.Event()

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(asterisk.start())
        started.set()
        loop.run_forever()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    started.wait(10)
    try:
        yield asterisk
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)


@contextlib.contextmanager
def serving(python: str, env: Mapping[str, str], pin: bool) -> Iterator[tuple[str, int]]:
    """`kolejka serve` of the checkout whose interpreter is `python`; yields (URL, pid)."""
    port = free_port()
    command = [python, "-m", "kolejka", "serve", "--port", str(port)]
    if pin:
        command = ["taskset", "-c", "0", *command]
    process = subprocess.Popen(
        command,
        env={**os.environ, "KOLEJKA_LOG_LEVEL": "WARNING", **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port, process)
        yield f"http://127.0.0.1:{port}", process.pid
    finally:
        process.terminate()
        process.wait(10)


_TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """The process's user + system CPU time so far (Linux: /proc/PID/stat, in clock ticks)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK


def seed_due_along(database: Path, seconds: int, rate: int) -> None:
    """`rate` callbacks a minute, due from 2 s from now to past the end of the run (none at 0:
    the dialler then polls with nothing due)."""
    per_second = rate / 60
    seed(
        database,
        int(per_second * (seconds + 10)),
        datetime.now(UTC) + timedelta(seconds=2),
        timedelta(seconds=1 / per_second) if rate else timedelta(0),
    )


def builds(against: str | None) -> list[tuple[str, str]]:
    """(label, interpreter) of this checkout, and of the one to compare with."""
    found = [("this", sys.executable)]
    if against:
        python = Path(against).resolve() / ".venv" / "bin" / "python"
        if not python.exists():
            raise SystemExit(f"--against: no {python} (run scripts/install there)")
        found.append(("against", str(python)))
    return found


def in_turns(items: list[tuple[str, str]], round_number: int) -> list[tuple[str, str]]:
    """Each round starts with the other build (or condition), so neither always runs first."""
    return items if round_number % 2 else items[::-1]


def cost(seconds: int, rounds: int, rate: int, against: str | None, pin: bool) -> None:
    """Requests/s under wrk with callbacks off and with the dialler working, in turns; and,
    steadier on a shared machine, the requests answered per second of the server's CPU."""
    path = "/api/queues/2/waiting_list"
    rows, dialled = [], []
    ratios: dict[str, list[float]] = {}
    cpu_ratios: dict[str, list[float]] = {}
    with asterisk_in_a_thread() as asterisk, tempfile.TemporaryDirectory() as folder:
        for round_number in range(1, rounds + 1):
            for build_label, python in in_turns(builds(against), round_number):
                results, per_cpu = {}, {}
                conditions = [("callbacks off", ""), ("dialler working", CHANNEL)]
                # Within a round too: with the server that ran second always the one dialling,
                # --rate 0 (nothing to dial) gave it 1.12-1.41 times the requests/s.
                for label, channel in in_turns(conditions, round_number):
                    database = Path(folder) / f"cost-{round_number}-{build_label}-{label}.db"
                    seed_due_along(database, seconds, rate)
                    env = {
                        "KOLEJKA_DATABASE_URL": f"sqlite:///{database}",
                        "KOLEJKA_CALLBACK_CHANNEL": channel,
                        **ami_env(asterisk),
                    }
                    before = sum(asterisk.originated.values())
                    with serving(python, env, pin) as (url, pid):
                        time.sleep(2)  # logged in to the AMI; callbacks start falling due
                        warm_up(url + path, AUTHORIZATION)  # the password check, not counted
                        used = cpu_seconds(pid)
                        results[label] = wrk(url + path, AUTHORIZATION, seconds)
                        used = cpu_seconds(pid) - used
                    per_cpu[label] = results[label].requests_per_second * seconds / used
                    if channel:
                        dialled.append(sum(asterisk.originated.values()) - before)
                    rows.append(
                        results[label].row(f"{build_label}, {label}, round {round_number}")
                        + f" {used:.2f} | {used / seconds:.2f} | {per_cpu[label]:,.0f} |"
                    )
                ratios.setdefault(build_label, []).append(
                    results["dialler working"].requests_per_second
                    / results["callbacks off"].requests_per_second
                )
                cpu_ratios.setdefault(build_label, []).append(
                    per_cpu["dialler working"] / per_cpu["callbacks off"]
                )
    print(f"Callbacks due: {rate:,} a minute")
    print(
        "| kolejka serve | requests/s | p50 ms | p99 ms | non-2xx | server CPU s"
        " | cores used | requests per CPU s |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    print("\n".join(rows))
    print(f"\nOriginates sent while measured, per run with the dialler: {dialled}")
    for build_label, found in ratios.items():
        print(
            f"{build_label}: ratio with dialler / without, per round:"
            f" {', '.join(f'{r:.3f}' for r in found)}; median {statistics.median(found):.3f}"
            " (bar >= 0.95)"
        )
    for build_label, found in cpu_ratios.items():
        print(
            f"{build_label}: requests per CPU second, ratio with dialler / without, per round:"
            f" {', '.join(f'{r:.3f}' for r in found)}; median {statistics.median(found):.3f}"
        )


def cpu(seconds: int, rounds: int, rate: int, against: str | None, pin: bool) -> None:
    """The server's CPU time per originate: with callbacks due less without, in turns."""
    per_originate: dict[str, list[float]] = {}
    rows = []
    with asterisk_in_a_thread() as asterisk, tempfile.TemporaryDirectory() as folder:
        for round_number in range(1, rounds + 1):
            for build_label, python in in_turns(builds(against), round_number):
                used, sent = {}, 0
                for _, channel in in_turns([("off", ""), ("dialling", CHANNEL)], round_number):
                    database = Path(folder) / f"cpu-{round_number}-{build_label}-{bool(channel)}.db"
                    seed_due_along(database, seconds, rate)
                    env = {
                        "KOLEJKA_DATABASE_URL": f"sqlite:///{database}",
                        "KOLEJKA_CALLBACK_CHANNEL": channel,
                        **ami_env(asterisk),
                    }
                    with serving(python, env, pin) as (_, pid):
                        time.sleep(2.5)  # logged in; the first callbacks are due
                        before, start = cpu_seconds(pid), sum(asterisk.originated.values())
                        time.sleep(seconds)
                        used[channel] = cpu_seconds(pid) - before
                        if channel:
                            sent = sum(asterisk.originated.values()) - start
                extra = (used[CHANNEL] - used[""]) / max(sent, 1)
                per_originate.setdefault(build_label, []).append(extra)
                rows.append(
                    f"| {build_label} | {round_number} | {used['']:.2f} | {used[CHANNEL]:.2f}"
                    f" | {sent:,} | {extra * 1e6:,.0f} |"
                )
    print("| build | round | CPU s, callbacks off | CPU s, dialler | originates | µs each |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    print("\n".join(rows))
    for build_label, found in per_originate.items():
        median = statistics.median(found)
        print(
            f"{build_label}: CPU per originate median {median * 1e6:,.0f} µs"
            f" ({', '.join(f'{x * 1e6:,.0f}' for x in found)}); at {rate:,} a minute that is"
            f" {median * rate / 60:.1%} of a core"
        )


def burst_against(against: str, count: int) -> None:
    """The older checkout's own burst (its `bench.callbacks --no-cost`)."""
    done = subprocess.run(
        [
            str(Path(against).resolve() / ".venv" / "bin" / "python"),
            "-m",
            "bench.callbacks",
            "--no-cost",
            "--callbacks",
            str(count),
        ],
        cwd=against,
        capture_output=True,
        text=True,
        check=True,
    )
    print(f"against ({against}): {done.stdout.strip()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--callbacks", type=int, default=10_000)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument(
        "--rate", type=int, default=10_000, help="callbacks due a minute in --cpu and the cost"
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-cost", action="store_true", help="no wrk rounds")
    parser.add_argument("--no-burst", action="store_true", help="skip the 10,000 burst")
    parser.add_argument("--spread", action="store_true")
    parser.add_argument("--cpu", action="store_true", help="the server's CPU per originate")
    parser.add_argument("--against", metavar="PATH", help="an older, installed checkout")
    parser.add_argument("--pin", action="store_true", help="server on core 0, the rest on 1")
    parser.add_argument("--profile", action="store_true", help="cProfile the burst")
    args = parser.parse_args()
    if args.pin:
        os.sched_setaffinity(0, {1})
    if not args.no_burst:
        burst(args.callbacks, args.spread, args.profile)
        if args.against:
            burst_against(args.against, args.callbacks)
    if args.cpu:
        cpu(args.seconds, args.rounds, args.rate, args.against, args.pin)
    if not args.no_cost:
        cost(args.seconds, args.rounds, args.rate, args.against, args.pin)


def burst(count: int, spread: bool, profile: bool) -> None:
    profiler = cProfile.Profile() if profile else None
    if profiler is not None:
        profiler.enable()
    found = asyncio.run(throughput(count, spread))
    if profiler is not None:
        profiler.disable()
        pstats.Stats(profiler).sort_stats("tottime").print_stats(30)
    print(
        f"this: {count:,} callbacks due"
        f" {'over one minute' if spread else 'at the start of one minute'}:"
        f" {found['originated']:,.0f}"
        f" originated, {found['answered']:,.0f} answered, {found['twice']:.0f} originated twice;"
        f" the last {found['last_after_first_due_s']:.1f} s after the first was due (bar < 60);"
        f" lateness after call_at p50 {found['late_p50_ms']:.1f} ms, p99"
        f" {found['late_p99_ms']:.1f} ms, max {found['late_max_ms']:.1f} ms"
    )


if __name__ == "__main__":
    main()
