"""The built-in CRM in PostgreSQL (ports.CrmStore): the SQLite store's tables, rules and answers.

Each write is one transaction. Two instances may write at once, so the checks SQLite makes
before writing (the company exists, the identifier is free) are backed by the constraints: a
foreign-key or unique violation that slips between check and write still answers UnknownCompany
or IdentifierTaken. Text sorts bytewise (`COLLATE "C"`), as SQLite sorts, so a list comes back
in the same order from either engine.
"""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import TypeVar

import asyncpg

from kolejka.adapters.postgres.database import Connection, PostgresDatabase
from kolejka.adapters.postgres.webhooks import write_events
from kolejka.adapters.sql.crm_rows import (
    CARD_COLUMNS,
    COMPANY_COLUMNS,
    card_values,
    company_from_row,
    company_order,
    custom_rows,
    customer_from_row,
    customer_order,
    dumps,
    dumps_details,
    each_outcome,
    new_card_refusals,
    number_rows,
    order_by,
    refuse_new_cards,
    where,
    where_args,
)
from kolejka.adapters.sql.times import to_micros
from kolejka.domain.crm import (
    Company,
    CompanyFields,
    Customer,
    CustomerFields,
    ListQuery,
    PhoneNumber,
    card_of,
)
from kolejka.domain.customers import CustomerKind
from kolejka.domain.errors import DomainError, IdentifierTaken, UnknownCompany
from kolejka.domain.webhooks import NewEvent
from kolejka.services.ports import EventsOf

_T = TypeVar("_T")
_Work = Callable[[Connection], Awaitable[_T]]
_C = ' COLLATE "C"'  # text sorts bytewise, as SQLite sorts
_CUSTOMER_ORDER = customer_order(_C)
_COMPANY_ORDER = company_order(_C)
_FILTERED_COMPANY_TIE = "(k.company_id + 0)"
_FILTERED_COMPANY_ORDER = {**_COMPANY_ORDER, "company_id": _FILTERED_COMPANY_TIE}
# `identifier <> ''` lets a generic plan (asyncpg prepares every statement) use the partial
# index customers_by_identifier, which it cannot prove `identifier = $1` alone fits.
_BY_IDENTIFIER = "SELECT customer_id FROM customers WHERE identifier = $1 AND identifier <> ''"


