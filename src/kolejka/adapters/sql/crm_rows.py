"""The CRM's rows as both SQL engines store them: columns, sort keys, and rows into the domain.

SQLite and PostgreSQL hold the CRM in the same tables (one migration set renders to both), so
what a row means is written once, here; each engine's store keeps only its own queries.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

from kolejka.adapters.sql.times import from_micros
from kolejka.domain.crm import (
    Company,
    CompanyFields,
    Customer,
    CustomerFields,
    ListQuery,
    PhoneNumber,
)
from kolejka.domain.customers import CustomerKind
from kolejka.domain.errors import DomainError, IdentifierTaken, UnknownCompany


class Row(Protocol):
    """A row as either driver returns it (a tuple from sqlite3, a Record from asyncpg)."""

    def __getitem__(self, index: int, /) -> Any: ...


# The columns `customer_from_row` and `company_from_row` read, in their order.
CARD_COLUMNS = (
    "c.customer_id, c.kind, c.name, c.surname, c.company_name, c.email, c.company_id,"
    " c.identifier, c.type, c.group_name, c.account_manager, c.custom_fields, c.updated_at"
)
COMPANY_COLUMNS = (
    "k.company_id, k.customer_id, c.company_name, k.nip, c.type, c.group_name, k.address,"
    " k.custom_fields"
)


def customer_order(collate: str = "") -> dict[str, str]:
    """Sort keys by wire name; a card's wire `name` is the company name on a company's card.

    `collate` makes text sort bytewise where the engine would not (PostgreSQL: ` COLLATE "C"`),
    so a list comes back in the same order from either engine.
    """
    return {
        "customer_id": "c.customer_id",
        "name": f"(CASE WHEN c.kind = 'company' THEN c.company_name ELSE c.name END){collate}",
        "surname": f"c.surname{collate}",
        "identifier": f"c.identifier{collate}",
        "updated_at": "c.updated_at",
    }


def company_order(collate: str = "") -> dict[str, str]:
    return {
        "company_id": "k.company_id",
        "name": f"c.company_name{collate}",
        "nip": f"k.nip{collate}",
        "customer_id": "k.customer_id",
    }


def order_by(query: ListQuery, columns: Mapping[str, str], tie: str) -> str:
    """The ORDER BY terms of `query`, ending with `tie` unless it is sorted on already."""
    terms = [f"{columns[o.field]} {'DESC' if o.descending else 'ASC'}" for o in query.order]
    if not any(o.field == tie.split(".")[-1] for o in query.order):
        terms.append(f"{tie} ASC")
    return ", ".join(terms)


def custom_fields(text: str) -> dict[str, str]:
    value = json.loads(text) if text else {}
    return value if isinstance(value, dict) else {}


def card_values(card: CustomerFields, is_company: bool, updated_at: int) -> tuple[object, ...]:
    """A card's stored columns, from `name` to `updated_at` (microseconds), in `CARD_COLUMNS`'
    order: a company's card keeps its name in `company_name`."""
    return (
        "" if is_company else card.name,
        "" if is_company else card.surname,
        card.name if is_company else "",
        card.email,
        card.company_id,
        card.identifier,
        card.type,
        card.group,
        card.account_manager,
        dumps(card.custom_fields),
        updated_at,
    )


def number_rows(customer_id: int, numbers: Iterable[PhoneNumber]) -> list[tuple[object, ...]]:
    """`customer_phone_numbers` rows of one card: (customer_id, position, raw, normalized)."""
    return [(customer_id, i, number.raw, number.e164) for i, number in enumerate(numbers)]


def dumps(custom: object) -> str:
    return json.dumps(custom, ensure_ascii=False, separators=(",", ":"))


def customer_from_row(row: Row, numbers: Sequence[PhoneNumber]) -> Customer:
    """A card from a row of CARD_COLUMNS and its numbers in order."""
    kind = CustomerKind(row[1])
    is_company = kind is CustomerKind.COMPANY
    fields = CustomerFields(
        name=row[4] if is_company else row[2],
        surname="" if is_company else row[3],
        phone_numbers=tuple(numbers),
        email=row[5],
        company_id=row[6],
        identifier=row[7],
        type=row[8],
        group=row[9],
        account_manager=row[10],
        custom_fields=custom_fields(row[11]),
    )
    return Customer(row[0], kind, fields, from_micros(row[12]))


def company_from_row(row: Row, numbers: Sequence[PhoneNumber]) -> Company:
    """A company from a row of COMPANY_COLUMNS and its card's numbers in order."""
    return Company(
        company_id=row[0],
        customer_id=row[1],
        fields=CompanyFields(
            name=row[2],
            nip=row[3],
            type=row[4],
            group=row[5],
            address=row[6],
            custom_fields=custom_fields(row[7]),
            phone_numbers=tuple(numbers),
        ),
    )


def refuse_new_cards(
    cards: Sequence[CustomerFields], known_companies: set[Any], taken_identifiers: set[Any]
) -> None:
    """Raises for the first card (in order) naming an unknown company or a taken identifier.

    A batch is checked set-wise (one query for all its companies, one for its identifiers), and
    this refuses the card that checking card by card would refuse; an identifier twice in the
    batch is taken by its first card.
    """
    for refusal in new_card_refusals(cards, known_companies, taken_identifiers):
        if refusal is not None:
            raise refusal


def new_card_refusals(
    cards: Sequence[CustomerFields], known_companies: set[Any], taken_identifiers: set[Any]
) -> list[DomainError | None]:
    """For each card, in order, what refuses it (an unknown company, a taken identifier), or
    None; an identifier twice among the cards is taken by its first card not refused."""
    taken = set(taken_identifiers)
    refusals: list[DomainError | None] = []
    for card in cards:
        refusal: DomainError | None = None
        if card.company_id is not None and card.company_id not in known_companies:
            refusal = UnknownCompany(card.company_id)
        elif card.identifier:
            if card.identifier in taken:
                refusal = IdentifierTaken(card.identifier)
            else:
                taken.add(card.identifier)
        refusals.append(refusal)
    return refusals


def each_outcome(
    refusals: Sequence[DomainError | None], added: Sequence[Customer]
) -> list[Customer | DomainError]:
    """The cards not refused (`added`, in order) among the refusals, in the cards' order."""
    cards = iter(added)
    return [next(cards) if refusal is None else refusal for refusal in refusals]
