"""The CRM use cases: customers and companies as Thulium's API manages them.

Every write tells the change feed (`Change(Topic.CRM)`), so the very next waiting list names callers
by what the CRM says now. The rules on fields live in `kolejka.domain.crm_fields`; storage
behind the `CrmStore` port.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any, TypeVar

from kolejka.domain import crm_fields as fields
from kolejka.domain.crm import Company, Customer, CustomerFields, ListQuery
from kolejka.domain.customers import CustomerKind
from kolejka.domain.errors import (
    CompanyCard,
    ConflictingField,
    FieldProblem,
    InvalidField,
    UnknownCompany,
    UnknownCustomer,
)
from kolejka.domain.phone import PhoneNumbers
from kolejka.domain.webhooks import (
    Action,
    NewEvent,
    customer_created,
    customer_deleted,
    customer_updated,
)
from kolejka.services.ports import Change, ChangeFeed, Clock, CrmStore, Topic
from kolejka.services.webhooks import Webhooks

MAX_BATCH = 1000
# A batch is checked (and shown on the wire) this many cards at a time, the event loop answering
# others in between: parsing and showing 1,000 cards' phone numbers takes 100-300 ms.
TURN = 20

T = TypeVar("T")


async def taking_turns(items: Sequence[T]) -> AsyncIterator[tuple[int, T]]:
    """(index, item) of each item, giving the event loop a turn after every TURN items."""
    for index, item in enumerate(items):
        if index and index % TURN == 0:
            await asyncio.sleep(0)
        yield index, item


class Crm:
    """Reads and changes the built-in CRM from wire-shaped values (JSON objects, import rows)."""

    def __init__(
        self,
        store: CrmStore,
        phones: PhoneNumbers,
        clock: Clock,
        changes: ChangeFeed,
        webhooks: Webhooks | None = None,
    ) -> None:
        self.webhooks = webhooks
        self.store = store
        self.phones = phones
        self.clock = clock
        self.changes = changes

    # Customers ---------------------------------------------------------------------------

    async def customer(self, customer_id: int) -> Customer:
        found = await self.store.customer(customer_id)
        if found is None:
            raise UnknownCustomer(customer_id)
        return found

    async def customers(self, query: ListQuery) -> Sequence[Customer]:
        return await self.store.customers(query)

    async def add_customer(self, values: Mapping[str, Any]) -> Customer:
        return (await self.add_customers([values]))[0]

    async def add_customers(
        self, batch: Sequence[Mapping[str, Any]], *, ids: Sequence[int] | None = None
    ) -> list[Customer]:
        """Adds every customer or, when one is refused, none; the error names its position.

        `ids`, one a customer, are for seeding only (the demo's documented customers, the
        tests' fixed ids): the HTTP API never passes them, and the store gives the ids.
        """
        if len(batch) > MAX_BATCH:
            raise InvalidField("customers", FieldProblem.TOO_MANY_ITEMS)
        cards = []
        async for index, values in taking_turns(batch):
            prefix = f"[{index}]." if len(batch) > 1 else ""
            try:
                cards.append(self._new_person(values))
            except InvalidField as error:
                raise InvalidField(prefix + error.field, error.problem, **error.values) from error
        now = self.clock.now()
        events = None
        if await self._wanted(Action.CUSTOMER_CREATED):

            def events(added: list[Customer]) -> list[NewEvent]:
                return [customer_created(customer, now) for customer in added]

        added = await self.store.add_customers(CustomerKind.PERSON, cards, now, ids, events)
        await self.changes.publish(Change(Topic.CRM))
        return added

    async def update_customer(self, customer_id: int, values: Mapping[str, Any]) -> Customer:
        """Changes the fields `values` carries; numbers, when sent, replace all numbers."""
        current = await self.customer(customer_id)
        _refuse_unknown(values, fields.CUSTOMER_UPDATE_FIELDS)
        fields.read_only_id(values, "customer_id", customer_id)
        company_flag = fields.flag(values, "company_flag")
        if company_flag is not None and company_flag != current.company_flag:
            raise ConflictingField("company_flag", FieldProblem.COMPANY_FLAG_HERE)
        if values.get("updated_at") is not None and not isinstance(values["updated_at"], str):
            raise InvalidField("updated_at", FieldProblem.NOT_A_STRING)
        card = fields.customer_fields(values, self.phones, kind=current.kind, base=current.fields)
        now = self.clock.now()
        events = None
        if await self._wanted(Action.CUSTOMER_UPDATED):

            def events(updated: Customer) -> list[NewEvent]:
                return [customer_updated(updated, now)]

        updated = await self.store.update_customer(customer_id, card, now, events)
        if updated is None:
            raise UnknownCustomer(customer_id)
        await self.changes.publish(Change(Topic.CRM))
        return updated

    async def remove_customer(self, customer_id: int) -> Customer:
        current = await self.customer(customer_id)
        company_id = await self.store.company_of_card(customer_id)
        if company_id is not None:
            raise CompanyCard(customer_id, company_id)
        gone: list[NewEvent] = []
        if await self._wanted(Action.CUSTOMER_DELETED):
            gone.append(customer_deleted(current, self.clock.now()))
        if not await self.store.remove_customer(customer_id, gone):
            raise UnknownCustomer(customer_id)
        await self.changes.publish(Change(Topic.CRM))
        return current

    # Companies ---------------------------------------------------------------------------

    async def company(self, company_id: int) -> Company:
        found = await self.store.company(company_id)
        if found is None:
            raise UnknownCompany(company_id)
        return found

    async def companies(self, query: ListQuery) -> Sequence[Company]:
        return await self.store.companies(query)

    async def add_company(self, values: Mapping[str, Any]) -> Company:
        _refuse_unknown(values, fields.COMPANY_FIELDS)
        company = fields.company_fields(values, self.phones)
        added = await self.store.add_company(company, self.clock.now())
        await self.changes.publish(Change(Topic.CRM))
        return added

    async def update_company(self, company_id: int, values: Mapping[str, Any]) -> Company:
        current = await self.company(company_id)
        _refuse_unknown(values, fields.COMPANY_UPDATE_FIELDS)
        fields.read_only_id(values, "company_id", company_id)
        fields.read_only_id(values, "customer_id", current.customer_id)
        changed = fields.company_fields(values, self.phones, base=current.fields)
        updated = await self.store.update_company(company_id, changed, self.clock.now())
        if updated is None:
            raise UnknownCompany(company_id)
        await self.changes.publish(Change(Topic.CRM))
        return updated

    async def remove_company(self, company_id: int) -> Company:
        current = await self.company(company_id)
        if not await self.store.remove_company(company_id):
            raise UnknownCompany(company_id)
        await self.changes.publish(Change(Topic.CRM))
        return current

    async def _wanted(self, action: Action) -> bool:
        return self.webhooks is not None and await self.webhooks.wants(action)

    def _new_person(self, values: Mapping[str, Any]) -> CustomerFields:
        _refuse_unknown(values, fields.CUSTOMER_FIELDS)
        if fields.flag(values, "company_flag") == 1:
            raise InvalidField("company_flag", FieldProblem.COMPANY_FLAG_HERE)
        return fields.customer_fields(values, self.phones)


def _refuse_unknown(values: Mapping[str, Any], known: frozenset[str]) -> None:
    unknown = fields.unknown_field(values, known)
    if unknown is not None:
        raise InvalidField(unknown, FieldProblem.UNKNOWN_FIELD)
