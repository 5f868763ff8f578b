"""The CRM use cases: customers and companies as Thulium's API manages them.

Every write tells the change feed (`Change(Topic.CRM)`), so the very next waiting list names callers
by what the CRM says now. The rules on fields live in `kolejka.domain.crm_fields`; storage
behind the `CrmStore` port.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from kolejka.domain import crm_fields as fields
from kolejka.domain.crm import Company, CompanyFields, Customer, CustomerFields, ListQuery
from kolejka.domain.customers import CustomerKind
from kolejka.domain.errors import (
    CompanyCard,
    ConflictingField,
    DomainError,
    FieldError,
    FieldProblem,
    InvalidField,
    InvalidFields,
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


@dataclass(frozen=True, slots=True)
class Refused:
    """A record of a batch that was not added, and why: its malformed fields (`InvalidField`,
    or `InvalidFields` for several), or its one conflict with the stored data (a company that
    does not exist, a taken identifier)."""

    error: DomainError


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
        """Adds one person; fields Thulium does not document are ignored."""
        (outcome,) = await self.add_each([values])
        if isinstance(outcome, Refused):
            raise outcome.error
        return outcome

    async def add_each(self, batch: Sequence[object]) -> list[Customer | Refused]:
        """Adds every valid person of `batch`, each on its own: one refused leaves the others
        added. Returns, in order, each one added or why it was refused. All the added ones are
        written in one transaction with a few statements (a batch of 1,000 is one write)."""
        if len(batch) > MAX_BATCH:
            raise InvalidField("customers", FieldProblem.TOO_MANY_ITEMS)
        checked: list[CustomerFields | Refused] = []
        async for _, values in taking_turns(batch):
            checked.append(self._checked_person(values))
        cards = [card for card in checked if isinstance(card, CustomerFields)]
        now = self.clock.now()
        events = None
        if cards and await self._wanted(Action.CUSTOMER_CREATED):

            def events(added: list[Customer]) -> list[NewEvent]:
                return [customer_created(customer, now) for customer in added]

        stored = iter(
            await self.store.add_each(CustomerKind.PERSON, cards, now, events) if cards else []
        )
        outcomes: list[Customer | Refused] = []
        for card in checked:
            if isinstance(card, Refused):
                outcomes.append(card)
                continue
            added = next(stored)
            outcomes.append(Refused(added) if isinstance(added, DomainError) else added)
        if any(isinstance(outcome, Customer) for outcome in outcomes):
            await self.changes.publish(Change(Topic.CRM))
        return outcomes

    async def add_customers(
        self, batch: Sequence[Mapping[str, Any]], *, ids: Sequence[int] | None = None
    ) -> list[Customer]:
        """Adds every customer or, when one is refused, none; the error names its position.

        For seeding (the demo's documented customers, the tests' fixed ids, under `ids`, one a
        customer): the HTTP API adds each customer on its own (`add_each`).
        """
        cards = []
        for index, values in enumerate(batch):
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

        def check(values: Mapping[str, Any]) -> CustomerFields:
            fields.read_only_id(values, "customer_id", customer_id)
            company_flag = fields.flag(values, "company_flag")
            if company_flag is not None and company_flag != current.company_flag:
                raise ConflictingField("company_flag", FieldProblem.COMPANY_FLAG_HERE)
            if values.get("updated_at") is not None and not isinstance(values["updated_at"], str):
                raise InvalidField("updated_at", FieldProblem.NOT_A_STRING)
            return fields.customer_fields(
                values, self.phones, kind=current.kind, base=current.fields
            )

        card = fields.every_problem(check, values)
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
        company = fields.every_problem(lambda v: fields.company_fields(v, self.phones), values)
        added = await self.store.add_company(company, self.clock.now())
        await self.changes.publish(Change(Topic.CRM))
        return added

    async def update_company(self, company_id: int, values: Mapping[str, Any]) -> Company:
        current = await self.company(company_id)

        def check(values: Mapping[str, Any]) -> CompanyFields:
            fields.read_only_id(values, "company_id", company_id)
            fields.read_only_id(values, "customer_id", current.customer_id)
            return fields.company_fields(values, self.phones, base=current.fields)

        changed = fields.every_problem(check, values)
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
        """A person's card from `values`; fields Thulium does not document are ignored."""
        if fields.flag(values, "company_flag") == 1:
            raise InvalidField("company_flag", FieldProblem.COMPANY_FLAG_HERE)
        return fields.customer_fields(values, self.phones)

    def _checked_person(self, values: object) -> CustomerFields | Refused:
        """A batch's record as a card, or every reason it is refused."""
        if not isinstance(values, Mapping):
            return Refused(InvalidField("body", FieldProblem.NOT_AN_OBJECT))
        try:
            return fields.every_problem(self._new_person, values)
        except (InvalidFields, FieldError) as error:
            return Refused(error)
