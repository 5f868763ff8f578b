"""Probe: CPU instructions per AMI event, with the call history recorded and without.

On a shared two-core machine the timed figure of `bench.ami_events --compare-history` moves by
tens of percent between runs; an instruction count does not. This probe feeds the AMI stream of
bench.ami_events (the same packets) through the listener's own path, minus the socket: the
parser in 64 KiB reads as `AmiConnection` reads them, then the session's `on_packets` (event
table, PbxSync, WaitingLists, SQLite in WAL mode, the call history), and a flush of the history
at the end. Run under valgrind's callgrind, which counts every instruction, Python's and
SQLite's alike. Each mode runs twice, with N and 2N events: the difference is what N events
cost, start-up and imports cancelled out.

    .venv/bin/python -m bench.ami_instructions [--events 4000] [--parts] [--webhooks]
        [--scattered-numbers]

prints instructions per event with the history off and on, and the history's share; `--parts`
adds a mode that notes each row but writes none, which splits the cost between the Python that
notes a row and the store that writes it. `--webhooks` adds a mode with the history on and
bench.webhooks' 10 subscriptions (CALLER_JOINED, CALLER_LEFT) registered, nothing delivering:
what writing the outbox costs the listener, the instruction count behind issue 16's bar (events/s
within 10% of the listener's without webhooks, which is the history-on mode). One probe run
(`--run STREAM off|note|on|hooks`) is what valgrind runs; no timing, so no lock is needed.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench.ami_events import AMI_SECRET, AMI_USER, SCATTERED, as_before_the_history, stream
from bench.common import callgrind_instructions
from bench.webhooks import ACTIONS, WEBHOOK_SETTINGS
from kolejka.adapters.ami.listener import _Session
from kolejka.adapters.ami.protocol import PacketParser
from kolejka.adapters.sqlite.database import Database
from kolejka.bootstrap import build
from kolejka.services.ports import HistoryWrite, Journalled
from kolejka.settings import Settings

READ_BYTES = 65_536  # what AmiConnection reads at a time
SUBSCRIBERS = 10  # as bench.webhooks subscribes


def write_stream(count: int, path: Path) -> None:
    """The stream of `count` events, written beforehand: making it is no cost of the listener."""
    packets = b"".join(packet for _, _, packet in stream(count, "support"))
    path.write_bytes(b"Asterisk Call Manager/11.0.0\r\n" + packets)


async def feed(data: bytes, mode: str) -> None:
    """The listener's path for the stream `data`, on a new SQLite file. `mode`: "off" records
    no call, each departure a row of `departures` instead, as before the history existed
    (bench.ami_events `--no-history`); "note" notes each call's row but writes none (what the
    history costs in Python before the store); "on" records every call; "hooks" records every
    call with `SUBSCRIBERS` webhook subscriptions taking the callers' events into the outbox."""
    history = mode != "off"
    hooks = mode == "hooks"
    with tempfile.TemporaryDirectory() as folder:
        settings = Settings(
            database_url=f"sqlite:///{folder}/kolejka.db",
            ami_host="127.0.0.1",
            ami_port=5038,
            ami_username=AMI_USER,
            ami_secret=AMI_SECRET,
            ami_auth="plain",
            ami_queues="support=7",
            **(WEBHOOK_SETTINGS if hooks else {}),
        )
        components = build(settings)
        assert components.ami is not None
        assert isinstance(components.database, Database)
        # As in the service, whose checkpoints run on a thread of their own (`checkpoints`),
        # never inside one of the listener's commits.
        components.database.connection.execute("PRAGMA wal_autocheckpoint = 0")
        if not history:
            as_before_the_history(components)
        if mode == "note":

            async def written(writes: Sequence[HistoryWrite], *, settles: bool = False) -> None:
                return None

            async def journalled(writes: Sequence[Journalled]) -> bool:
                return True  # kept nowhere: the rows are noted and dropped

            async def settled() -> None:
                return None

            store = components.history._store
            store.write = written  # type: ignore[method-assign]
            store.journal = journalled  # type: ignore[method-assign]
            store.settle = settled  # type: ignore[method-assign]
        if hooks:
            assert components.webhooks is not None
            for subscriber in range(SUBSCRIBERS):
                url = f"http://127.0.0.1:{9000 + subscriber}/hook"  # never called: no delivery
                await components.webhooks.register({"actions": ACTIONS, "subscription_url": url})
        session = _Session(components.ami)
        parser = PacketParser()
        for offset in range(0, len(data), READ_BYTES):
            packets = parser.feed(data[offset : offset + READ_BYTES])
            if packets:
                await session.on_packets(packets)
        await components.history.flush()
        sql = components.database.connection
        departures = data.count(b"Event: QueueCallerLeave\r\n")
        (recorded,) = sql.execute("SELECT count(*) FROM connections").fetchone()
        if mode == "off":
            (recorded,) = sql.execute("SELECT count(*) FROM departures").fetchone()
        assert recorded == (0 if mode == "note" else departures), (recorded, departures)
        (events,) = sql.execute("SELECT count(*) FROM webhook_events").fetchone()
        joins = data.count(b"Event: QueueCallerJoin\r\n")
        assert events == (joins + departures if hooks else 0), (events, joins, departures)
        components.close()


