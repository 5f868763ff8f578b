"""One connection to the Asterisk Manager Interface, over asyncio streams (TCP or TLS).

It sends actions, matches each response to its action by `ActionID`, and hands every other packet
(events, and the lines of list answers such as `QueueStatus`) to a callback, in the order they
came. Parsing is `protocol.PacketParser`'s; what the packets mean is the listener's business.
Actions sent in one turn of the event loop (the dialler's round of Originates) go out in one
socket write.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Awaitable, Callable

from kolejka.adapters.ami.protocol import MAX_PACKET_BYTES, Packet, PacketParser, action

log = logging.getLogger(__name__)

_READ_BYTES = 65_536


class ConnectionLost(ConnectionError):
    """Asterisk closed the connection."""


class AmiConnection:
    """Actions out, packets in; `read_forever` must run for responses to arrive."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        on_packets: Callable[[list[Packet]], Awaitable[None]],
        max_packet_bytes: int = MAX_PACKET_BYTES,
    ) -> None:
        self.reader = reader
        self.writer = writer
        self.on_packets = on_packets
        self.parser = PacketParser(max_packet_bytes)
        self.banner: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._waiting: dict[str, asyncio.Future[Packet]] = {}
        # Events that answer an action later (OriginateResponse), by ActionID.
        self._events_waiting: dict[str, asyncio.Future[Packet]] = {}
        self._ids = (f"kolejka-{n}" for n in itertools.count(1))
        # Actions written in this turn of the event loop, sent together at its end.
        self._outgoing: list[bytes] = []

    def next_action_id(self) -> str:
        return next(self._ids)

    async def read_forever(self) -> None:
        """Reads until the connection ends (raises ConnectionLost) or this task is cancelled."""
        while True:
            data = await self.reader.read(_READ_BYTES)
            if not data:
                # Let whoever was just handed a response (a refused login, say) act on it first.
                await asyncio.sleep(0)
                raise ConnectionLost("Asterisk closed the connection")
            packets = self.parser.feed(data)
            for problem in self.parser.take_problems():
                log.warning("AMI stream: %s: %s", problem.reason, problem.sample)
            if self.parser.banner is not None and not self.banner.done():
                self.banner.set_result(self.parser.banner)
            others = []
            for packet in packets:
                waiting = None
                if "Response" in packet and "Event" not in packet:
                    waiting = self._waiting.pop(packet.get("ActionID", ""), None)
                elif self._events_waiting and "Event" in packet:
                    waiting = self._events_waiting.pop(packet.get("ActionID", ""), None)
                if waiting is None:
                    others.append(packet)
                elif not waiting.done():
                    waiting.set_result(packet)
            if others:
                await self.on_packets(others)

    async def send(self, name: str, fields: dict[str, str] | None = None) -> str:
        """Sends an action without waiting for its response; returns its ActionID."""
        action_id = self.next_action_id()
        await self._write(action(name, action_id, fields))
        return action_id

    async def request(
        self,
        name: str,
        fields: dict[str, str] | None = None,
        seconds: float = 10.0,
        action_id: str | None = None,
    ) -> Packet:
        """Sends an action and returns its response; TimeoutError if none comes in `seconds`."""
        action_id = action_id or self.next_action_id()
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[Packet] = loop.create_future()
        self._waiting[action_id] = answer
        deadline = loop.time() + seconds
        # A timer that fails the future, not asyncio.timeout: that one cancels and uncancels the
        # task, and cost a tenth of each Originate's CPU (2026-12-02, py-spy of the dialler).
        late = loop.call_at(deadline, _too_late, answer)
        try:
            await self._write(action(name, action_id, fields), deadline)
            return await answer
        except BaseException:
            _retrieved(answer)
            raise
        finally:
            late.cancel()
            self._waiting.pop(action_id, None)

    async def request_and_event(
        self, name: str, fields: dict[str, str], seconds: float, event_seconds: float
    ) -> tuple[Packet, Packet | None]:
        """Sends an action answered twice: its response, then an event with the same ActionID
        (`Originate` with `Async: true`, then `OriginateResponse`). Returns both; the event is
        None when the response was no success. TimeoutError when either is late."""
        action_id = self.next_action_id()
        loop = asyncio.get_running_loop()
        later: asyncio.Future[Packet] = loop.create_future()
        self._events_waiting[action_id] = later
        try:
            answer = await self.request(name, fields, seconds, action_id=action_id)
            if answer.get("Response") != "Success":
                return answer, None
            late = loop.call_at(loop.time() + event_seconds, _too_late, later)
            try:
                return answer, await later
            except BaseException:
                _retrieved(later)
                raise
            finally:
                late.cancel()
        finally:
            self._events_waiting.pop(action_id, None)

    async def _write(self, data: bytes, deadline: float | None = None) -> None:
        # A send() a packet cost as much CPU as building the Originate; the round's actions
        # now share one. They still go out in order, and before this turn ends.
        if not self._outgoing:
            asyncio.get_running_loop().call_soon(self._flush)
        self._outgoing.append(data)
        if deadline is not None and self.writer.transport.get_write_buffer_size():
            # Asterisk is slow to read: the wait for room counts against the deadline too.
            async with asyncio.timeout_at(deadline):
                await self.writer.drain()
        else:
            await self.writer.drain()

    def _flush(self) -> None:
        if self._outgoing:
            data, self._outgoing = b"".join(self._outgoing), []
            self.writer.write(data)

    async def close(self) -> None:
        self._flush()  # a last action (Logoff) goes out before the connection closes
        # Whoever waits for a response will get none now: tell them at once.
        for waiting in (*self._waiting.values(), *self._events_waiting.values()):
            if not waiting.done():
                waiting.set_exception(ConnectionLost("the AMI connection closed"))
        self.writer.close()
        try:
            async with asyncio.timeout(1):
                await self.writer.wait_closed()
        except (OSError, TimeoutError):
            pass


def _too_late(waiting: asyncio.Future[Packet]) -> None:
    if not waiting.done():
        waiting.set_exception(TimeoutError())


def _retrieved(waiting: asyncio.Future[Packet]) -> None:
    """Marks a timeout that lost the race (to a cancel, to the write's own deadline) as seen, so
    asyncio does not log it as never retrieved."""
    if waiting.done() and not waiting.cancelled():
        waiting.exception()
