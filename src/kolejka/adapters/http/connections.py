"""Thulium's call history: `GET /api/connections` and `GET /api/connections/{id}/topic`.

`GET /api/connections` answers `{"count": ..., "result": [...]}`, newest call first (ties by
`connection_id`), `limit` rows (default 100; any larger number is served as 100) from `offset`.
Each filter is optional, and an empty value is no filter. docs/api.md ("Call history") has the
decisions where Thulium's page is silent.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from datetime import datetime
from zoneinfo import ZoneInfo

from kolejka.adapters.http import wire
from kolejka.adapters.http.request import (
    Reply,
    Request,
    bounded_int,
    query_pairs,
    query_text,
)
from kolejka.adapters.http.routing import Route
from kolejka.domain.connections import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    MAX_LOGIN,
    ConnectionQuery,
)
from kolejka.domain.errors import FieldProblem, InvalidField
from kolejka.domain.phone import MAX_PHONE_INPUT
from kolejka.domain.queues import MAX_CALL_ID, MAX_ID, parse_id
from kolejka.services.history import CallHistory
from kolejka.services.ports import Change, ChangeFeed, Topic

PARAMETERS = frozenset(
    {
        "limit",
        "offset",
        "date_from",
        "date_to",
        "src",
        "dst",
        "connection_id",
        "user_login",
        "queue_id",
        "topic_id",
        "customer_id",
        "tags[]",
        "tags",
        "include_tags",
        "include_topics",
    }
)
MAX_PAIRS = 64  # every parameter once, and a few dozen tags
MAX_TAG = 255
MAX_TAGS = 20  # `tags[]` values, empty ones included (the OpenAPI's maxItems)
_PAGES_KEPT = 256
# What can change a page already answered: a departure (a new row), an agent's pick-up or
# hang-up (the row's agent and talk), a customer's or agent's name, or anything (another process).
_CHANGING_PAGES = frozenset({Topic.QUEUE, Topic.AGENTS, Topic.CRM, Topic.CALLBACKS, Topic.ALL})
_BOOLEANS = {"0": False, "1": True, "false": False, "true": True}


class ConnectionsApi:
    """The handlers; `routes()` lists them for KolejkaApp.

    Reports and wallboards ask the same few pages over and over, and a page costs some 3 ms of
    Python: each answer is kept, by its query string, until something that could change it
    happens (a call leaves a queue, an agent picks up or hangs up, a name changes: the change
    feed says so, across instances too) or `cache_seconds` pass (old calls being pruned tell
    nobody). The answer does not depend on who asks; the permission is checked before.
    """

    def __init__(
        self,
        history: CallHistory,
        time_zone: ZoneInfo,
        changes: ChangeFeed | None = None,
        cache_seconds: float = 2.0,
    ) -> None:
        self.history = history
        self.time_zone = time_zone
        self.cache_seconds = cache_seconds
        self._ready: OrderedDict[bytes, tuple[float, bytes]] = OrderedDict()
        self._generation = 0
        if changes is not None:
            changes.subscribe(self._forget)

    def _forget(self, change: Change) -> None:
        if change.topic in _CHANGING_PAGES:
            self._generation += 1
            self._ready.clear()

    def routes(self) -> list[Route]:
        return [
            Route("GET", "/api/connections", self.connections),
            Route("GET", "/api/connections/{id}/topic", self.topic),
        ]

    async def connections(self, request: Request) -> Reply:
        key = bytes(request.scope.get("query_string", b""))
        now = time.monotonic()
        ready = self._ready.get(key)
        if ready is not None and ready[0] > now:
            return Reply(ready[1])
        generation = self._generation
        body = await self._page(request)
        if generation == self._generation:  # nothing changed while it was being read
            self._ready[key] = (now + self.cache_seconds, body)
            if len(self._ready) > _PAGES_KEPT:
                self._ready.popitem(last=False)
        return Reply(body)

    async def _page(self, request: Request) -> bytes:
        query = await self._query(request)
        page = await self.history.page(query)
        customers, agents = await self.history.names(page.rows)
        result = [
            wire.connection(
                row,
                self.time_zone,
                self.history.display(row.src),
                customers.get(row.customer_number),
                agents.get(row.user_login, ""),
            )
            for row in page.rows
        ]
        return wire.to_json({"count": page.count, "result": result})

    async def topic(self, request: Request) -> Reply:
        """Thulium's topic of a call. kolejka records no topics yet: a known call answers the
        empty topic (with the agent who took it); an unknown one, 404."""
        row = await self.history.connection(request.params["id"][: MAX_CALL_ID + 1])
        return Reply(
            wire.to_json(
                {
                    "topic_id": None,
                    "agent_login": row.user_login,
                    "comment": "",
                    "custom_fields": [],
                }
            )
        )

    async def _query(self, request: Request) -> ConnectionQuery:
        params: dict[str, str] = {}
        tags: list[str] = []
        given_tags = 0
        given: set[str] = set()
        for key, value in query_pairs(request, PARAMETERS, MAX_PAIRS):
            if key in ("tags[]", "tags"):
                given_tags += 1
                if given_tags > MAX_TAGS:
                    raise InvalidField("tags[]", FieldProblem.REPEATED_TOO_OFTEN, high=MAX_TAGS)
                if value:
                    tags.append(query_text(value, "tags[]", MAX_TAG))
            elif key in given:
                # Refused, not merged: `queue_id=1&queue_id=2` must not quietly mean queue 2.
                raise InvalidField(key, FieldProblem.GIVEN_TWICE)
            else:
                given.add(key)
                if value != "":
                    params[key] = value  # an empty one is no filter
        for flag in ("include_tags", "include_topics"):
            if flag in params and params[flag].lower() not in _BOOLEANS:
                raise InvalidField(flag, FieldProblem.NOT_A_QUERY_FLAG)
        src_keys: tuple[str, ...] | None = None
        customer_keys: tuple[str, ...] | None = None
        if "src" in params:
            src_keys = self.history.number_keys(query_text(params["src"], "src", MAX_PHONE_INPUT))
        if "customer_id" in params:
            numbers = await self.history.customer_numbers(_id(params, "customer_id"))
            if src_keys is None:  # the calls from the customer's numbers and the callbacks to them
                customer_keys = numbers
            else:  # the calls from this number, when it is the customer's
                src_keys = tuple(set(src_keys) & set(numbers))
        dst_keys: tuple[str, ...] | None = None
        dst = _text(params, "dst", MAX_PHONE_INPUT)
        if dst is not None:  # as written (an extension, say), and as any key of its number
            dst_keys = tuple(dict.fromkeys((dst, *self.history.number_keys(dst))))
        return ConnectionQuery(
            limit=_limit(params.get("limit")),
            offset=bounded_int(params.get("offset"), "offset", 0, MAX_ID, 0),
            date_from=self._date(params, "date_from", end=False),
            date_to=self._date(params, "date_to", end=True),
            src_keys=src_keys,
            customer_keys=customer_keys,
            dst_keys=dst_keys,
            connection_id=_text(params, "connection_id", MAX_CALL_ID),
            user_login=_text(params, "user_login", MAX_LOGIN),
            queue_id=_id(params, "queue_id") if "queue_id" in params else None,
            topic_id=_id(params, "topic_id") if "topic_id" in params else None,
            tags=tuple(tags),
        )

    def _date(self, params: dict[str, str], name: str, *, end: bool) -> datetime | None:
        """`date_from` starts at the day, minute or second it names; `date_to` takes it in."""
        text = params.get(name)
        if text is None:
            return None
        instant = wire.wire_date(text, self.time_zone, end=end)
        if instant is None:
            raise InvalidField(name, FieldProblem.NOT_A_DATE_OR_TIME)
        return instant


def _limit(value: str | None) -> int:
    """Thulium's limit: 1 to 100; any larger number is served as 100."""
    if value is None:
        return DEFAULT_LIMIT
    digits = value.lstrip("0")
    if not (value.isascii() and value.isdigit()) or not digits:
        raise InvalidField("limit", FieldProblem.OUT_OF_RANGE, low=1, high=MAX_LIMIT)
    return MAX_LIMIT if len(digits) > 3 else min(int(digits), MAX_LIMIT)


def _id(params: dict[str, str], name: str) -> int:
    value = parse_id(params[name])
    if value is None:
        raise InvalidField(name, FieldProblem.NOT_AN_ID)
    return value


def _text(params: dict[str, str], name: str, limit: int) -> str | None:
    return query_text(params[name], name, limit) if name in params else None
