"""The CRM's rows as both SQL engines store them: columns, sort keys, and rows into the domain.

SQLite and PostgreSQL hold the CRM in the same tables (one migration set renders to both), so
what a row means is written once, here; each engine's store keeps only its own queries.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Protocol

from kolejka.adapters.sql.times import from_micros
from kolejka.domain.crm import (
    NO_DETAILS,
    Company,
    CompanyFields,
    Customer,
    CustomerFields,
    Details,
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
    " c.identifier, c.type, c.group_name, c.account_manager, c.custom_fields, c.updated_at,"
    " c.nip, c.details"
)
COMPANY_COLUMNS = (
    "k.company_id, k.customer_id, c.company_name, k.nip, c.type, c.group_name, k.details,"
    " k.custom_fields, c.identifier, c.email, c.account_manager"
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


def where(
    query: ListQuery, mark: Callable[[], str], *, companies: bool = False, arrays: bool = False
) -> str:
    """The WHERE clause of a list's filters ("" for none); `mark()` gives the next placeholder.

    Every term reads an index (tests/contract/test_crm_query_plans.py): a filled value repeats
    its index's `<> ''` condition, which a prepared statement's plan cannot infer from `= ?`,
    and an empty `identifier` is spelt literally, as the partial index of cards without one
    is. A company's identifier, e-mail, type and group are its card's (`c`), its NIP its own (`k`).
    With `arrays` (PostgreSQL), a set of cards is `= ANY(ARRAY(...))`: a generic plan then looks
    them up by index, where for `IN (...)` it may walk the table in the list's order instead.
    """
    terms: list[str] = []
    owner = "k.customer_id" if companies else "c.customer_id"

    def among(select: str) -> str:
        return f"{owner} = ANY(ARRAY({select}))" if arrays else f"{owner} IN ({select})"

    if query.phone_e164 is not None:
        numbers = "SELECT customer_id FROM customer_phone_numbers WHERE normalized"
        terms.append(among(f"{numbers} = {mark()}"))
    if query.identifier == "":
        terms.append("c.identifier = ''")
    elif query.identifier is not None:
        terms.append(f"c.identifier = {mark()} AND c.identifier <> ''")
    nip = "k.nip" if companies else "c.nip"
    for column, value in (
        ("c.email", query.email),
        (nip, query.nip),
        ("c.type", query.type),
        ("c.group_name", query.group),
    ):
        if value:
            terms.append(f"{column} = {mark()} AND {column} <> ''")
    if query.company_id is not None:
        terms.append(f"c.company_id = {mark()}")
    if query.company_flag is not None:
        kind = CustomerKind.COMPANY if query.company_flag else CustomerKind.PERSON
        terms.append(f"c.kind = '{kind.value}'")
    if query.custom_fields and not companies:
        # custom_field_values holds a company's card's values from the company (GET companies
        # shows those): GET customers finds persons by their own.
        terms.append(f"c.kind = '{CustomerKind.PERSON.value}'")
    for _, values in query.custom_fields:
        name = mark()
        alternatives = ", ".join(mark() for _ in values)
        terms.append(
            among(
                "SELECT customer_id FROM custom_field_values"  # noqa: S608
                f" WHERE name = {name} AND value IN ({alternatives})"
            )
        )
    return f" WHERE {' AND '.join(terms)}" if terms else ""


def where_args(query: ListQuery) -> list[object]:
    """The values `where`'s placeholders stand for, in their order."""
    found: list[object] = []
    if query.phone_e164 is not None:
        found.append(query.phone_e164)
    if query.identifier:
        found.append(query.identifier)
    found += [v for v in (query.email, query.nip, query.type, query.group) if v]
    if query.company_id is not None:
        found.append(query.company_id)
    for name, values in query.custom_fields:
        found += [name, *values]
    return found


def custom_rows(customer_id: int, custom: Mapping[str, str]) -> list[tuple[object, ...]]:
    """`custom_field_values` rows of one card: (customer_id, name, value)."""
    return [(customer_id, name, value) for name, value in custom.items()]


def order_by(query: ListQuery, columns: Mapping[str, str], tie: str) -> str:
    """The ORDER BY terms of `query`, ending with `tie` unless it is sorted on already."""
    terms = [f"{columns[o.field]} {'DESC' if o.descending else 'ASC'}" for o in query.order]
    if not any(o.field == tie.split(".")[-1] for o in query.order):
        terms.append(f"{tie} ASC")
    return ", ".join(terms)


def custom_fields(text: str) -> dict[str, str]:
    value = json.loads(text) if text else {}
    return value if isinstance(value, dict) else {}


def details(text: str) -> Details:
    value = json.loads(text) if text else {}
    return Details.of(value) if isinstance(value, dict) else NO_DETAILS


def dumps_details(found: Details) -> str:
    """The details column: `{}` when empty, the same text for the same details."""
    return dumps(found.stored())


def card_values(card: CustomerFields, is_company: bool, updated_at: int) -> tuple[object, ...]:
    """A card's stored columns, from `name` to `details` (`updated_at` in microseconds), in
    `CARD_COLUMNS`' order: a company's card keeps its name in `company_name`."""
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
        card.nip,
        dumps_details(card.details),
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
        nip=row[13],
        details=details(row[14]),
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
            details=details(row[6]),
            custom_fields=custom_fields(row[7]),
            phone_numbers=tuple(numbers),
            identifier=row[8],
            email=row[9],
            account_manager=row[10],
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
