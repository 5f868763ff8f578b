"""The ASGI application: Thulium's queue API, the ingest API, OpenAPI and health.

Every answer is JSON (clients send `Accept: text/html` and still expect JSON), carries an
`X-Request-Id`, and every error comes in Thulium's envelope. Nothing a client sends can make it
answer 500: unexpected exceptions are logged with the request id and answered as 500001, which the
tests treat as a bug.
"""

from __future__ import annotations

import itertools
import logging
import os
from collections.abc import AsyncGenerator, Callable, Sequence
from importlib import resources
from time import perf_counter
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

import yaml

from kolejka.adapters.http.errors import (
    AUTH_FAILED,
    AUTH_REQUIRED,
    FORBIDDEN,
    INTERNAL,
    METHOD_NOT_ALLOWED,
    NOT_FOUND,
    UNAVAILABLE,
    ApiError,
    envelope,
    from_domain,
    preferred_language,
)
from kolejka.adapters.http.request import (
    AnyReply,
    Message,
    Receive,
    Reply,
    Request,
    Scope,
    Send,
    StreamReply,
    only_fields,
    seconds_field,
    text_field,
)
from kolejka.adapters.http.routing import Route, Router
from kolejka.adapters.http.stream import send_other_reply
from kolejka.domain.errors import DomainError, InvalidField
from kolejka.domain.phone import MAX_PHONE_INPUT
from kolejka.domain.queues import MAX_CALL_ID, MAX_CALLER_NAME, Outcome
from kolejka.observability.health import HealthCheck, run_checks
from kolejka.observability.links import LinkState
from kolejka.services.auth import Authenticator, Principal
from kolejka.services.ports import Task
from kolejka.services.waiting_lists import WIRE_DATE, WaitingLists, WaitingListView, to_json

log = logging.getLogger(__name__)

JSON_TYPE = (b"content-type", b"application/json; charset=utf-8")


