"""Benchmarks of the built-in CRM at a million customers (docs/benchmarks.md, "CRM").

    flock /tmp/kolejka-bench.lock .venv/bin/python -m bench.crm [--customers 1000000]

1. import: `kolejka crm import` of a generated CSV (1-3 numbers a customer, 5% of the numbers
   drawn from a pool shared by many customers), timed, with the peak resident memory of the whole
   process tree (the command and its checking workers, sampled from /proc every 50 ms); then the
   same file again (nothing changes). Meanwhile `kolejka serve` runs on the same file, a reader
   polls the waiting list and a writer makes a caller join and leave every 0.1 s, so the
   longest read and the writes' answers and waits during the import are reported too.
2. waiting_list: the same 20 callers on a database of 1,000 and one of 1,000,000 customers,
   `kolejka serve` under wrk, alternating with ../shared/bench/ceiling.py serving the same bytes;
   plus the uncached render (20 CRM lookups) timed in-process on both.
3. lookup: GET /api/customers?phone_number=N at 1,000,000 customers, paced at 200 requests/s by
   an open-loop generator (latency counts from when a request was due, not when it was sent).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from pathlib import Path

from bench.common import ceiling, kolejka_serve, paced_gets, percentile, wrk

USER, PASSWORD = "api_user", "api_pass"
AUTHORIZATION = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
LIST_PATH = "/api/queues/2/waiting_list"


def generate(path: Path, customers: int, seed: int = 7) -> list[str]:
    """Writes the CSV; returns a sample of the numbers in it, spelt as the file spells them."""
    rng = random.Random(seed)
    shared = [f"{rng.randint(500_000_000, 899_999_999)}" for _ in range(max(customers // 200, 1))]
    sample: list[str] = []
    with path.open("w", encoding="utf-8") as out:
        out.write("identifier,name,surname,phone_number,email\n")
        for i in range(customers):
            numbers = []
            for _ in range(rng.randint(1, 3)):
                digits = (
                    rng.choice(shared)
                    if rng.random() < 0.05
                    else f"{rng.randint(500_000_000, 899_999_999)}"
                )
                numbers.append(f"+48 {digits}" if rng.random() < 0.3 else digits)
            if len(sample) < 10_000 and rng.random() < 0.02:
                sample.append(numbers[0])
            out.write(f"C{i},Imię{i},Nazwisko{i % 5000},{';'.join(numbers)},c{i}@example.com\n")
    return sample


def tree_rss_kib(pid: int) -> int:
    """Resident memory of a process and all its descendants, in KiB."""
    total = 0
    pending = [pid]
    while pending:
        current = pending.pop()
        try:
            status = Path(f"/proc/{current}/status").read_text()
            total += int(status.split("VmRSS:")[1].split()[0]) if "VmRSS:" in status else 0
            for task in Path(f"/proc/{current}/task").iterdir():
                pending += [int(c) for c in (task / "children").read_text().split()]
        except (OSError, IndexError, ValueError):
            continue
    return total


def kolejka(database: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kolejka", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env={**os.environ, "KOLEJKA_DATABASE_URL": f"sqlite:///{database}"},
        check=True,
    )


def timed_import(database: Path | str, source: Path) -> tuple[float, int, str]:
    """(seconds, peak RSS of the process tree in KiB, the command's report).

    `database`: a SQLite file, or a database URL (PostgreSQL).
    """
    url = database if isinstance(database, str) else f"sqlite:///{database}"
    started = time.monotonic()
    process = subprocess.Popen(
        [sys.executable, "-m", "kolejka", "crm", "import", str(source)],
        env={**os.environ, "KOLEJKA_DATABASE_URL": url},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    peak = 0
    while process.poll() is None:
        peak = max(peak, tree_rss_kib(process.pid))
        time.sleep(0.05)
    seconds = time.monotonic() - started
    out, err = process.communicate()
    if process.returncode != 0:
        raise SystemExit(f"import failed: {err}")
    lock = [line for line in err.splitlines() if "compared" in line or "applied" in line]
    return seconds, peak, out.strip() + ("\n" + lock[-1].split(": ", 1)[-1] if lock else "")


def prepare_service(database: Path, callers: list[str]) -> None:
    kolejka(database, "queues", "add", "2", "Obsługa klienta")
    kolejka(database, "users", "add", USER, "-p", "*", stdin=PASSWORD + "\n")
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))
    from kolejka.bootstrap import build
    from kolejka.settings import Settings

    components = build(Settings(database_url=f"sqlite:///{database}"))

    async def fill() -> None:
        for index, number in enumerate(callers):
            await components.lists.join(2, f"call-{index}", number)

    asyncio.run(fill())
    components.close()


def poll_during(url: str, stop: threading.Event, worst: list[float]) -> None:
    request = urllib.request.Request(url + LIST_PATH, headers={"Authorization": AUTHORIZATION})
    while not stop.is_set():
        started = time.monotonic()
        with urllib.request.urlopen(request, timeout=30) as response:
            response.read()
        worst.append(time.monotonic() - started)
        time.sleep(0.01)


def write_during(url: str, stop: threading.Event, writes: list[tuple[int, float]]) -> None:
    """Callers join and leave through the ingest API; (status, seconds) of every request."""
    headers = {"Authorization": AUTHORIZATION, "Content-Type": "application/json"}
    index = 0
    while not stop.is_set():
        index += 1
        call_id = f"during-import-{index}"
        for path, body in (
            ("/api/queues/2/callers", f'{{"call_id": "{call_id}"}}'),
            (f"/api/queues/2/callers/{call_id}/leave", '{"outcome": "answered"}'),
        ):
            request = urllib.request.Request(
                url + path, data=body.encode(), headers=headers, method="POST"
            )
            started = time.monotonic()
            try:
                with urllib.request.urlopen(request, timeout=30) as response:
                    response.read()
                    status = response.status
            except urllib.error.HTTPError as error:
                status = error.code
            writes.append((status, time.monotonic() - started))
        time.sleep(0.1)


def render_seconds(database: Path, repeat: int = 200) -> float:
    """Mean time of one uncached waiting-list render (its CRM lookups), in-process."""
    from kolejka.bootstrap import build
    from kolejka.settings import Settings

    components = build(Settings(database_url=f"sqlite:///{database}"))

    async def run() -> float:
        await components.lists.waiting_list(2)
        started = time.perf_counter()
        for _ in range(repeat):
            await components.lists.waiting_list(2)
        return (time.perf_counter() - started) / repeat

    try:
        return asyncio.run(run())
    finally:
        components.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--small", type=int, default=1_000)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--lookup-seconds", type=float, default=30.0)
    parser.add_argument("--import-only", action="store_true", help="stop after the imports")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_TMP")) as folder:
        work = Path(folder)
        source = work / "customers.csv"
        started = time.monotonic()
        sample = generate(source, args.customers)
        size = source.stat().st_size / 1e6
        print(f"generated {args.customers:,} customers ({size:.0f} MB) in"
              f" {time.monotonic() - started:.1f} s")  # fmt: skip
        small_source = work / "small.csv"
        with source.open(encoding="utf-8") as full, small_source.open("w", encoding="utf-8") as out:
            for _ in range(args.small + 1):
                out.write(full.readline())

        # 20 callers: half of them customers (sample numbers), half strangers.
        callers = [sample[i] if i % 2 == 0 else f"61345{i:04d}" for i in range(20)]
        big, small = work / "big.db", work / "small.db"
        for database in (big, small):
            prepare_service(database, callers)

        print("\n## import")
        env = {"KOLEJKA_DATABASE_URL": f"sqlite:///{big}"}
        worst: list[float] = []
        writes: list[tuple[int, float]] = []
        with kolejka_serve(env) as url:
            stop = threading.Event()
            poller = threading.Thread(target=poll_during, args=(url, stop, worst), daemon=True)
            writer = threading.Thread(target=write_during, args=(url, stop, writes), daemon=True)
            poller.start()
            writer.start()
            seconds, peak, report = timed_import(big, source)
            stop.set()
            poller.join()
            writer.join()
        print(f"first import: {seconds:.1f} s, peak RSS {peak / 1024:.0f} MiB (tree)\n  {report}")
        print(f"  waiting_list reads during it: {len(worst)}, longest {max(worst) * 1000:.1f} ms,"
              f" p99 {percentile(worst, 0.99) * 1000:.1f} ms")  # fmt: skip
        counts = Counter(status for status, _ in writes)
        waits = [seconds for _, seconds in writes]
        print(f"  ingest writes during it: {len(writes)}, by status {dict(sorted(counts.items()))},"
              f" longest {max(waits) * 1000:.0f} ms,"
              f" p99 {percentile(waits, 0.99) * 1000:.1f} ms")  # fmt: skip
        seconds, peak, report = timed_import(big, source)
        print(f"same file again: {seconds:.1f} s, peak RSS {peak / 1024:.0f} MiB\n  {report}")
        timed_import(small, small_source)
        if args.import_only:
            return

        print("\n## waiting_list, 1,000 vs 1,000,000 customers")
        for database, label in ((small, f"{args.small:,}"), (big, f"{args.customers:,}")):
            print(f"uncached render (20 lookups), {label} customers:"
                  f" {render_seconds(database) * 1e6:.0f} µs")  # fmt: skip
        small_env = {"KOLEJKA_DATABASE_URL": f"sqlite:///{small}"}
        big_env = {"KOLEJKA_DATABASE_URL": f"sqlite:///{big}"}
        with kolejka_serve(big_env) as url:
            request = urllib.request.Request(
                url + LIST_PATH, headers={"Authorization": AUTHORIZATION}
            )
            with urllib.request.urlopen(request) as response:
                body = response.read()
        rows, ratios = [], []
        for number in range(1, args.rounds + 1):
            with ceiling(body, AUTHORIZATION, work) as url:
                top = wrk(url + LIST_PATH, AUTHORIZATION, args.seconds)
            measured = {}
            # Alternate which goes first, so a drift in the machine's load favours neither.
            for env in (small_env, big_env) if number % 2 else (big_env, small_env):
                with kolejka_serve(env) as url:
                    measured[env["KOLEJKA_DATABASE_URL"]] = wrk(
                        url + LIST_PATH, AUTHORIZATION, args.seconds
                    )
            few = measured[small_env["KOLEJKA_DATABASE_URL"]]
            many = measured[big_env["KOLEJKA_DATABASE_URL"]]
            ratios.append(many.requests_per_second / few.requests_per_second)
            rows += [
                top.row(f"ceiling, round {number}"),
                few.row(f"kolejka, {args.small:,} customers, round {number}"),
                many.row(f"kolejka, {args.customers:,} customers, round {number}"),
            ]
            print(f"round {number}: 1M/1k {ratios[-1]:.2f}; vs ceiling: 1k"
                  f" {few.requests_per_second / top.requests_per_second:.2f},"
                  f" 1M {many.requests_per_second / top.requests_per_second:.2f}")  # fmt: skip
        print("| server | requests/s | p50 ms | p99 ms | non-2xx |")
        print("| --- | ---: | ---: | ---: | ---: |")
        print("\n".join(rows))
        print(f"ratio {args.customers:,}/{args.small:,} per round:"
              f" {', '.join(f'{r:.2f}' for r in ratios)}; median {statistics.median(ratios):.2f}"
              " (bar >= 0.9)")  # fmt: skip

        print(f"\n## GET /api/customers?phone_number=N at {args.customers:,} customers")
        lookups = sample + [f"5{i:08d}" for i in range(len(sample) // 10)]  # some unknown
        with kolejka_serve(big_env) as url:
            urllib.request.urlopen(
                urllib.request.Request(url + "/api/customers?limit=1",
                                       headers={"Authorization": AUTHORIZATION}), timeout=10
            ).read()  # fmt: skip
            latencies, errors = asyncio.run(
                paced_gets(
                    url,
                    [f"/api/customers?phone_number={urllib.parse.quote(n)}" for n in lookups],
                    AUTHORIZATION,
                    args.rate,
                    args.lookup_seconds,
                )
            )
        print(f"{len(latencies)} requests at {args.rate:.0f}/s, {errors} errors:"
              f" p50 {percentile(latencies, 0.5) * 1000:.2f} ms,"
              f" p90 {percentile(latencies, 0.9) * 1000:.2f} ms,"
              f" p99 {percentile(latencies, 0.99) * 1000:.2f} ms,"
              f" max {max(latencies) * 1000:.2f} ms (bar p99 <= 10 ms)")  # fmt: skip


if __name__ == "__main__":
    main()
