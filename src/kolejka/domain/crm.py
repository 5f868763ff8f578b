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
MAX_NOTE = 4000

# An address as Thulium shows one (`GET companies/:id`): ten keys, an empty one `null`. Writes
# document six of them (`street` to `country` but for the four in between); all ten are taken,
# so that a client may send back what it read.
ADDRESS_KEYS = (
    "street",
    "building",
    "flat",
    "postcode",
    "city",
    "post_office",
    "borough",
    "county",
    "voivodship",
    "country",
)
# The three addresses of a card or a company, by their wire names and `include_*` parameters.
ADDRESS_KINDS = ("address", "invoice_address", "mail_drop_address")
# A person's documented texts that nothing filters on (`POST customers`), in the page's order.
DETAIL_TEXTS = ("gender", "homepage", "birthdate", "note", "pesel", "job", "job_title")


@dataclass(frozen=True, slots=True)
class PhoneNumber:
    """A number as the client wrote it, and its E.164 form used for matching."""

    raw: str
    e164: str | None  # None: not a number the numbering plan knows; it names nobody

    @property
    def key(self) -> str:
        return self.e164 or self.raw


@dataclass(frozen=True, slots=True)
class Address:
    """One of the three addresses; `""` is an empty key (shown as `null`)."""

    street: str = ""
    building: str = ""
    flat: str = ""
    postcode: str = ""
    city: str = ""
    post_office: str = ""
    borough: str = ""
    county: str = ""
    voivodship: str = ""
    country: str = ""

    def filled(self) -> dict[str, str]:
        """The keys that have a value, in Thulium's order."""
        return {key: value for key in ADDRESS_KEYS if (value := getattr(self, key))}

    @classmethod
    def of(cls, values: Mapping[str, object]) -> Address:
        return cls(**{key: str(values[key]) for key in ADDRESS_KEYS if values.get(key)})


NO_ADDRESS = Address()


@dataclass(frozen=True, slots=True)
class Details:
    """The documented fields no filter reads: stored together, as one JSON object.

    A person's card has all of them; a company has its three addresses here.
    """

    gender: str = ""
    homepage: str = ""
    birthdate: str = ""
    note: str = ""
    pesel: str = ""
    job: str = ""
    job_title: str = ""
    vip: bool = False
    address: Address = NO_ADDRESS
    invoice_address: Address = NO_ADDRESS
    mail_drop_address: Address = NO_ADDRESS

    def stored(self) -> dict[str, object]:
        """The filled fields only, in a fixed order: equal details store equal text."""
        found: dict[str, object] = {k: v for k in DETAIL_TEXTS if (v := getattr(self, k))}
        if self.vip:
            found["vip"] = True
        for kind in ADDRESS_KINDS:
            if filled := getattr(self, kind).filled():
                found[kind] = filled
        return found

    @classmethod
    def of(cls, values: Mapping[str, object]) -> Details:
        """From `stored()`'s object (a migrated row may spell it with other spacing)."""
        texts = {k: str(values[k]) for k in DETAIL_TEXTS if values.get(k)}
        addresses = {
            kind: Address.of(value)
            for kind in ADDRESS_KINDS
            if isinstance(value := values.get(kind), Mapping)
        }
        return cls(**texts, vip=values.get("vip") is True, **addresses)  # type: ignore[arg-type]


NO_DETAILS = Details()


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
    nip: str = ""
    details: Details = NO_DETAILS


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
    custom_fields: Mapping[str, str] = field(default_factory=dict)
    phone_numbers: tuple[PhoneNumber, ...] = ()
    identifier: str = ""
    email: str = ""
    account_manager: str = ""
    details: Details = NO_DETAILS  # the three addresses


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
    """A page of a list: Thulium's `limit`, `offset`, `order`, and its filters, each exact.

    `identifier` "" means the records without one; a filter left None is not applied.
    `custom_fields`: (name, alternatives) pairs, every pair to match, any of its alternatives.
    """

    limit: int = 100
    offset: int = 0
    order: tuple[Order, ...] = ()
    phone_e164: str | None = None
    identifier: str | None = None
    email: str | None = None
    nip: str | None = None
    type: str | None = None
    group: str | None = None
    company_id: int | None = None
    company_flag: bool | None = None
    custom_fields: tuple[tuple[str, tuple[str, ...]], ...] = ()


@dataclass(frozen=True, slots=True)
class Included:
    """What a read shows besides the plain fields: Thulium's `include_*` parameters."""

    custom_fields: bool = True
    address: bool = True
    invoice_address: bool = True
    mail_drop_address: bool = True


EVERYTHING = Included()


CUSTOMER_ORDER_FIELDS = frozenset({"customer_id", "name", "surname", "identifier", "updated_at"})
COMPANY_ORDER_FIELDS = frozenset({"company_id", "name", "nip", "customer_id"})
MAX_LIMIT = 1000
DEFAULT_LIMIT = 100


def card_of(company: CompanyFields, card: CustomerFields | None = None) -> CustomerFields:
    """The customer card that stands for a company: its name, numbers, identifier, e-mail and
    account manager; the card's own custom fields and details kept (the company's are its own)."""
    old = card or CustomerFields()
    return CustomerFields(
        name=company.name,
        phone_numbers=company.phone_numbers,
        email=company.email,
        identifier=company.identifier,
        type=company.type,
        group=company.group,
        account_manager=company.account_manager,
        custom_fields=old.custom_fields,
        details=old.details,
    )
