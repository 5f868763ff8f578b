"""The built-in CRM in SQLite: customer cards, their phone numbers, and companies.

Every query is an index lookup or a bounded page, so one card's reads and writes run on the event
loop's thread like the other SQLite stores. A batch of cards (up to 1,000) is checked and written
set-wise, a few statements for the whole batch, on a thread and a connection of its own
(`Database.writing_apart`): at a million customers that is tens of milliseconds, which the loop
spends answering others. A company's name lives once, in its card's `company_name` (the column
the waiting list's lookup reads), and is joined in when companies are listed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from sqlite3 import Connection

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
from kolejka.adapters.sqlite.database import Database
from kolejka.adapters.sqlite.webhooks import write_events
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

_CUSTOMER_ORDER = customer_order()
_COMPANY_ORDER = company_order()
# `identifier <> ''` is what lets the engine use the partial index customers_by_identifier:
# without it, `identifier = ?` might be '' for all the planner knows, and it scans the table.
_BY_IDENTIFIER = "SELECT customer_id FROM customers WHERE identifier = ? AND identifier <> ''"


class SqliteCrm:
    """Satisfies ports.CrmStore."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.sql = db.connection

    # Customers ---------------------------------------------------------------------------

    async def customer(self, customer_id: int) -> Customer | None:
        found = _cards(
            self.sql,
            f"SELECT {CARD_COLUMNS} FROM customers c WHERE c.customer_id = ?",  # noqa: S608
            (customer_id,),
        )
        return found[0] if found else None

    async def customers(self, query: ListQuery) -> Sequence[Customer]:
        filters = where(query, lambda: "?")
        order = order_by(query, _CUSTOMER_ORDER, "c.customer_id")
        return _cards(
            self.sql,
            f"SELECT {CARD_COLUMNS} FROM customers c{filters} ORDER BY {order}"  # noqa: S608
            " LIMIT ? OFFSET ?",
            (*where_args(query), query.limit, query.offset),
        )

    async def add_customers(
        self,
        kind: CustomerKind,
        cards: Sequence[CustomerFields],
        updated_at: datetime,
        ids: Sequence[int] | None = None,
        events: EventsOf[list[Customer]] | None = None,
    ) -> list[Customer]:
        def add(sql: Connection) -> list[Customer]:
            added = _added(sql, _insert_cards(sql, kind, cards, updated_at, ids))
            if events is not None:
                write_events(sql, events(added))
            return added

        return await self.db.writing_apart(add)

    async def add_each(
        self,
        kind: CustomerKind,
        cards: Sequence[CustomerFields],
        updated_at: datetime,
        events: EventsOf[list[Customer]] | None = None,
    ) -> list[Customer | DomainError]:
        def add(sql: Connection) -> list[Customer | DomainError]:
            refusals = new_card_refusals(cards, *_known(sql, cards))
            accepted = [card for card, no in zip(cards, refusals, strict=True) if no is None]
            added = _added(sql, _insert_cards(sql, kind, accepted, updated_at, checked=True))
            if events is not None and added:
                write_events(sql, events(added))
            return each_outcome(refusals, added)

        return await self.db.writing_apart(add)

    async def update_customer(
        self,
        customer_id: int,
        card: CustomerFields,
        updated_at: datetime,
        events: EventsOf[Customer] | None = None,
    ) -> Customer | None:
        async with self.db.writing():
            if not _update_card(self.sql, customer_id, card, updated_at):
                return None
            updated = await self.customer(customer_id)  # on this thread: still in the write
            if updated is not None and events is not None:
                write_events(self.db, events(updated))
        return updated

    async def remove_customer(self, customer_id: int, events: Sequence[NewEvent] = ()) -> bool:
        async with self.db.writing():
            deleted = self.sql.execute(
                "DELETE FROM customers WHERE customer_id = ?", (customer_id,)
            ).rowcount
            if deleted:
                write_events(self.db, events)
        return deleted > 0

    async def company_of_card(self, customer_id: int) -> int | None:
        row = self.sql.execute(
            "SELECT company_id FROM companies WHERE customer_id = ?", (customer_id,)
        ).fetchone()
        return int(row[0]) if row else None

    # Companies ---------------------------------------------------------------------------

    async def company(self, company_id: int) -> Company | None:
        found = _companies(
            self.sql,
            f"SELECT {COMPANY_COLUMNS} FROM companies k JOIN customers c"  # noqa: S608
            " ON c.customer_id = k.customer_id WHERE k.company_id = ?",
            (company_id,),
        )
        return found[0] if found else None

    async def companies(self, query: ListQuery) -> Sequence[Company]:
        filters = where(query, lambda: "?", companies=True)
        order = order_by(query, _COMPANY_ORDER, "k.company_id")
        return _companies(
            self.sql,
            f"SELECT {COMPANY_COLUMNS} FROM companies k JOIN customers c"  # noqa: S608
            f" ON c.customer_id = k.customer_id{filters} ORDER BY {order} LIMIT ? OFFSET ?",
            (*where_args(query), query.limit, query.offset),
        )

    async def add_company(self, company: CompanyFields, updated_at: datetime) -> Company:
        async with self.db.writing():
            (card_id,) = _insert_cards(
                self.sql, CustomerKind.COMPANY, [card_of(company)], updated_at
            )
            cursor = self.sql.execute(
                "INSERT INTO companies (customer_id, nip, details, custom_fields)"
                " VALUES (?, ?, ?, ?)",
                (
                    card_id,
                    company.nip,
                    dumps_details(company.details),
                    dumps(company.custom_fields),
                ),
            )
            company_id = int(cursor.lastrowid or 0)
            _put_custom(self.sql, card_id, company.custom_fields)
        found = await self.company(company_id)
        assert found is not None
        return found

    async def update_company(
        self, company_id: int, company: CompanyFields, updated_at: datetime
    ) -> Company | None:
        async with self.db.writing():
            row = self.sql.execute(
                "SELECT customer_id FROM companies WHERE company_id = ?", (company_id,)
            ).fetchone()
            if row is None:
                return None
            card = await self.customer(int(row[0]))
            assert card is not None
            _update_card(self.sql, card.customer_id, card_of(company, card.fields), updated_at)
            self.sql.execute(
                "UPDATE companies SET nip = ?, details = ?, custom_fields = ? WHERE company_id = ?",
                (
                    company.nip,
                    dumps_details(company.details),
                    dumps(company.custom_fields),
                    company_id,
                ),
            )
            _put_custom(self.sql, card.customer_id, company.custom_fields)
        return await self.company(company_id)

    async def remove_company(self, company_id: int) -> bool:
        async with self.db.writing():
            row = self.sql.execute(
                "SELECT customer_id FROM companies WHERE company_id = ?", (company_id,)
            ).fetchone()
            if row is None:
                return False
            # The card's deletion cascades to the company row, which sets members' company_id NULL.
            self.sql.execute("DELETE FROM customers WHERE customer_id = ?", (row[0],))
        return True


