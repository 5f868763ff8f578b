"""uvicorn's httptools protocol with the guards a public endpoint needs.

uvicorn accepts headers of any size and waits forever for a request that trickles in, so one
client could hold thousands of connections open or make the server buffer megabytes. This
protocol drops a connection whose headers pass `max_header_bytes` (431) or do not complete within
`header_timeout` (408), drops a request whose body does not arrive within `body_timeout`, and
answers malformed HTTP in kolejka's error envelope instead of uvicorn's plain text. It subclasses
uvicorn's internal protocol, so pyproject.toml pins uvicorn to the minor release it was tested on.

`StoppingServer` is uvicorn's server, which lets the app end its endless answers (event streams)
when it stops, instead of waiting for them and then cancelling them with an error in the log.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Callable, Sequence
from http import HTTPStatus
from typing import Any, ClassVar

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from kolejka.adapters.http.errors import (
    BAD_HTTP,
    HEADERS_TOO_LARGE,
    REQUEST_TIMEOUT,
    ApiError,
    envelope,
)

log = logging.getLogger(__name__)


class StoppingServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, on_stop: Sequence[Callable[[], None]]) -> None:
        super().__init__(config)
        self.on_stop = on_stop

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        # uvicorn then stops listening, waits for the answers in progress, and cancels the
        # ones left after `timeout_graceful_shutdown`; ended streams finish at once.
        for hook in self.on_stop:
            hook()
        await super().shutdown(sockets)


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    max_header_bytes: ClassVar[int] = 16384
    header_timeout: ClassVar[float] = 10.0
    body_timeout: ClassVar[float] = 30.0
    # One sweep a second checks every connection's deadline: a request then costs two float
    # assignments instead of arming and cancelling timers.
    sweep_seconds: ClassVar[float] = 1.0
    _sweeps: ClassVar[dict[asyncio.AbstractEventLoop, asyncio.TimerHandle]] = {}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_bytes = 0
        self._chunk_bytes = 0
        self._in_headers = True
        self._deadline: float | None = None
        self._waiting_for = "headers"
        self._refused = False

    @classmethod
    def configured(
        cls, max_header_bytes: int, header_timeout: float, body_timeout: float
    ) -> type[GuardedHttpToolsProtocol]:
        """A subclass with these limits, to hand to uvicorn as its `http` protocol."""
        return type(
            "GuardedHttpToolsProtocol",
            (cls,),
            {
                "max_header_bytes": max_header_bytes,
                "header_timeout": header_timeout,
                "body_timeout": body_timeout,
                "sweep_seconds": min(1.0, header_timeout / 4, body_timeout / 4),
            },
        )

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._deadline = self.loop.time() + self.header_timeout
        if self.loop not in self._sweeps:
            self._sweeps[self.loop] = self.loop.call_later(self.sweep_seconds, self._sweep)

    def _sweep(self) -> None:
        now = self.loop.time()
        for connection in list(self.connections):
            if isinstance(connection, GuardedHttpToolsProtocol):
                deadline = connection._deadline
                if deadline is not None and deadline < now:
                    connection._expired()
        if self.connections:
            self._sweeps[self.loop] = self.loop.call_later(self.sweep_seconds, self._sweep)
        else:
            del self._sweeps[self.loop]

    def connection_lost(self, exc: Exception | None) -> None:
        self._deadline = None
        super().connection_lost(exc)

    # The callbacks below run for every request: they call the base class directly rather than
    # through super(), and do only what the guards need.
    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        self._chunk_bytes = len(data)
        HttpToolsProtocol.data_received(self, data)
        if self._in_headers and not self._refused:
            # Still inside the headers after this chunk: all of it counts.
            self._header_bytes += len(data)
            if self._header_bytes > self.max_header_bytes:
                self._refuse(ApiError(HEADERS_TOO_LARGE, limit=self.max_header_bytes))

    def on_message_begin(self) -> None:
        HttpToolsProtocol.on_message_begin(self)
        self._in_headers = True
        self._header_bytes = 0
        self._waiting_for = "headers"
        self._deadline = self.loop.time() + self.header_timeout

    def on_headers_complete(self) -> None:
        self._in_headers = False
        # The headers came in the bytes counted so far plus this chunk: when those fit, so do
        # the headers, and only a large request pays for adding them up.
        if self._header_bytes + self._chunk_bytes > self.max_header_bytes:
            size = len(self.url) + sum(len(name) + len(value) + 4 for name, value in self.headers)
            if size > self.max_header_bytes:
                self._refuse(ApiError(HEADERS_TOO_LARGE, limit=self.max_header_bytes))
                return
        self._waiting_for = "body"
        self._deadline = self.loop.time() + self.body_timeout
        HttpToolsProtocol.on_headers_complete(self)

    def on_body(self, body: bytes) -> None:
        if not self._refused:
            HttpToolsProtocol.on_body(self, body)

    def on_message_complete(self) -> None:
        self._deadline = None
        if not self._refused:
            HttpToolsProtocol.on_message_complete(self)

    def send_400_response(self, msg: str) -> None:
        self._refuse(ApiError(BAD_HTTP))

    def _expired(self) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        log.info(
            "dropped a connection whose %s did not arrive in time",
            self._waiting_for,
            extra={"client": self.client},
        )
        if self._waiting_for == "headers" and self._header_bytes:
            self._refuse(ApiError(REQUEST_TIMEOUT))
        else:
            self.transport.close()

    def _refuse(self, error: ApiError) -> None:
        """Answers in the error envelope and closes; the app never sees the request."""
        self._deadline = None
        self._refused = True
        if self.transport.is_closing():
            return
        body = envelope(os.urandom(6).hex(), [error], "en")
        status = error.kind.status
        head = (
            f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\n"
            "content-type: application/json; charset=utf-8\r\n"
            f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
        )
        self.transport.write(head.encode() + body)
        self.transport.close()
