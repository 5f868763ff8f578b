"""`POST /api/batch/customers` at a million customers, and the waiting list read meanwhile.

    flock /tmp/kolejka-bench.lock .venv/bin/python -m bench.crm_batch [--customers 1000000]

The database is bench/crm.py's: its generated CSV imported by `kolejka crm import`, plus the
queue, the API user and 20 waiting callers. Then `kolejka serve` runs on it; `--batches` batches
of `--size` new customers, each with an identifier and a phone number, are posted one after the
other, while `--readers` threads read `/api/queues/2/waiting_list` every 5 ms. Reported: each
batch's time, and the latency of the reads that were sent while a batch was being written
(p50, p99, max). The bars (issue 10): a batch of 1,000 within 1 s, those reads' p99 within 50 ms.

With `--refused-every K`, every K-th customer of a batch gives an identifier another customer
has: the batch adds the others and answers 207, each record with its own status (issue 12).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

from bench.common import kolejka_serve, percentile
from bench.crm import (
    AUTHORIZATION,
    LIST_PATH,
    generate,
    prepare_service,
    timed_import,
)


def read_during(url: str, stop: threading.Event, reads: list[tuple[float, float]]) -> None:
    """(sent at, seconds) of every waiting-list read until `stop`."""
    request = urllib.request.Request(url + LIST_PATH, headers={"Authorization": AUTHORIZATION})
    while not stop.is_set():
        started = time.monotonic()
        with urllib.request.urlopen(request, timeout=60) as response:
            response.read()
        reads.append((started, time.monotonic() - started))
        time.sleep(0.005)


def post_batch(
    url: str, batch: int, size: int, rng: random.Random, refused_every: int = 0
) -> float:
    """Posts `size` new customers with identifiers; returns the seconds until the answer.

    With `refused_every`, every such customer's identifier is taken (the warm-up batch's).
    """
    body = json.dumps(
        [
            {
                "identifier": (
                    "batch--1-0"
                    if refused_every and i % refused_every == 0
                    else f"batch-{batch}-{i}"
                ),
                "name": f"Imię{i}",
                "surname": f"Partia{batch}",
                "phone_number": f"{rng.randint(500_000_000, 899_999_999)}",
                "email": f"b{batch}.{i}@example.com",
            }
            for i in range(size)
        ]
    ).encode()
    request = urllib.request.Request(
        url + "/api/batch/customers",
        data=body,
        headers={"Authorization": AUTHORIZATION, "Content-Type": "application/json"},
        method="POST",
    )
    started = time.monotonic()
    with urllib.request.urlopen(request, timeout=600) as response:
        response.read()
        if response.status != (207 if refused_every else 201):
            raise SystemExit(f"the batch answered {response.status}")
    return time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--batches", type=int, default=10)
    parser.add_argument("--size", type=int, default=1000)
    parser.add_argument("--readers", type=int, default=2)
    parser.add_argument("--refused-every", type=int, default=0)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_TMP")) as folder:
        work = Path(folder)
        source, database = work / "customers.csv", work / "crm.db"
        sample = generate(source, args.customers)
        prepare_service(database, [sample[i] if i % 2 == 0 else f"61345{i:04d}" for i in range(20)])
        seconds, _, _ = timed_import(database, source)
        print(f"{args.customers:,} customers imported in {seconds:.1f} s")

        rng = random.Random(11)
        reads: list[tuple[float, float]] = []
        windows: list[tuple[float, float]] = []
        with kolejka_serve({"KOLEJKA_DATABASE_URL": f"sqlite:///{database}"}) as url:
            post_batch(url, -1, 10, rng)  # the first password check and warm caches
            stop = threading.Event()
            readers = [
                threading.Thread(target=read_during, args=(url, stop, reads), daemon=True)
                for _ in range(args.readers)
            ]
            for reader in readers:
                reader.start()
            time.sleep(1)
            for batch in range(args.batches):
                started = time.monotonic()
                post_batch(url, batch, args.size, rng, args.refused_every)
                windows.append((started, time.monotonic()))
                time.sleep(0.3)
            stop.set()
            for reader in readers:
                reader.join()

        times = [end - start for start, end in windows]
        during = [s for sent, s in reads if any(a <= sent < b for a, b in windows)]
        others = [s for sent, s in reads if not any(a <= sent < b for a, b in windows)]
        print(f"batches of {args.size:,} with identifiers at {args.customers:,} customers:"
              f" {', '.join(f'{t * 1000:.0f}' for t in times)} ms;"
              f" median {percentile(times, 0.5) * 1000:.0f} ms, max {max(times) * 1000:.0f} ms"
              " (bar <= 1000 ms)")  # fmt: skip
        for label, values in (("during the batches", during), ("between them", others)):
            if not values:
                print(f"waiting_list reads {label}: none")
                continue
            print(f"waiting_list reads {label}: {len(values)}, p50"
                  f" {percentile(values, 0.5) * 1000:.1f} ms, p99"
                  f" {percentile(values, 0.99) * 1000:.1f} ms, max {max(values) * 1000:.1f} ms"
                  + (" (bar p99 <= 50 ms)" if label.startswith("during") else ""))  # fmt: skip


if __name__ == "__main__":
    main()
