"""`kolejka crm import` of a million customers into PostgreSQL (docs/benchmarks.md, "CRM").

The same generated CSV as bench/crm.py, imported into a fresh schema of the machine's
PostgreSQL, timed, with the peak resident memory of the command's process tree (PostgreSQL's
own processes are not in it); then the same file again (nothing changes). The schema is dropped
afterwards.

    flock /tmp/kolejka-bench.lock .venv/bin/python -m bench.crm_postgres [--customers 1000000]
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

from bench.common import postgres_schema
from bench.crm import generate, timed_import


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument(
        "--postgres",
        default=os.environ.get(
            "KOLEJKA_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
        ),
    )
    args = parser.parse_args()
    with postgres_schema(args.postgres) as url, tempfile.TemporaryDirectory() as folder:
        source = Path(folder) / "customers.csv"
        generate(source, args.customers)
        size = source.stat().st_size / 1e6
        print(f"generated {args.customers:,} customers ({size:.0f} MB)")
        seconds, peak, report = timed_import(url, source)
        print(f"first import: {seconds:.1f} s, peak RSS {peak / 1024:.0f} MiB (tree)")
        print("  " + report.replace("\n", "\n  "))
        seconds, peak, report = timed_import(url, source)
        print(f"same file again: {seconds:.1f} s, peak RSS {peak / 1024:.0f} MiB (tree)")
        print("  " + report.replace("\n", "\n  "))


if __name__ == "__main__":
    main()
