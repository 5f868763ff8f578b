"""`kolejka crm import` and `export` on PostgreSQL: the real command against a real server."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from tests.crm.test_import_export import (
    CSV,
    interrupt_an_import_halfway,
    make_cards_through_the_api,
)
from tests.e2e.conftest import kolejka_at
from tests.servers import fresh_schema
from tests.support import LiveServer, basic

USER, PASSWORD = "importer", "importer-CANARY-7f3a9"


@pytest.fixture
async def pg_url(postgres_url: str) -> AsyncIterator[str]:
    """A fresh schema of the machine's PostgreSQL (the fixture skips, or under CI fails)."""
    async with fresh_schema(postgres_url) as url:
        yield url


async def rows(url: str, sql: str) -> list[tuple[object, ...]]:
    connection = await asyncpg.connect(url)
    try:
        return [tuple(row) for row in await connection.fetch(sql)]
    finally:
        await connection.close()


async def cards(url: str) -> list[tuple[object, ...]]:
    return await rows(
        url,
        "SELECT identifier, kind, name, surname, company_name, email, customer_id, updated_at"
        " FROM customers ORDER BY identifier",
    )


@pytest.mark.needs_postgres
async def test_a_csv_file_adds_persons_and_companies_with_their_numbers(
    tmp_path: Path, pg_url: str
) -> None:
    source = tmp_path / "crm.csv"
    source.write_text(CSV, encoding="utf-8")

    result = kolejka_at(pg_url, "crm", "import", str(source))

    assert result.returncode == 0, result.stderr
    assert "3 added, 0 changed, 0 unchanged, 0 refused" in result.stdout
    assert [row[:5] for row in await cards(pg_url)] == [
        ("C1", "person", "Jan", "Kowalski", ""),
        ("C2", "person", "Anna", "Nowak", ""),
        ("F1", "company", "", "", "ACME Sp. z o.o."),
    ]
    assert await rows(pg_url, "SELECT raw, normalized FROM customer_phone_numbers"
                      " ORDER BY customer_id, position") == [
        ("746842523", "+48746842523"),
        ("+48 601 100 200", "+48601100200"),
        ("22 123 45 67", "+48221234567"),
        ("613459852", "+48613459852"),
    ]  # fmt: skip
    assert await rows(pg_url, "SELECT nip FROM companies") == [("779-000-00-00",)]


@pytest.mark.needs_postgres
async def test_a_rerun_changes_nothing_and_a_changed_row_keeps_its_card(
    tmp_path: Path, pg_url: str
) -> None:
    source = tmp_path / "crm.csv"
    source.write_text(CSV, encoding="utf-8")
    assert kolejka_at(pg_url, "crm", "import", str(source)).returncode == 0
    before = await cards(pg_url)

    again = kolejka_at(pg_url, "crm", "import", str(source))

    assert "0 added, 0 changed, 3 unchanged" in again.stdout
    assert await cards(pg_url) == before

    source.write_text(
        CSV.replace("C1,Jan,Kowalski,746842523", "C1,Jan,Nowak,500600700"), encoding="utf-8"
    )
    changed = kolejka_at(pg_url, "crm", "import", str(source))

    assert "0 added, 1 changed, 2 unchanged" in changed.stdout
    after = {row[0]: row for row in await cards(pg_url)}
    assert after["C1"][3] == "Nowak"
    assert after["C1"][6] == before[0][6]  # the same card, not a new one
    assert await rows(
        pg_url,
        "SELECT p.raw FROM customer_phone_numbers p JOIN customers c USING (customer_id)"
        " WHERE c.identifier = 'C1'",
    ) == [("500600700",)]


@pytest.mark.needs_postgres
async def test_an_export_from_postgresql_imports_into_sqlite_unchanged(
    tmp_path: Path, pg_url: str
) -> None:
    source = tmp_path / "crm.csv"
    source.write_text(CSV, encoding="utf-8")
    assert kolejka_at(pg_url, "crm", "import", str(source)).returncode == 0
    exported = tmp_path / "export.jsonl"

    result = kolejka_at(pg_url, "crm", "export", str(exported))

    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in exported.read_text(encoding="utf-8").splitlines()]
    assert [(line["identifier"], line["phone_number"]) for line in lines] == [
        ("C1", ["746842523"]),
        ("C2", ["+48 601 100 200", "22 123 45 67"]),
        ("F1", ["613459852"]),
    ]
    sqlite_url = f"sqlite:///{tmp_path / 'copy.db'}"
    copied = kolejka_at(sqlite_url, "crm", "import", str(exported))
    assert "3 added" in copied.stdout
    back = kolejka_at(pg_url, "crm", "import", str(exported))
    assert "0 added, 0 changed, 3 unchanged" in back.stdout