def instructions(data: Path, mode: str, out: Path) -> int:
    """Runs one probe under callgrind on the stream in `data`; the instructions it executed."""
    module = ["bench.ami_instructions", "--run", str(data), mode]
    return callgrind_instructions(module, out, "--dump-instr=no")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=4000, help="N: runs feed N and 2N")
    parser.add_argument("--run", nargs=2, metavar=("STREAM", "MODE"), help=argparse.SUPPRESS)
    parser.add_argument("--jobs", type=int, default=2, help="valgrind runs at a time")
    parser.add_argument(
        "--parts", action="store_true", help="also split the cost: noting rows, writing them"
    )
    parser.add_argument(
        "--webhooks",
        action="store_true",
        help=f"also with {SUBSCRIBERS} webhook subscriptions (history on, nothing delivering)",
    )
    parser.add_argument(
        "--scattered-numbers",
        action="store_true",
        help="callers' numbers scattered as real ones are (bench.ami_events), not rising",
    )
    args = parser.parse_args()
    SCATTERED[0] = args.scattered_numbers
    if args.run:
        asyncio.run(feed(Path(args.run[0]).read_bytes(), args.run[1]))
        return
    n = args.events
    modes = ("off", "note", "on") if args.parts else ("off", "on")
    if args.webhooks:
        modes = (*modes, "hooks")
    with tempfile.TemporaryDirectory() as name, ThreadPoolExecutor(args.jobs) as pool:
        folder = Path(name)
        for count in (n, 2 * n):
            write_stream(count, folder / f"{count}.ami")
        runs = {
            (mode, count): pool.submit(
                instructions, folder / f"{count}.ami", mode, folder / f"{mode}-{count}.out"
            )
            for mode in modes
            for count in (n, 2 * n)
        }
        per_event = {
            mode: (runs[mode, 2 * n].result() - runs[mode, n].result()) / n for mode in modes
        }
    off, on = per_event["off"], per_event["on"]
    print(f"instructions per AMI event ({n:,} and {2 * n:,} events, callgrind):")
    print(f"  history off {off:,.0f}, on {on:,.0f}: the history costs {on / off - 1:+.1%}")
    print(f"  events/s with the history, as a share of without: {off / on:.3f}")
    if args.parts:
        noting = per_event["note"] - off
        print(
            f"  noting the rows (Python, before the store) {noting:,.0f} ({noting / off:+.1%}),"
            f" writing them (statements, SQLite) {on - off - noting:,.0f}"
            f" ({(on - off - noting) / off:+.1%})"
        )
    if args.webhooks:
        hooks = per_event["hooks"]
        print(
            f"  with the history and {SUBSCRIBERS} webhook subscriptions (outbox, nothing"
            f" delivering) {hooks:,.0f}: the webhooks cost {hooks / on - 1:+.1%}"
        )
        print(f"  events/s with the webhooks, as a share of without: {on / hooks:.3f}")


if __name__ == "__main__":
    main()