class PostgresCrm:
    """Satisfies ports.CrmStore."""

    def __init__(self, db: PostgresDatabase) -> None:
        self.db = db

    # Customers ---------------------------------------------------------------------------

    async def customer(self, customer_id: int) -> Customer | None:
        return await self.db.run(lambda sql: _card(sql, customer_id))

    async def customers(self, query: ListQuery) -> Sequence[Customer]:
        marks = _marks()
        filters = where(query, marks, arrays=True)
        order = order_by(query, _CUSTOMER_ORDER, "c.customer_id")
        select = (
            f"SELECT {CARD_COLUMNS} FROM customers c{filters} ORDER BY {order}"  # noqa: S608
            f" LIMIT {marks()} OFFSET {marks()}"
        )
        args = (*where_args(query), query.limit, query.offset)
        return await self.db.run(lambda sql: _cards(sql, select, args))

    async def add_customers(
        self,
        kind: CustomerKind,
        cards: Sequence[CustomerFields],
        updated_at: datetime,
        ids: Sequence[int] | None = None,
        events: EventsOf[list[Customer]] | None = None,
    ) -> list[Customer]:
        async def add(sql: Connection) -> list[Customer]:
            added = await _added(sql, await _insert_cards(sql, kind, cards, updated_at, ids))
            if events is not None:
                await write_events(sql, events(added))
            return added

        return await self.db.transaction(_translating(add, cards))

    async def add_each(
        self,
        kind: CustomerKind,
        cards: Sequence[CustomerFields],
        updated_at: datetime,
        events: EventsOf[list[Customer]] | None = None,
    ) -> list[Customer | DomainError]:
        async def add(sql: Connection) -> list[Customer | DomainError]:
            refusals = new_card_refusals(cards, *await _known(sql, cards))
            accepted = [card for card, no in zip(cards, refusals, strict=True) if no is None]
            ids = await _insert_cards(sql, kind, accepted, updated_at, checked=True)
            added = await _added(sql, ids)
            if events is not None and added:
                await write_events(sql, events(added))
            return each_outcome(refusals, added)

        try:
            return await self.db.transaction(_translating(add, cards))
        except (IdentifierTaken, UnknownCompany):
            # Another instance took an identifier, or deleted a company, between the check and
            # the insert: checked again, that card is refused and the others go in.
            return await self.db.transaction(_translating(add, cards))

    async def update_customer(
        self,
        customer_id: int,
        card: CustomerFields,
        updated_at: datetime,
        events: EventsOf[Customer] | None = None,
    ) -> Customer | None:
        async def update(sql: Connection) -> Customer | None:
            if not await _update_card(sql, customer_id, card, updated_at):
                return None
            updated = await _card(sql, customer_id)
            if updated is not None and events is not None:
                await write_events(sql, events(updated))
            return updated

        return await self.db.transaction(_translating(update, [card]))

    async def remove_customer(self, customer_id: int, events: Sequence[NewEvent] = ()) -> bool:
        async def remove(sql: Connection) -> bool:
            deleted = await sql.fetchval(
                "DELETE FROM customers WHERE customer_id = $1 RETURNING customer_id", customer_id
            )
            if deleted is not None:
                await write_events(sql, events)
            return deleted is not None

        return await self.db.transaction(remove)

    async def company_of_card(self, customer_id: int) -> int | None:
        found = await self.db.fetchval(
            "SELECT company_id FROM companies WHERE customer_id = $1", customer_id
        )
        return int(found) if found is not None else None

    # Companies ---------------------------------------------------------------------------

    async def company(self, company_id: int) -> Company | None:
        return await self.db.run(lambda sql: _company(sql, company_id))

    async def companies(self, query: ListQuery) -> Sequence[Company]:
        marks = _marks()
        filters = where(query, marks, companies=True, arrays=True)
        # Filtered, the companies found are sorted, not found by walking companies in id order
        # (`+ 0` is no index's order), which a generic plan would do for `ORDER BY ... LIMIT`.
        if filters:
            order = order_by(query, _FILTERED_COMPANY_ORDER, _FILTERED_COMPANY_TIE)
        else:
            order = order_by(query, _COMPANY_ORDER, "k.company_id")
        select = (
            f"SELECT {COMPANY_COLUMNS} FROM companies k JOIN customers c"  # noqa: S608
            f" ON c.customer_id = k.customer_id{filters} ORDER BY {order}"
            f" LIMIT {marks()} OFFSET {marks()}"
        )
        args = (*where_args(query), query.limit, query.offset)
        return await self.db.run(lambda sql: _companies(sql, select, args))

    async def add_company(self, company: CompanyFields, updated_at: datetime) -> Company:
        card = card_of(company)

        async def add(sql: Connection) -> Company:
            (card_id,) = await _insert_cards(sql, CustomerKind.COMPANY, [card], updated_at)
            company_id = await sql.fetchval(
                "INSERT INTO companies (customer_id, nip, details, custom_fields)"
                " VALUES ($1, $2, $3, $4) RETURNING company_id",
                card_id,
                company.nip,
                dumps_details(company.details),
                dumps(company.custom_fields),
            )
            await _put_custom(sql, card_id, company.custom_fields)
            found = await _company(sql, int(company_id))
            assert found is not None
            return found

        return await self.db.transaction(_translating(add, [card]))

    async def update_company(
        self, company_id: int, company: CompanyFields, updated_at: datetime
    ) -> Company | None:
        async def update(sql: Connection) -> Company | None:
            card_id = await sql.fetchval(
                "SELECT customer_id FROM companies WHERE company_id = $1 FOR UPDATE", company_id
            )
            if card_id is None:
                return None
            card = await _card(sql, int(card_id))
            assert card is not None
            await _update_card(sql, card.customer_id, card_of(company, card.fields), updated_at)
            await sql.execute(
                "UPDATE companies SET nip = $1, details = $2, custom_fields = $3"
                " WHERE company_id = $4",
                company.nip,
                dumps_details(company.details),
                dumps(company.custom_fields),
                company_id,
            )
            await _put_custom(sql, card.customer_id, company.custom_fields)
            return await _company(sql, company_id)

        return await self.db.transaction(_translating(update, [card_of(company)]))

    async def remove_company(self, company_id: int) -> bool:
        # The card's deletion cascades to the company row, which sets members' company_id NULL.
        deleted = await self.db.execute(
            "DELETE FROM customers WHERE customer_id ="
            " (SELECT customer_id FROM companies WHERE company_id = $1)",
            company_id,
        )
        return deleted > 0