# Helpers, on the connection they are given (the loop's, or a batch's own) --------------------


def _check(sql: Connection, card: CustomerFields, customer_id: int | None) -> None:
    if card.company_id is not None:
        known = sql.execute(
            "SELECT 1 FROM companies WHERE company_id = ?", (card.company_id,)
        ).fetchone()
        if known is None:
            raise UnknownCompany(card.company_id)
    if card.identifier:
        owner = sql.execute(_BY_IDENTIFIER, (card.identifier,)).fetchone()
        if owner is not None and owner[0] != customer_id:
            raise IdentifierTaken(card.identifier)


def _known(sql: Connection, cards: Sequence[CustomerFields]) -> tuple[set[object], set[object]]:
    """(the companies the cards name that exist, the identifiers they give that cards have):
    one query for all their companies, one for all their identifiers."""
    companies = sorted({c.company_id for c in cards if c.company_id is not None})
    identifiers = sorted({c.identifier for c in cards if c.identifier})
    return (
        _found(sql, "SELECT company_id FROM companies WHERE company_id IN ({})", companies),
        _found(
            sql,
            "SELECT identifier FROM customers WHERE identifier IN ({}) AND identifier <> ''",
            identifiers,
        ),
    )


def _added(sql: Connection, added: Sequence[int]) -> list[Customer]:
    """The cards just added, in order."""
    if not added:
        return []
    found = _cards(
        sql,
        f"SELECT {CARD_COLUMNS} FROM customers c"  # noqa: S608
        f" WHERE c.customer_id IN ({_marks(added)})",
        added,
    )
    by_id = {customer.customer_id: customer for customer in found}
    return [by_id[i] for i in added if i in by_id]


