"""`kolejka crm import` and `export`: what is about the command and the file, not the engine.

The rejects report, exit statuses, unknown or doubled columns, formulas, huge cells and lone
surrogates, the rejects file that cannot be written, how the command stops on a signal, and an
unreachable PostgreSQL; on SQLite. Each engine's own scenarios: tests/contract/test_crm_import.py.
"""

from __future__ import annotations

import csv
import json
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from kolejka.cli.crm_files import FORMULA_STARTS, quote_formula, unquote_formula
from tests.cli import CSV, assert_stopped_without_a_trace, interrupt_an_import_halfway, kolejka


def table(database: Path, sql: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(database) as connection:
        return connection.execute(sql).fetchall()


def cards(database: Path) -> list[tuple[object, ...]]:
    return table(
        database,
        "SELECT identifier, kind, name, surname, company_name, email, updated_at"
        " FROM customers ORDER BY identifier",
    )


def test_refused_rows_are_reported_by_line_and_reason_and_the_rest_are_imported(
    tmp_path: Path, database_path: Path
) -> None:
    source = tmp_path / "crm.csv"
    source.write_text(
        "identifier,name,surname,phone_number\n"
        "C1,Jan,Kowalski,746842523\n"
        "C2,No,,601100200\n"
        ',"multi\nline",Lis,601100201\n'
        "C4,Ewa,Kot,call me\n"
        "C5,too,many,cells,here\n"
        "C6,Ola,Sowa,500600700\n",
        encoding="utf-8",
    )
    rejects = tmp_path / "rejects.csv"

    result = kolejka(database_path, "crm", "import", str(source), "--rejects", str(rejects))

    assert result.returncode == 3
    assert "2 added, 0 changed, 0 unchanged, 4 refused" in result.stdout
    assert "line 3: surname: is required." in result.stdout
    assert "line 4: identifier: is required: imports match customers by it." in result.stdout
    assert "line 6: phone_number: is not a phone number." in result.stdout
    assert "line 7: row: has 5 cells; the header has 4." in result.stdout
    assert rejects.read_text(encoding="utf-8").splitlines()[:2] == [
        "line,reason",
        "3,surname: is required.",
    ]
    assert [row[0] for row in cards(database_path)] == ["C1", "C6"]


def test_json_lines_are_imported_with_bad_lines_refused(
    tmp_path: Path, database_path: Path
) -> None:
    source = tmp_path / "crm.jsonl"
    source.write_text(
        json.dumps({"identifier": "J1", "surname": "Kowalski", "phone_number": ["746842523"]})
        + "\n{not json\n[1, 2]\n\n"
        + json.dumps({"identifier": "J2", "company_flag": 1, "name": "ACME", "nip": "1"})
        + "\n",
        encoding="utf-8",
    )

    result = kolejka(database_path, "crm", "import", str(source))

    assert result.returncode == 3
    assert "line 2: row: is not valid JSON." in result.stdout
    assert "line 3: row: is not a JSON object." in result.stdout
    assert [row[:2] for row in cards(database_path)] == [("J1", "person"), ("J2", "company")]


def test_a_file_with_an_unknown_column_is_refused_whole(
    tmp_path: Path, database_path: Path
) -> None:
    source = tmp_path / "crm.csv"
    source.write_text("identifier,surname,shoe_size\nC1,Kowalski,44\n", encoding="utf-8")

    result = kolejka(database_path, "crm", "import", str(source))

    assert result.returncode == 1
    assert "unknown CSV column 'shoe_size'" in result.stderr


# The stops the contract suite does not run on each engine (SIGINT with one worker, SIGTERM with
# two are there): SIGINT with two workers, SIGTERM with one, and SIGTERM to the process group.
@pytest.mark.parametrize(
    ("sig", "workers", "group"),
    [(signal.SIGINT, "2", False), (signal.SIGTERM, "1", False), (signal.SIGTERM, "2", True)],
    ids=["SIGINT-2", "SIGTERM-1", "SIGTERM-2-group"],
)
def test_a_stop_halfway_cleans_up_with_any_workers_and_signal(
    tmp_path: Path, database_path: Path, sig: signal.Signals, workers: str, group: bool
) -> None:
    seed = tmp_path / "seed.csv"
    seed.write_text(CSV, encoding="utf-8")
    assert kolejka(database_path, "crm", "import", str(seed)).returncode == 0
    before = cards(database_path)
    returncode, out, err = interrupt_an_import_halfway(
        f"sqlite:///{database_path}", tmp_path, workers, sig, group
    )

    assert_stopped_without_a_trace(returncode, out, err, sig)
    assert cards(database_path) == before
    assert table(database_path, "SELECT count(*) FROM customer_phone_numbers") == [(4,)]
    assert not list(database_path.parent.glob(".kolejka-import-*"))  # staging files are gone
    assert not list(tmp_path.glob(".kolejka-import-*"))


# Tab and CR are neutralised too, but the rules refuse control characters in every field.
FORMULAS = ["=1+2", "+48 601 100 200", "-5", "@SUM(A1)", "'=x", "'@", "''", "'plain"]


def test_a_csv_export_neutralises_formulas_and_imports_them_back_unchanged(
    tmp_path: Path, database_path: Path
) -> None:
    source = tmp_path / "crm.jsonl"
    source.write_text(
        "".join(
            json.dumps({"identifier": f"F{i}", "surname": value, "type": value}) + "\n"
            for i, value in enumerate(FORMULAS)
        )
        + json.dumps({"identifier": "P1", "surname": "Kot", "phone_number": ["+48 601 100 201"]})
        + "\n",
        encoding="utf-8",
    )
    assert kolejka(database_path, "crm", "import", str(source)).returncode == 0
    before = cards(database_path)
    exported = tmp_path / "export.csv"

    assert kolejka(database_path, "crm", "export", str(exported)).returncode == 0
    again = kolejka(database_path, "crm", "import", str(exported))
    fresh = tmp_path / "fresh.db"
    copied = kolejka(fresh, "crm", "import", str(exported))

    with exported.open(encoding="utf-8", newline="") as file:
        rows = {row["identifier"]: row for row in csv.DictReader(file)}
    assert [rows[f"F{i}"]["surname"] for i in range(len(FORMULAS))] == [
        "'=1+2", "'+48 601 100 200", "'-5", "'@SUM(A1)", "''=x", "''@", "'''", "'plain",
    ]  # fmt: skip
    assert rows["P1"]["phone_number"] == "'+48 601 100 201"
    for row in rows.values():  # no cell a spreadsheet would run
        assert not any(cell.startswith(("=", "+", "-", "@", "\t", "\r")) for cell in row.values())
    assert again.returncode == 0, again.stdout + again.stderr
    assert f"0 added, 0 changed, {len(FORMULAS) + 1} unchanged" in again.stdout
    assert cards(database_path) == before
    assert copied.returncode == 0
    assert [row[:6] for row in cards(fresh)] == [row[:6] for row in before]
    assert table(fresh, "SELECT raw FROM customer_phone_numbers") == [("+48 601 100 201",)]
    jsonl = tmp_path / "export.jsonl"
    assert kolejka(database_path, "crm", "export", str(jsonl)).returncode == 0
    assert '"surname":"=1+2"' in jsonl.read_text(encoding="utf-8")  # JSON lines stay literal


def test_a_huge_cell_and_a_lone_surrogate_refuse_only_their_own_lines(
    tmp_path: Path, database_path: Path
) -> None:
    big = tmp_path / "big.csv"
    big.write_bytes(
        b"identifier,name,surname\n"
        b"C1,Jan,Kowalski\n"
        b'C2,"' + b"x" * 200_000 + b'",Nowak\n'
        b"C3,\xed\xa0\x80,Lis\n"  # U+D800 written as UTF-8 bytes: not valid UTF-8
        b"C4,Ewa,Kot\n"
    )
    lines = tmp_path / "crm.jsonl"
    lines.write_text(
        '{"identifier": "J1", "surname": "Sowa"}\n'
        '{"identifier": "J2", "surname": "\\ud800"}\n'
        '{"identifier": "J3", "surname": "Wrona", "custom_fields": {"k": "\\udfff"}}\n'
        '{"identifier": "J4", "surname": "Kruk \\ud83d\\ude00"}\n',
        encoding="utf-8",
    )
    rejects = tmp_path / "rejects.csv"

    from_csv = kolejka(database_path, "crm", "import", str(big))
    from_json = kolejka(database_path, "crm", "import", str(lines), "--rejects", str(rejects))

    assert from_csv.returncode == 3, from_csv.stderr
    assert "Traceback" not in from_csv.stderr
    assert "2 added, 0 changed, 0 unchanged, 2 refused" in from_csv.stdout
    assert "line 3: name: " in from_csv.stdout
    assert "line 4: row: is not valid UTF-8." in from_csv.stdout
    assert from_json.returncode == 3, from_json.stderr
    assert "2 added, 0 changed, 0 unchanged, 2 refused" in from_json.stdout
    assert rejects.read_text(encoding="utf-8").splitlines() == [
        "line,reason",
        "2,surname: is not valid Unicode (it holds a lone surrogate).",
        "3,custom_fields: is not valid Unicode (it holds a lone surrogate).",
    ]
    assert [row[0] for row in cards(database_path)] == ["C1", "C4", "J1", "J4"]


def test_an_unwritable_rejects_file_is_named_with_its_own_exit_status(
    tmp_path: Path, database_path: Path
) -> None:
    source = tmp_path / "crm.csv"
    source.write_text(CSV, encoding="utf-8")
    rejects = tmp_path / "no-such-folder" / "rejects.csv"

    result = kolejka(database_path, "crm", "import", str(source), "--rejects", str(rejects))

    assert result.returncode == 4
    assert f"cannot write the rejects file {rejects}" in result.stderr
    assert "nothing was imported" in result.stderr
    assert "unreachable" not in result.stderr


def test_a_header_naming_a_column_twice_is_refused_whole(
    tmp_path: Path, database_path: Path
) -> None:
    source = tmp_path / "crm.csv"
    source.write_text("identifier,surname,name,surname\nC1,Kowalski,Jan,Nowak\n", encoding="utf-8")

    result = kolejka(database_path, "crm", "import", str(source))

    assert result.returncode == 1
    assert "the CSV header names the column 'surname' twice" in result.stderr
    assert table(database_path, "SELECT count(*) FROM customers") == [(0,)]


@pytest.mark.parametrize(
    "value", ["", "'", "'a", "=x", "+1", "-1", "@x", "\tx", "\rx", "'=x", "''", "'''", "a=b"]
)
def test_a_neutralised_cell_reads_back_as_it_was(value: str) -> None:
    written = quote_formula(value)

    assert not written.startswith(FORMULA_STARTS)
    assert unquote_formula(written) == value


def test_a_rejects_file_that_fails_midway_is_named_and_the_import_still_stands(
    tmp_path: Path, database_path: Path
) -> None:
    source = tmp_path / "crm.csv"
    source.write_text(CSV + "C9,No,,601100209\n", encoding="utf-8")

    result = kolejka(database_path, "crm", "import", str(source), "--rejects", "/dev/full")

    assert result.returncode == 4, result.stderr
    assert "cannot write the rejects file /dev/full" in result.stderr
    assert "unreachable" not in result.stderr
    assert "3 added, 0 changed, 0 unchanged, 1 refused" in result.stdout
    assert "line 5: row: has 4 cells; the header has 7." in result.stdout
    assert [row[0] for row in cards(database_path)] == ["C1", "C2", "F1"]


COMMANDS = [["crm", "import", "crm.csv"], ["crm", "export"], ["users", "list"]]


@pytest.mark.parametrize("command", COMMANDS)
def test_a_command_against_an_unreachable_postgresql_says_so_without_a_traceback(
    tmp_path: Path, command: list[str]
) -> None:
    (tmp_path / "crm.csv").write_text(CSV, encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "kolejka", *command],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={"KOLEJKA_DATABASE_URL": "postgresql://postgres@127.0.0.1:9/none", "PATH": "/bin"},
        timeout=30,
        check=False,
    )

    assert result.returncode == 1
    assert "kolejka: the database or Redis is unreachable" in result.stderr
    assert "Traceback" not in result.stderr
