"""Thulium's CRM endpoints: `/api/customers`, `/api/companies` and `/api/batch/customers`.

The wire follows Thulium: empty values are `""`, never null (a customer without a company has
`company_id: ""`); `phone_number` is the main number and `phone_numbers` all of them, shown as the
waiting list shows numbers; lists take `limit` (1-1000, default 100), `offset`, `order` (fields,
comma-separated, `-` for descending) and `phone_number`, which matches every spelling of a number.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import parse_qsl
from zoneinfo import ZoneInfo

from kolejka.adapters.http import wire
from kolejka.adapters.http.errors import api_errors, error_list, preferred_language
from kolejka.adapters.http.ignored_fields import IgnoredFields
from kolejka.adapters.http.request import Reply, Request
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
from kolejka.domain.errors import FieldProblem, InvalidField, InvalidFields
from kolejka.domain.phone import PhoneNumbers
from kolejka.domain.queues import MAX_ID
from kolejka.services.crm import MAX_BATCH, Crm, Refused, taking_turns

LIST_PARAMETERS = frozenset({"limit", "offset", "order", "phone_number"})
# A batch of up to 1000 customers needs more room than one customer.
BATCH_BODY_FACTOR = 16
# Thulium's answers to writes (api.thulium.com/docs/api/response_codes): POST 201 (created),
# PUT 204 (updated), DELETE 204 (no data to return), 207 (a status per object).
CREATED, NO_CONTENT, MULTI_STATUS = 201, 204, 207


class CrmApi:
    """The handlers; `routes()` lists them for KolejkaApp."""

    def __init__(self, crm: Crm, phones: PhoneNumbers, time_zone: ZoneInfo) -> None:
        self.crm = crm
        self.phones = phones
        self.time_zone = time_zone
        self.ignored = IgnoredFields()

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
        body = await request.json_object()
        added = await self.crm.add_customer(body)
        ignored = self._ignored(request, fields.undocumented(body, fields.CUSTOMER_FIELDS))
        return Reply(wire.to_json(self._customer(added)), CREATED, ignored)

    async def get_customer(self, request: Request) -> Reply:
        found = await self.crm.customer(request.path_id("id"))
        return Reply(wire.to_json(self._customer(found)))

    async def update_customer(self, request: Request) -> Reply:
        customer_id = request.path_id("id")
        body = await request.json_object()
        await self.crm.update_customer(customer_id, body)
        ignored = fields.undocumented(body, fields.CUSTOMER_UPDATE_FIELDS)
        return Reply(b"", NO_CONTENT, self._ignored(request, ignored))

    async def delete_customer(self, request: Request) -> Reply:
        await self.crm.remove_customer(request.path_id("id"))
        return Reply(b"", NO_CONTENT)

    async def create_customers(self, request: Request) -> Reply:
        """201 and the customers when every one is added; else 207, each record's own status
        (`{"0": {"http_status": 201, "customer_id": 7}, "1": {"http_status": 400, ...}}`)."""
        request.max_body_bytes *= BATCH_BODY_FACTOR
        body = await request.json_value()
        ignored: set[str] = set()
        batch = body
        if isinstance(body, dict):
            # Thulium's documented body: {"customers": [...]}; a bare array is kolejka's own.
            batch = body.get("customers")
            ignored.update(key for key in body if key != "customers")
        if batch is None:
            raise InvalidField("customers", FieldProblem.REQUIRED)
        if not isinstance(batch, list):
            raise InvalidField("customers", FieldProblem.NOT_AN_ARRAY)
        if not batch:
            raise InvalidField("customers", FieldProblem.REQUIRED)
        if len(batch) > MAX_BATCH:
            raise InvalidField("customers", FieldProblem.TOO_MANY_ITEMS)
        outcomes = await self.crm.add_each(batch)
        for item in batch:
            if isinstance(item, dict):
                ignored.update(fields.undocumented(item, fields.CUSTOMER_FIELDS))
        headers = self._ignored(request, ignored)
        added = [outcome for outcome in outcomes if isinstance(outcome, Customer)]
        if len(added) == len(outcomes):
            shown = [self._customer(customer) async for _, customer in taking_turns(added)]
            return Reply(wire.to_json(shown), CREATED, headers)
        language = preferred_language(request.header(b"accept-language"))
        statuses: dict[str, object] = {}
        async for index, outcome in taking_turns(outcomes):
            if isinstance(outcome, Refused):
                errors = api_errors(outcome.error)
                listed = error_list(errors, language)
                statuses[str(index)] = {
                    "http_status": errors[0].kind.status,
                    "message": listed[0]["message"],
                    "errors": listed,
                }
            else:
                statuses[str(index)] = {"http_status": CREATED, "customer_id": outcome.customer_id}
        return Reply(wire.to_json(statuses), MULTI_STATUS, headers)

    # Companies ---------------------------------------------------------------------------

    async def list_companies(self, request: Request) -> Reply:
        query = self._list_query(request, COMPANY_ORDER_FIELDS)
        found = await self.crm.companies(query) if query is not None else []
        return Reply(wire.to_json([wire.company(c) for c in found]))

    async def create_company(self, request: Request) -> Reply:
        body = await request.json_object()
        added = await self.crm.add_company(body)
        ignored = self._ignored(request, fields.undocumented(body, fields.COMPANY_FIELDS))
        return Reply(wire.to_json(wire.company(added)), CREATED, ignored)

    async def get_company(self, request: Request) -> Reply:
        found = await self.crm.company(request.path_id("id"))
        return Reply(wire.to_json(wire.company(found)))

    async def update_company(self, request: Request) -> Reply:
        company_id = request.path_id("id")
        body = await request.json_object()
        await self.crm.update_company(company_id, body)
        ignored = fields.undocumented(body, fields.COMPANY_UPDATE_FIELDS)
        return Reply(b"", NO_CONTENT, self._ignored(request, ignored))

    async def delete_company(self, request: Request) -> Reply:
        await self.crm.remove_company(request.path_id("id"))
        return Reply(b"", NO_CONTENT)

    def _ignored(self, request: Request, names: Iterable[str]) -> tuple[tuple[bytes, bytes], ...]:
        user = request.principal.username if request.principal else ""
        return self.ignored.tell(user, names)

    def _customer(self, customer: Customer) -> dict[str, object]:
        return wire.customer(customer, self.phones, self.time_zone)

    def _list_query(self, request: Request, orderable: frozenset[str]) -> ListQuery | None:
        """The page asked for; None when the phone_number filter can match nobody."""
        text = bytes(request.scope.get("query_string", b"")).decode("utf-8", errors="replace")
        try:
            pairs = parse_qsl(text, keep_blank_values=True, max_num_fields=16)
        except ValueError as exc:
            raise InvalidField("query", FieldProblem.TOO_LONG) from exc
        params: dict[str, str] = {}
        unknown: dict[str, InvalidField] = {}
        for key, value in pairs:
            if key not in LIST_PARAMETERS:
                # Refused, never ignored: a filter kolejka lacks must not return everything.
                supported = ", ".join(sorted(LIST_PARAMETERS))
                name = key[:64]
                unknown[name] = InvalidField(
                    name, FieldProblem.UNKNOWN_PARAMETER, supported=supported
                )
            params[key] = value
        _refuse(unknown.values())
        limit = _limit(params.get("limit"))
        offset = _bounded(params.get("offset"), "offset", 0, MAX_ID, 0)
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


def _limit(value: str | None) -> int:
    """`limit`: above the documented maximum it is the maximum (Thulium serves such requests,
    and clients send `limit=2000` to read everything at once); below 1 or no number, 400003."""
    if value is None:
        return DEFAULT_LIMIT
    if not (value.isascii() and value.isdigit()) or int(value[:12]) < 1:
        raise InvalidField("limit", FieldProblem.OUT_OF_RANGE, low=1, high=MAX_LIMIT)
    return min(int(value[:12]), MAX_LIMIT)


def _refuse(errors: Iterable[InvalidField]) -> None:
    """Raises every one of `errors` at once, if any."""
    found = list(errors)
    if len(found) == 1:
        raise found[0]
    if found:
        raise InvalidFields(found)


def _bounded(value: str | None, name: str, low: int, high: int, default: int) -> int:
    if value is None:
        return default
    if not (value.isascii() and value.isdigit() and len(value) <= 10) or not (
        low <= int(value) <= high
    ):
        raise InvalidField(name, FieldProblem.OUT_OF_RANGE, low=low, high=high)
    return int(value)
