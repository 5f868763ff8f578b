"""One AMI connection over a real socket: the actions of one turn of the event loop go out in
one write, in order, and a last action still goes out when the connection closes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from kolejka.adapters.ami.connection import AmiConnection
from kolejka.adapters.ami.protocol import Packet


class Received:
    """A listening socket that keeps what the connection sent."""

    def __init__(self) -> None:
        self.data = bytearray()
        self.closed = asyncio.Event()

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while chunk := await reader.read(65_536):
            self.data += chunk
        self.closed.set()
        writer.close()

    def actions(self) -> list[str]:
        return [
            line.removeprefix("Action: ")
            for line in self.data.decode().split("\r\n")
            if line.startswith("Action: ")
        ]


@pytest.fixture
async def connected() -> AsyncIterator[tuple[AmiConnection, Received, list[bytes]]]:
    received = Received()
    server = await asyncio.start_server(received.serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writes: list[bytes] = []
    real_write = writer.write

    def counting(data: bytes | bytearray | memoryview) -> None:
        writes.append(bytes(data))
        real_write(data)

    writer.write = counting  # type: ignore[method-assign]

    async def ignore(packets: list[Packet]) -> None:
        return None

    connection = AmiConnection(reader, writer, ignore)
    yield connection, received, writes
    await connection.close()
    server.close()
    await server.wait_closed()


async def test_the_actions_of_one_turn_of_the_event_loop_go_out_in_one_write_in_order(
    connected: tuple[AmiConnection, Received, list[bytes]],
) -> None:
    connection, received, writes = connected
    await asyncio.gather(*(connection.send(name) for name in ("Ping", "Originate", "Logoff")))
    await connection.send("Events")  # a later turn: a write of its own
    await connection.close()
    await asyncio.wait_for(received.closed.wait(), 5)
    assert len(writes) == 2
    assert received.actions() == ["Ping", "Originate", "Logoff", "Events"]


async def test_an_action_sent_just_before_closing_still_goes_out(
    connected: tuple[AmiConnection, Received, list[bytes]],
) -> None:
    connection, received, _ = connected
    sending = asyncio.ensure_future(connection.send("Logoff"))
    await asyncio.sleep(0)  # written, not yet sent
    await connection.close()
    await sending
    await asyncio.wait_for(received.closed.wait(), 5)
    assert received.actions() == ["Logoff"]


class AnswersOnly:
    """Asterisk that answers every action with `Response: Success` and sends no event."""

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                raw = await reader.readuntil(b"\r\n\r\n")
                action_id = next(
                    line.removeprefix("ActionID: ")
                    for line in raw.decode().split("\r\n")
                    if line.startswith("ActionID: ")
                )
                writer.write(f"Response: Success\r\nActionID: {action_id}\r\n\r\n".encode())
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()


async def test_an_action_nobody_answers_ends_in_timeout_error(
    connected: tuple[AmiConnection, Received, list[bytes]],
) -> None:
    connection, received, _ = connected
    with pytest.raises(TimeoutError):
        await connection.request("Ping", seconds=0.05)
    with pytest.raises(TimeoutError):
        await connection.request_and_event("Originate", {}, 0.05, 60)
    await connection.close()
    await asyncio.wait_for(received.closed.wait(), 5)
    assert received.actions() == ["Ping", "Originate"]


async def test_an_event_that_never_comes_ends_in_timeout_error_and_the_next_action_works() -> None:
    server = await asyncio.start_server(AnswersOnly().serve, "127.0.0.1", 0)
    reader, writer = await asyncio.open_connection("127.0.0.1", server.sockets[0].getsockname()[1])
    others: list[Packet] = []

    async def keep(packets: list[Packet]) -> None:
        others.extend(packets)

    connection = AmiConnection(reader, writer, keep)
    reading = asyncio.ensure_future(connection.read_forever())
    try:
        with pytest.raises(TimeoutError):
            await connection.request_and_event("Originate", {"Channel": "PJSIP/1"}, 10, 0.05)
        answer = await connection.request("Ping", seconds=10)
        assert answer.get("Response") == "Success"
        assert others == []
    finally:
        reading.cancel()
        await connection.close()
        server.close()
        await server.wait_closed()
