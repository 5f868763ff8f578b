"""A webhook receiver on a real socket at 127.0.0.1: it answers as told (fail, stall, accept),
can go down and come back on the same port, and keeps every request it accepted."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import ssl
from dataclasses import dataclass, field
from typing import Any

from tests.support import free_port


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


ANSWERS = {
    "chunked": b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"
    b"5\r\nhello\r\n6;x=y\r\n world\r\n0\r\nx-trailer: 1\r\n\r\n",
    "interim": b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok",
    "to-close": b"HTTP/1.1 200 OK\r\nconnection: close\r\n\r\nuntil the end",
    "hang-up": b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok",
    "too-long": b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok, and more",
    "garbage": b"HTTP/1.1 2OO OK\r\ncontent-length: 2\r\n\r\nok",
    "two-lengths": b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncontent-length: 5\r\n\r\nok",
    "huge-head": b"HTTP/1.1 200 OK\r\n" + b"x-filler: " + b"a" * 70_000 + b"\r\n\r\n",
}


@dataclass
class Receiver:
    """`script` is consumed one request at a time: an int is the status to answer, "stall"
    answers nothing until the client gives up, "flood" answers 200 with an endless body,
    "redirect" answers 307 to this receiver's /elsewhere, "chunked" answers 200 with a chunked
    body ("trickle": a byte at a time), "interim" answers 100 Continue before its 200,
    "to-close" answers 200 with a body that ends with the connection, "hang-up" answers 200 and
    then closes the kept-alive connection, "too-long" answers 200 with more body than it said,
    "garbage" a status that is not a number, "two-lengths" two Content-Lengths, "huge-head" a
    head past 64 KiB, "drop" closes the connection without answering; once empty, every
    request gets 200."""

    port: int = field(default_factory=free_port)
    script: list[int | str] = field(default_factory=list)
    accepted: list[Received] = field(default_factory=list)
    requests: int = 0
    connections: int = 0
    tls: ssl.SSLContext | None = None  # https, with this server context
    _server: asyncio.Server | None = None
    _handlers: set[asyncio.Task[Any]] = field(default_factory=set)

    @property
    def url(self) -> str:
        scheme = "https" if self.tls else "http"
        return f"{scheme}://127.0.0.1:{self.port}/hook"

    async def start(self) -> Receiver:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port, ssl=self.tls)
        return self

    async def stop(self) -> None:
        for task in self._handlers:
            task.cancel()
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 1)
            self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                headers = {}
                for line in lines[1:]:
                    if ":" in line:
                        name, _, value = line.partition(":")
                        headers[name.strip().lower()] = value.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                self.requests += 1
                step = self.script.pop(0) if self.script else 200
                if step == "stall":
                    await asyncio.sleep(3600)
                if step == "flood":
                    self.accepted.append(Received(headers, body))
                    writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 1000000000\r\n\r\n")
                    while True:  # until the client hangs up
                        writer.write(b"x" * 65536)
                        await writer.drain()
                if step == "redirect":
                    writer.write(
                        b"HTTP/1.1 307 X\r\ncontent-length: 0\r\n"
                        + f"location: http://127.0.0.1:{self.port}/elsewhere\r\n\r\n".encode()
                    )
                    await writer.drain()
                    continue
                if step == "drop":
                    return
                if step == "trickle":  # the chunked answer a byte at a time
                    self.accepted.append(Received(headers, body))
                    for byte in ANSWERS["chunked"]:
                        writer.write(bytes([byte]))
                        await writer.drain()
                        await asyncio.sleep(0.001)
                    continue
                if step in ANSWERS:
                    self.accepted.append(Received(headers, body))
                    writer.write(ANSWERS[str(step)])
                    await writer.drain()
                    if step in ("to-close", "hang-up"):
                        return
                    continue
                status = int(step)
                if 200 <= status < 300:
                    self.accepted.append(Received(headers, body))
                writer.write(
                    f"HTTP/1.1 {status} X\r\ncontent-length: 2\r\n\r\nok".encode("latin-1")
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        finally:
            self._handlers.discard(task)
            writer.close()

    def event_ids(self) -> list[int]:
        """Each accepted event's id, repeats dropped, in the order first accepted."""
        return list(dict.fromkeys(int(r.json()["event_id"]) for r in self.accepted))


def signed_correctly(received: Received, secret: str) -> bool:
    """The receiver's check, as docs/webhooks.md shows it."""
    parts = dict(p.split("=", 1) for p in received.headers["x-kolejka-signature"].split(","))
    expected = hmac.new(
        secret.encode(), parts["t"].encode() + b"." + received.body, hashlib.sha256
    ).hexdigest()
    return hmac.compare_digest(expected, parts["v1"])