def _marks() -> Callable[[], str]:
    """$1, $2, ... on each call: the placeholders of one statement."""
    count = itertools.count(1)
    return lambda: f"${next(count)}"


# Helpers, on one connection (inside the caller's transaction) ------------------------------


def _translating(work: _Work[_T], cards: Sequence[CustomerFields]) -> _Work[_T]:
    """`work`, with a constraint that another instance's write tripped told in the trade's words."""

    async def translated(sql: Connection) -> _T:
        try:
            return await work(sql)
        except asyncpg.UniqueViolationError:
            taken = next((c.identifier for c in cards if c.identifier), "")
            raise IdentifierTaken(taken) from None
        except asyncpg.ForeignKeyViolationError:
            missing = next((c.company_id for c in cards if c.company_id is not None), 0)
            raise UnknownCompany(missing) from None

    return translated


async def _check(sql: Connection, card: CustomerFields, customer_id: int | None) -> None:
    if card.company_id is not None:
        known = await sql.fetchval("SELECT 1 FROM companies WHERE company_id = $1", card.company_id)
        if known is None:
            raise UnknownCompany(card.company_id)
    if card.identifier:
        owner = await sql.fetchval(_BY_IDENTIFIER, card.identifier)
        if owner is not None and owner != customer_id:
            raise IdentifierTaken(card.identifier)


async def _known(
    sql: Connection, cards: Sequence[CustomerFields]
) -> tuple[set[object], set[object]]:
    """(the companies the cards name that exist, the identifiers they give that cards have):
    one query for all their companies, one for all their identifiers."""
    companies = sorted({c.company_id for c in cards if c.company_id is not None})
    identifiers = sorted({c.identifier for c in cards if c.identifier})
    known = await sql.fetch(
        "SELECT company_id FROM companies WHERE company_id = ANY($1::bigint[])", companies
    )
    taken = await sql.fetch(
        "SELECT identifier FROM customers WHERE identifier = ANY($1::text[]) AND identifier <> ''",
        identifiers,
    )
    return {row[0] for row in known}, {row[0] for row in taken}


async def _added(sql: Connection, added: Sequence[int]) -> list[Customer]:
    """The cards just added, in order."""
    if not added:
        return []
    found = await _cards(
        sql,
        f"SELECT {CARD_COLUMNS} FROM customers c"  # noqa: S608
        " WHERE c.customer_id = ANY($1::bigint[])",
        (list(added),),
    )
    by_id = {customer.customer_id: customer for customer in found}
    return [by_id[i] for i in added if i in by_id]


async def _insert_cards(
    sql: Connection,
    kind: CustomerKind,
    cards: Sequence[CustomerFields],
    updated_at: datetime,
    seeded: Sequence[int] | None = None,
    *,
    checked: bool = False,
) -> list[int]:
    """Adds the cards (inside the caller's transaction), or none when one names an unknown
    company or a taken identifier (unless the caller has `checked` them); returns their ids,
    in order.

    A few round trips for the whole batch, not a few per card: a thousand cards one by one
    took longer than the store timeout. The ids come from the identity column, in order, or
    from a seed, which then moves the identity past them.
    """
    if not cards:
        return []
    if not checked:
        refuse_new_cards(cards, *await _known(sql, cards))
    if seeded is None:
        rows = await sql.fetch(
            "SELECT nextval(pg_get_serial_sequence('customers', 'customer_id'))"
            " FROM generate_series(1, $1)",
            len(cards),
        )
        ids = sorted(int(row[0]) for row in rows)
    else:
        ids = list(seeded)  # one a card: the inserts below zip them strictly
    is_company = kind is CustomerKind.COMPANY
    micros = to_micros(updated_at)
    await sql.executemany(
        "INSERT INTO customers (customer_id, kind, name, surname, company_name, email,"
        " company_id, identifier, type, group_name, account_manager, custom_fields, updated_at,"
        " nip, details) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
        [
            (customer_id, kind.value, *card_values(card, is_company, micros))
            for customer_id, card in zip(ids, cards, strict=True)
        ],
    )
    numbers = [
        row
        for customer_id, card in zip(ids, cards, strict=True)
        for row in number_rows(customer_id, card.phone_numbers)
    ]
    if numbers:
        await sql.executemany(
            "INSERT INTO customer_phone_numbers (customer_id, position, raw, normalized)"
            " VALUES ($1, $2, $3, $4)",
            numbers,
        )
    custom = [
        row
        for customer_id, card in zip(ids, cards, strict=True)
        for row in custom_rows(customer_id, card.custom_fields)
    ]
    if custom and not is_company:  # a company's card is searched by the company's own
        await sql.executemany(
            "INSERT INTO custom_field_values (customer_id, name, value) VALUES ($1, $2, $3)",
            custom,
        )
    if seeded is not None:
        await _bump_identity(sql, "customers", "customer_id")
    return ids


