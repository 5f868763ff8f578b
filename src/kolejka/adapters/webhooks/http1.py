"""Webhook delivery's HTTP client: HTTP/1.1 POSTs over asyncio's transports, kept alive.

Delivery sends one request at a time per subscription, each a small JSON body answered by a
status, so what it needs of HTTP is small: write the request head and body in one `write`, read
the answer's status line and headers, and skip its body (to its Content-Length, its last chunk
or the connection's end) so the connection can carry the next request. This does that and no
more: the request is a few lines written here; the answer is parsed by httptools (llhttp, the
parser uvicorn serves kolejka's own API with), never by hand. It runs on the event loop's own
transports (uvloop's, in `kolejka serve` and `kolejka webhooks
deliver`), for about a quarter of the CPU a request that libcurl through pycurl took
(docs/benchmarks.md): no socket registered and dropped with the loop per request, no connection
check before each one, one write and one read a request.

The SSRF guard is at connect time: the host is resolved when a connection is made, every
address it resolves to is checked with `address_allowed`, and the socket connects to an allowed
address itself (never to the name again), so a name that resolves to 127.0.0.1 or
169.254.169.254 after registration still reaches nothing. No proxy is used, no redirect is
followed (a 3xx is an answer like any other that is not 2xx), only http and https are spoken
(https verified against certifi's CAs, or the given context), and at most `max_response_bytes`
of an answer's body are read: past that, the connection is closed and the status kept.

Timeouts: connecting (resolving, TCP and TLS) within `timeout_seconds`; the answer's head
within `timeout_seconds` of the request's writing; the whole request within twice that. A
kept-alive connection the receiver closed while it was idle is found closed before it is used,
or, if it closes as the request is written and nothing was answered, the request is sent once
more on a new connection (as libcurl does; at-least-once allows the rare repeat).
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast
from urllib.parse import urlsplit

import certifi
import httptools

from kolejka.domain.webhooks import address_allowed

USER_AGENT = "kolejka-webhooks"
# Idle connections kept for reuse, across all subscribers: one each, and room to spare.
CONNECTIONS_KEPT = 256
# An idle connection kept longer than this is closed rather than used (as libcurl's default).
IDLE_SECONDS = 118.0
MAX_HEAD_BYTES = 65536  # an answer's status line and headers, at most


_HEAD_TOO_LONG = "BadAnswer: the answer's head is too long"


class _HeadTooLong(Exception):
    """Raised in httptools' header callback to stop reading a head past MAX_HEAD_BYTES."""


class RequestFailed(Exception):
    """No answer: `args[0]` says why, as the attempts record it."""


class _Stale(Exception):
    """A kept-alive connection closed before any byte of the answer: worth one more try."""


@dataclass(frozen=True, slots=True)
class _Target:
    """A subscription URL taken apart once: where to connect and the request's first lines."""

    tls: bool
    host: str
    port: int
    head: bytes  # "POST <path> HTTP/1.1", Host and User-Agent, each ending in CRLF


def _target(url: str) -> _Target:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        raise RequestFailed(f"MalformedURL: {error}") from None
    if parts.scheme not in ("http", "https"):
        raise RequestFailed(f"UnsupportedProtocol: {parts.scheme or 'none'}")
    host = parts.hostname
    if not host:
        raise RequestFailed("MalformedURL: no host")
    tls = parts.scheme == "https"
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    authority = parts.netloc.rpartition("@")[2]
    if any(c <= " " or c == "\x7f" for c in path + authority):
        raise RequestFailed("MalformedURL: spaces or control characters")
    head = f"POST {path} HTTP/1.1\r\nHost: {authority}\r\nUser-Agent: {USER_AGENT}\r\n"
    return _Target(tls, host, port or (443 if tls else 80), head.encode("ascii", "replace"))


