"""Thulium's CRM endpoints: `/api/customers`, `/api/companies` and `/api/batch/customers`.

The wire follows Thulium: empty values are `""`, never null (a customer without a company has
`company_id: ""`); `phone_number` is the main number and `phone_numbers` all of them, shown as the
waiting list shows numbers; lists take `limit` (1-1000, default 100), `offset`, `order` (fields,
comma-separated, `-` for descending) and `phone_number`, which matches every spelling of a number.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

from kolejka.adapters.http import wire
from kolejka.adapters.http.request import Reply, Request, bounded_int, query_pairs
from kolejka.adapters.http.routing import Route
from kolejka.domain import crm_fields as fields
from kolejka.domain.crm import (
    COMPANY_ORDER_FIELDS,
    CUSTOMER_ORDER_FIELDS,
    DEFAULT_LIMIT,
    MAX_LIMIT,
    Customer,
    ListQuery,
    Order,
)
from kolejka.domain.errors import FieldProblem, InvalidField
from kolejka.domain.phone import PhoneNumbers
from kolejka.domain.queues import MAX_ID
from kolejka.services.crm import MAX_BATCH, Crm, taking_turns

LIST_PARAMETERS = frozenset({"limit", "offset", "order", "phone_number"})
# A batch of up to 1000 customers needs more room than one customer.
BATCH_BODY_FACTOR = 16


class CrmApi:
    """The handlers; `routes()` lists them for KolejkaApp."""

    def __init__(self, crm: Crm, phones: PhoneNumbers, time_zone: ZoneInfo) -> None:
        self.crm = crm
        self.phones = phones
        self.time_zone = time_zone

    def routes(self) -> list[Route]:
        return [
            Route("GET", "/api/customers", self.list_customers),
            Route("POST", "/api/customers", self.create_customer),
            Route("GET", "/api/customers/{id}", self.get_customer),
            Route("PUT", "/api/customers/{id}", self.update_customer),
            Route("DELETE", "/api/customers/{id}", self.delete_customer),
            Route("GET", "/api/companies", self.list_companies),
            Route("POST", "/api/companies", self.create_company),
            Route("GET", "/api/companies/{id}", self.get_company),
            Route("PUT", "/api/companies/{id}", self.update_company),
            Route("DELETE", "/api/companies/{id}", self.delete_company),
            Route("POST", "/api/batch/customers", self.create_customers),
        ]

    # Customers ---------------------------------------------------------------------------

    async def list_customers(self, request: Request) -> Reply:
        query = self._list_query(request, CUSTOMER_ORDER_FIELDS)
        found = await self.crm.customers(query) if query is not None else []
        return Reply(wire.to_json([self._customer(c) for c in found]))

    async def create_customer(self, request: Request) -> Reply:
        added = await self.crm.add_customer(await request.json_object())
        return Reply(wire.to_json(self._customer(added)), 201)

    async def get_customer(self, request: Request) -> Reply:
        found = await self.crm.customer(request.path_id("id"))
        return Reply(wire.to_json(self._customer(found)))

    async def update_customer(self, request: Request) -> Reply:
        customer_id = request.path_id("id")
        updated = await self.crm.update_customer(customer_id, await request.json_object())
        return Reply(wire.to_json(self._customer(updated)))

    async def delete_customer(self, request: Request) -> Reply:
        removed = await self.crm.remove_customer(request.path_id("id"))
        return Reply(wire.to_json(self._customer(removed)))

    async def create_customers(self, request: Request) -> Reply:
        request.max_body_bytes *= BATCH_BODY_FACTOR
        batch = await request.json_value()
        if not isinstance(batch, list):
            raise InvalidField("body", FieldProblem.NOT_AN_ARRAY)
        if not batch:
            raise InvalidField("body", FieldProblem.REQUIRED)
        if len(batch) > MAX_BATCH:
            raise InvalidField("body", FieldProblem.TOO_MANY_ITEMS)
        for index, item in enumerate(batch):
            if not isinstance(item, dict):
                raise InvalidField(f"[{index}]", FieldProblem.NOT_AN_OBJECT)
        added = await self.crm.add_customers(batch)
        return Reply(wire.to_json([self._customer(c) async for _, c in taking_turns(added)]), 201)

    # Companies ---------------------------------------------------------------------------

    async def list_companies(self, request: Request) -> Reply:
        query = self._list_query(request, COMPANY_ORDER_FIELDS)
        found = await self.crm.companies(query) if query is not None else []
        return Reply(wire.to_json([wire.company(c) for c in found]))

    async def create_company(self, request: Request) -> Reply:
        added = await self.crm.add_company(await request.json_object())
        return Reply(wire.to_json(wire.company(added)), 201)

    async def get_company(self, request: Request) -> Reply:
        found = await self.crm.company(request.path_id("id"))
        return Reply(wire.to_json(wire.company(found)))

    async def update_company(self, request: Request) -> Reply:
        company_id = request.path_id("id")
        updated = await self.crm.update_company(company_id, await request.json_object())
        return Reply(wire.to_json(wire.company(updated)))

    async def delete_company(self, request: Request) -> Reply:
        removed = await self.crm.remove_company(request.path_id("id"))
        return Reply(wire.to_json(wire.company(removed)))

    def _customer(self, customer: Customer) -> dict[str, object]:
        return wire.customer(customer, self.phones, self.time_zone)

    def _list_query(self, request: Request, orderable: frozenset[str]) -> ListQuery | None:
        """The page asked for; None when the phone_number filter can match nobody."""
        params = dict(query_pairs(request, LIST_PARAMETERS))
        limit = bounded_int(params.get("limit"), "limit", 1, MAX_LIMIT, DEFAULT_LIMIT)
        offset = bounded_int(params.get("offset"), "offset", 0, MAX_ID, 0)
        order: tuple[Order, ...] = ()
        if "order" in params:
            order = fields.parse_order(params["order"], orderable)
        phone_e164 = None
        if "phone_number" in params:
            number = fields.phone_number(params["phone_number"], self.phones, "phone_number")
            if number.e164 is None:
                return None  # well written, but no number the numbering plan knows
            phone_e164 = number.e164
        return ListQuery(limit=limit, offset=offset, order=order, phone_e164=phone_e164)
