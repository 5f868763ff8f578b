"""A small Server-Sent Events client over a raw socket, for the end-to-end stream tests.

It speaks just enough HTTP/1.1 (one GET, chunked or sized body) to see exactly what goes over
the wire: each block between blank lines, comments (heartbeats) included.
"""

from __future__ import annotations

import asyncio
import socket
from dataclasses import dataclass, field


@dataclass
class Block:
    """One block of the stream: an event, a retry delay or a comment."""

    id: str | None = None
    data: str | None = None
    retry: int | None = None
    comments: list[str] = field(default_factory=list)


class EndOfStream(Exception):
    pass


class EventStreamClient:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.status = 0
        self.headers: dict[str, str] = {}
        self.body = b""
        self._chunked = False
        self._buffer = b""
        self._ended = False
        # True once the server sent the last chunk: it ended the answer rather than dropping it.
        self.finished = False

    @classmethod
    async def open(
        cls,
        port: int,
        path: str,
        headers: dict[str, str] | None = None,
        *,
        receive_buffer: int | None = None,
    ) -> EventStreamClient:
        sock = socket.socket()
        if receive_buffer is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
        reader, writer = await asyncio.open_connection(sock=sock)
        client = cls(reader, writer)
        lines = [f"GET {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Accept: text/event-stream"]
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        await writer.drain()
        await asyncio.wait_for(client.read_head(), 5)
        return client

    async def read_head(self) -> None:
        """Reads the status line and the headers (and a sized body: an answer that is no stream)."""
        head = await self.reader.readuntil(b"\r\n\r\n")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        self.status = int(status_line.split()[1])
        for line in header_lines:
            if line:
                key, _, value = line.partition(":")
                self.headers[key.strip().lower()] = value.strip()
        self._chunked = self.headers.get("transfer-encoding") == "chunked"
        if "content-length" in self.headers:
            self.body = await self.reader.readexactly(int(self.headers["content-length"]))

    async def _more(self) -> None:
        if self._ended:
            raise EndOfStream
        if not self._chunked:
            data = await self.reader.read(65536)
            if not data:
                self._ended = True
                raise EndOfStream
            self._buffer += data
            return
        try:
            size_line = await self.reader.readuntil(b"\r\n")
            size = int(size_line.strip(), 16)
            chunk = await self.reader.readexactly(size + 2)
        except asyncio.IncompleteReadError:
            # Closed without the last chunk: how a server drops a client.
            self._ended = True
            raise EndOfStream from None
        if size == 0:
            self._ended = True
            self.finished = True
            raise EndOfStream
        self._buffer += chunk[:-2]

    async def block(self, timeout: float = 5.0) -> Block:
        """The next block; EndOfStream when the server ended the answer."""

        async def read() -> Block:
            while b"\n\n" not in self._buffer:
                await self._more()
            raw, _, self._buffer = self._buffer.partition(b"\n\n")
            block = Block()
            for line in raw.decode().split("\n"):
                name, _, value = line.partition(":")
                value = value.removeprefix(" ")
                if name == "":
                    block.comments.append(value)
                elif name == "id":
                    block.id = value
                elif name == "data":
                    block.data = value if block.data is None else f"{block.data}\n{value}"
                elif name == "retry":
                    block.retry = int(value)
            return block

        return await asyncio.wait_for(read(), timeout)

    async def event(self, timeout: float = 5.0) -> Block:
        """The next block that carries data, skipping retry delays and heartbeats."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            block = await self.block(max(0.001, deadline - loop.time()))
            if block.data is not None:
                return block

    async def ended(self, timeout: float = 5.0) -> bool:
        """True once the server has ended the answer (reading whatever is left on the way)."""
        try:
            while True:
                await self.block(timeout)
        except EndOfStream:
            return True

    def close(self) -> None:
        self.writer.close()


async def open_streaming(port: int, path: str, auth: str | None = None) -> EventStreamClient:
    """A stream that answered 200 and sent its first event (the state on connect)."""
    headers = {"Authorization": auth} if auth else {}
    client = await EventStreamClient.open(port, path, headers)
    assert client.status == 200, client.body
    await client.event()
    return client