async def _bump_identity(sql: Connection, table: str, column: str) -> None:
    """Moves an identity past ids given explicitly (seeding), so later inserts do not collide.

    `table` and `column` are names from this package, never input.
    """
    highest = f"SELECT GREATEST(MAX({column}), 1) FROM {table}"  # noqa: S608
    await sql.execute(f"SELECT setval(pg_get_serial_sequence($1, $2), ({highest}))", table, column)


async def _update_card(
    sql: Connection, customer_id: int, card: CustomerFields, updated_at: datetime
) -> bool:
    kind = await sql.fetchval(
        "SELECT kind FROM customers WHERE customer_id = $1 FOR UPDATE", customer_id
    )
    if kind is None:
        return False
    await _check(sql, card, customer_id)
    is_company = kind == CustomerKind.COMPANY.value
    await sql.execute(
        "UPDATE customers SET name = $1, surname = $2, company_name = $3, email = $4,"
        " company_id = $5, identifier = $6, type = $7, group_name = $8, account_manager = $9,"
        " custom_fields = $10, updated_at = $11, nip = $12, details = $13 WHERE customer_id = $14",
        *card_values(card, is_company, to_micros(updated_at)),
        customer_id,
    )
    await sql.execute("DELETE FROM customer_phone_numbers WHERE customer_id = $1", customer_id)
    await _put_numbers(sql, customer_id, card.phone_numbers)
    if not is_company:  # a company's card is searched by the company's own (update_company)
        await _put_custom(sql, customer_id, card.custom_fields)
    return True


async def _put_custom(sql: Connection, customer_id: int, custom: Mapping[str, str]) -> None:
    """Replaces the card's rows in custom_field_values (what the custom_fields filter reads)."""
    await sql.execute("DELETE FROM custom_field_values WHERE customer_id = $1", customer_id)
    rows = custom_rows(customer_id, custom)
    if rows:
        await sql.executemany(
            "INSERT INTO custom_field_values (customer_id, name, value) VALUES ($1, $2, $3)",
            rows,
        )


async def _put_numbers(sql: Connection, customer_id: int, numbers: Iterable[PhoneNumber]) -> None:
    rows = number_rows(customer_id, numbers)
    if rows:
        await sql.executemany(
            "INSERT INTO customer_phone_numbers (customer_id, position, raw, normalized)"
            " VALUES ($1, $2, $3, $4)",
            rows,
        )


async def _numbers(sql: Connection, customer_ids: Sequence[int]) -> dict[int, list[PhoneNumber]]:
    found: dict[int, list[PhoneNumber]] = {i: [] for i in customer_ids}
    if not customer_ids:
        return found
    rows = await sql.fetch(
        "SELECT customer_id, raw, normalized FROM customer_phone_numbers"
        " WHERE customer_id = ANY($1::bigint[]) ORDER BY customer_id, position",
        list(customer_ids),
    )
    for row in rows:
        found[row[0]].append(PhoneNumber(row[1], row[2]))
    return found


async def _card(sql: Connection, customer_id: int) -> Customer | None:
    found = await _cards(
        sql,
        f"SELECT {CARD_COLUMNS} FROM customers c WHERE c.customer_id = $1",  # noqa: S608
        (customer_id,),
    )
    return found[0] if found else None


async def _cards(sql: Connection, select: str, args: Sequence[object]) -> list[Customer]:
    rows = await sql.fetch(select, *args)
    numbers = await _numbers(sql, [row[0] for row in rows])
    return [customer_from_row(row, numbers[row[0]]) for row in rows]


async def _company(sql: Connection, company_id: int) -> Company | None:
    found = await _companies(
        sql,
        f"SELECT {COMPANY_COLUMNS} FROM companies k JOIN customers c"  # noqa: S608
        " ON c.customer_id = k.customer_id WHERE k.company_id = $1",
        (company_id,),
    )
    return found[0] if found else None


async def _companies(sql: Connection, select: str, args: Sequence[object]) -> list[Company]:
    rows = await sql.fetch(select, *args)
    numbers = await _numbers(sql, [row[1] for row in rows])
    return [company_from_row(row, numbers[row[1]]) for row in rows]
