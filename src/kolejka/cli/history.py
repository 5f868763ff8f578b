"""`kolejka history export --from --to [--queue] [--format csv|jsonl] [FILE]`: the call history
for reports, the rows `GET /api/connections` would page through, in one file.

Rows come newest first, as the API orders them, with the API's fields. CSV cells that a
spreadsheet would run as a formula get a `'` in front, as the CRM export does; `tags` is
`;`-joined and an empty id is an empty cell. A progress bar (on a terminal; elsewhere a line at
every tenth) follows the export back through the period.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import sys
from datetime import datetime
from pathlib import Path
from typing import IO, Any
from zoneinfo import ZoneInfo

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from kolejka.adapters.http import wire
from kolejka.cli.crm_files import BadFile, export_to, file_format, quote_formula
from kolejka.domain.queues import parse_id
from kolejka.settings import Settings

COLUMNS = (
    "connection_id",
    "date",
    "src",
    "dst",
    "type",
    "disposition",
    "duration",
    "billsec",
    "user",
    "user_login",
    "queue_id",
    "topic_id",
    "customer_id",
    "tags",
    "disconnected_by",
    "transferred_to",
    "operator",
    "filename",
)


def add_history_verbs(verbs: Any) -> None:
    """Adds `history export` to the `kolejka` parser's sub-commands."""
    history = verbs.add_parser("history", help="the call history").add_subparsers(
        required=True, metavar="ACTION"
    )
    export = history.add_parser(
        "export", help="write the calls of a period as CSV or JSON lines, newest first"
    )
    export.add_argument("--from", dest="date_from", required=True, help="YYYY-MM-DD[ HH:MM[:SS]]")
    export.add_argument("--to", dest="date_to", required=True, help="inclusive, like date_to")
    export.add_argument("--queue", type=_queue_id, help="only this queue's calls")
    export.add_argument("--format", choices=["csv", "jsonl"], help="default: jsonl, or from FILE")
    export.add_argument("file", nargs="?", type=Path, help="default: standard output")
    export.set_defaults(run=run_export)


def _queue_id(text: str) -> int:
    queue_id = parse_id(text)
    if queue_id is None:
        raise argparse.ArgumentTypeError(f"not a queue id: {text!r}")
    return queue_id


def run_export(args: argparse.Namespace, settings: Settings) -> int:
    zone = ZoneInfo(settings.time_zone)
    date_from = wire.wire_date(args.date_from, zone, end=False)
    date_to = wire.wire_date(args.date_to, zone, end=True)
    for given, parsed in ((args.date_from, date_from), (args.date_to, date_to)):
        if parsed is None:
            print(f"kolejka: not a date: {given!r} (YYYY-MM-DD[ HH:MM[:SS]])", file=sys.stderr)
            return 2
    assert date_from is not None
    assert date_to is not None
    if date_from > date_to:
        print("kolejka: --from is after --to", file=sys.stderr)
        return 2
    path: Path | None = args.file
    try:
        fmt = args.format or (file_format(path) if path is not None else "jsonl")
    except BadFile as error:
        print(f"kolejka: cannot write {path}: {error}", file=sys.stderr)
        return 1

    def write(out: IO[str]) -> int:
        return asyncio.run(_export(settings, zone, date_from, date_to, args.queue, out, fmt))

    return export_to(path, write, "calls")


async def _export(
    settings: Settings,
    zone: ZoneInfo,
    date_from: datetime,
    date_to: datetime,
    queue_id: int | None,
    out: IO[str],
    fmt: str,
) -> int:
    from kolejka.bootstrap import build

    components = build(settings)
    writer = csv.writer(out, lineterminator="\n") if fmt == "csv" else None
    if writer is not None:
        writer.writerow(COLUMNS)
    count = 0
    history = components.history
    try:
        with _Progress(Console(stderr=True), date_from, date_to) as progress:
            async for row, customer_id, user in history.export(date_from, date_to, queue_id):
                src = history.display(row.src)
                fields = wire.connection(row, zone, src, customer_id, user)
                if writer is None:
                    out.write(json.dumps(fields, ensure_ascii=False, separators=(",", ":")))
                    out.write("\n")
                else:
                    writer.writerow([_cell(fields[column]) for column in COLUMNS])
                count += 1
                progress.update(row.started_at)
    finally:
        await components.aclose()
    return count


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return quote_formula(";".join(str(item) for item in value))
    return quote_formula(str(value))


class _Progress:
    """How far back through the period the export has come: a rich bar on a terminal, a line at
    every tenth elsewhere (logs, CI). Rows come newest first, so progress runs from `--to`."""

    def __init__(self, console: Console, date_from: datetime, date_to: datetime) -> None:
        self.console = console
        self.date_to = date_to
        self.span = max((date_to - date_from).total_seconds(), 1.0)
        self.bar: Progress | None = None
        self.task: Any = None
        self.tenth = 0

    def __enter__(self) -> _Progress:
        if self.console.is_terminal:
            self.bar = Progress(
                TextColumn("[bold]exporting calls"),
                BarColumn(),
                TextColumn("{task.fields[at]}"),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                console=self.console,
            )
            self.bar.__enter__()
            self.task = self.bar.add_task("export", total=self.span, at="")
        return self

    def update(self, reached: datetime) -> None:
        done = min(max((self.date_to - reached).total_seconds(), 0.0), self.span)
        if self.bar is not None:
            self.bar.update(self.task, completed=done, at=reached.strftime("%Y-%m-%d"))
            return
        tenth = int(done * 10 // self.span)
        if tenth > self.tenth:
            self.tenth = tenth
            print(f"exported {tenth * 10}% of the period", file=sys.stderr, flush=True)

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.update(self.task, completed=self.span)
            self.bar.__exit__(None, None, None)
