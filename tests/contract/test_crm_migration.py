"""Migration 0003 on every engine: what a CRM held before it reads the same after it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import pytest

from kolejka.adapters.postgres.crm import PostgresCrm
from kolejka.adapters.postgres.database import PostgresDatabase
from kolejka.adapters.sqlite.crm import SqliteCrm
from kolejka.adapters.sqlite.database import Database
from kolejka.domain.crm import Address, ListQuery
from kolejka.services.ports import CrmStore
from tests.contract.schema_versions import schema_at
from tests.servers import fresh_schema

# Rows as kolejka wrote them at schema version 2: a company with a one-line address and custom
# fields, and a member with custom fields of its own.
LEGACY = [
    "INSERT INTO customers (customer_id, kind, company_name, custom_fields, updated_at)"
    " VALUES (1, 'company', 'ACME', '{}', 0)",
    "INSERT INTO companies (company_id, customer_id, nip, address, custom_fields)"
    """ VALUES (1, 1, '779', 'ul. Długa 1, "Poznań"', '{"Kraj":"POLSKA"}')""",
    "INSERT INTO customers (customer_id, kind, name, surname, company_id, custom_fields,"
    " identifier, updated_at) VALUES (2, 'person', 'Jan', 'Kowalski', 1,"
    """ '{"Kraj":"NORWEGIA","Miasto":"Kraków"}', 'K-1', 0)""",
]


@dataclass
class Migrated:
    crm: CrmStore


@pytest.fixture(params=["sqlite", "postgresql"])
async def migrated(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Migrated]:
    """A database that had the legacy rows at version 2, then migrated to the newest."""
    if request.param == "sqlite":
        db = Database(str(tmp_path / "old.db"))
        with schema_at(2):
            assert db.migrate() == [1, 2]
        for statement in LEGACY:
            db.connection.execute(statement)
        assert db.migrate()[0] == 3  # and any later ones
        yield Migrated(SqliteCrm(db))
        db.close()
        return
    async with fresh_schema(request.getfixturevalue("postgres_url")) as url:
        pg = PostgresDatabase(url, pool_size=1)
        with schema_at(2):
            assert await pg.migrate() == [1, 2]
        connection = await asyncpg.connect(url)
        try:
            for statement in LEGACY:
                await connection.execute(statement)
        finally:
            await connection.close()
        assert (await pg.migrate())[0] == 3  # and any later ones
        yield Migrated(PostgresCrm(pg))
        await pg.aclose()


async def test_an_old_one_line_address_becomes_the_street_and_custom_fields_are_found(
    migrated: Migrated,
) -> None:
    company = await migrated.crm.company(1)
    jan = await migrated.crm.customer(2)

    assert company is not None
    assert jan is not None
    assert company.fields.details.address == Address(street='ul. Długa 1, "Poznań"')
    assert (company.fields.nip, dict(company.fields.custom_fields)) == ("779", {"Kraj": "POLSKA"})
    assert (jan.fields.nip, jan.fields.details.note, jan.fields.company_id) == ("", "", 1)
    polska = ListQuery(custom_fields=(("Kraj", ("POLSKA",)),))
    norwegia = ListQuery(custom_fields=(("Kraj", ("NORWEGIA",)), ("Miasto", ("Kraków",))))
    assert [c.company_id for c in await migrated.crm.companies(polska)] == [1]
    assert [c.customer_id for c in await migrated.crm.customers(norwegia)] == [2]
    assert [c.customer_id for c in await migrated.crm.customers(polska)] == []
