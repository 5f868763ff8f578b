"""CRM import and export files: CSV (with a header row) and JSON lines, one card a row.

Import reads the file once, in chunks of whole records, so memory stays flat whatever its size.
Each row is checked by the same rules as the HTTP API (kolejka.domain.crm); a refused row is
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
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from multiprocessing.pool import AsyncResult
from pathlib import Path
from typing import IO, Any

from kolejka.domain.crm import IMPORT_FIELDS, ImportCounts, ImportRow, import_row
from kolejka.domain.errors import InvalidField
from kolejka.domain.phone import PhoneNumbers
from kolejka.ports import Clock, CrmImport, CrmStaging

FORMATS = ("csv", "jsonl")
EXPORT_COLUMNS = [
    "identifier", "company_flag", "name", "surname", "phone_number", "email", "type", "group",
    "account_manager", "nip", "address", "custom_fields",
]  # fmt: skip
CHUNK_LINES = 5_000
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

    def take(result: tuple[int, list[Rejection]]) -> None:
        accepted, refused = result
        report.rows += accepted + len(refused)
        report.rejected += len(refused)
        for rejection in refused:
            if len(report.rejections) < KEPT_REJECTIONS:
                report.rejections.append(rejection)
            if rejected is not None:
                rejected(rejection)
        if progress is not None:
            progress()

    setup = (phones.default_region, layout, importer.staging_opener())
    if workers > 1:
        context = multiprocessing.get_context("fork")
        with context.Pool(workers, _worker_start, setup) as pool:
            pending: deque[AsyncResult[tuple[int, list[Rejection]]]] = deque()
            for chunk in chunks:
                pending.append(pool.apply_async(_check_chunk, (chunk,)))
                if len(pending) > 2 * workers:
                    take(pending.popleft().get())
            while pending:
                take(pending.popleft().get())
            # Every chunk was staged and committed before its result came back.
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
    _phones = PhoneNumbers(region)
    _layout = layout
    _staging = opener()
    if multiprocessing.parent_process() is not None:
        # Ctrl-C reaches the whole process group; the parent alone decides what happens.
        signal.signal(signal.SIGINT, signal.SIG_IGN)


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
            accepted.append(import_row(line, values, _phones))
        except InvalidField as error:
            refused.append(Rejection(line, f"{error.field}: {error.problem}"))
    if accepted:
        _staging.stage(accepted)
    return len(accepted), refused


def _records(chunk: Chunk, layout: Layout) -> Iterator[tuple[int, dict[str, Any] | str]]:
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
    for cells in reader:
        line = chunk.first_line + end
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
                values[name] = cell
                broken = broken or (not cell.isascii() and _has_surrogate(cell))
        if broken:
            yield line, "is not valid UTF-8."
            continue
        yield line, _typed(values)


def _json_records(chunk: Chunk) -> Iterator[tuple[int, dict[str, Any] | str]]:
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
        yield number, value


def _typed(values: dict[str, Any]) -> dict[str, Any]:
    """CSV cells are text; the rules expect a flag as a number and custom fields as an object."""
    flag = values.get("company_flag")
    if flag is not None:
        values["company_flag"] = {"0": 0, "1": 1}.get(flag.strip(), flag)
    custom = values.get("custom_fields")
    if custom is not None:
        # Left as text when it is no JSON: the rules then refuse it with the field named.
        with contextlib.suppress(ValueError, RecursionError):
            values["custom_fields"] = json.loads(custom)
    return values


def _has_surrogate(text: str) -> bool:
    return any("\udc80" <= ch <= "\udcff" for ch in text)


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
            custom = cells["custom_fields"]
            cells["custom_fields"] = _dumps(custom) if custom else ""
            writer.writerow([cells[column] for column in EXPORT_COLUMNS])
            count += 1
    else:
        for row in rows:
            out.write(_dumps(row) + "\n")
            count += 1
    return count


def _dumps(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
