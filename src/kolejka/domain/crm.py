"""The CRM's customers and companies as Thulium names them, and the rows of an import file.

A *company* is a customer card of kind `company` (its `company_flag` is 1) plus the company's own
fields (NIP, address). The card carries the company's phone numbers, so a caller ringing from one
of them is named by the company's name, exactly like a person is named by "name surname". A person
may belong to a company (`company_id`), which never changes the person's label.

The rules the fields follow live in `kolejka.domain.crm_fields`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

from kolejka.domain.customers import CustomerKind
from kolejka.domain.errors import FieldProblem, InvalidField
from kolejka.domain.phone import PhoneNumbers

MAX_TEXT = 255
MAX_ADDRESS = 1000
MAX_NIP = 32
MAX_NUMBERS = 20
MAX_CUSTOM_FIELDS = 20
MAX_CUSTOM_VALUE = 200


@dataclass(frozen=True, slots=True)
class PhoneNumber:
    """A number as the client wrote it, and its E.164 form used for matching."""

    raw: str
    e164: str | None  # None: not a number the numbering plan knows; it names nobody

    @property
    def key(self) -> str:
        return self.e164 or self.raw


@dataclass(frozen=True, slots=True)
class CustomerFields:
    """What a client may set on a customer card. For a company's card `name` is the company name."""

    name: str = ""
    surname: str = ""
    phone_numbers: tuple[PhoneNumber, ...] = ()
    email: str = ""
    company_id: int | None = None
    identifier: str = ""
    type: str = ""
    group: str = ""
    account_manager: str = ""
    custom_fields: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Customer:
    """A stored card: a person, or the card that stands for a company (`company_flag` 1)."""

    customer_id: int
    kind: CustomerKind
    fields: CustomerFields
    updated_at: datetime

    @property
    def company_flag(self) -> int:
        return 1 if self.kind is CustomerKind.COMPANY else 0


@dataclass(frozen=True, slots=True)
class CompanyFields:
    """What a client may set on a company; `phone_numbers` go on the company's customer card."""

    name: str = ""
    nip: str = ""
    type: str = ""
    group: str = ""
    address: str = ""
    custom_fields: Mapping[str, str] = field(default_factory=dict)
    phone_numbers: tuple[PhoneNumber, ...] = ()


@dataclass(frozen=True, slots=True)
class Company:
    """A stored company; `customer_id` names its card, which holds its phone numbers."""

    company_id: int
    customer_id: int
    fields: CompanyFields


@dataclass(frozen=True, slots=True)
class Order:
    """One sort key of a list: a field, ascending unless `descending`."""

    field: str
    descending: bool = False


@dataclass(frozen=True, slots=True)
class ListQuery:
    """A page of a list: Thulium's `limit`, `offset`, `order`, and the `phone_number` filter."""

    limit: int = 100
    offset: int = 0
    order: tuple[Order, ...] = ()
    phone_e164: str | None = None


CUSTOMER_ORDER_FIELDS = frozenset({"customer_id", "name", "surname", "identifier", "updated_at"})
COMPANY_ORDER_FIELDS = frozenset({"company_id", "name", "nip", "customer_id"})
MAX_LIMIT = 1000
DEFAULT_LIMIT = 100


def card_of(company: CompanyFields, card: CustomerFields | None = None) -> CustomerFields:
    """The customer card that stands for a company: its name and numbers, the rest kept."""
    old = card or CustomerFields()
    return CustomerFields(
        name=company.name,
        phone_numbers=company.phone_numbers,
        email=old.email,
        identifier=old.identifier,
        type=company.type,
        group=company.group,
        account_manager=old.account_manager,
        custom_fields=old.custom_fields,
    )


# The import rows check their cells by the field rules, which build the model above: imported
# here, below the model, so that either module may be imported first.
from kolejka.domain import crm_fields as fields  # noqa: E402


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
    nip: str | None = None
    address: str | None = None
    company_custom_fields: Mapping[str, str] | None = None
    # Only on a row without an identifier: the card it was exported from, which it may match
    # only while that card has no identifier either and is exactly like the row.
    customer_id: int | None = None


@dataclass(frozen=True, slots=True)
class ImportCounts:
    """What an import did, by distinct identifier; `unmatched`: the lines of rows without an
    identifier that matched no card as it is (refused, written nowhere)."""

    added: int
    changed: int
    unchanged: int
    unmatched: tuple[int, ...] = ()


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
        "address",
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
        if fields.text(cells, "surname"):
            raise InvalidField("surname", FieldProblem.MUST_BE_EMPTY)
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
            company.address,
            company.custom_fields,
            customer_id,
        )
    for name in ("nip", "address"):
        if cells.get(name):
            raise InvalidField(name, FieldProblem.ONLY_FOR_COMPANIES)
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
    )