class KolejkaApp:
    """The ASGI callable. Handlers are methods; `routes` lists them with their paths."""

    def __init__(
        self,
        lists: WaitingLists,
        view: WaitingListView,
        auth: Authenticator,
        time_zone: ZoneInfo,
        background: list[Task] | None = None,
        max_body_bytes: int = 65536,
        routes: Sequence[Route] = (),
        links: Sequence[LinkState] = (),
        health_checks: Sequence[HealthCheck] = (),
        observe: Callable[[str, int, float], None] | None = None,
        outages: tuple[type[Exception], ...] = (),
        on_server_stop: Sequence[Callable[[], None]] = (),
    ) -> None:
        # Called when the server stops taking connections, before it waits for open answers:
        # event streams never end by themselves, so they end here and clients reconnect.
        self.on_server_stop = on_server_stop
        # A store's own exceptions that mean "busy or broken right now" (SQLite's errors outside
        # Database.writing, such as a full disk): answered 503 in the envelope, not 500.
        self.outages = outages
        self.lists = lists
        self.links = links
        self.health_checks = health_checks
        # Called with (route's permission name, status, seconds) for every request (/metrics).
        self.observe = observe
        self.view = view
        self.auth = auth
        self.time_zone = time_zone
        self.background = background or []
        self.max_body_bytes = max_body_bytes
        self._request_numbers = itertools.count()
        self.router = Router(
            [
                Route("GET", "/api/queues/{id}/waiting_list", self.waiting_list),
                Route("GET", "/api/queues/{id}/waiting_stats", self.waiting_stats),
                Route("GET", "/api/queues", self.queues),
                Route("POST", "/api/queues/{id}/callers", self.caller_joins),
                Route("POST", "/api/queues/{id}/callers/{call_id}/leave", self.caller_leaves),
                Route("GET", "/api/openapi.json", self.openapi, public=True),
                Route("GET", "/health", self.health, public=True),
                *routes,
            ]
        )
        self._openapi: bytes | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # A request is answered here rather than in a method of its own: on the hot path
        # (a wallboard poll) each coroutine layer is a measurable share of the time.
        if scope["type"] != "http":
            if scope["type"] == "lifespan":
                await self._lifespan(receive, send)
            return
        started = perf_counter()
        request_id = f"{_PREFIX}{next(self._request_numbers):07x}"
        route_name = "unmatched"  # names the route in /metrics
        try:
            route, params, allowed = self.router.match(scope["method"], _raw_path(scope))
            if route is None:
                raise _unrouted(scope["method"], allowed)
            route_name = route.permission
            principal = None
            if not route.public:
                header = _authorization(scope)
                # A credential verified lately is a dict lookup; only the others are awaited.
                principal = self.auth.cached(header) if header is not None else None
                if principal is None:
                    principal = await self._login(scope, header)
                if not principal.may(route.permission):
                    raise ApiError(FORBIDDEN, user=principal.username, permission=route.permission)
            request = Request(scope, receive, params, principal, self.max_body_bytes)
            reply: AnyReply = await route.handler(request)
        except ApiError as error:
            reply = self._error_reply(scope, request_id, error)
        except DomainError as error:
            reply = self._error_reply(scope, request_id, from_domain(error))
        except Exception as error:
            if isinstance(error, self.outages):
                log.warning("store unavailable: %s", error, extra={"request_id": request_id})
                reply = self._error_reply(scope, request_id, ApiError(UNAVAILABLE))
            else:
                log.exception("unexpected error", extra={"request_id": request_id})
                reply = self._error_reply(scope, request_id, ApiError(INTERNAL))
        if self.observe is not None:
            self.observe(route_name, reply.status, perf_counter() - started)
        if scope["method"] == "HEAD":
            # The GET route's answer, headers and all, without its body (RFC 9110 9.3.2).
            send = _without_body(send)
            if isinstance(reply, StreamReply):
                await reply.chunks.aclose()  # never started, so it holds nothing
                reply = StreamReply(_no_events(), reply.content_type, reply.status, reply.headers)
        if not isinstance(reply, Reply):
            # HTML and event streams; JSON answers never take this branch.
            await send_other_reply(reply, request_id, receive, send)
            return
        headers = [
            JSON_TYPE,
            (b"content-length", b"%d" % len(reply.body)),
            (b"x-request-id", request_id.encode()),
        ]
        if reply.headers:
            headers += reply.headers
        await send({"type": "http.response.start", "status": reply.status, "headers": headers})
        await send({"type": "http.response.body", "body": reply.body})

    async def _login(self, scope: Scope, header: bytes | None) -> Principal:
        """The principal for a credential not verified lately (or a challenge)."""
        if header is None:
            raise _challenge(ApiError(AUTH_REQUIRED))
        client = scope.get("client")
        principal = await self.auth.authenticate(header, client[0] if client else "")
        if principal is None:
            raise _challenge(ApiError(AUTH_FAILED))
        return principal

    def _error_reply(self, scope: Scope, request_id: str, error: ApiError) -> Reply:
        language = "en"
        for key, value in scope.get("headers", ()):
            if key == b"accept-language":
                language = preferred_language(bytes(value))
        body = envelope(request_id, [error], language)
        return Reply(body, error.kind.status, tuple(error.headers))

    # Thulium's queue API -----------------------------------------------------------------

    async def waiting_list(self, request: Request) -> Reply:
        queue_id = request.path_id("id")
        # Nearly every poll finds the list ready: no await of the store for it.
        ready = self.view.ready(queue_id)
        return Reply(ready if ready is not None else await self.view.waiting_list_json(queue_id))

    async def waiting_stats(self, request: Request) -> Reply:
        stats = await self.lists.stats(request.path_id("id"))
        return Reply(to_json(stats.as_wire()))

    async def queues(self, request: Request) -> Reply:
        queues = await self.lists.queues.all()
        return Reply(to_json([{"queue_id": q.queue_id, "name": q.name} for q in queues]))

    # The ingest API, for PBXs without an adapter -----------------------------------------

    async def caller_joins(self, request: Request) -> Reply:
        queue_id = request.path_id("id")
        body = await request.json_object()
        only_fields(body, {"call_id", "phone_number", "caller_name", "waited"})
        call_id = text_field(body, "call_id", MAX_CALL_ID, required=True, strip=False)
        if not call_id:
            raise InvalidField("call_id", "is required.")
        phone_number = text_field(body, "phone_number", MAX_PHONE_INPUT)
        caller_name = text_field(body, "caller_name", MAX_CALLER_NAME)
        waited = seconds_field(body, "waited")
        started_at = None if waited is None else self.lists.clock.now() - waited
        before = await self.lists.callers.find(call_id)
        caller = await self.lists.join(queue_id, call_id, phone_number, caller_name, started_at)
        created = before is None
        return Reply(
            to_json(
                {
                    "call_id": caller.call_id,
                    "queue_id": caller.queue_id,
                    "phone_number": self.lists.phones.display(caller.phone_number),
                    "started_at": caller.started_at.astimezone(self.time_zone).strftime(WIRE_DATE),
                }
            ),
            201 if created else 200,
        )

    async def caller_leaves(self, request: Request) -> Reply:
        queue_id = request.path_id("id")
        call_id = request.params["call_id"]
        body = await request.json_object()
        only_fields(body, {"outcome", "hold_time"})
        outcome_text = body.get("outcome")
        if outcome_text is None:
            raise InvalidField("outcome", "is required.")
        if outcome_text not in ("answered", "abandoned"):
            raise InvalidField("outcome", "must be 'answered' or 'abandoned'.")
        hold_time = seconds_field(body, "hold_time")
        gone = await self.lists.leave(call_id, Outcome(outcome_text), hold_time, queue_id=queue_id)
        return Reply(
            to_json(
                {
                    "call_id": gone.call_id,
                    "queue_id": gone.queue_id,
                    "outcome": gone.outcome.value,
                    "hold_time": int(gone.hold_time.total_seconds()),
                }
            )
        )

    # Service endpoints ---------------------------------------------------------------------

    async def openapi(self, request: Request) -> Reply:
        if self._openapi is None:
            self._openapi = to_json(openapi_document())
        return Reply(self._openapi)

    async def health(self, request: Request) -> Reply:
        # Always 200: the API still answers (from the last known state) when the PBX link is
        # down, so a liveness probe must not restart it; "degraded" tells a human or an alert.
        healthy = all(link.up for link in self.links)
        body: dict[str, object] = {"status": "ok" if healthy else "degraded"}
        body.update((link.name, link.as_wire()) for link in self.links)
        if self.health_checks:
            # The stores (and, with several instances, the AMI lease) each say whether they are
            # well; one that is down makes the service degraded, still 200 (see above).
            well, report = await run_checks(self.health_checks)
            body.update(report)
            body["status"] = "ok" if healthy and well else "degraded"
        return Reply(to_json(body))

    # Helpers -------------------------------------------------------------------------------

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        import asyncio

        tasks: list[asyncio.Task[None]] = []
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                tasks = [asyncio.create_task(_logged(job)) for job in self.background]
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                await send({"type": "lifespan.shutdown.complete"})
                return