@pytest.mark.needs_postgres
async def test_an_import_interrupted_halfway_leaves_postgresql_as_it_was(
    tmp_path: Path, pg_url: str
) -> None:
    seed = tmp_path / "seed.csv"
    seed.write_text(CSV, encoding="utf-8")
    assert kolejka_at(pg_url, "crm", "import", str(seed)).returncode == 0
    before = await cards(pg_url)
    returncode, out, err = interrupt_an_import_halfway(pg_url, tmp_path, "1")

    assert returncode == 130, out + err
    assert "nothing was imported" in err
    assert await cards(pg_url) == before


@pytest.mark.needs_postgres
async def test_sigterm_halfway_leaves_postgresql_as_it_was_and_no_staging_files(
    tmp_path: Path, pg_url: str
) -> None:
    seed = tmp_path / "seed.csv"
    seed.write_text(CSV, encoding="utf-8")
    assert kolejka_at(pg_url, "crm", "import", str(seed)).returncode == 0
    before = await cards(pg_url)
    returncode, out, err = interrupt_an_import_halfway(pg_url, tmp_path, "2", signal.SIGTERM)

    assert returncode == 143, out + err
    assert "stopped by SIGTERM; nothing was imported" in err
    assert "Traceback" not in err
    assert await cards(pg_url) == before
    assert not list(tmp_path.glob(".kolejka-import-*"))  # TMPDIR: where PostgreSQL's staging goes


async def snapshot(url: str) -> list[list[tuple[object, ...]]]:
    return [
        await rows(url, f"SELECT * FROM {name} ORDER BY 1, 2")  # noqa: S608
        for name in ("customers", "customer_phone_numbers", "companies")
    ]


@pytest.mark.needs_postgres
@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
async def test_an_export_of_cards_made_through_the_api_imports_back_into_postgresql_unchanged(
    tmp_path: Path, pg_url: str, fmt: str
) -> None:
    make_cards_through_the_api(pg_url, tmp_path)
    before = await snapshot(pg_url)
    exported = tmp_path / f"export.{fmt}"
    assert kolejka_at(pg_url, "crm", "export", str(exported)).returncode == 0

    again = kolejka_at(pg_url, "crm", "import", str(exported))

    assert again.returncode == 0, again.stdout + again.stderr
    assert "0 added, 0 changed, 3 unchanged, 0 refused" in again.stdout
    assert await snapshot(pg_url) == before


@pytest.mark.needs_postgres
async def test_a_row_without_an_identifier_never_changes_a_postgresql_card(
    tmp_path: Path, pg_url: str
) -> None:
    make_cards_through_the_api(pg_url, tmp_path)
    before = await snapshot(pg_url)
    exported = tmp_path / "export.jsonl"
    assert kolejka_at(pg_url, "crm", "export", str(exported)).returncode == 0
    lines = [json.loads(line) for line in exported.read_text(encoding="utf-8").splitlines()]
    lines[2]["surname"] = "Changed"
    lines.append({**lines[0], "customer_id": lines[1]["customer_id"]})  # a card with an identifier
    edited = tmp_path / "edited.jsonl"
    edited.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")

    result = kolejka_at(pg_url, "crm", "import", str(edited))

    assert result.returncode == 3
    assert "0 added, 0 changed, 2 unchanged, 2 refused" in result.stdout
    assert "line 3: customer_id: matches no card without an identifier" in result.stdout
    assert "line 4: customer_id: matches no card without an identifier" in result.stdout
    assert await snapshot(pg_url) == before


@pytest.mark.needs_postgres
async def test_a_running_instance_names_a_caller_the_import_just_added(
    tmp_path: Path, pg_url: str
) -> None:
    assert kolejka_at(pg_url, "queues", "add", "2", "Obsługa").returncode == 0
    added = kolejka_at(pg_url, "users", "add", USER, "-p", "*", stdin=PASSWORD + "\n")
    assert added.returncode == 0, added.stderr
    server = LiveServer(tmp_path / "unused.db", extra_env={"KOLEJKA_DATABASE_URL": pg_url})
    server.start()
    try:
        auth = {"Authorization": basic(USER, PASSWORD), "Content-Type": "application/json"}

        def ask(path: str, body: object = None) -> Any:
            data = None if body is None else json.dumps(body).encode()
            request = urllib.request.Request(server.url + path, data=data, headers=auth)
            with urllib.request.urlopen(request, timeout=5) as answer:
                return json.load(answer)

        ask("/api/queues/2/callers", {"call_id": "1795705470.0", "phone_number": "746842523"})
        # Rendered once, and kept until something changes: the import must say it did.
        (unknown,) = ask("/api/queues/2/waiting_list")
        assert (unknown["customer_id"], unknown["customer_label"]) == (None, None)
        source = tmp_path / "crm.csv"
        source.write_text(CSV, encoding="utf-8")
        assert kolejka_at(pg_url, "crm", "import", str(source)).returncode == 0

        deadline = time.monotonic() + 2
        while True:
            (entry,) = ask("/api/queues/2/waiting_list")
            if entry["customer_label"] == "Jan Kowalski" or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert entry["customer_label"] == "Jan Kowalski"
        assert isinstance(entry["customer_id"], int)
    finally:
        server.stop()
    assert "CANARY" not in server.log()


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
