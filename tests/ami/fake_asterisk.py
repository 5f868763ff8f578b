"""A scripted Asterisk on a real socket, fed with the captures in ../shared/ami/transcripts.

It speaks the manager protocol as Asterisk 22 does in the captures: the banner, `Login` with a
plain secret or after an MD5 `Challenge`, `FullyBooted`, `Ping`, and `QueueStatus` answered from
the callers it has. A test pushes captured events through it; the fake keeps track of who waits,
so a `QueueStatus` after a reconnect tells the truth, including callers who came and went while
no one was listening. It parses what the client sends with its own few lines, not kolejka's parser.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import random
import ssl
from dataclasses import dataclass, field

from tests.support import SHARED

TRANSCRIPTS = SHARED / "ami" / "transcripts"
USERNAME = "kolejka"
SECRET = "Tajne-Hasło-42"


def captured_packets(name: str) -> list[bytes]:
    """What Asterisk sent in a capture, packet by packet, as on the wire (CRLF line ends).

    Lines the client sent (`>>> `) and the banner are left out.
    """
    text = (TRANSCRIPTS / name).read_text(encoding="utf-8")
    kept = [line for line in text.split("\n") if not line.startswith(">>> ")]
    packets = []
    for block in "\n".join(kept).split("\n\n"):
        lines = [
            line for line in block.split("\n") if line and not line.startswith("Asterisk Call Ma")
        ]
        if lines:
            packets.append(("\r\n".join(lines) + "\r\n\r\n").encode())
    return packets


def fields_of(packet: bytes) -> dict[str, str]:
    found = {}
    for line in packet.decode("utf-8", "replace").split("\r\n"):
        key, colon, value = line.partition(":")
        if colon:
            found[key] = value.strip()
    return found


def packet(**fields: str) -> bytes:
    return ("".join(f"{k}: {v}\r\n" for k, v in fields.items()) + "\r\n").encode()


def events(name: str, *kinds: str) -> list[bytes]:
    """The captured packets of `name` whose Event is one of `kinds` (all events if none)."""
    found = []
    for raw in captured_packets(name):
        event = fields_of(raw).get("Event")
        if event and (not kinds or event in kinds):
            found.append(raw)
    return found


def with_fields(raw: bytes, **changes: str) -> bytes:
    """The packet with some fields' values changed (or added)."""
    fields = fields_of(raw)
    fields.update(changes)
    return packet(**fields)


@dataclass
class Waiting:
    """A caller waiting in the fake's queue, as QueueStatus reports it."""

    queue: str
    uniqueid: str
    channel: str
    number: str
    name: str
    joined_at: float


@dataclass
class Session:
    writer: asyncio.StreamWriter
    logged_in: bool = False
    events: str = ""


