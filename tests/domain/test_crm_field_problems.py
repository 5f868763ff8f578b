"""Every malformed field of a record at once, and the fields Thulium does not document."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from kolejka.domain.crm import CustomerFields
from kolejka.domain.crm_fields import (
    CUSTOMER_FIELDS,
    customer_fields,
    every_problem,
    undocumented,
)
from kolejka.domain.customers import CustomerKind
from kolejka.domain.errors import ConflictingField, FieldProblem, InvalidField, InvalidFields
from kolejka.domain.phone import PhoneNumbers

PHONES = PhoneNumbers("PL")


def person(values: Mapping[str, Any]) -> CustomerFields:
    return customer_fields(values, PHONES)


def company_card(values: Mapping[str, Any]) -> CustomerFields:
    return customer_fields(values, PHONES, kind=CustomerKind.COMPANY)


def test_a_valid_record_is_checked_once_and_returned() -> None:
    assert every_problem(person, {"surname": "Lis"}) == person({"surname": "Lis"})


def test_one_malformed_field_is_raised_as_it_is() -> None:
    with pytest.raises(InvalidField) as raised:
        every_problem(person, {"surname": "Lis", "email": 7})

    assert (raised.value.field, raised.value.problem) == ("email", FieldProblem.NOT_A_STRING)


def test_every_malformed_field_is_named_in_the_order_written_a_missing_one_last() -> None:
    values = {"phone_number": "call me", "name": 1, "email": ["x"], "custom_fields": []}

    with pytest.raises(InvalidFields) as raised:
        every_problem(person, values)

    assert [(e.field, e.problem) for e in raised.value.errors] == [
        ("phone_number", FieldProblem.NOT_A_PHONE_NUMBER),
        ("name", FieldProblem.NOT_A_STRING),
        ("email", FieldProblem.NOT_A_STRING),
        ("custom_fields", FieldProblem.NOT_CUSTOM_FIELDS),
        ("surname", FieldProblem.REQUIRED),
    ]


def test_a_field_set_aside_is_not_named_twice() -> None:
    # Malformed, then missing once set aside: still one error for surname.
    with pytest.raises(InvalidField) as raised:
        every_problem(person, {"surname": 7})

    assert (raised.value.field, raised.value.problem) == ("surname", FieldProblem.NOT_A_STRING)


def test_a_conflict_is_told_only_when_no_field_is_malformed() -> None:
    with pytest.raises(ConflictingField):
        every_problem(company_card, {"name": "ACME", "surname": "Lis"})
    with pytest.raises(InvalidField) as raised:
        every_problem(company_card, {"name": "ACME", "surname": "Lis", "email": 1})

    assert raised.value.field == "email"


def test_undocumented_fields_are_the_others_sorted() -> None:
    values = {"surname": "Lis", "note_x": 1, "external_id": "E", "email": "a@b.pl"}

    assert undocumented(values, CUSTOMER_FIELDS) == ["external_id", "note_x"]
