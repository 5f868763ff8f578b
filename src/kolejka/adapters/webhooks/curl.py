"""Webhook delivery's HTTP client: libcurl's multi interface on the event loop, through pycurl.

One `CurlPoster` per delivering process sends every subscription's requests on one
`pycurl.AsyncCurlMulti`, which registers libcurl's sockets with the event loop
(CURLMOPT_SOCKETFUNCTION and CURLMOPT_TIMERFUNCTION onto `add_reader`, `add_writer` and
`call_later`): no thread, and the HTTP work (headers, parsing, connection reuse) is done in C,
for about two thirds of the CPU a request that aiohttp took (docs/benchmarks.md). Connections
are kept alive in the multi handle's connection cache, so each subscriber's requests go one
after another over one connection. (A driver of kolejka's own, with less Python a turn, was
tried and measured no cheaper: most of a request's time is libcurl's and the kernel's.)

The SSRF guard sits in CURLOPT_OPENSOCKETFUNCTION: libcurl calls it for every address it is
about to connect to (a name's resolved addresses and IP literals alike), and an address that
`address_allowed` rejects gets no socket, so a name that resolves to 127.0.0.1 or
169.254.169.254 after registration still reaches nothing. No proxy is used (CURLOPT_PROXY "":
the environment's would connect for us), no redirect is followed, only http and https are
spoken, and at most `max_response_bytes` of an answer are read.
"""

from __future__ import annotations

import asyncio
import math
import socket
from collections.abc import Sequence
from urllib.parse import urlsplit

import certifi
import pycurl

from kolejka.domain.webhooks import address_allowed

# A curl error's number as a word an operator can search the attempts for.
_ERRORS = {
    pycurl.E_COULDNT_RESOLVE_HOST: "ResolveError",
    pycurl.E_COULDNT_CONNECT: "ConnectError",
    pycurl.E_SEND_ERROR: "SendError",
    pycurl.E_RECV_ERROR: "ReceiveError",
    pycurl.E_GOT_NOTHING: "EmptyAnswer",
    pycurl.E_SSL_CONNECT_ERROR: "TLSError",
    pycurl.E_PEER_FAILED_VERIFICATION: "CertificateError",
    pycurl.E_UNSUPPORTED_PROTOCOL: "UnsupportedProtocol",
    pycurl.E_URL_MALFORMAT: "MalformedURL",
}
# Idle connections kept for reuse, across all subscribers: one each, and room to spare.
CONNECTIONS_KEPT = 256


