"""The CRM's field rules, without a server: what a customer, a company and an import row may be."""

from __future__ import annotations

import pytest

from kolejka.domain.crm import CUSTOMER_ORDER_FIELDS, CustomerFields, Order, PhoneNumber
from kolejka.domain.crm_fields import (
    customer_fields,
    parse_order,
    phone_number,
    phone_numbers,
    split_numbers,
)
from kolejka.domain.crm_import import import_row
from kolejka.domain.customers import CustomerKind
from kolejka.domain.errors import ConflictingField, FieldProblem, InvalidField
from kolejka.domain.phone import PhoneNumbers

PHONES = PhoneNumbers("PL")


@pytest.mark.parametrize(
    ("written", "e164"),
    [
        ("601 100 200", "+48601100200"),
        ("+48 (22) 123-45-67", "+48221234567"),
        ("12", None),  # well written, but no number the plan knows: kept, names nobody
    ],
)
def test_a_phone_number_is_kept_as_written_with_its_e164_form(
    written: str, e164: str | None
) -> None:
    assert phone_number(written, PHONES, "phone_number") == PhoneNumber(written, e164)


@pytest.mark.parametrize("written", ["call me", "+", "", "601100200x", "6" * 65, 601100200])
def test_anything_but_digits_and_phone_punctuation_is_no_phone_number(written: object) -> None:
    with pytest.raises(InvalidField) as refused:
        phone_number(written, PHONES, "phone_number")
    assert (refused.value.field, refused.value.problem) == (
        "phone_number",
        FieldProblem.NOT_A_PHONE_NUMBER,
    )
    assert refused.value.text() == "is not a phone number."


def test_two_spellings_of_one_number_count_once_and_the_first_spelling_stays() -> None:
    numbers = phone_numbers(["601100200", "+48 601 100 200", "221234567"], PHONES, "phone_number")

    assert [n.raw for n in numbers] == ["601100200", "221234567"]


def test_an_import_cell_may_hold_several_numbers() -> None:
    numbers = split_numbers("601100200; +48 22 123 45 67 | 500600700,", PHONES, "phone_number")

    assert [n.e164 for n in numbers] == ["+48601100200", "+48221234567", "+48500600700"]


def test_a_person_needs_a_surname_and_a_partial_update_keeps_the_rest() -> None:
    with pytest.raises(InvalidField, match="surname"):
        customer_fields({"name": "Jan"}, PHONES)
    base = CustomerFields(name="Jan", surname="Kowalski", email="jan@example.com")

    changed = customer_fields({"surname": "Nowak", "email": None}, PHONES, base=base)

    assert (changed.name, changed.surname, changed.email) == ("Jan", "Nowak", "jan@example.com")


def test_a_companys_card_has_a_name_and_no_surname() -> None:
    with pytest.raises(ConflictingField, match="surname"):
        customer_fields({"name": "ACME", "surname": "X"}, PHONES, kind=CustomerKind.COMPANY)


def test_order_reads_fields_with_a_minus_for_descending_and_ignores_repeats() -> None:
    assert parse_order("-surname,name,surname", CUSTOMER_ORDER_FIELDS) == (
        Order("surname", descending=True),
        Order("name"),
    )
    with pytest.raises(InvalidField, match="order"):
        parse_order("shoe_size", CUSTOMER_ORDER_FIELDS)


def test_an_import_row_needs_an_identifier_and_may_be_a_company() -> None:
    with pytest.raises(InvalidField, match="identifier"):
        import_row(2, {"surname": "Kowalski"}, PHONES)

    row = import_row(
        3, {"identifier": "F1", "company_flag": 1, "name": "ACME", "nip": "1",
            "phone_number": "613459852"}, PHONES,
    )  # fmt: skip

    assert (row.kind, row.name, row.nip, row.numbers) == (
        "company", "ACME", "1", (("613459852", "+48613459852"),),
    )  # fmt: skip
