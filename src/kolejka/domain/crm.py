"""The CRM's customers and companies as Thulium names them.

A *company* is a customer card of kind `company` (its `company_flag` is 1) plus the company's own
fields (NIP, address). The card carries the company's phone numbers, so a caller ringing from one
of them is named by the company's name, exactly like a person is named by "name surname". A person
may belong to a company (`company_id`), which never changes the person's label.

The rules the fields follow live in `kolejka.domain.crm_fields`; the rows of an import file in
`kolejka.domain.crm_import`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from kolejka.domain.customers import CustomerKind

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