class _Transfer:
    """An easy handle with the options every webhook request shares, and what one request
    noticed on the way: the bytes of answer read, whether the cap cut it, whether an address
    was refused or one allowed was connected to."""

    __slots__ = ("allow_private", "cap", "capped", "curl", "opened", "read", "refused", "sockets")

    def __init__(self, timeout_seconds: float, max_response_bytes: int, allow_private: bool):
        self.cap = max_response_bytes
        self.allow_private = allow_private
        self.read = 0
        self.capped = False
        self.refused = False
        self.opened = False
        self.sockets: list[socket.socket] = []
        curl = self.curl = pycurl.Curl()
        curl.setopt(pycurl.NOSIGNAL, 1)
        curl.setopt(pycurl.PROXY, "")
        curl.setopt(pycurl.PROTOCOLS, pycurl.PROTO_HTTP | pycurl.PROTO_HTTPS)
        curl.setopt(pycurl.FOLLOWLOCATION, 0)
        curl.setopt(pycurl.USERAGENT, "kolejka-webhooks")
        curl.setopt(pycurl.CAINFO, certifi.where())
        curl.setopt(pycurl.CONNECTTIMEOUT_MS, max(1, int(timeout_seconds * 1000)))
        # A stalled answer (under one byte a second for the timeout, in whole seconds: libcurl's
        # unit), and the whole request at twice the timeout, as aiohttp's sock_read and total.
        curl.setopt(pycurl.LOW_SPEED_LIMIT, 1)
        curl.setopt(pycurl.LOW_SPEED_TIME, max(1, math.ceil(timeout_seconds)))
        curl.setopt(pycurl.TIMEOUT_MS, max(1, int(timeout_seconds * 2000)))
        curl.setopt(pycurl.OPENSOCKETFUNCTION, self._open)
        curl.setopt(pycurl.WRITEFUNCTION, self._write)

    def start(self, url: str, headers: Sequence[str], body: bytes) -> None:
        self.read = 0
        self.capped = self.refused = self.opened = False
        curl = self.curl
        curl.setopt(pycurl.URL, url)
        curl.setopt(pycurl.HTTPHEADER, list(headers))
        curl.setopt(pycurl.POSTFIELDS, body)

    def _open(self, purpose: int, address: pycurl.CurlSockAddr) -> socket.socket | int:
        """libcurl's CURLOPT_OPENSOCKETFUNCTION: a socket for an allowed address, else none."""
        where = address.addr
        if (
            address.family not in (socket.AF_INET, socket.AF_INET6)
            or not isinstance(where, tuple)
            or not address_allowed(str(where[0]), self.allow_private)
        ):
            self.refused = True
            return pycurl.SOCKET_BAD
        self.opened = True
        opened = socket.socket(address.family, address.socktype, address.protocol)
        self.sockets.append(opened)  # pycurl hands libcurl a dup(): this one is ours to close
        return opened

    def close_sockets(self) -> None:
        for opened in self.sockets:
            opened.close()
        self.sockets.clear()

    def _write(self, chunk: bytes) -> int | None:
        """The answer's body, counted and dropped; past the cap, the transfer is cut."""
        self.read += len(chunk)
        if self.read > self.cap:
            self.capped = True
            return 0  # libcurl stops with CURLE_WRITE_ERROR, the status already known
        return None


class CurlPoster:
    """POSTs webhook requests; see the module's docstring. Bound to the running event loop at
    its first request; `close` ends it."""

    def __init__(
        self, timeout_seconds: float, max_response_bytes: int, allow_private: bool
    ) -> None:
        self.timeout_seconds = timeout_seconds
        self.max_response_bytes = max_response_bytes
        self.allow_private = allow_private
        self._multi = pycurl.AsyncCurlMulti()
        self._multi.setopt(pycurl.M_MAXCONNECTS, CONNECTIONS_KEPT)
        # Easy handles not in use: one per request in flight at most, that is per subscriber.
        self._idle: list[_Transfer] = []
        self._all: list[_Transfer] = []

    async def post(self, url: str, headers: Sequence[str], body: bytes) -> tuple[int, str]:
        """(HTTP status, "") or (0, why no answer came). `headers` are "Name: value" lines."""
        if self._idle:
            transfer = self._idle.pop()
        else:
            transfer = _Transfer(self.timeout_seconds, self.max_response_bytes, self.allow_private)
            self._all.append(transfer)
        transfer.start(url, headers, body)
        curl = transfer.curl
        try:
            await self._multi.perform(curl)
        except asyncio.CancelledError:
            transfer.close_sockets()
            # The multi handle lets go of it on the loop's next turn: reused before then, the
            # next request would be taken out with it. It is closed with the others.
            raise
        except pycurl.error as error:
            transfer.close_sockets()
            self._idle.append(transfer)
            code = error.args[0] if isinstance(error.args[0], int) else 0
            message = str(error.args[-1])
            if transfer.capped:
                return int(curl.getinfo(pycurl.RESPONSE_CODE)), ""
            if transfer.refused and not transfer.opened:
                host = urlsplit(url).hostname
                return 0, f"{host} resolves to an address that is not allowed"[:200]
            if code == pycurl.E_OPERATION_TIMEDOUT:
                return 0, "timed out"
            name = _ERRORS.get(int(code), f"CurlError {code}")
            return 0, f"{name}: {message}"[:200]
        transfer.close_sockets()
        self._idle.append(transfer)
        return int(curl.getinfo(pycurl.RESPONSE_CODE)), ""

    async def close(self) -> None:
        await self._multi.aclose()
        for transfer in self._all:
            transfer.close_sockets()
            transfer.curl.close()
        self._idle.clear()
        self._all.clear()
