"""`kolejka crm import FILE` and `kolejka crm export [FILE]`: the CRM's command-line verbs.

Exit status of an import: 0 when every row was imported, 3 when some rows were refused (the rest
were imported; the report lists them), 130 when interrupted by Ctrl-C (SIGINT) and 143 when
stopped by SIGTERM (nothing was imported either way), 1 when the file cannot be imported at all,
4 when the --rejects file cannot be written (nothing was imported if it cannot be opened; if it
fails later, the import stands and the report on screen lists the refused rows).
"""

from __future__ import annotations

import argparse
import csv
import signal
import sys
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from kolejka.cli.crm_files import (
    BadFile,
    ImportReport,
    Rejection,
    default_workers,
    export_to,
    file_format,
    import_chunks,
    read_chunks,
    read_layout,
    write_export,
)
from kolejka.settings import Settings

SHOWN_REJECTIONS = 50
INTERRUPTED = 130
TERMINATED = 143  # 128 + SIGTERM, as a shell reports a process that SIGTERM ended
SOME_REJECTED = 3
REJECTS_UNWRITABLE = 4


class Terminated(KeyboardInterrupt):
    """SIGTERM arrived: unwinds the import exactly as Ctrl-C does (staging removed, no commit)."""


def _terminate(signum: int, frame: object) -> None:
    raise Terminated


def add_crm_verbs(verbs: Any) -> None:
    """Adds `crm import` and `crm export` to the `kolejka` parser's sub-commands."""
    crm = verbs.add_parser("crm", help="import and export the built-in CRM").add_subparsers(
        required=True, metavar="ACTION"
    )
    load = crm.add_parser("import", help="add or update customers from a CSV or JSON-lines file")
    load.add_argument("file", type=Path)
    load.add_argument("--format", choices=["csv", "jsonl"], help="default: from the file name")
    load.add_argument(
        "--rejects", type=Path, help="write every refused row (line, reason) to this CSV file"
    )
    load.add_argument(
        "--workers",
        type=int,
        default=default_workers(),
        help="processes that check rows (default: one per core, at most 4)",
    )
    load.set_defaults(run=run_import)
    dump = crm.add_parser("export", help="write every customer and company in the import format")
    dump.add_argument("file", nargs="?", type=Path, help="default: standard output")
    dump.add_argument("--format", choices=["csv", "jsonl"], help="default: jsonl, or from FILE")
    dump.set_defaults(run=run_export)