@dataclass
class FakeAsterisk:
    """A fake Asterisk. `now` is its own clock, in seconds, for QueueEntry's `Wait`."""

    username: str = USERNAME
    secret: str = SECRET
    banner: str = "Asterisk Call Manager/11.0.0"
    tls: ssl.SSLContext | None = None
    queues: list[str] = field(default_factory=lambda: ["support", "2"])
    answer_pings: bool = True
    fully_booted: bool = True
    now: float = 1000.0
    waiting: dict[str, Waiting] = field(default_factory=dict)
    # Queue members, (queue, member name) -> the fields of its last member event.
    members: dict[tuple[str, str], dict[str, str]] = field(default_factory=dict)
    sessions: list[Session] = field(default_factory=list)
    actions: list[dict[str, str]] = field(default_factory=list)
    logins: int = 0
    refused_logins: int = 0
    # Packets written just before the Response to the next QueueStatus (a race with the snapshot).
    before_queue_status: list[bytes] = field(default_factory=list)
    # How many QueueStatus requests to refuse, as an Asterisk without app_queue loaded does.
    refuse_queue_status: int = 0
    port: int = 0
    _server: asyncio.Server | None = None
    _logged_in: asyncio.Condition | None = None

    async def start(self) -> FakeAsterisk:
        self._logged_in = asyncio.Condition()
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port, ssl=self.tls)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        """Asterisk goes away: the port refuses connections and every session is cut."""
        if self._server is not None:
            self._server.close()
            self._server = None
        for session in self.sessions:
            session.writer.transport.abort()
        self.sessions.clear()
        await asyncio.sleep(0)

    async def restart(self) -> None:
        """Asterisk restarts on the same port: callers do not survive it."""
        await self.stop()
        self.waiting.clear()
        await self.start()

    async def wait_for_login(self, count: int = 1, seconds: float = 5.0) -> None:
        """Until `count` logins have succeeded in all."""
        assert self._logged_in is not None
        async with asyncio.timeout(seconds), self._logged_in:
            await self._logged_in.wait_for(lambda: self.logins >= count)

    def queue_status_requests(self) -> int:
        return sum(1 for action in self.actions if action.get("Action") == "QueueStatus")

    # What happens in Asterisk ----------------------------------------------------------------

    async def push(self, *packets: bytes) -> None:
        """Events happen: the fake's queues change, and logged-in clients are told."""
        for raw in packets:
            self._model(raw)
            await self._broadcast(raw)

    def happen(self, *packets: bytes) -> None:
        """Events happen while no client hears of them (the link is down)."""
        for raw in packets:
            self._model(raw)

    async def send_raw(self, data: bytes) -> None:
        """Bytes to every logged-in client, as they are: garbage, halves of packets."""
        await self._broadcast(data)

    async def cut(self, partial: bytes = b"") -> None:
        """The connections drop, after `partial` bytes (half a packet, say); Asterisk stays up."""
        for session in self.sessions:
            if partial:
                session.writer.write(partial)
                with contextlib.suppress(ConnectionError):
                    await session.writer.drain()
            session.writer.transport.abort()
        self.sessions.clear()
        await asyncio.sleep(0)

    def _model(self, raw: bytes) -> None:
        fields = fields_of(raw)
        event = fields.get("Event", "")
        uniqueid = fields.get("Uniqueid", "")
        if event in ("QueueCallerJoin", "Join"):
            self.waiting[uniqueid] = Waiting(
                queue=fields.get("Queue", ""),
                uniqueid=uniqueid,
                channel=fields.get("Channel", ""),
                number=fields.get("CallerIDNum", ""),
                name=fields.get("CallerIDName", ""),
                joined_at=self.now,
            )
        elif event in ("QueueCallerLeave", "Leave"):
            self.waiting.pop(uniqueid, None)
        elif event in ("QueueMemberAdded", "QueueMemberPause", "QueueMemberStatus"):
            self.members[(fields.get("Queue", ""), fields.get("MemberName", ""))] = fields
        elif event == "QueueMemberRemoved":
            self.members.pop((fields.get("Queue", ""), fields.get("MemberName", "")), None)

    async def _broadcast(self, data: bytes) -> None:
        for session in list(self.sessions):
            if session.logged_in:
                session.writer.write(data)
                with contextlib.suppress(ConnectionError):
                    await session.writer.drain()

    # The manager protocol ----------------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        session = Session(writer)
        self.sessions.append(session)
        challenge = ""
        try:
            writer.write(f"{self.banner}\r\n".encode())
            while True:
                raw = await reader.readuntil(b"\r\n\r\n")
                action = fields_of(raw)
                self.actions.append(
                    {k: "***" if k in ("Secret", "Key") else v for k, v in action.items()}
                )
                name = action.get("Action", "").lower()
                action_id = action.get("ActionID", "")
                if name == "challenge":
                    challenge = str(random.randint(100_000_000, 999_999_999))
                    await self._reply(
                        session, Response="Success", ActionID=action_id, Challenge=challenge
                    )
                elif name == "login":
                    if not await self._login(session, action, challenge):
                        return
                elif not session.logged_in:
                    await self._reply(
                        session, Response="Error", ActionID=action_id, Message="Permission denied"
                    )
                elif name == "ping":
                    if self.answer_pings:
                        await self._reply(
                            session,
                            Response="Success",
                            ActionID=action_id,
                            Ping="Pong",
                            Timestamp=f"{self.now:.6f}",
                        )
                elif name == "queuestatus" and self.refuse_queue_status:
                    self.refuse_queue_status -= 1
                    await self._reply(
                        session,
                        Response="Error",
                        ActionID=action_id,
                        Message="Invalid/unknown command: QueueStatus",
                    )
                elif name == "queuestatus":
                    await self._queue_status(session, action_id)
                elif name == "logoff":
                    await self._reply(
                        session,
                        Response="Goodbye",
                        ActionID=action_id,
                        Message="Thanks for all the fish.",
                    )
                    return
                else:
                    await self._reply(
                        session,
                        Response="Error",
                        ActionID=action_id,
                        Message="Invalid/unknown command",
                    )
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()
            if session in self.sessions:
                self.sessions.remove(session)

    async def _login(self, session: Session, action: dict[str, str], challenge: str) -> bool:
        action_id = action.get("ActionID", "")
        if action.get("AuthType", "").lower() == "md5":
            expected = hashlib.md5((challenge + self.secret).encode()).hexdigest()  # noqa: S324
            good = bool(challenge) and action.get("Key") == expected
        else:
            good = action.get("Secret") == self.secret
        if action.get("Username") != self.username or not good:
            self.refused_logins += 1
            await self._reply(
                session, Response="Error", ActionID=action_id, Message="Authentication failed"
            )
            return False  # Asterisk hangs up after a failed login
        session.logged_in = True
        session.events = action.get("Events", "on")
        await self._reply(
            session, Response="Success", ActionID=action_id, Message="Authentication accepted"
        )
        if self.fully_booted and "system" in session.events:
            await self._reply(
                session,
                Event="FullyBooted",
                Privilege="system,all",
                Uptime="3",
                LastReload="3",
                Status="Fully Booted",
            )
        assert self._logged_in is not None
        async with self._logged_in:
            self.logins += 1
            self._logged_in.notify_all()
        return True

    async def _queue_status(self, session: Session, action_id: str) -> None:
        for raw in self.before_queue_status:
            session.writer.write(raw)
        self.before_queue_status = []
        await self._reply(
            session,
            Response="Success",
            ActionID=action_id,
            EventList="start",
            Message="Queue status will follow",
        )
        items = 0
        for queue in self.queues:
            callers = [w for w in self.waiting.values() if w.queue == queue]
            items += 1
            await self._reply(
                session,
                Event="QueueParams",
                Queue=queue,
                Max="0",
                Strategy="ringall",
                Calls=str(len(callers)),
                Holdtime="0",
                TalkTime="0",
                Completed="0",
                Abandoned="0",
                ServiceLevel="60",
                ServicelevelPerf="0.0",
                ServicelevelPerf2="0.0",
                Weight="0",
                ActionID=action_id,
            )
            for (member_queue, _), member in self.members.items():
                if member_queue != queue:
                    continue
                items += 1
                # QueueStatus names a member `Name` and `Location`, and has no Privilege.
                listed = {
                    ("Name" if k == "MemberName" else "Location" if k == "Interface" else k): v
                    for k, v in member.items()
                    if k not in ("Event", "Privilege", "Ringinuse")
                }
                await self._reply(session, Event="QueueMember", **listed, ActionID=action_id)
            for position, caller in enumerate(callers, 1):
                items += 1
                # QueueEntry says `unknown` where events say `<unknown>`.
                await self._reply(
                    session,
                    Event="QueueEntry",
                    Queue=queue,
                    Position=str(position),
                    Channel=caller.channel,
                    Uniqueid=caller.uniqueid,
                    CallerIDNum=caller.number.replace("<unknown>", "unknown"),
                    CallerIDName=caller.name.replace("<unknown>", "unknown"),
                    ConnectedLineNum="unknown",
                    ConnectedLineName="unknown",
                    Wait=str(int(self.now - caller.joined_at)),
                    Priority="0",
                    ActionID=action_id,
                )
        await self._reply(
            session,
            Event="QueueStatusComplete",
            ActionID=action_id,
            EventList="Complete",
            ListItems=str(items),
        )

    async def _reply(self, session: Session, **fields: str) -> None:
        session.writer.write(packet(**fields))
        await session.writer.drain()