_PREFIX = os.urandom(3).hex()


async def _logged(job: Task) -> None:
    try:
        await job()
    except Exception:
        log.exception("background task %s stopped", getattr(job, "__qualname__", job))
        raise


def _raw_path(scope: Scope) -> bytes:
    """The path as the client sent it, still percent-encoded, so `%2F` stays in its segment."""
    raw = scope.get("raw_path")
    if raw is None:  # optional in ASGI; uvicorn always gives it
        return quote(scope["path"]).encode("ascii")
    return bytes(raw).partition(b"?")[0]


def _without_body(send: Send) -> Send:
    async def send_head(message: Message) -> None:
        if message["type"] == "http.response.body":
            message = {**message, "body": b"", "more_body": False}
        await send(message)

    return send_head


async def _no_events() -> AsyncGenerator[bytes, None]:
    return
    yield b""  # makes this an (empty) async generator


def _authorization(scope: Scope) -> bytes | None:
    for key, value in scope["headers"]:
        if key == b"authorization":
            return bytes(value)
    return None


def _unrouted(method: str, allowed: list[str]) -> ApiError:
    """404, or 405 with `Allow` when the path exists for other methods."""
    if not allowed:
        return ApiError(NOT_FOUND)
    error = ApiError(METHOD_NOT_ALLOWED, method=method[:16], allowed=", ".join(allowed))
    error.headers.append((b"allow", ", ".join(allowed).encode()))
    return error


def _challenge(error: ApiError) -> ApiError:
    error.headers.append((b"www-authenticate", b'Basic realm="kolejka", charset="UTF-8"'))
    return error


def openapi_document() -> dict[str, Any]:
    text = (resources.files("kolejka.adapters.http") / "openapi.yaml").read_text(encoding="utf-8")
    document: dict[str, Any] = yaml.safe_load(text)
    return document