def run_import(args: argparse.Namespace, settings: Settings) -> int:
    from kolejka.adapters.local.clock import SystemClock
    from kolejka.bootstrap import announce_crm_change, crm_import, phone_numbers

    path: Path = args.file
    try:
        fmt = file_format(path, args.format)
        stream = path.open("rb")
    except (BadFile, OSError) as error:
        print(f"kolejka: cannot import {path}: {error}", file=sys.stderr)
        return 1
    size = max(path.stat().st_size, 1)
    console = Console(stderr=True)
    try:
        rejects = args.rejects.open("w", encoding="utf-8", newline="") if args.rejects else None
    except OSError as error:
        stream.close()
        print(
            f"kolejka: cannot write the rejects file {args.rejects}: {error.strerror or error};"
            " nothing was imported",
            file=sys.stderr,
        )
        return REJECTS_UNWRITABLE
    rejects_csv = csv.writer(rejects, lineterminator="\n") if rejects is not None else None
    # A rejects file that fails later (a full disk) must not undo or fail the import itself.
    lost: list[OSError] = []
    importer = crm_import(settings)
    signal.signal(signal.SIGTERM, _terminate)
    started = time.monotonic()
    try:
        with stream, _Progress(console, size, path.name) as progress:

            def advance() -> None:
                progress.update(stream.tell())

            def refused(rejection: Rejection) -> None:
                if rejects_csv is not None and not lost:
                    try:
                        rejects_csv.writerow([rejection.line, rejection.reason])
                    except OSError as error:
                        lost.append(error)

            if rejects_csv is not None:
                rejects_csv.writerow(["line", "reason"])
            layout = read_layout(stream, fmt)
            report = import_chunks(
                read_chunks(stream, layout),
                layout,
                importer,
                phone_numbers(settings),
                SystemClock(),
                progress=advance,
                rejected=refused,
                workers=args.workers,
                applying=progress.applying,
            )
    except Terminated:
        print("kolejka: import stopped by SIGTERM; nothing was imported", file=sys.stderr)
        return TERMINATED
    except KeyboardInterrupt:
        print("kolejka: import interrupted; nothing was imported", file=sys.stderr)
        return INTERRUPTED
    except BadFile as error:
        print(f"kolejka: cannot import {path}: {error}", file=sys.stderr)
        return 1
    finally:
        # A second SIGTERM must not cut the clean-up short (the staging folder holds names).
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        importer.close()
        if rejects is not None:
            try:
                rejects.close()
            except OSError as error:
                lost.append(error)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
    _print_report(path, report, time.monotonic() - started)
    if lost:
        print(
            f"kolejka: cannot write the rejects file {args.rejects}:"
            f" {lost[0].strerror or lost[0]}; the import itself went through, and the report"
            " above lists the first refused rows",
            file=sys.stderr,
        )
    if report.counts is not None and (report.counts.added or report.counts.changed):
        try:
            announce_crm_change(settings)
        except Exception as error:  # the import has landed; only the news of it is late
            print(
                f"kolejka: imported, but could not tell running instances ({error}); each"
                " queue's list shows it after that queue's next change, or a restart",
                file=sys.stderr,
            )
    if lost:
        return REJECTS_UNWRITABLE
    return SOME_REJECTED if report.rejected else 0


def run_export(args: argparse.Namespace, settings: Settings) -> int:
    from kolejka.bootstrap import crm_export_rows

    path: Path | None = args.file
    fmt = args.format or (file_format(path) if path is not None else "jsonl")
    return export_to(
        path, lambda out: write_export(crm_export_rows(settings), out, fmt), "customers"
    )


def _print_report(path: Path, report: ImportReport, seconds: float) -> None:
    counts = report.counts
    assert counts is not None
    print(
        f"imported {path.name}: {report.rows} rows in {seconds:.1f} s; {counts.added} added,"
        f" {counts.changed} changed, {counts.unchanged} unchanged, {report.rejected} refused"
    )
    for rejection in report.rejections[:SHOWN_REJECTIONS]:
        print(f"line {rejection.line}: {rejection.reason}")
    if report.rejected > SHOWN_REJECTIONS:
        print(f"... and {report.rejected - SHOWN_REJECTIONS} more (--rejects FILE lists them all)")


class _Progress:
    """A rich progress bar on a terminal; elsewhere (logs, CI) a line at every tenth of the file."""

    def __init__(self, console: Console, size: int, name: str) -> None:
        self.console = console
        self.size = size
        self.name = name
        self.bar: Progress | None = None
        self.task: Any = None
        self.tenth = 0

    def __enter__(self) -> _Progress:
        if self.console.is_terminal:
            self.bar = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                DownloadColumn(),
                TransferSpeedColumn(),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                console=self.console,
            )
            self.bar.__enter__()
            self.task = self.bar.add_task(f"importing {self.name}", total=self.size)
        return self

    def update(self, position: int) -> None:
        if self.bar is not None:
            self.bar.update(self.task, completed=position)
            return
        tenth = position * 10 // self.size
        if tenth > self.tenth:
            self.tenth = tenth
            print(f"read {tenth * 10}% of {self.name}", file=sys.stderr, flush=True)

    def applying(self) -> None:
        """The file is read; comparing and writing take a few seconds more for a large one."""
        if self.bar is not None:
            self.bar.update(self.task, description="comparing and writing")
        else:
            print(f"read all of {self.name}; comparing and writing", file=sys.stderr, flush=True)

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)
