"""The CRM's hot queries use an index on every engine: none reads the whole customers table.

The statements are not copied here: the real stores run every CRM write and lookup while the
connection records what it executes (sqlite3's trace callback, asyncpg's query logger), and each
recorded statement is then explained. A query edited so that it scans fails this test.

SQLite: a plan step `SCAN <table>` (without an index) reads the whole table. PostgreSQL: on tables
this small the planner rightly prefers a `Seq Scan`, so sequential scans are switched off and the
statements are explained as prepared statements' generic plans (`force_generic_plan`), which is
what asyncpg's cached statements get; a `Seq Scan` left in such a plan means no index can serve,
and so does an index scan without an `Index Cond` (the primary key walked end to end, filtering).
Lists without a filter walk the id order to a page, so they are not in the hot set.
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
from tests.contract.query_plans import Recording, recording

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
NUMBER = PhoneNumber("+48 746 842 523", "+48746842523")
CRM_TABLES = re.compile(r"\b(customers|companies|customer_phone_numbers|custom_field_values)\b")
# Thulium's `custom_fields[Kraj][]=POLSKA&custom_fields[Kraj][]=NORWEGIA&custom_fields[Miasto]=…`
CUSTOM = (("Kraj", ("POLSKA", "NORWEGIA")), ("Miasto", ("Kraków",)))


@dataclass
class Recorded:
    """The CRM stores of one engine, on a database whose every statement is recorded."""

    engine: str
    crm: CrmStore
    customers: CustomerDirectory
    database: Recording

    @property
    def statements(self) -> list[tuple[str, tuple[object, ...]]]:
        return self.database.statements

    def clear(self) -> None:
        self.database.clear()


async def _hot_work(stores: Recorded) -> None:
    """Every CRM write and lookup a caller or an API client makes, with identifiers and numbers."""
    crm = stores.crm
    company = await crm.add_company(
        CompanyFields(
            name="Acme",
            phone_numbers=(NUMBER,),
            identifier="F-1",
            email="biuro@acme.pl",
            custom_fields={"Kraj": "POLSKA"},
        ),
        NOW,
    )
    people = await crm.add_customers(
        CustomerKind.PERSON,
        [
            CustomerFields(
                name="Jan",
                surname="Kowalski",
                identifier="K-1",
                company_id=company.company_id,
                phone_numbers=(NUMBER,),
                custom_fields={"Kraj": "POLSKA", "Miasto": "Kraków"},
                nip="6783144527",
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
    # Every filter GET customers and GET companies document, alone and together.
    filters = [
        ListQuery(identifier="K-1"),
        ListQuery(identifier=""),
        ListQuery(email="jan@example.pl"),
        ListQuery(nip="6783144527"),
        ListQuery(type="VIP"),
        ListQuery(group="Poznań"),
        ListQuery(custom_fields=CUSTOM),
        ListQuery(email="jan@example.pl", type="VIP", group="Poznań", custom_fields=CUSTOM),
    ]
    for query in filters:
        await crm.customers(query)
        await crm.companies(query)
    for query in (
        ListQuery(company_id=company.company_id),
        ListQuery(company_flag=True),
        ListQuery(company_flag=False),
    ):
        await crm.customers(query)
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


# A partial index holds only the rows its condition names: walking it is the filter.
PARTIAL_INDEXES = ("customers_without_identifier",)


def _scans(engine: str, plan: list[str]) -> list[str]:
    if engine == "sqlite":
        # `SCAN t` reads the whole table; `SCAN t USING INDEX` or `SEARCH` do not.
        return [step for step in plan if re.match(r"\s*SCAN \w+\s*$", step)]
    # A `Seq Scan`, or an index walked from end to end: an index scan whose node has no
    # `Index Cond` (with sequential scans off, a filter no index serves walks the primary key).
    found = [step for step in plan if "Seq Scan" in step]
    for number, step in enumerate(plan):
        if "Index Scan" in step or "Index Only Scan" in step:
            details = []
            for later in plan[number + 1 :]:
                if "->" in later:
                    break
                details.append(later)
            partial = any(f" using {name} " in step for name in PARTIAL_INDEXES)
            if not partial and not any("Index Cond" in detail for detail in details):
                found.append(step)
    return found


async def test_no_hot_crm_query_reads_the_whole_table(recorded: Recorded) -> None:
    await _hot_work(recorded)
    queries = recorded.database.queries(CRM_TABLES)
    assert any("identifier" in s and s.lstrip().startswith("SELECT") for s in queries)
    scanning = {}
    for statement, args in queries.items():
        plan = await recorded.database.plan(statement, args)
        if _scans(recorded.engine, plan):
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
