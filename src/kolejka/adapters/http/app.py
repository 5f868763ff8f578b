"""The ASGI application's kernel: routing, authentication, errors, metrics and the lifespan.

Every API answer is JSON (clients send `Accept: text/html` and still expect JSON), carries an
`X-Request-Id`, and every error comes in Thulium's envelope. Nothing a client sends can make it
answer 500: unexpected exceptions are logged with the request id and answered as 500001, which
the tests treat as a bug. The handlers live beside it: queues.py, ingest.py, service.py,
crm.py, stream.py, metrics.py and the wallboard.
"""

from __future__ import annotations

import itertools
import logging
import os
from collections.abc import Awaitable, Callable, Sequence
from time import perf_counter
from urllib.parse import quote
from zoneinfo import ZoneInfo

from kolejka.adapters.http.auth import HttpAuth, authorization
from kolejka.adapters.http.errors import (
    INTERNAL,
    METHOD_NOT_ALLOWED,
    NOT_FOUND,
    UNAVAILABLE,
    ApiError,
    api_errors,
    envelope,
    preferred_language,
)
from kolejka.adapters.http.ingest import IngestApi
from kolejka.adapters.http.queues import QueuesApi
from kolejka.adapters.http.replies import head_reply, json_start, send_reply
from kolejka.adapters.http.request import AnyReply, Receive, Reply, Request, Scope, Send
from kolejka.adapters.http.routing import Route, Router
from kolejka.adapters.http.service import ServiceApi
from kolejka.adapters.http.waiting_list_view import WaitingListView
from kolejka.domain.errors import DomainError
from kolejka.observability.health import HealthCheck
from kolejka.observability.links import LinkState
from kolejka.services.auth import Authenticator, Principal
from kolejka.services.ports import Task
from kolejka.services.waiting_lists import WaitingLists

log = logging.getLogger(__name__)


class KolejkaApp:
    """The ASGI callable over the queue, ingest and service routes, and `routes` besides."""

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
        on_stopped: Sequence[Callable[[], Awaitable[None]]] = (),
    ) -> None:
        # Awaited at the lifespan's end, once the background tasks have stopped: the writes
        # they left for later (the call history's last burst) land before the process ends.
        self.on_stopped = on_stopped
        # Called when the server stops taking connections, before it waits for open answers:
        # event streams never end by themselves, so they end here and clients reconnect.
        self.on_server_stop = on_server_stop
        # A store's own exceptions that mean "busy or broken right now" (SQLite's errors outside
        # Database.writing, such as a full disk): answered 503 in the envelope, not 500.
        self.outages = outages
        # Called with (route's permission name, status, seconds) for every request (/metrics).
        self.observe = observe
        self.auth = HttpAuth(auth)
        self.background = background or []
        self.max_body_bytes = max_body_bytes
        self._request_numbers = itertools.count()
        self.router = Router(
            [
                *QueuesApi(lists, view).routes(),
                *IngestApi(lists, time_zone).routes(),
                *ServiceApi(links, health_checks).routes(),
                *routes,
            ]
        )

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
            principal: Principal | None = None
            header: bytes | None = None
            if not route.public:
                header = authorization(scope)
                # A credential verified lately is a dict lookup; only the others are awaited.
                client = scope.get("client")
                principal = self.auth.cached(header, route, client[0] if client else "")
                if principal is None:
                    header, principal = await self.auth.principal(scope, route)
            request = Request(scope, receive, params, principal, header, self.max_body_bytes)
            reply: AnyReply = await route.handler(request)
        except ApiError as error:
            reply = self._error_reply(scope, request_id, error)
        except DomainError as error:
            reply = self._error_reply(scope, request_id, *api_errors(error))
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
            reply, send = await head_reply(reply, send)
        if not isinstance(reply, Reply):
            # HTML and event streams; JSON answers never take this branch.
            await send_reply(reply, request_id, receive, send)
            return
        # send_reply's JSON branch, inlined: a coroutine less on the hot path.
        await send(json_start(reply, request_id))
        await send({"type": "http.response.body", "body": reply.body})

    def _error_reply(self, scope: Scope, request_id: str, *errors: ApiError) -> Reply:
        """The envelope of `errors`, all of one status (several: one malformed field each)."""
        language = "en"
        for key, value in scope.get("headers", ()):
            if key == b"accept-language":
                language = preferred_language(bytes(value))
        body = envelope(request_id, list(errors), language)
        return Reply(body, errors[0].kind.status, tuple(errors[0].headers))

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
                for stopped in self.on_stopped:
                    try:
                        await stopped()
                    except Exception:
                        log.exception("could not finish %s", getattr(stopped, "__qualname__", ""))
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


def _unrouted(method: str, allowed: list[str]) -> ApiError:
    """404, or 405 with `Allow` when the path exists for other methods."""
    if not allowed:
        return ApiError(NOT_FOUND)
    error = ApiError(METHOD_NOT_ALLOWED, method=method[:16], allowed=", ".join(allowed))
    error.headers.append((b"allow", ", ".join(allowed).encode()))
    return error
