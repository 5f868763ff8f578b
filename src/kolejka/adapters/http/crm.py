"""Thulium's CRM endpoints: `/api/customers`, `/api/companies` and `/api/batch/customers`.

The wire follows Thulium: empty values are `""`, never null (a customer without a company has
`company_id: ""`); `phone_number` is the main number and `phone_numbers` all of them, shown as the
waiting list shows numbers; lists take `limit` (1-1000, default 100), `offset`, `order` (fields,
comma-separated, `-` for descending) and `phone_number`, which matches every spelling of a number.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import parse_qsl
from zoneinfo import ZoneInfo

from kolejka.adapters.http import wire
from kolejka.adapters.http.errors import api_errors, error_list, preferred_language
from kolejka.adapters.http.ignored_fields import IgnoredFields
from kolejka.adapters.http.request import Reply, Request, bounded_int, unknown_parameter
from kolejka.adapters.http.routing import Route
from kolejka.domain import crm_fields as fields
from kolejka.domain.crm import (
    COMPANY_ORDER_FIELDS,
    CUSTOMER_ORDER_FIELDS,
    DEFAULT_LIMIT,
    EVERYTHING,
    MAX_LIMIT,
    MAX_TEXT,
    Company,
    Customer,
    Included,
    ListQuery,
    Order,
)
from kolejka.domain.errors import FieldProblem, InvalidField, InvalidFields
from kolejka.domain.phone import PhoneNumbers
from kolejka.domain.queues import MAX_ID
from kolejka.services.crm import MAX_BATCH, Crm, Refused, taking_turns

# What `include_*` asks a read to show (GET lists and GET by id).
INCLUDE_PARAMETERS = frozenset(
    {
        "include_custom_fields",
        "include_address",
        "include_invoice_address",
        "include_mail_drop_address",
    }
)
# The filters `GET companies` documents; `GET customers` adds `company_id` and `company_flag`.
COMPANY_FILTERS = frozenset({"phone_number", "identifier", "email", "nip", "type", "group"})
CUSTOMER_FILTERS = COMPANY_FILTERS | {"company_id", "company_flag"}
LIST_PARAMETERS = frozenset({"limit", "offset", "order"}) | CUSTOMER_FILTERS | INCLUDE_PARAMETERS
COMPANY_LIST_PARAMETERS = LIST_PARAMETERS - {"company_id", "company_flag"}
# `custom_fields[Name]=v`, `custom_fields[Name][]=v`, `custom_fields[Name][0]=v` (PHP's arrays);
# the name is whatever stands between (a name no field has finds nothing).
CUSTOM_FIELD_PARAMETER = re.compile(r"custom_fields\[(.+?)\](?:\[[0-9]{0,9}\])?", re.DOTALL)
MAX_QUERY_FIELDS = 64
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
        query = self._list_query(request, CUSTOMER_ORDER_FIELDS, LIST_PARAMETERS)
        include = _included(_query_pairs(request))
        found = await self.crm.customers(query) if query is not None else []
        return Reply(wire.to_json([self._customer(c, include) for c in found]))

    async def create_customer(self, request: Request) -> Reply:
        body = await request.json_object()
        added = await self.crm.add_customer(body)
        ignored = self._ignored(request, fields.undocumented(body, fields.CUSTOMER_FIELDS))
        return Reply(wire.to_json(self._customer(added)), CREATED, ignored)

    async def get_customer(self, request: Request) -> Reply:
        customer_id = request.path_id("id")
        include = _included(_query_pairs(request), only=True)
        found = await self.crm.customer(customer_id)
        return Reply(wire.to_json(self._customer(found, include)))

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
        query = self._list_query(request, COMPANY_ORDER_FIELDS, COMPANY_LIST_PARAMETERS)
        include = _included(_query_pairs(request))
        found = await self.crm.companies(query) if query is not None else []
        return Reply(wire.to_json([self._company(c, include) for c in found]))

    async def create_company(self, request: Request) -> Reply:
        body = await request.json_object()
        added = await self.crm.add_company(body)
        ignored = self._ignored(request, fields.undocumented(body, fields.COMPANY_FIELDS))
        return Reply(wire.to_json(self._company(added)), CREATED, ignored)

    async def get_company(self, request: Request) -> Reply:
        company_id = request.path_id("id")
        include = _included(_query_pairs(request), only=True)
        found = await self.crm.company(company_id)
        return Reply(wire.to_json(self._company(found, include)))

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

    def _customer(self, customer: Customer, include: Included = EVERYTHING) -> dict[str, object]:
        return wire.customer(customer, self.phones, self.time_zone, include)

    def _company(self, company: Company, include: Included = EVERYTHING) -> dict[str, object]:
        return wire.company(company, self.phones, include)

    def _list_query(
        self, request: Request, orderable: frozenset[str], known: frozenset[str]
    ) -> ListQuery | None:
        """The page asked for; None when the phone_number filter can match nobody."""
        params: dict[str, str] = {}
        unknown: dict[str, InvalidField] = {}
        custom: dict[str, list[str]] = {}
        for key, value in _query_pairs(request):
            if (field := CUSTOM_FIELD_PARAMETER.fullmatch(key)) is not None:
                custom.setdefault(field.group(1), []).append(value)
                continue
            if key not in known:
                # Refused, never ignored: a filter kolejka lacks must not return everything.
                name = key[:64]
                unknown[name] = unknown_parameter(name, known | {"custom_fields[Name][]"})
                continue
            if key in params:
                # Refused, not merged: `type=person&type=company` must not quietly mean one.
                unknown[key] = InvalidField(key, FieldProblem.GIVEN_TWICE)
                continue
            params[key] = value
        _refuse(unknown.values())
        limit = _limit(params.get("limit"))
        offset = bounded_int(params.get("offset"), "offset", 0, MAX_ID, 0)
        order: tuple[Order, ...] = ()
        if "order" in params:
            order = fields.parse_order(params["order"], orderable)
        phone_e164 = None
        nobody = False
        if "phone_number" in params:
            number = fields.phone_number(params["phone_number"], self.phones, "phone_number")
            # Well written, but no number the numbering plan knows: it finds nobody (once the
            # other parameters are found right).
            nobody = number.e164 is None
            phone_e164 = number.e164
        company_id = None
        if params.get("company_id"):
            company_id = bounded_int(params["company_id"], "company_id", 1, MAX_ID, 0)
        company_flag = None
        if params.get("company_flag"):
            company_flag = _boolean(params["company_flag"], "company_flag")
        query = ListQuery(
            limit=limit,
            offset=offset,
            order=order,
            phone_e164=phone_e164,
            identifier=_filter_text(params, "identifier", 128),
            email=_filter_text(params, "email") or None,
            nip=_filter_text(params, "nip") or None,
            type=_filter_text(params, "type") or None,
            group=_filter_text(params, "group") or None,
            company_id=company_id,
            company_flag=company_flag,
            custom_fields=tuple((name, tuple(values)) for name, values in custom.items()),
        )
        return None if nobody else query


def _query_pairs(request: Request) -> list[tuple[str, str]]:
    text = bytes(request.scope.get("query_string", b"")).decode("utf-8", errors="replace")
    try:
        return parse_qsl(text, keep_blank_values=True, max_num_fields=MAX_QUERY_FIELDS)
    except ValueError as exc:
        raise InvalidField("query", FieldProblem.TOO_LONG) from exc


def _included(pairs: list[tuple[str, str]], *, only: bool = False) -> Included:
    """Thulium's `include_*` flags (absent: false); with `only`, any other parameter is refused
    (GET by id takes nothing else)."""
    flags: dict[str, bool] = {}
    for key, value in pairs:
        if key in INCLUDE_PARAMETERS:
            flags[key.removeprefix("include_")] = _boolean(value, key)
        elif only:
            raise unknown_parameter(key[:64], INCLUDE_PARAMETERS)
    return Included(
        custom_fields=flags.get("custom_fields", False),
        address=flags.get("address", False),
        invoice_address=flags.get("invoice_address", False),
        mail_drop_address=flags.get("mail_drop_address", False),
    )


def _boolean(value: str, name: str) -> bool:
    """A flag in a query: true/false or 1/0; "" is false."""
    if value in ("true", "1"):
        return True
    if value in ("false", "0", ""):
        return False
    raise InvalidField(name, FieldProblem.NOT_A_BOOLEAN)


def _filter_text(params: dict[str, str], name: str, limit: int = MAX_TEXT) -> str | None:
    """An exact-match filter's value as stored values are (blanks around it stripped)."""
    if name not in params:
        return None
    return fields.text(params, name, limit)


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
