"""The CRM's customers and companies, and the rules their fields follow, as Thulium names them.

A *company* is a customer card of kind `company` (its `company_flag` is 1) plus the company's own
fields (NIP, address). The card carries the company's phone numbers, so a caller ringing from one
of them is named by the company's name, exactly like a person is named by "name surname". A person
may belong to a company (`company_id`), which never changes the person's label.

The same rules check a customer sent to the HTTP API and a row of an import file, so both accept
and refuse the same things with the same words.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple, TypeVar

from kolejka.domain.customers import CustomerKind
from kolejka.domain.errors import ConflictingField, InvalidField
from kolejka.domain.phone import MAX_PHONE_INPUT, PhoneNumbers
from kolejka.domain.queues import MAX_ID

_T = TypeVar("_T")

MAX_TEXT = 255
MAX_ADDRESS = 1000
MAX_NIP = 32
MAX_NUMBERS = 20
MAX_CUSTOM_FIELDS = 20
MAX_CUSTOM_VALUE = 200
# A phone number as written: digits and the usual punctuation, at least one digit. One that the
# numbering plan does not know (too short, no such country) is kept as written and names nobody;
# anything else ("call me maybe") is refused. openapi.yaml states the same pattern.
PHONE_SYNTAX = re.compile(r"[-0-9+() ./]*[0-9][-0-9+() ./]*")
# Several numbers in one cell of an import file.
NUMBER_SEPARATORS = re.compile(r"[,;|]")

# InvalidField problems the CRM raises; errors.py translates each one.
REQUIRED = "is required."
NOT_A_STRING = "must be a string."
TOO_LONG = "is too long."
CONTROL = "must not contain control characters."
NOT_A_NUMBER = "is not a phone number."
TOO_MANY_NUMBERS = "has more than 20 phone numbers."
NOT_NUMBERS = "must be a string or a list of strings."
NOT_CUSTOM_FIELDS = "must be an object of up to 20 text values."
NOT_AN_ID = "must be a positive integer id or empty."
NOT_A_FLAG = "must be 0 or 1."
COMPANY_FLAG_HERE = "cannot change here: companies are made through /api/companies."
MUST_BE_EMPTY = "must be empty on a company's card."
READ_ONLY = "cannot be changed."


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


def text(values: Mapping[str, Any], name: str, limit: int = MAX_TEXT) -> str | None:
    """A text field stripped of surrounding blanks; None when absent (null counts as absent)."""
    value = values.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidField(name, NOT_A_STRING)
    if len(value) > limit:
        raise InvalidField(name, TOO_LONG)
    if _has_control(value):
        raise InvalidField(name, CONTROL)
    return value.strip()


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _has_control(value: str) -> bool:
    return _CONTROL.search(value) is not None


def phone_number(value: object, phones: PhoneNumbers, name: str) -> PhoneNumber:
    """One number as written; refused unless it is digits and phone punctuation."""
    if not isinstance(value, str) or len(value) > MAX_PHONE_INPUT:
        raise InvalidField(name, NOT_A_NUMBER)
    if not PHONE_SYNTAX.fullmatch(value):
        raise InvalidField(name, NOT_A_NUMBER)
    raw = value.strip()
    return PhoneNumber(raw, phones.normalise(raw))


def phone_numbers(value: object, phones: PhoneNumbers, name: str) -> tuple[PhoneNumber, ...]:
    """One number (a string; `""` for none) or a list of them, without repeats."""
    if value is None or value == "":
        return ()
    pieces = [value] if isinstance(value, str) else value
    if not isinstance(pieces, list):
        raise InvalidField(name, NOT_NUMBERS)
    if len(pieces) > MAX_NUMBERS:
        raise InvalidField(name, TOO_MANY_NUMBERS)
    return distinct(phone_number(piece, phones, name) for piece in pieces)


def split_numbers(cell: str, phones: PhoneNumbers, name: str) -> tuple[PhoneNumber, ...]:
    """Numbers in one cell of an import file, separated by `,`, `;` or `|`."""
    pieces = [piece for piece in NUMBER_SEPARATORS.split(cell) if piece.strip()]
    if len(pieces) > MAX_NUMBERS:
        raise InvalidField(name, TOO_MANY_NUMBERS)
    return distinct(phone_number(piece, phones, name) for piece in pieces)


def distinct(numbers: Iterable[PhoneNumber]) -> tuple[PhoneNumber, ...]:
    """Every spelling of a number once, the first spelling kept."""
    found: dict[str, PhoneNumber] = {}
    for number in numbers:
        found.setdefault(number.key, number)
    return tuple(found.values())


def custom_fields(values: Mapping[str, Any], name: str = "custom_fields") -> dict[str, str] | None:
    """An object of text values; None when absent."""
    value = values.get(name)
    if value is None:
        return None
    if not isinstance(value, dict) or len(value) > MAX_CUSTOM_FIELDS:
        raise InvalidField(name, NOT_CUSTOM_FIELDS)
    for item in value.values():
        if not isinstance(item, str) or len(item) > MAX_CUSTOM_VALUE or _has_control(item):
            raise InvalidField(name, NOT_CUSTOM_FIELDS)
    return {str(key): item for key, item in value.items()}


def optional_id(values: Mapping[str, Any], name: str) -> tuple[bool, int | None]:
    """(given, id): a positive integer, or "" for none; null counts as not given."""
    value = values.get(name)
    if value is None:
        return False, None
    if value == "":
        return True, None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_ID:
        raise InvalidField(name, NOT_AN_ID)
    return True, value


def flag(values: Mapping[str, Any], name: str) -> int | None:
    value = values.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or value not in (0, 1) or not isinstance(value, int):
        raise InvalidField(name, NOT_A_FLAG)
    return int(value)


def read_only_id(values: Mapping[str, Any], name: str, current: int) -> None:
    """Clients send back what GET gave them: a read-only id may come back, unchanged."""
    if name not in values:
        return
    value = values[name]
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_ID:
        raise InvalidField(name, NOT_AN_ID)
    if value != current:
        raise ConflictingField(name, READ_ONLY)


CUSTOMER_FIELDS = frozenset(
    {
        "name",
        "surname",
        "phone_number",
        "phone_numbers",
        "email",
        "company_id",
        "identifier",
        "type",
        "group",
        "account_manager",
        "custom_fields",
        "company_flag",
    }
)
# PUT also takes back the read-only fields GET shows.
CUSTOMER_UPDATE_FIELDS = CUSTOMER_FIELDS | {"customer_id", "updated_at"}
COMPANY_FIELDS = frozenset(
    {"name", "nip", "type", "group", "address", "custom_fields", "phone_number", "phone_numbers"}
)
COMPANY_UPDATE_FIELDS = COMPANY_FIELDS | {"company_id", "customer_id"}


def unknown_field(values: Mapping[str, Any], known: frozenset[str]) -> str | None:
    for key in values:
        if key not in known:
            return str(key)[:64]
    return None


def customer_fields(
    values: Mapping[str, Any],
    phones: PhoneNumbers,
    *,
    kind: CustomerKind = CustomerKind.PERSON,
    base: CustomerFields | None = None,
) -> CustomerFields:
    """The card `values` describe; with `base`, a partial update of it (absent fields stay).

    A person needs a surname (Thulium's one required field); a company's card needs a name and
    has no surname.
    """
    old = base or CustomerFields()
    numbers = old.phone_numbers
    if values.get("phone_number") is not None or values.get("phone_numbers") is not None:
        numbers = _both_number_fields(values, phones)
    present, company_id = optional_id(values, "company_id")
    fields = CustomerFields(
        name=_or(text(values, "name"), old.name),
        surname=_or(text(values, "surname"), old.surname),
        phone_numbers=numbers,
        email=_or(text(values, "email"), old.email),
        company_id=company_id if present else old.company_id,
        identifier=_or(text(values, "identifier", 128), old.identifier),
        type=_or(text(values, "type"), old.type),
        group=_or(text(values, "group"), old.group),
        account_manager=_or(text(values, "account_manager"), old.account_manager),
        custom_fields=_or(custom_fields(values), old.custom_fields),
    )
    if kind is CustomerKind.COMPANY:
        # Well-formed for a person, but this card is a company's: a conflict, not a typo.
        if fields.surname:
            raise ConflictingField("surname", MUST_BE_EMPTY)
        if fields.company_id is not None:
            raise ConflictingField("company_id", MUST_BE_EMPTY)
        if not fields.name:
            raise ConflictingField("name", REQUIRED)
    elif not fields.surname:
        raise InvalidField("surname", REQUIRED)
    return fields


def company_fields(
    values: Mapping[str, Any], phones: PhoneNumbers, base: CompanyFields | None = None
) -> CompanyFields:
    """The company `values` describe; with `base`, a partial update. A company needs a name."""
    old = base or CompanyFields()
    numbers = old.phone_numbers
    if values.get("phone_number") is not None or values.get("phone_numbers") is not None:
        numbers = _both_number_fields(values, phones)
    fields = CompanyFields(
        name=_or(text(values, "name"), old.name),
        nip=_or(text(values, "nip", MAX_NIP), old.nip),
        type=_or(text(values, "type"), old.type),
        group=_or(text(values, "group"), old.group),
        address=_or(text(values, "address", MAX_ADDRESS), old.address),
        custom_fields=_or(custom_fields(values), old.custom_fields),
        phone_numbers=numbers,
    )
    if not fields.name:
        raise InvalidField("name", REQUIRED)
    return fields


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


def parse_order(text_value: str, allowed: frozenset[str]) -> tuple[Order, ...]:
    """`surname,-updated_at` -> ascending surname, then newest first. A repeat changes nothing."""
    orders: dict[str, Order] = {}
    for part in text_value.split(","):
        descending = part.startswith("-")
        name = part.removeprefix("-")
        if name not in allowed:
            raise InvalidField("order", "must name sortable fields.")
        orders.setdefault(name, Order(name, descending))
    return tuple(orders.values())


def _both_number_fields(values: Mapping[str, Any], phones: PhoneNumbers) -> tuple[PhoneNumber, ...]:
    """`phone_number` (Thulium's, one or more) and `phone_numbers` (as GET shows them), merged."""
    given = phone_numbers(values.get("phone_number"), phones, "phone_number")
    more = phone_numbers(values.get("phone_numbers"), phones, "phone_numbers")
    return distinct((*given, *more))


def _or(value: _T | None, default: _T) -> _T:
    return default if value is None else value


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
IDENTIFIER_REQUIRED = "is required: imports match customers by it."
UNMATCHED = (
    "matches no card without an identifier exactly as written: a card is added or changed by"
    " import only through its identifier."
)
NOT_HERE = "is only for companies (company_flag 1)."


def import_row(line: int, values: Mapping[str, Any], phones: PhoneNumbers) -> ImportRow:
    """A row of an import file (CSV cells or a JSON object) as a card, or InvalidField.

    The rules are the HTTP API's; numbers may also come as one cell with `,`, `;` or `|`
    between them, and `identifier` is required, since imports match customers by it, except on
    a row with the `customer_id` of a card that has none (as an export writes it): that row
    can only leave its card as it is.
    """
    unknown = unknown_field(values, IMPORT_FIELDS)
    if unknown is not None:
        raise InvalidField(unknown, "is not a known field.")
    cells = dict(values)
    found: tuple[PhoneNumber, ...] = ()
    for name in ("phone_number", "phone_numbers"):
        cell = cells.pop(name, None)
        if isinstance(cell, str):
            found += split_numbers(cell, phones, name)
        elif cell is not None:
            found += phone_numbers(cell, phones, name)
    numbers = tuple((number.raw, number.e164) for number in distinct(found))
    identifier = text(cells, "identifier", 128)
    _, customer_id = optional_id(cells, "customer_id")
    cells.pop("customer_id", None)
    if identifier:
        customer_id = None  # the identifier matches; an id from another database must not
    elif customer_id is None:
        raise InvalidField("identifier", IDENTIFIER_REQUIRED)
    identifier = identifier or ""
    if flag(cells, "company_flag") == 1:
        if text(cells, "surname"):
            raise InvalidField("surname", MUST_BE_EMPTY)
        company = company_fields(cells, phones)
        return ImportRow(
            line,
            CustomerKind.COMPANY.value,
            identifier,
            company.name,
            "",
            text(cells, "email") or "",
            company.type,
            company.group,
            text(cells, "account_manager") or "",
            {},
            numbers,
            company.nip,
            company.address,
            company.custom_fields,
            customer_id,
        )
    for name in ("nip", "address"):
        if cells.get(name):
            raise InvalidField(name, NOT_HERE)
    card = customer_fields(cells, phones)
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
