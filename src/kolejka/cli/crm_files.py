"""CRM import and export files: CSV (with a header row) and JSON lines, one card a row.

Import reads the file once, in chunks of whole records, so memory stays flat whatever its size.
Each row is checked by the same rules as the HTTP API (kolejka.domain.crm_import); a refused row is
reported with its line number and reason and the rest go on. Checking a row costs tens of
microseconds (mostly phone-number parsing), so chunks are parsed, checked and staged in worker
processes, each into a staging area of its own; this process only cuts the file into chunks and
collects the reports. The `CrmImport` adapter then applies everything staged at once: an
interrupted import leaves the CRM as it was, and importing the same file again changes nothing.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import multiprocessing
import os
import signal
import sys
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from kolejka.domain.crm_import import IMPORT_FIELDS, UNMATCHED, ImportCounts, ImportRow, import_row
from kolejka.domain.errors import FieldProblem, InvalidField
from kolejka.domain.phone import PhoneNumbers
from kolejka.services.ports import Clock, CrmImport, CrmStaging

FORMATS = ("csv", "jsonl")
EXPORT_COLUMNS = [
    "identifier", "customer_id", "company_flag", "name", "surname", "phone_number", "email",
    "type", "group", "account_manager", "nip", "gender", "homepage", "birthdate", "note",
    "pesel", "job", "job_title", "vip", "address", "invoice_address", "mail_drop_address",
    "custom_fields",
]  # fmt: skip
# Cells that hold JSON objects in a CSV file ("" for an empty one).
JSON_CELLS = ("custom_fields", "address", "invoice_address", "mail_drop_address")
CHUNK_LINES = 5_000
# A cell may be this long before the CSV reader gives up on it; the rules refuse far shorter
# ones (255 characters for most fields), with the field named, so a long cell refuses its row.
MAX_CSV_CELL = 16 * 1024 * 1024
# A spreadsheet runs a cell that begins with one of these as a formula (OWASP's CSV injection
# list). CSV exports write such a cell with a `'` in front, and so a cell that begins with `'`
# and one of these or a second `'`; imports take that one `'` off again.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_QUOTED_STARTS = (*FORMULA_STARTS, "'")
# The report keeps the first rejections in memory; the count covers all of them.
KEPT_REJECTIONS = 1000


class BadFile(ValueError):
    """The file as a whole cannot be imported (unknown format, no header, unknown column)."""


@dataclass(frozen=True, slots=True)
class Rejection:
    """A refused row: its line in the file (where the record starts) and why."""

    line: int
    reason: str


@dataclass
class ImportReport:
    """What an import read, refused and did."""

    rows: int = 0
    rejected: int = 0
    rejections: list[Rejection] = field(default_factory=list)
    counts: ImportCounts | None = None


@dataclass(frozen=True, slots=True)
class Chunk:
    """Whole records of the file as bytes, and the line number of the first."""

    first_line: int
    data: bytes


def file_format(path: Path, given: str | None = None) -> str:
    if given:
        if given not in FORMATS:
            raise BadFile(f"unknown format {given!r}: use csv or jsonl")
        return given
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return "csv"
    if suffix in (".jsonl", ".ndjson", ".json"):
        return "jsonl"
    raise BadFile(f"cannot tell the format of {path.name}: name it .csv or .jsonl, or use --format")


@dataclass(frozen=True, slots=True)
class Layout:
    """How to read the chunks: the format and, for CSV, the header and delimiter."""

    fmt: str
    header: tuple[str, ...] = ()
    delimiter: str = ","


def read_layout(stream: IO[bytes], fmt: str) -> Layout:
    """Reads the CSV header (refusing unknown columns) and leaves the stream after it."""
    if fmt != "csv":
        return Layout(fmt)
    first = stream.readline().decode("utf-8", errors="replace").removeprefix("\ufeff")
    if not first.strip():
        raise BadFile("the CSV file has no header row")
    delimiter = ";" if first.count(";") > first.count(",") else ","
    header = tuple(name.strip() for name in next(csv.reader([first], delimiter=delimiter)))
    twice = [name for number, name in enumerate(header) if name in header[:number]]
    if twice:
        raise BadFile(f"the CSV header names the column {twice[0]!r} twice")
    unknown = [name for name in header if name not in IMPORT_FIELDS]
    if unknown:
        known = ", ".join(sorted(IMPORT_FIELDS))
        raise BadFile(f"unknown CSV column {unknown[0]!r}; known: {known}")
    if "identifier" not in header:
        raise BadFile("the CSV file needs an identifier column: imports match customers by it")
    return Layout(fmt, header, delimiter)


def read_chunks(stream: IO[bytes], layout: Layout, lines: int = CHUNK_LINES) -> Iterator[Chunk]:
    """Chunks of whole records: a CSV record with a quoted line break is never cut in two."""
    first_line = 2 if layout.fmt == "csv" else 1
    pending: list[bytes] = []
    quoted = False
    line = first_line
    for raw in stream:
        pending.append(raw)
        line += 1
        if layout.fmt == "csv" and raw.count(b'"') % 2:
            quoted = not quoted  # "" inside quotes counts twice, so parity tracks quoting
        if len(pending) >= lines and not quoted:
            yield Chunk(first_line, b"".join(pending))
            pending = []
            first_line = line
    if pending:
        yield Chunk(first_line, b"".join(pending))


def import_chunks(
    chunks: Iterable[Chunk],
    layout: Layout,
    importer: CrmImport,
    phones: PhoneNumbers,
    clock: Clock,
    progress: Callable[[], None] | None = None,
    rejected: Callable[[Rejection], None] | None = None,
    workers: int = 1,
    applying: Callable[[], None] | None = None,
) -> ImportReport:
    """Parses, checks and stages every chunk (in `workers` processes), then applies them.

    At most a few chunks are in flight, so memory stays flat.
    """
    report = ImportReport()

    def refuse(rejection: Rejection) -> None:
        report.rejected += 1
        if len(report.rejections) < KEPT_REJECTIONS:
            report.rejections.append(rejection)
        if rejected is not None:
            rejected(rejection)

    def take(result: tuple[int, list[Rejection]]) -> None:
        accepted, refused = result
        report.rows += accepted + len(refused)
        for rejection in refused:
            refuse(rejection)
        if progress is not None:
            progress()

    setup = (phones.default_region, layout, importer.staging_opener())
    if workers > 1:
        # Not multiprocessing.Pool: its terminate() waits for ever on a queue lock that a
        # worker killed by the process group's SIGTERM took with it.
        executor = ProcessPoolExecutor(
            workers,
            mp_context=multiprocessing.get_context("fork"),
            initializer=_worker_start,
            initargs=setup,
        )
        try:
            pending: deque[Future[tuple[int, list[Rejection]]]] = deque()
            for chunk in chunks:
                pending.append(executor.submit(_check_chunk, chunk))
                if len(pending) > 2 * workers:
                    take(pending.popleft().result())
            while pending:
                take(pending.popleft().result())
            # Every chunk was staged and committed before its result came back.
        finally:
            # Interrupted or not, the workers stop between chunks (a second or so): each one's
            # staging is whole, and no worker dies holding a lock or printing a traceback.
            executor.shutdown(wait=True, cancel_futures=True)
    else:
        _worker_start(*setup)
        try:
            for chunk in chunks:
                take(_check_chunk(chunk))
        finally:
            _worker_done()
    if applying is not None:
        applying()
    report.counts = importer.apply(clock.now())
    # Rows without an identifier are matched only now, against the cards as they are.
    for line in report.counts.unmatched:
        refuse(Rejection(line, f"customer_id: {UNMATCHED}"))
    report.rejections.sort(key=lambda rejection: rejection.line)
    return report


def default_workers() -> int:
    """Processes that check rows: one per core, at most four."""
    return max(1, min(4, os.cpu_count() or 1))


# Each worker process's own setup (set by _worker_start).
_phones: PhoneNumbers | None = None
_layout: Layout | None = None
_staging: CrmStaging | None = None


def _worker_start(region: str, layout: Layout, opener: Callable[[], CrmStaging]) -> None:
    global _phones, _layout, _staging
    if multiprocessing.parent_process() is not None:
        # Ctrl-C and `systemctl stop`'s SIGTERM reach the whole process group; the parent alone
        # decides what happens (it stops the workers between chunks). This also undoes the
        # parent's SIGTERM handler, which came along with fork.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    csv.field_size_limit(MAX_CSV_CELL)
    _phones = PhoneNumbers(region)
    _layout = layout
    _staging = opener()


def _worker_done() -> None:
    global _staging
    if _staging is not None:
        _staging.close()
        _staging = None


def _check_chunk(chunk: Chunk) -> tuple[int, list[Rejection]]:
    """Parses and checks a chunk, stages the rows that pass; (how many passed, the refused)."""
    assert _phones is not None
    assert _layout is not None
    assert _staging is not None
    accepted: list[ImportRow] = []
    refused: list[Rejection] = []
    for line, values in _records(chunk, _layout):
        if isinstance(values, str):
            refused.append(Rejection(line, f"row: {values}"))
            continue
        try:
            if isinstance(values, InvalidField):
                raise values
            accepted.append(import_row(line, values, _phones))
        except InvalidField as error:
            refused.append(Rejection(line, f"{error.field}: {error.text()}"))
    if accepted:
        _staging.stage(accepted)
    return len(accepted), refused


# A record as a row's values, or why it is refused: the row (text) or one of its fields.
Record = dict[str, Any] | str | InvalidField


def _records(chunk: Chunk, layout: Layout) -> Iterator[tuple[int, Record]]:
    if layout.fmt == "csv":
        yield from _csv_records(chunk, layout)
    else:
        yield from _json_records(chunk)


def _csv_records(chunk: Chunk, layout: Layout) -> Iterator[tuple[int, dict[str, Any] | str]]:
    # surrogateescape keeps a bad byte as a marker, so one broken row is refused, not the file.
    text = chunk.data.decode("utf-8", errors="surrogateescape")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=layout.delimiter)
    header = layout.header
    width = len(header)
    end = 0
    while True:
        line = chunk.first_line + end
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as error:  # the reader goes on at the next line
            end = reader.line_num
            yield line, f"is not valid CSV ({error})."
            continue
        end = reader.line_num
        if not cells:
            continue
        if len(cells) != width:
            yield line, f"has {len(cells)} cells; the header has {width}."
            continue
        values: dict[str, Any] = {}
        broken = False
        for name, cell in zip(header, cells, strict=True):
            if cell:
                values[name] = unquote_formula(cell)
                broken = broken or (not cell.isascii() and _has_surrogate(cell))
        if broken:
            yield line, "is not valid UTF-8."
            continue
        yield line, _typed(values)


def _json_records(chunk: Chunk) -> Iterator[tuple[int, Record]]:
    for offset, raw in enumerate(chunk.data.splitlines()):
        number = chunk.first_line + offset
        if not raw.strip():
            continue
        try:
            value = json.loads(raw.decode("utf-8"))
        except UnicodeDecodeError:
            yield number, "is not valid UTF-8."
            continue
        except (ValueError, RecursionError):
            yield number, "is not valid JSON."
            continue
        if not isinstance(value, dict):
            yield number, "is not a JSON object."
            continue
        yield number, _lone_surrogate(value) or value


def _lone_surrogate(value: object, where: str = "row") -> InvalidField | None:
    """A string in a JSON value that holds a lone surrogate, named by its field (json.loads lets
    `"\\ud800"` in, and no database can store it); None when there is none."""
    if isinstance(value, str):
        if _has_surrogate(value, "\ud800"):
            return InvalidField(where, FieldProblem.IMPORT_LONE_SURROGATE)
        return None
    items: Iterable[tuple[object, object]] = ()
    if isinstance(value, list):
        items = ((None, item) for item in value)
    elif isinstance(value, dict):
        items = value.items()
    for key, item in items:
        if isinstance(key, str) and _has_surrogate(key, "\ud800"):
            return InvalidField(where, FieldProblem.IMPORT_KEY_LONE_SURROGATE)
        found = _lone_surrogate(item, where if key is None or where != "row" else str(key))
        if found is not None:
            return found
    return None


def _typed(values: dict[str, Any]) -> dict[str, Any]:
    """CSV cells are text; the rules expect a flag as a number, `vip` as a flag and custom
    fields and addresses as objects."""
    flag = values.get("company_flag")
    if flag is not None:
        values["company_flag"] = {"0": 0, "1": 1}.get(flag.strip(), flag)
    card = values.get("customer_id")
    if card is not None and card.strip().isdigit() and card.isascii():
        values["customer_id"] = int(card)
    vip = values.get("vip")
    if vip is not None:
        values["vip"] = {"0": 0, "1": 1, "false": 0, "true": 1, "": None}.get(vip.strip(), vip)
    for name in JSON_CELLS:
        cell = values.get(name)
        if cell:
            # Left as text when it is no JSON: the rules then refuse it with the field named.
            with contextlib.suppress(ValueError, RecursionError):
                values[name] = json.loads(cell)
    return values


def _has_surrogate(text: str, lowest: str = "\udc80") -> bool:
    """A surrogate from `lowest` on; by default those surrogateescape makes of bad bytes."""
    return not text.isascii() and any(lowest <= ch <= "\udfff" for ch in text)


def quote_formula(cell: str) -> str:
    """The cell as a CSV export writes it: with a `'` in front if a spreadsheet would run it."""
    if cell.startswith(FORMULA_STARTS) or (cell[:1] == "'" and cell[1:2] in _QUOTED_STARTS):
        return "'" + cell
    return cell


def unquote_formula(cell: str) -> str:
    """A CSV cell as written before quote_formula; a `'` before anything else is kept."""
    if cell[:1] == "'" and cell[1:2] in _QUOTED_STARTS:
        return cell[1:]
    return cell


def write_export(rows: Iterable[dict[str, object]], out: IO[str], fmt: str) -> int:
    """Writes cards in the import format (so an export imports back unchanged); returns a count."""
    count = 0
    if fmt == "csv":
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(EXPORT_COLUMNS)
        for row in rows:
            cells = dict(row)
            numbers = cells["phone_number"]
            assert isinstance(numbers, list)
            cells["phone_number"] = ";".join(numbers)
            for name in JSON_CELLS:
                cells[name] = _dumps(cells[name]) if cells[name] else ""
            cells["vip"] = "true" if cells["vip"] else "false"
            writer.writerow([quote_formula(str(cells[column])) for column in EXPORT_COLUMNS])
            count += 1
    else:
        for row in rows:
            out.write(_dumps(row) + "\n")
            count += 1
    return count


def _dumps(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def export_to(path: Path | None, write: Callable[[IO[str]], int], what: str) -> int:
    """Runs `write` on FILE (or standard output) and reports `exported N <what>`; the exit status.

    A reader that stops early (`| head`) is no error, but nothing more can be written then.
    """
    try:
        out = path.open("w", encoding="utf-8", newline="") if path is not None else sys.stdout
    except OSError as error:
        print(f"kolejka: cannot write {path}: {error.strerror or error}", file=sys.stderr)
        return 1
    try:
        count = write(out)
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    finally:
        if path is not None:
            out.close()
    print(f"exported {count} {what}", file=sys.stderr)
    return 0