def _insert_cards(
    sql: Connection,
    kind: CustomerKind,
    cards: Sequence[CustomerFields],
    updated_at: datetime,
    seeded: Sequence[int] | None = None,
    *,
    checked: bool = False,
) -> list[int]:
    """Adds the cards (inside the caller's write transaction), or none when one names an
    unknown company or a taken identifier (unless the caller has `checked` them); returns
    their ids, in order.

    Ids are given here, as SQLite would give them (the largest so far plus one), so that the
    cards and then all their numbers go in one statement each; a seed names its own.
    """
    if not cards:
        return []
    if not checked:
        refuse_new_cards(cards, *_known(sql, cards))
    is_company = kind is CustomerKind.COMPANY
    if seeded is None:
        first = int(
            sql.execute("SELECT COALESCE(MAX(customer_id), 0) + 1 FROM customers").fetchone()[0]
        )
        ids = list(range(first, first + len(cards)))
    else:
        ids = list(seeded)  # one a card: the inserts below zip them strictly
    micros = to_micros(updated_at)
    sql.executemany(
        "INSERT INTO customers (customer_id, kind, name, surname, company_name, email, company_id,"
        " identifier, type, group_name, account_manager, custom_fields, updated_at, nip, details)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (customer_id, kind.value, *card_values(card, is_company, micros))
            for customer_id, card in zip(ids, cards, strict=True)
        ],
    )
    sql.executemany(
        "INSERT INTO customer_phone_numbers (customer_id, position, raw, normalized)"
        " VALUES (?, ?, ?, ?)",
        [
            row
            for customer_id, card in zip(ids, cards, strict=True)
            for row in number_rows(customer_id, card.phone_numbers)
        ],
    )
    if not is_company:  # a company's card is searched by the company's own (add_company)
        sql.executemany(
            "INSERT INTO custom_field_values (customer_id, name, value) VALUES (?, ?, ?)",
            [
                row
                for customer_id, card in zip(ids, cards, strict=True)
                for row in custom_rows(customer_id, card.custom_fields)
            ],
        )
    return ids


def _update_card(
    sql: Connection, customer_id: int, card: CustomerFields, updated_at: datetime
) -> bool:
    row = sql.execute("SELECT kind FROM customers WHERE customer_id = ?", (customer_id,)).fetchone()
    if row is None:
        return False
    _check(sql, card, customer_id)
    is_company = row[0] == CustomerKind.COMPANY.value
    sql.execute(
        "UPDATE customers SET name = ?, surname = ?, company_name = ?, email = ?,"
        " company_id = ?, identifier = ?, type = ?, group_name = ?, account_manager = ?,"
        " custom_fields = ?, updated_at = ?, nip = ?, details = ? WHERE customer_id = ?",
        (*card_values(card, is_company, to_micros(updated_at)), customer_id),
    )
    sql.execute("DELETE FROM customer_phone_numbers WHERE customer_id = ?", (customer_id,))
    _put_numbers(sql, customer_id, card.phone_numbers)
    if not is_company:  # a company's card is searched by the company's own (update_company)
        _put_custom(sql, customer_id, card.custom_fields)
    return True


def _put_custom(sql: Connection, customer_id: int, custom: Mapping[str, str]) -> None:
    """Replaces the card's rows in custom_field_values (what the custom_fields filter reads)."""
    sql.execute("DELETE FROM custom_field_values WHERE customer_id = ?", (customer_id,))
    sql.executemany(
        "INSERT INTO custom_field_values (customer_id, name, value) VALUES (?, ?, ?)",
        custom_rows(customer_id, custom),
    )


def _put_numbers(sql: Connection, customer_id: int, numbers: Iterable[PhoneNumber]) -> None:
    sql.executemany(
        "INSERT INTO customer_phone_numbers (customer_id, position, raw, normalized)"
        " VALUES (?, ?, ?, ?)",
        number_rows(customer_id, numbers),
    )


def _marks(values: Sequence[object]) -> str:
    return ",".join("?" * len(values))


def _found(sql: Connection, select: str, values: Sequence[object]) -> set[object]:
    """The first column of `select` with `IN ({})` over `values`; no query when there are none.

    (SQLite reads the whole table for `IN ()`.)
    """
    if not values:
        return set()
    return {row[0] for row in sql.execute(select.format(_marks(values)), values)}


def _numbers(sql: Connection, customer_ids: Sequence[int]) -> dict[int, list[PhoneNumber]]:
    found: dict[int, list[PhoneNumber]] = {i: [] for i in customer_ids}
    if not customer_ids:
        return found
    rows = sql.execute(
        "SELECT customer_id, raw, normalized FROM customer_phone_numbers"  # noqa: S608
        f" WHERE customer_id IN ({_marks(customer_ids)}) ORDER BY customer_id, position",
        tuple(customer_ids),
    )
    for customer_id, raw, e164 in rows:
        found[customer_id].append(PhoneNumber(raw, e164))
    return found


def _cards(sql: Connection, select: str, args: Sequence[object]) -> list[Customer]:
    rows = sql.execute(select, tuple(args)).fetchall()
    numbers = _numbers(sql, [row[0] for row in rows])
    return [customer_from_row(row, numbers[row[0]]) for row in rows]


def _companies(sql: Connection, select: str, args: Sequence[object]) -> list[Company]:
    rows = sql.execute(select, tuple(args)).fetchall()
    numbers = _numbers(sql, [row[1] for row in rows])
    return [company_from_row(row, numbers[row[1]]) for row in rows]