class _Connection(asyncio.Protocol):
    """One kept-alive connection and the answer to its request in flight, read as it comes by
    httptools (llhttp, uvicorn's parser): its status and framing (Content-Length, chunked,
    interim 1xx answers, a body that ends with the connection), the body counted and dropped."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.used = False  # has been answered before: a close before any answer is stale
        self.idle_since = 0.0  # the loop's time when it was last kept for reuse
        self.waiter: asyncio.Future[int] | None = None
        self._parser = httptools.HttpResponseParser(self)
        self._answered = False  # a byte of the current answer has come
        self._head_bytes = 0  # bytes of the current answer before its head was complete
        self._status = 0  # the final answer's status, once its head is read
        self._read = 0  # body bytes read
        self._timer: asyncio.TimerHandle | None = None

    # asyncio.Protocol -----------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport's subclasses, only alike.
        self.transport = cast(asyncio.Transport, transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._stop_timer()
        waiter = self.waiter
        if waiter is None or waiter.done():
            return
        self.waiter = None
        if self._status:
            waiter.set_result(self._status)  # a body that ends with the connection
        elif not self._answered and self.used:
            waiter.set_exception(_Stale())
        elif not self._answered:
            waiter.set_exception(RequestFailed("EmptyAnswer: the connection closed unanswered"))
        else:
            why = f"ReceiveError: {exc}" if exc else "ReceiveError: the answer was cut short"
            waiter.set_exception(RequestFailed(why[:200]))

    def data_received(self, data: bytes) -> None:
        if self.waiter is None:  # nothing asked: a receiver talking out of turn
            self._close()
            return
        self._answered = True
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as error:
            if self.waiter is None:  # answered, then more than it said: never reused
                self._close()
            elif self._head_bytes > MAX_HEAD_BYTES:
                self._fail(_HEAD_TOO_LONG)
            else:
                self._fail(f"BadAnswer: {error}"[:200])
            return
        if not self._status and self.waiter is not None:  # a head still coming, a line unended
            self._head_bytes += len(data)
            if self._head_bytes > MAX_HEAD_BYTES:
                self._fail(_HEAD_TOO_LONG)

    def eof_received(self) -> bool | None:
        return None  # the transport closes, and connection_lost ends the answer

    # httptools' callbacks -------------------------------------------------------------------

    def on_header(self, name: bytes, value: bytes) -> None:
        self._head_bytes += len(name) + len(value) + 4
        if self._head_bytes > MAX_HEAD_BYTES:
            raise _HeadTooLong  # httptools stops, and raises its own error in data_received

    def on_headers_complete(self) -> None:
        status = self._parser.get_status_code()
        if status >= 200:  # not an interim answer (100 Continue...): the real one follows those
            self._status = status

    def on_body(self, body: bytes) -> None:
        self._read += len(body)
        if self._read > self.cap and self.waiter is not None:
            self._finish(reusable=False)  # the rest is never read: the connection goes

    def on_message_complete(self) -> None:
        if self._status and self.waiter is not None:
            self._finish(reusable=self._parser.should_keep_alive())
        else:
            self._head_bytes = 0  # an interim answer's end: the head of the real one comes

    # The request ------------------------------------------------------------------------------

    def send(
        self, request: bytes, loop: asyncio.AbstractEventLoop, timeout: float
    ) -> asyncio.Future[int]:
        """The answer's status, once it is read; the head must come within `timeout` of now,
        the whole answer within twice it."""
        assert self.transport is not None
        self._answered = False
        self._head_bytes = 0
        self._status = 0
        self._read = 0
        waiter = self.waiter = loop.create_future()
        self._timer = loop.call_later(timeout, self._timed_out, loop, timeout)
        self.transport.write(request)
        return waiter

    def _timed_out(self, loop: asyncio.AbstractEventLoop, more: float) -> None:
        if self._status and more:  # the head came in time: the body may take as long again
            self._timer = loop.call_later(more, self._timed_out, loop, 0.0)
            return
        self._fail("timed out")

    @property
    def usable(self) -> bool:
        """Open, as far as this side knows (a receiver's close may be on its way)."""
        return not (self.closed or self.transport is None or self.transport.is_closing())

    def abort(self) -> None:
        self.closed = True
        self.waiter = None
        self._stop_timer()
        if self.transport is not None:
            self.transport.abort()

    def _close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    def _stop_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _finish(self, reusable: bool) -> None:
        self._stop_timer()
        self.used = True
        waiter, self.waiter = self.waiter, None
        if not reusable:
            self._close()
        if waiter is not None and not waiter.done():
            waiter.set_result(self._status)

    def _fail(self, why: str) -> None:
        self._stop_timer()
        waiter, self.waiter = self.waiter, None
        self._close()
        if waiter is not None and not waiter.done():
            waiter.set_exception(RequestFailed(why))


class HttpPoster:
    """POSTs webhook requests; see the module's docstring. `tls` verifies https receivers
    (certifi's CAs when None). Bound to the running event loop at its first request; `close`
    ends it."""

    def __init__(
        self,
        timeout_seconds: float,
        max_response_bytes: int,
        allow_private: bool,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.timeout_seconds = timeout_seconds
        self.max_response_bytes = max_response_bytes
        self.allow_private = allow_private
        self._tls = tls
        self._targets: dict[str, _Target] = {}
        # Idle kept-alive connections, by (tls, host, port): one per subscriber, as each sends
        # one request at a time.
        self._idle: dict[tuple[bool, str, int], list[_Connection]] = {}
        self._kept = 0
        self._swept = 0.0

    async def post(self, url: str, headers: Sequence[str], body: bytes) -> tuple[int, str]:
        """(HTTP status, "") or (0, why no answer came). `headers` are "Name: value" lines."""
        try:
            target = self._targets.get(url) or self._remember(url)
            request = b"".join(
                (
                    target.head,
                    "\r\n".join(headers).encode("latin-1"),
                    b"\r\nContent-Length: %d\r\n\r\n" % len(body),
                    body,
                )
            )
            try:
                return await self._exchange(target, request, reused=True), ""
            except _Stale:
                return await self._exchange(target, request, reused=False), ""
        except RequestFailed as error:
            return 0, str(error.args[0])[:200]
        except _Stale:
            return 0, "EmptyAnswer: the connection closed unanswered"

    def _remember(self, url: str) -> _Target:
        target = _target(url)
        if len(self._targets) >= 4 * CONNECTIONS_KEPT:
            self._targets.clear()
        self._targets[url] = target
        return target

    async def _exchange(self, target: _Target, request: bytes, reused: bool) -> int:
        key = (target.tls, target.host, target.port)
        loop = asyncio.get_running_loop()
        connection = self._take(key, loop.time()) if reused else None
        if connection is None:
            connection = await self._connect(target, loop)
        try:
            status = await connection.send(request, loop, self.timeout_seconds)
        except BaseException:
            connection.abort()
            raise
        if connection.usable and connection.waiter is None:
            self._keep(key, connection, loop.time())
        return status

    def _take(self, key: tuple[bool, str, int], now: float) -> _Connection | None:
        idle = self._idle.get(key)
        while idle:
            connection = idle.pop()
            self._kept -= 1
            if connection.usable and now - connection.idle_since < IDLE_SECONDS:
                return connection
            connection.abort()
        return None

    def _keep(self, key: tuple[bool, str, int], connection: _Connection, now: float) -> None:
        if now - self._swept > IDLE_SECONDS:  # the connections of subscribers that went quiet
            self._swept = now
            for idle in self._idle.values():
                for old in [c for c in idle if now - c.idle_since >= IDLE_SECONDS]:
                    idle.remove(old)
                    old.abort()
                    self._kept -= 1
        if self._kept >= CONNECTIONS_KEPT:
            connection.abort()
            return
        connection.idle_since = now
        self._idle.setdefault(key, []).append(connection)
        self._kept += 1

    async def _connect(self, target: _Target, loop: asyncio.AbstractEventLoop) -> _Connection:
        """A new connection to an allowed address of the target's host (the guard)."""
        try:
            async with asyncio.timeout(self.timeout_seconds):
                return await self._open(target, loop)
        except TimeoutError:
            raise RequestFailed("timed out") from None

    async def _open(self, target: _Target, loop: asyncio.AbstractEventLoop) -> _Connection:
        try:
            found = await loop.getaddrinfo(
                target.host, target.port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
            )
        except (OSError, UnicodeError) as error:
            raise RequestFailed(f"ResolveError: {error}"[:200]) from None
        allowed = [
            (family, kind, proto, address)
            for family, kind, proto, _, address in found
            if family in (socket.AF_INET, socket.AF_INET6)
            and address_allowed(str(address[0]), self.allow_private)
        ]
        if not allowed:
            raise RequestFailed(f"{target.host} resolves to an address that is not allowed")
        last: OSError | None = None
        for family, kind, proto, address in allowed:
            sock = socket.socket(family, kind, proto)
            try:
                sock.setblocking(False)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                await loop.sock_connect(sock, address)
            except OSError as error:
                sock.close()
                last = error
                continue
            except BaseException:
                sock.close()
                raise
            return await self._over(sock, target, loop)
        raise RequestFailed(f"ConnectError: {last}"[:200])

    async def _over(
        self, sock: socket.socket, target: _Target, loop: asyncio.AbstractEventLoop
    ) -> _Connection:
        """The connection on a connected socket, TLS first for https."""
        tls = None
        if target.tls:
            tls = self._tls or _default_tls()
        try:
            _, connection = await loop.create_connection(
                lambda: _Connection(self.max_response_bytes),
                sock=sock,
                ssl=tls,
                server_hostname=target.host if tls else None,
            )
        except ssl.SSLCertVerificationError as error:
            sock.close()
            raise RequestFailed(f"CertificateError: {error.verify_message}"[:200]) from None
        except (ssl.SSLError, OSError) as error:
            sock.close()
            raise RequestFailed(f"TLSError: {error}"[:200]) from None
        except BaseException:
            sock.close()
            raise
        return connection

    async def close(self) -> None:
        for idle in self._idle.values():
            for connection in idle:
                connection.abort()
        self._idle.clear()
        self._kept = 0


_DEFAULT_TLS: list[ssl.SSLContext] = []


def _default_tls() -> ssl.SSLContext:
    """Verifying against certifi's CAs, made at the first https connection (loading them takes
    tens of milliseconds)."""
    if not _DEFAULT_TLS:
        _DEFAULT_TLS.append(ssl.create_default_context(cafile=certifi.where()))
    return _DEFAULT_TLS[0]
