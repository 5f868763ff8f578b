"""`kolejka crm import` and `kolejka crm export`, run as the real command on a real file."""

from __future__ import annotations

import csv
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from kolejka.cli.crm_files import FORMULA_STARTS, quote_formula, unquote_formula
from tests.e2e.conftest import kolejka, kolejka_at
from tests.support import LiveServer, basic

CSV = """identifier,name,surname,phone_number,email,company_flag,nip
C1,Jan,Kowalski,746842523,jan@example.com,,
C2,Anna,Nowak,"+48 601 100 200; 22 123 45 67",,,
F1,ACME Sp. z o.o.,,613459852,,1,779-000-00-00
"""


def table(database: Path, sql: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(database) as connection:
        return connection.execute(sql).fetchall()


def pairs(database: Path, sql: str) -> dict[object, object]:
    return {row[0]: row[1] for row in table(database, sql)}


def interrupt_an_import_halfway(
    url: str,
    folder: Path,
    workers: str,
    sig: signal.Signals = signal.SIGINT,
    group: bool = False,
) -> tuple[int, str, str]:
    """Starts importing 150,001 rows (one changes C1), sends `sig` at half the file: to the
    command, or with `group` to its whole process group, workers too, as a terminal's Ctrl-C
    or `systemctl stop` does.

    Staging files that do not go beside the database (PostgreSQL's) go to `folder` (TMPDIR).
    Returns the command's exit status, stdout and stderr.
    """
    big = folder / "big.csv"
    with big.open("w", encoding="utf-8") as file:
        file.write("identifier,name,surname,phone_number\n")
        file.write("C1,Jan,Changed,746842523\n")  # an update that must not land either
        for i in range(150_000):
            file.write(f"B{i},Imię,Nazwisko{i},{500_000_000 + i};{600_000_000 + i}\n")
    process = subprocess.Popen(
        [sys.executable, "-m", "kolejka", "crm", "import", str(big), "--workers", workers],
        env={"KOLEJKA_DATABASE_URL": url, "PATH": "/usr/bin:/bin", "TMPDIR": str(folder)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=group,
    )
    assert process.stderr is not None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # halfway through reading the file
        line = process.stderr.readline()
        if "read 50%" in line:
            break
        assert line, "the import ended before reading half the file"
    if group:
        os.killpg(process.pid, sig)
    else:
        process.send_signal(sig)
    out, err = process.communicate(timeout=30)
    return process.returncode, out, err


def cards(database: Path) -> list[tuple[object, ...]]:
    return table(
        database,
        "SELECT identifier, kind, name, surname, company_name, email, updated_at"
        " FROM customers ORDER BY identifier",
    )


def test_a_csv_file_adds_persons_and_companies_with_their_numbers(
    tmp_path: Path, database_path: Path
) -> None:
    source = tmp_path / "crm.csv"
    source.write_text(CSV, encoding="utf-8")

    result = kolejka(database_path, "crm", "import", str(source))

    assert result.returncode == 0, result.stderr
    assert "3 added, 0 changed, 0 unchanged, 0 refused" in result.stdout
    assert [row[:5] for row in cards(database_path)] == [
        ("C1", "person", "Jan", "Kowalski", ""),
        ("C2", "person", "Anna", "Nowak", ""),
        ("F1", "company", "", "", "ACME Sp. z o.o."),
    ]
    assert table(database_path, "SELECT raw, normalized FROM customer_phone_numbers"
                 " ORDER BY customer_id, position") == [
        ("746842523", "+48746842523"),
        ("+48 601 100 200", "+48601100200"),
        ("22 123 45 67", "+48221234567"),
        ("613459852", "+48613459852"),
    ]  # fmt: skip
    assert table(database_path, "SELECT nip FROM companies") == [("779-000-00-00",)]


def test_importing_the_same_file_again_changes_nothing(tmp_path: Path, database_path: Path) -> None:
    source = tmp_path / "crm.csv"
    source.write_text(CSV, encoding="utf-8")
    assert kolejka(database_path, "crm", "import", str(source)).returncode == 0
    before = (cards(database_path), table(database_path, "SELECT * FROM customer_phone_numbers"))

    again = kolejka(database_path, "crm", "import", str(source))

    assert again.returncode == 0
    assert "0 added, 0 changed, 3 unchanged" in again.stdout
    after = (cards(database_path), table(database_path, "SELECT * FROM customer_phone_numbers"))
    assert after == before


def test_a_changed_row_updates_its_customer_by_identifier(
    tmp_path: Path, database_path: Path
) -> None:
    source = tmp_path / "crm.csv"
    source.write_text(CSV, encoding="utf-8")
    assert kolejka(database_path, "crm", "import", str(source)).returncode == 0
    ids = pairs(database_path, "SELECT identifier, customer_id FROM customers")
    source.write_text(
        CSV.replace("C1,Jan,Kowalski,746842523", "C1,Jan,Nowak,500600700"), encoding="utf-8"
    )

    result = kolejka(database_path, "crm", "import", str(source))

    assert "0 added, 1 changed, 2 unchanged" in result.stdout
    assert pairs(database_path, "SELECT identifier, customer_id FROM customers") == ids
    assert table(
        database_path,
        "SELECT c.surname, p.raw FROM customers c JOIN customer_phone_numbers p"
        " USING (customer_id) WHERE c.identifier = 'C1'",
    ) == [("Nowak", "500600700")]


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


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_an_export_imports_back_unchanged(tmp_path: Path, database_path: Path, fmt: str) -> None:
    source = tmp_path / "crm.csv"
    source.write_text(CSV, encoding="utf-8")
    assert kolejka(database_path, "crm", "import", str(source)).returncode == 0
    exported = tmp_path / f"export.{fmt}"

    result = kolejka(database_path, "crm", "export", str(exported))
    again = kolejka(database_path, "crm", "import", str(exported))
    fresh = tmp_path / "fresh.db"
    copied = kolejka(fresh, "crm", "import", str(exported))

    assert result.returncode == 0, result.stderr
    assert "0 added, 0 changed, 3 unchanged" in again.stdout
    assert "3 added" in copied.stdout
    assert [row[:6] for row in cards(fresh)] == [row[:6] for row in cards(database_path)]


@pytest.mark.parametrize("workers", ["1", "2"])
def test_an_import_interrupted_halfway_leaves_the_crm_as_it_was(
    tmp_path: Path, database_path: Path, workers: str
) -> None:
    seed = tmp_path / "seed.csv"
    seed.write_text(CSV, encoding="utf-8")
    assert kolejka(database_path, "crm", "import", str(seed)).returncode == 0
    before = cards(database_path)
    returncode, out, err = interrupt_an_import_halfway(
        f"sqlite:///{database_path}", tmp_path, workers
    )

    assert returncode == 130, out + err
    assert "nothing was imported" in err
    assert cards(database_path) == before
    assert table(database_path, "SELECT count(*) FROM customer_phone_numbers") == [(4,)]
    assert not list(database_path.parent.glob(".kolejka-import-*"))  # staging files are gone


@pytest.mark.parametrize(("workers", "group"), [("1", False), ("2", False), ("2", True)])
def test_sigterm_halfway_cleans_up_like_ctrl_c(
    tmp_path: Path, database_path: Path, workers: str, group: bool
) -> None:
    seed = tmp_path / "seed.csv"
    seed.write_text(CSV, encoding="utf-8")
    assert kolejka(database_path, "crm", "import", str(seed)).returncode == 0
    before = cards(database_path)
    returncode, out, err = interrupt_an_import_halfway(
        f"sqlite:///{database_path}", tmp_path, workers, signal.SIGTERM, group
    )

    assert returncode == 143, out + err
    assert "stopped by SIGTERM; nothing was imported" in err
    assert "Traceback" not in err
    assert cards(database_path) == before
    assert not list(database_path.parent.glob(".kolejka-import-*"))
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


API_USER, API_PASSWORD = "crm-admin", "crm-admin-CANARY-7f3a9"


def make_cards_through_the_api(url: str, folder: Path) -> None:
    """A company (the API gives its card no identifier), a member with several numbers, custom
    fields and an identifier, and a person without an identifier, all through `kolejka serve`."""
    added = kolejka_at(url, "users", "add", API_USER, "-p", "*", stdin=API_PASSWORD + "\n")
    assert added.returncode == 0, added.stderr
    server = LiveServer(folder / "unused.db", extra_env={"KOLEJKA_DATABASE_URL": url}).start()
    try:
        auth = {"Authorization": basic(API_USER, API_PASSWORD), "Content-Type": "application/json"}

        def post(path: str, body: object) -> Any:
            request = urllib.request.Request(
                server.url + path, data=json.dumps(body).encode(), headers=auth
            )
            with urllib.request.urlopen(request, timeout=5) as answer:
                return json.load(answer)

        company = post("/api/companies", {
            "name": "ACME Sp. z o.o.", "nip": "779-000-00-00", "address": "Poznań",
            "custom_fields": {"segment": "B2B"}, "phone_number": ["613459852", "+48 22 123 45 67"],
            "type": "partner", "group": "north",
        })  # fmt: skip
        post("/api/customers", {
            "name": "Jan", "surname": "Kowalski", "identifier": "C1", "email": "jan@example.com",
            "phone_number": ["746842523", "+48 601 100 200"], "phone_numbers": ["500600700"],
            "custom_fields": {"vip": "yes", "ąę": "źż"}, "company_id": company["company_id"],
            "type": "vip", "group": "north", "account_manager": "Ola",
        })  # fmt: skip
        post("/api/customers", {"surname": "Bez Identyfikatora", "phone_number": "+48 601 100 201"})
    finally:
        server.stop()
    assert "CANARY" not in server.log()


def snapshot(database: Path) -> list[list[tuple[object, ...]]]:
    return [
        table(database, f"SELECT * FROM {name} ORDER BY 1, 2")  # noqa: S608
        for name in ("customers", "customer_phone_numbers", "companies")
    ]


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_an_export_of_cards_made_through_the_api_imports_back_changing_nothing(
    tmp_path: Path, database_path: Path, fmt: str
) -> None:
    make_cards_through_the_api(f"sqlite:///{database_path}", tmp_path)
    before = snapshot(database_path)
    exported = tmp_path / f"export.{fmt}"
    assert kolejka(database_path, "crm", "export", str(exported)).returncode == 0

    again = kolejka(database_path, "crm", "import", str(exported))

    assert again.returncode == 0, again.stdout + again.stderr
    assert "0 added, 0 changed, 3 unchanged, 0 refused" in again.stdout
    assert snapshot(database_path) == before


def test_a_row_without_an_identifier_only_ever_matches_its_card_as_it_is(
    tmp_path: Path, database_path: Path
) -> None:
    make_cards_through_the_api(f"sqlite:///{database_path}", tmp_path)
    before = snapshot(database_path)
    exported = tmp_path / "export.jsonl"
    assert kolejka(database_path, "crm", "export", str(exported)).returncode == 0
    rows = [json.loads(line) for line in exported.read_text(encoding="utf-8").splitlines()]
    rows[2]["surname"] = "Changed"  # no identifier: an import cannot change this card
    rows.append({**rows[0], "customer_id": 2})  # the id of a card that has an identifier
    edited = tmp_path / "edited.jsonl"
    edited.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")

    result = kolejka(database_path, "crm", "import", str(edited))
    elsewhere = tmp_path / "other.db"
    copied = kolejka(elsewhere, "crm", "import", str(exported))

    assert result.returncode == 3
    assert "0 added, 0 changed, 2 unchanged, 2 refused" in result.stdout
    assert "line 3: customer_id: matches no card without an identifier" in result.stdout
    assert "line 4: customer_id: matches no card without an identifier" in result.stdout
    assert snapshot(database_path) == before
    assert copied.returncode == 3  # into another database only the card with an identifier goes
    assert "1 added, 0 changed, 0 unchanged, 2 refused" in copied.stdout


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
