"""The rows of an import file: a card as a CSV or JSON row carries it, checked by the API's rules.

An import matches cards by their `identifier`; a row without one may only name the card it was
exported from (`customer_id`), and then leaves it as it is. The engines stage and apply the rows
(`kolejka.adapters.sql.staging`, `kolejka.adapters.sqlite.crm_import`,
`kolejka.adapters.postgres.crm_import`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from kolejka.domain import crm_fields as fields
from kolejka.domain.crm import ADDRESS_KINDS, DETAIL_TEXTS, NO_DETAILS, Details, PhoneNumber
from kolejka.domain.customers import CustomerKind
from kolejka.domain.errors import FieldProblem, InvalidField
from kolejka.domain.phone import PhoneNumbers


class ImportRow(NamedTuple):
    """A card from an import file, matched to the CRM by its `identifier`.

    Flat, so that a million of them travel between processes cheaply. A company's row
    (`kind` "company", `name` the company's name) also has the company's own fields.
    """

    line: int
    kind: str
    identifier: str
    name: str
    surname: str
    email: str
    type: str
    group: str
    account_manager: str
    custom_fields: Mapping[str, str]
    numbers: tuple[tuple[str, str | None], ...]  # (as written, E.164 or None)
    nip: str | None = None  # the company's, on a company's row
    company_details: Details | None = None  # the company's addresses, on a company's row
    company_custom_fields: Mapping[str, str] | None = None
    # Only on a row without an identifier: the card it was exported from, which it may match
    # only while that card has no identifier either and is exactly like the row.
    customer_id: int | None = None
    card_nip: str = ""  # a person's
    details: Details | None = None  # a person's documented details; None when it has none


@dataclass(frozen=True, slots=True)
class ImportCounts:
    """What an import did, by distinct identifier; `unmatched`: the lines of rows without an
    identifier that matched no card as it is (refused, written nowhere)."""

    added: int
    changed: int
    unchanged: int
    unmatched: tuple[int, ...] = ()


# A person's fields a company's row leaves empty.
PERSON_DETAILS = (*DETAIL_TEXTS, "vip")
IMPORT_FIELDS = frozenset(
    {
        "identifier",
        "customer_id",
        "company_flag",
        "name",
        "surname",
        "phone_number",
        "phone_numbers",
        "email",
        "type",
        "group",
        "account_manager",
        "custom_fields",
        "nip",
        *PERSON_DETAILS,
        *ADDRESS_KINDS,
    }
)
UNMATCHED = (
    "matches no card without an identifier exactly as written: a card is added or changed by"
    " import only through its identifier."
)


def import_row(line: int, values: Mapping[str, Any], phones: PhoneNumbers) -> ImportRow:
    """A row of an import file (CSV cells or a JSON object) as a card, or InvalidField.

    The rules are the HTTP API's; numbers may also come as one cell with `,`, `;` or `|`
    between them, and `identifier` is required, since imports match customers by it, except on
    a row with the `customer_id` of a card that has none (as an export writes it): that row
    can only leave its card as it is.
    """
    unknown = fields.unknown_field(values, IMPORT_FIELDS)
    if unknown is not None:
        raise InvalidField(unknown, FieldProblem.UNKNOWN_FIELD)
    cells = dict(values)
    found: tuple[PhoneNumber, ...] = ()
    for name in ("phone_number", "phone_numbers"):
        cell = cells.pop(name, None)
        if isinstance(cell, str):
            found += fields.split_numbers(cell, phones, name)
        elif cell is not None:
            found += fields.phone_numbers(cell, phones, name)
    numbers = tuple((number.raw, number.e164) for number in fields.distinct(found))
    identifier = fields.text(cells, "identifier", 128)
    _, customer_id = fields.optional_id(cells, "customer_id")
    cells.pop("customer_id", None)
    if identifier:
        customer_id = None  # the identifier matches; an id from another database must not
    elif customer_id is None:
        raise InvalidField("identifier", FieldProblem.IDENTIFIER_REQUIRED)
    identifier = identifier or ""
    if fields.flag(cells, "company_flag") == 1:
        for name in ("surname", *PERSON_DETAILS):
            if cells.get(name):
                raise InvalidField(name, FieldProblem.MUST_BE_EMPTY)
        company = fields.company_fields(cells, phones)
        return ImportRow(
            line,
            CustomerKind.COMPANY.value,
            identifier,
            company.name,
            "",
            fields.text(cells, "email") or "",
            company.type,
            company.group,
            fields.text(cells, "account_manager") or "",
            {},
            numbers,
            company.nip,
            company.details,
            company.custom_fields,
            customer_id,
        )
    card = fields.customer_fields(cells, phones)
    return ImportRow(
        line,
        CustomerKind.PERSON.value,
        identifier,
        card.name,
        card.surname,
        card.email,
        card.type,
        card.group,
        card.account_manager,
        card.custom_fields,
        numbers,
        customer_id=customer_id,
        card_nip=card.nip,
        details=None if card.details == NO_DETAILS else card.details,
    )
