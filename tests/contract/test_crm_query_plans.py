"""The CRM's hot queries use an index on every engine: none reads the whole customers table.

How statements are recorded and explained: tests/contract/query_plans.py. Lists without a filter
walk the id order to a page, so they are not in the hot set.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from kolejka.adapters.postgres.crm import PostgresCrm
from kolejka.adapters.postgres.stores import PostgresCustomers
from kolejka.adapters.sqlite.crm import SqliteCrm
from kolejka.adapters.sqlite.database import Database
from kolejka.adapters.sqlite.stores import SqliteCustomers
from kolejka.domain.crm import CompanyFields, CustomerFields, ListQuery, PhoneNumber
from kolejka.domain.customers import CustomerKind
from kolejka.domain.errors import IdentifierTaken
from kolejka.services.ports import CrmStore, CustomerDirectory
from tests.contract.query_plans import Recording, recording, scans

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
NUMBER = PhoneNumber("+48 746 842 523", "+48746842523")
CRM_TABLES = re.compile(r"\b(customers|companies|customer_phone_numbers)\b")


@dataclass
class Recorded:
    """The CRM stores of one engine, and the recording of what their connections executed."""

    engine: str
    crm: CrmStore
    customers: CustomerDirectory
    database: Recording

    @property
    def statements(self) -> list[tuple[str, tuple[object, ...]]]:
        return self.database.statements


async def _hot_work(stores: Recorded) -> None:
    """Every CRM write and lookup a caller or an API client makes, with identifiers and numbers."""
    crm = stores.crm
    company = await crm.add_company(CompanyFields(name="Acme", phone_numbers=(NUMBER,)), NOW)
    people = await crm.add_customers(
        CustomerKind.PERSON,
        [
            CustomerFields(
                name="Jan",
                surname="Kowalski",
                identifier="K-1",
                company_id=company.company_id,
                phone_numbers=(NUMBER,),
            ),
            CustomerFields(name="Anna", surname="Nowak", identifier="K-2"),
        ],
        NOW,
    )
    jan, anna = people
    await crm.update_customer(
        jan.customer_id, CustomerFields(name="Jan", surname="K", identifier="K-1"), NOW
    )
    with pytest.raises(IdentifierTaken):
        await crm.add_customers(CustomerKind.PERSON, [CustomerFields(identifier="K-2")], NOW)
    await crm.update_company(company.company_id, CompanyFields(name="Acme 2", nip="1"), NOW)
    await crm.customer(jan.customer_id)
    await crm.company(company.company_id)
    await crm.company_of_card(company.customer_id)
    await crm.customers(ListQuery(phone_e164=NUMBER.e164))
    await crm.companies(ListQuery(phone_e164=NUMBER.e164))
    await stores.customers.owners("+48746842523")
    await crm.remove_customer(anna.customer_id)
    await crm.remove_company(company.company_id)


@pytest.fixture(params=["sqlite", "postgresql"])
async def recorded(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Recorded]:
    postgres_url = "" if request.param == "sqlite" else request.getfixturevalue("postgres_url")
    async with recording(request.param, tmp_path, postgres_url) as database:
        if isinstance(database.database, Database):
            crm: CrmStore = SqliteCrm(database.database)
            customers: CustomerDirectory = SqliteCustomers(database.database)
        else:
            crm = PostgresCrm(database.database)
            customers = PostgresCustomers(database.database)
        yield Recorded(request.param, crm, customers, database)


async def test_no_hot_crm_query_reads_the_whole_table(recorded: Recorded) -> None:
    await _hot_work(recorded)
    queries = recorded.database.queries(CRM_TABLES)
    assert any("identifier" in s and s.lstrip().startswith("SELECT") for s in queries)
    scanning = {}
    for statement, args in queries.items():
        plan = await recorded.database.plan(statement, args)
        if scans(recorded.engine, plan):
            scanning[statement] = plan
    assert scanning == {}


@pytest.mark.parametrize("recorded", ["postgresql"], indirect=True)
async def test_a_batch_of_1000_cards_costs_a_few_round_trips(recorded: Recorded) -> None:
    """Card by card, a batch of 1,000 made some 5,000 round trips and overran the store timeout."""
    cards = [
        CustomerFields(
            surname=f"Kowalski {i}",
            identifier=f"K-{i}",
            phone_numbers=(PhoneNumber(f"61 {i:07d}", f"+4861{i:07d}"),),
        )
        for i in range(1000)
    ]
    added = await recorded.crm.add_customers(CustomerKind.PERSON, cards, NOW)
    assert [c.fields for c in added] == cards
    assert len(recorded.statements) <= 20, [s for s, _ in recorded.statements]
