"""A Redis pub/sub subscription that hands each message over the moment its bytes arrive.

Why not redis-py's PubSub: it reads messages in a task, so a message and an HTTP request that
reach this process in the same event-loop turn are handled in either order. Here the message is
parsed and delivered inside the socket's `data_received` callback, which runs before the turn is
over, while a request's handler can only start in a later turn. So once another instance has
answered "saved" (after Redis delivered its PUBLISH), no request that reaches this instance
afterwards is answered from what the change made stale.

It speaks just what a subscriber needs of RESP2: AUTH, SUBSCRIBE, PING, and the replies to them.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Callable
from typing import cast
from urllib.parse import unquote, urlsplit

Reply = bytes | int | list["Reply"] | None


class RedisError(Exception):
    """Redis answered a command with an error (a wrong password, say)."""


def command(*args: str | bytes) -> bytes:
    parts = [f"*{len(args)}\r\n".encode()]
    for arg in args:
        data = arg.encode() if isinstance(arg, str) else arg
        parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(parts)


def parse(buffer: bytes | bytearray, start: int = 0) -> tuple[Reply | RedisError, int] | None:
    """One RESP2 reply from `buffer` at `start`: (reply, where it ends), or None if incomplete."""
    end = buffer.find(b"\r\n", start)
    if end < 0:
        return None
    kind, line = buffer[start : start + 1], bytes(buffer[start + 1 : end])
    after = end + 2
    if kind == b"+":
        return line, after
    if kind == b"-":
        return RedisError(line.decode(errors="replace")), after
    if kind == b":":
        return int(line), after
    if kind == b"$":
        size = int(line)
        if size < 0:
            return None, after
        if len(buffer) < after + size + 2:
            return None
        return bytes(buffer[after : after + size]), after + size + 2
    if kind == b"*":
        count = int(line)
        items: list[Reply] = []
        position = after
        for _ in range(max(count, 0)):
            parsed = parse(buffer, position)
            if parsed is None:
                return None
            item, position = parsed
            if isinstance(item, RedisError):
                raise item
            items.append(item)
        return items, position
    raise ValueError(f"not a RESP reply: {bytes(buffer[start:end])[:32]!r}")


class Subscription(asyncio.Protocol):
    """One subscriber connection. `closed` completes when the connection ends."""

    def __init__(self, on_message: Callable[[bytes], None]) -> None:
        self.on_message = on_message
        self.buffer = bytearray()
        self.heard_at = time.monotonic()
        self.transport: asyncio.Transport | None = None
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._answers: list[asyncio.Future[Reply]] = []

    @classmethod
    async def open(
        cls, url: str, on_message: Callable[[bytes], None], within: float
    ) -> Subscription:
        parts = urlsplit(url)
        tls = ssl.create_default_context() if parts.scheme == "rediss" else None
        loop = asyncio.get_running_loop()
        protocol = cls(on_message)
        async with asyncio.timeout(within):
            await loop.create_connection(
                lambda: protocol, parts.hostname or "127.0.0.1", parts.port or 6379, ssl=tls
            )
        try:
            if parts.password is not None and parts.username:
                await protocol.ask(within, "AUTH", unquote(parts.username), unquote(parts.password))
            elif parts.password is not None:
                await protocol.ask(within, "AUTH", unquote(parts.password))
        except BaseException:
            protocol.close()
            raise
        return protocol

    async def subscribe(self, channel: str, within: float) -> None:
        await self.ask(within, "SUBSCRIBE", channel)

    def ping(self) -> None:
        self._send(command("PING"))

    def close(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    async def ask(self, within: float, *args: str) -> Reply:
        answer: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        self._answers.append(answer)
        self._send(command(*args))
        async with asyncio.timeout(within):
            return await answer

    def _send(self, data: bytes) -> None:
        if self.transport is None or self.transport.is_closing():
            raise ConnectionError("the subscription's connection is closed")
        self.transport.write(data)

    # asyncio.Protocol ----------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A stream transport (uvloop's is not an asyncio.Transport subclass, but behaves as one).
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self.heard_at = time.monotonic()
        self.buffer += data
        position = 0
        try:
            while (parsed := parse(self.buffer, position)) is not None:
                reply, position = parsed
                self._dispatch(reply)
        except (ValueError, RedisError) as error:
            self._fail(ConnectionError(f"unusable reply from Redis: {error}"))
            return
        del self.buffer[:position]

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail(ConnectionError("Redis closed the subscription"))

    def _dispatch(self, reply: Reply | RedisError) -> None:
        if isinstance(reply, list) and len(reply) == 3 and reply[0] == b"message":
            if isinstance(reply[2], bytes):
                self.on_message(reply[2])
            return
        if isinstance(reply, list) and reply and reply[0] == b"pong":
            return
        # The answer to AUTH or SUBSCRIBE (in order of asking).
        if self._answers:
            answer = self._answers.pop(0)
            if answer.done():
                return
            if isinstance(reply, RedisError):
                answer.set_exception(reply)
            else:
                answer.set_result(reply)

    def _fail(self, error: Exception) -> None:
        for answer in self._answers:
            if not answer.done():
                answer.set_exception(error)
        self._answers.clear()
        if not self.closed.done():
            self.closed.set_result(None)
        self.close()
