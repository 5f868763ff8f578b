"""ports.CrmStore and ports.CustomerDirectory, on every database engine."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from kolejka.domain.crm import (
    Address,
    CompanyFields,
    Customer,
    CustomerFields,
    Details,
    ListQuery,
    Order,
    PhoneNumber,
)
from kolejka.domain.customers import CustomerKind, CustomerMatch
from kolejka.domain.errors import IdentifierTaken, UnknownCompany
from tests.contract.stores import SqlStores

NOW = datetime(2026, 11, 26, 15, 4, 28, 250000, tzinfo=UTC)
LATER = datetime(2026, 11, 27, 9, 0, 0, tzinfo=UTC)
JAN_NUMBER = PhoneNumber("+48 746 842 523", "+48746842523")


def person(name: str, surname: str = "", *numbers: PhoneNumber, **fields: object) -> CustomerFields:
    return CustomerFields(name=name, surname=surname, phone_numbers=numbers, **fields)  # type: ignore[arg-type]


async def test_added_cards_come_back_whole_with_ids_from_the_store(sql: SqlStores) -> None:
    jan = person(
        "Jan",
        "Kowalski",
        JAN_NUMBER,
        PhoneNumber("12", None),
        email="jan@example.pl",
        identifier="K-1",
        type="VIP",
        group="Poznań",
        account_manager="Zofia",
        custom_fields={"notatka": "zażółć"},
    )
    added = await sql.crm.add_customers(CustomerKind.PERSON, [jan, person("Anna")], NOW)
    assert [c.fields for c in added] == [jan, person("Anna")]
    assert added[0].customer_id != added[1].customer_id
    assert await sql.crm.customer(added[0].customer_id) == added[0]
    assert added[0].updated_at == NOW
    assert added[0].kind is CustomerKind.PERSON


async def test_a_seed_names_its_ids_and_later_cards_get_ids_past_them(sql: SqlStores) -> None:
    # Added with the one CRM write path (the demo's customer 123 goes through the CRM); failed
    # before it: add_customers took no ids.
    seeded = await sql.crm.add_customers(
        CustomerKind.PERSON,
        [person("Jan", "Kowalski", JAN_NUMBER), person("Anna")],
        NOW,
        [123, 124],
    )
    assert [(c.customer_id, c.fields.name) for c in seeded] == [(123, "Jan"), (124, "Anna")]
    assert await sql.customers.owners("+48746842523") == [CustomerMatch(123, "Jan Kowalski")]
    (later,) = await sql.crm.add_customers(CustomerKind.PERSON, [person("Ewa")], NOW)
    company = await sql.crm.add_company(CompanyFields(name="Firma"), NOW)
    assert later.customer_id > 124
    assert company.customer_id > later.customer_id


async def test_a_refused_card_adds_none_of_its_batch(sql: SqlStores) -> None:
    await sql.crm.add_customers(CustomerKind.PERSON, [person("A", identifier="K-1")], NOW)
    with pytest.raises(IdentifierTaken):
        await sql.crm.add_customers(
            CustomerKind.PERSON, [person("B"), person("C", identifier="K-1")], NOW
        )
    assert [c.fields.name for c in await sql.crm.customers(ListQuery())] == ["A"]


async def test_adding_each_card_on_its_own_adds_the_others_and_says_why_each_was_refused(
    sql: SqlStores,
) -> None:
    company = await sql.crm.add_company(CompanyFields(name="Firma"), NOW)
    await sql.crm.add_customers(CustomerKind.PERSON, [person("A", identifier="K-1")], NOW)
    cards = [
        person("B", "", JAN_NUMBER, identifier="K-2"),
        person("C", identifier="K-1"),  # another card has it
        person("D", identifier="K-2"),  # B, before it, took it
        person("E", company_id=999),  # no such company
        person("F", company_id=company.company_id),
    ]

    outcomes = await sql.crm.add_each(CustomerKind.PERSON, cards, NOW)

    assert [type(o).__name__ for o in outcomes] == [
        "Customer",
        "IdentifierTaken",
        "IdentifierTaken",
        "UnknownCompany",
        "Customer",
    ]
    b, f = outcomes[0], outcomes[4]
    assert isinstance(b, Customer)
    assert isinstance(f, Customer)
    assert (b.fields, f.fields) == (cards[0], cards[4])
    assert await sql.crm.customer(b.customer_id) == b
    names = [c.fields.name for c in await sql.crm.customers(ListQuery(limit=10))]
    assert sorted(names) == ["A", "B", "F", "Firma"]
    assert await sql.customers.owners("+48746842523") == [CustomerMatch(b.customer_id, "B")]


async def test_adding_each_of_no_acceptable_cards_adds_nothing(sql: SqlStores) -> None:
    outcomes = await sql.crm.add_each(CustomerKind.PERSON, [person("E", company_id=9)], NOW)

    assert [type(o) for o in outcomes] == [UnknownCompany]
    assert await sql.crm.customers(ListQuery()) == []


async def test_a_card_naming_no_company_is_refused(sql: SqlStores) -> None:
    with pytest.raises(UnknownCompany):
        await sql.crm.add_customers(CustomerKind.PERSON, [person("A", company_id=999)], NOW)


async def test_updating_replaces_fields_and_numbers(sql: SqlStores) -> None:
    (jan,) = await sql.crm.add_customers(CustomerKind.PERSON, [person("Jan", "K", JAN_NUMBER)], NOW)
    changed = person("Jan", "Nowak", PhoneNumber("61 345 98 51", "+48613459851"))
    updated = await sql.crm.update_customer(jan.customer_id, changed, LATER)
    assert updated is not None
    assert (updated.fields, updated.updated_at) == (changed, LATER)
    assert await sql.customers.owners("+48746842523") == []
    assert await sql.crm.update_customer(jan.customer_id + 1000, changed, LATER) is None


async def test_a_card_may_keep_its_own_identifier_but_not_take_anothers(sql: SqlStores) -> None:
    a, b = await sql.crm.add_customers(
        CustomerKind.PERSON, [person("A", identifier="K-1"), person("B", identifier="K-2")], NOW
    )
    assert await sql.crm.update_customer(a.customer_id, person("A2", identifier="K-1"), LATER)
    with pytest.raises(IdentifierTaken):
        await sql.crm.update_customer(b.customer_id, person("B", identifier="K-1"), LATER)


async def test_removing_a_card_says_whether_it_existed(sql: SqlStores) -> None:
    (a,) = await sql.crm.add_customers(CustomerKind.PERSON, [person("A", "", JAN_NUMBER)], NOW)
    assert await sql.crm.remove_customer(a.customer_id) is True
    assert await sql.crm.remove_customer(a.customer_id) is False
    assert await sql.crm.customer(a.customer_id) is None
    assert await sql.customers.owners("+48746842523") == []


async def test_the_directory_names_the_owners_of_a_number_up_to_the_limit(sql: SqlStores) -> None:
    jan, anna, _ = await sql.crm.add_customers(
        CustomerKind.PERSON,
        [person("Jan", "Kowalski", JAN_NUMBER), person("Anna", "Nowak", JAN_NUMBER), person("C")],
        NOW,
    )
    firma = CompanyFields(name="Firma", phone_numbers=(JAN_NUMBER,))
    company = await sql.crm.add_company(firma, NOW)
    assert len(await sql.customers.owners("+48746842523", limit=1)) == 1
    owners = await sql.customers.owners("+48746842523", limit=5)
    assert sorted(owners, key=lambda m: m.customer_id) == [
        CustomerMatch(jan.customer_id, "Jan Kowalski"),
        CustomerMatch(anna.customer_id, "Anna Nowak"),
        CustomerMatch(company.customer_id, "Firma"),
    ]
    assert await sql.customers.owners("+48000000000") == []


async def test_sole_owners_keeps_the_numbers_one_customer_alone_owns(sql: SqlStores) -> None:
    anna_number = PhoneNumber("601 100 200", "+48601100200")
    jan, anna, ewa = await sql.crm.add_customers(
        CustomerKind.PERSON,
        [
            person("Jan", "Kowalski", JAN_NUMBER),
            person("Anna", "Nowak", anna_number, JAN_NUMBER),
            person("Ewa", "Nowak", anna_number),
        ],
        NOW,
    )
    (piotr,) = await sql.crm.add_customers(
        CustomerKind.PERSON, [person("Piotr", "", PhoneNumber("500 600 700", "+48500600700"))], NOW
    )
    numbers = ["+48746842523", "+48601100200", "+48500600700", "+48000000000"]
    assert await sql.customers.sole_owners(numbers) == {"+48500600700": piotr.customer_id}
    await sql.crm.remove_customer(anna.customer_id)
    assert dict(await sql.customers.sole_owners(numbers)) == {
        "+48746842523": jan.customer_id,
        "+48601100200": ewa.customer_id,
        "+48500600700": piotr.customer_id,
    }
    assert await sql.customers.sole_owners([]) == {}


async def test_lists_sort_page_and_filter_alike(sql: SqlStores) -> None:
    names = ["zenon", "Łucja", "adam", "Zofia", "Adam"]
    added = await sql.crm.add_customers(
        CustomerKind.PERSON, [person(n, n.upper()) for n in names], NOW
    )
    by_name = await sql.crm.customers(ListQuery(order=(Order("name"),)))
    assert [c.fields.name for c in by_name] == ["Adam", "Zofia", "adam", "zenon", "Łucja"]
    newest_id_first = await sql.crm.customers(
        ListQuery(limit=2, offset=1, order=(Order("customer_id", descending=True),))
    )
    assert [c.customer_id for c in newest_id_first] == [
        added[3].customer_id,
        added[2].customer_id,
    ]
    await sql.crm.update_customer(added[1].customer_id, person("Łucja", "", JAN_NUMBER), LATER)
    filtered = await sql.crm.customers(ListQuery(phone_e164="+48746842523"))
    assert [c.customer_id for c in filtered] == [added[1].customer_id]


async def test_a_company_is_a_card_plus_its_own_fields(sql: SqlStores) -> None:
    fields = CompanyFields(
        name="Thulium",
        nip="7831696935",
        type="partner",
        group="IT",
        custom_fields={"umowa": "2024"},
        phone_numbers=(JAN_NUMBER,),
        identifier="F-1",
        email="biuro@thulium.com",
        account_manager="zofia",
        details=Details(
            address=Address(street="Złotej Jesieni", building="7", city="Kraków"),
            invoice_address=Address(postcode="31-827", country="Polska"),
            mail_drop_address=Address(voivodship="małopolskie"),
        ),
    )
    company = await sql.crm.add_company(fields, NOW)
    assert company.fields == fields
    assert await sql.crm.company(company.company_id) == company
    assert await sql.crm.company_of_card(company.customer_id) == company.company_id
    card = await sql.crm.customer(company.customer_id)
    assert card is not None
    assert (card.kind, card.fields.name) == (CustomerKind.COMPANY, "Thulium")
    renamed = CompanyFields(name="Thulium SA", nip="1", phone_numbers=())
    updated = await sql.crm.update_company(company.company_id, renamed, LATER)
    assert updated is not None
    assert updated.fields == renamed
    assert await sql.crm.update_company(company.company_id + 1000, renamed, LATER) is None
    listed = await sql.crm.companies(ListQuery(order=(Order("name"),)))
    assert [c.company_id for c in listed] == [company.company_id]


async def test_removing_a_company_keeps_its_people_without_one(sql: SqlStores) -> None:
    company = await sql.crm.add_company(CompanyFields(name="Firma"), NOW)
    (worker,) = await sql.crm.add_customers(
        CustomerKind.PERSON, [person("Jan", company_id=company.company_id)], NOW
    )
    assert await sql.crm.remove_company(company.company_id) is True
    assert await sql.crm.remove_company(company.company_id) is False
    assert await sql.crm.company(company.company_id) is None
    assert await sql.crm.customer(company.customer_id) is None
    kept = await sql.crm.customer(worker.customer_id)
    assert kept is not None
    assert kept.fields.company_id is None


async def test_sole_matches_names_the_numbers_one_customer_alone_owns(sql: SqlStores) -> None:
    anna_number = PhoneNumber("601 100 200", "+48601100200")
    jan, _, _ = await sql.crm.add_customers(
        CustomerKind.PERSON,
        [
            person("Jan", "Kowalski", JAN_NUMBER),
            person("Anna", "Nowak", anna_number),
            person("Ewa", "Nowak", anna_number),
        ],
        NOW,
    )
    firma = await sql.crm.add_company(
        CompanyFields(name="Firma", phone_numbers=(PhoneNumber("500 600 700", "+48500600700"),)),
        NOW,
    )
    numbers = ["+48746842523", "+48601100200", "+48500600700", "+48000000000"]
    assert dict(await sql.customers.sole_matches(numbers)) == {
        "+48746842523": CustomerMatch(jan.customer_id, "Jan Kowalski"),
        "+48500600700": CustomerMatch(firma.customer_id, "Firma"),
    }
    # A list of thousands of callers is one question.
    many = [f"+4860{n:07d}" for n in range(5000)] + ["+48746842523"]
    assert list(await sql.customers.sole_matches(many)) == ["+48746842523"]
    assert await sql.customers.sole_matches([]) == {}
