"""The AMI listener: keeps every waiting list equal to Asterisk's queues, for as long as it runs.

One session per connection: log in (plain secret or MD5 challenge), wait for `FullyBooted`, ask
`QueueStatus` and reconcile, then apply queue events live and Ping every `ping_seconds`. When the
link fails (refused, dropped mid-packet, no answer to Ping, wrong secret) the session ends, the
link state says why, and a new session starts after a backoff with jitter (a slow one after a
refused login). Nothing Asterisk sends can stop the listener; only cancelling it does.
"""

from __future__ import annotations

import asyncio
import logging
import random
import socket
import ssl
from contextlib import suppress
from dataclasses import dataclass, field

from kolejka.adapters.ami.config import AmiConfig
from kolejka.adapters.ami.connection import AmiConnection, ConnectionLost
from kolejka.adapters.ami.events import (
    QUEUE_ENTRY,
    QUEUE_MEMBER,
    QUEUE_PARAMS,
    UnmappedMember,
    UnmappedQueue,
    Unusable,
    is_list_end,
    member_report,
    queued_caller,
    translate,
)
from kolejka.adapters.ami.protocol import Packet, ami_version, md5_key
from kolejka.domain.agents import MemberReport
from kolejka.domain.pbx import QueuedCaller
from kolejka.observability.links import LinkState, LinkStatus
from kolejka.services.pbx_sync import PbxSync, SyncEvent

log = logging.getLogger(__name__)

_MAX_REMEMBERED_NAMES = 1000


class AuthenticationFailed(Exception):
    """Asterisk refused the login: a wrong username or secret, or a host the user may not use."""


class DeadLink(Exception):
    """The connection is open but Asterisk no longer answers."""


class AmiProtocolError(Exception):
    """Asterisk answered something we cannot work with."""


class Backoff:
    """Delays between attempts: doubling from `base` up to `cap`, each with jitter.

    The jitter (a random half of each delay) keeps several instances, or a restarted Asterisk's
    many clients, from reconnecting in step.
    """

    def __init__(self, base: float, cap: float, rng: random.Random) -> None:
        self.base = base
        self.cap = cap
        self.rng = rng
        self.attempt = 0

    def next(self) -> float:
        ceiling = min(self.cap, self.base * 2 ** min(self.attempt, 30))
        self.attempt += 1
        return float(ceiling / 2 + self.rng.uniform(0, ceiling / 2))

    def reset(self) -> None:
        self.attempt = 0


class AmiListener:
    """Follows Asterisk's queues over AMI. `run` is a background Task; it returns only if cancelled.

    `link` is the listener's own: it says whether the waiting lists follow Asterisk right now.
    """

    def __init__(
        self,
        config: AmiConfig,
        sync: PbxSync,
        link: LinkState,
        rng: random.Random | None = None,
    ) -> None:
        self.config = config
        self.sync = sync
        self.link = link
        self.rng = rng or random.Random()
        self.unmapped_names: set[str] = set()
        self.unmapped_members: set[str] = set()

    async def run(self) -> None:
        backoff = Backoff(self.config.retry_base_seconds, self.config.retry_max_seconds, self.rng)
        while True:
            session = _Session(self)
            try:
                await session.run()
            except AuthenticationFailed as refused:
                delay = max(self.config.auth_retry_seconds, backoff.next())
                self.link.set(LinkStatus.DOWN, "authentication failed")
                log.error(
                    "Asterisk at %s refused the AMI login of user %r: %s. Check"
                    " KOLEJKA_AMI_USERNAME and KOLEJKA_AMI_SECRET against manager.conf;"
                    " trying again in %.0f s",
                    self.config.where,
                    self.config.username,
                    refused,
                    delay,
                )
            except Exception as failure:
                if session.reached_up:
                    backoff.reset()
                delay = backoff.next()
                detail = _describe(failure)
                self.link.set(LinkStatus.DOWN, detail)
                known = isinstance(failure, (OSError, TimeoutError, DeadLink, AmiProtocolError))
                log.warning(
                    "AMI link to %s down (%s: %s); reconnecting in %.1f s",
                    self.config.where,
                    detail,
                    failure,
                    delay,
                    exc_info=not known,
                )
            await asyncio.sleep(delay)

    def note_unmapped(self, name: str) -> None:
        if name in self.unmapped_names or len(self.unmapped_names) >= _MAX_REMEMBERED_NAMES:
            return
        self.unmapped_names.add(name)
        log.warning(
            "Asterisk queue %r maps to no kolejka queue: its callers are ignored. Map it in"
            " KOLEJKA_AMI_QUEUES (e.g. %s=7)",
            name[:80],
            name[:80],
        )

    def note_unmapped_member(self, name: str) -> None:
        if name in self.unmapped_members or len(self.unmapped_members) >= _MAX_REMEMBERED_NAMES:
            return
        self.unmapped_members.add(name)
        log.warning(
            "Asterisk queue member %r is no agent login (1-64 letters, digits or . _ @ + -):"
            " its state is ignored. Give the member a MemberName that is the agent's login, or"
            " map its interface in KOLEJKA_AMI_MEMBERS (e.g. %s=jkowalski)",
            name[:80],
            name[:80],
        )


@dataclass
class _Snapshot:
    """The `QueueStatus` answer being collected."""

    action_id: str
    done: asyncio.Future[bool]
    queues: dict[int, str] = field(default_factory=dict)
    callers: list[QueuedCaller] = field(default_factory=list)
    members: list[MemberReport] = field(default_factory=list)


class _Session:
    """One connection's life: login, resync, live events, Pings, until something fails."""

    def __init__(self, listener: AmiListener) -> None:
        self.listener = listener
        self.config = listener.config
        self.sync = listener.sync
        self.link = listener.link
        self.booted = False
        self.reached_up = False
        self.snapshot: _Snapshot | None = None
        self.resync_wanted = False
        self.wake = asyncio.Event()

    async def run(self) -> None:
        config = self.config
        async with asyncio.timeout(config.ping_seconds * 2):
            reader, writer = await asyncio.open_connection(
                config.host,
                config.port,
                ssl=config.tls,
                server_hostname=config.host if config.tls else None,
            )
        connection = AmiConnection(reader, writer, self.on_packets)
        reading = asyncio.create_task(connection.read_forever(), name="ami-read")
        driving = asyncio.create_task(self.drive(connection), name="ami-drive")
        try:
            done, _ = await asyncio.wait({reading, driving}, return_when=asyncio.FIRST_COMPLETED)
            # The driver's reason (a refused login) explains more than the reader's (EOF).
            for task in (driving, reading):
                if task in done:
                    task.result()
        finally:
            for task in (reading, driving):
                task.cancel()
            await asyncio.gather(reading, driving, return_exceptions=True)
            await connection.close()

    # Driving: login, resync, keep-alive ---------------------------------------------------

    async def drive(self, connection: AmiConnection) -> None:
        patience = self.config.ping_seconds
        async with asyncio.timeout(patience):
            banner = await connection.banner
        await self.login(connection, banner)
        self.link.set(LinkStatus.SYNCING)
        # Asterisk writes FullyBooted right after a successful login, so by the Ping's answer
        # it has come, unless Asterisk is still booting or the user may not read `system`.
        await self.ping(connection)
        if not self.booted:
            log.info(
                "no FullyBooted yet (Asterisk still booting, or the AMI user lacks read=system):"
                " reading the queues now, and again when it comes"
            )
        await self.resync(connection)
        loop = asyncio.get_running_loop()
        next_ping = next_resync = loop.time() + patience
        while True:
            wake_at = next_ping
            if self.resync_wanted:
                wake_at = min(wake_at, next_resync)
            with suppress(TimeoutError):
                async with asyncio.timeout_at(wake_at):
                    await self.wake.wait()
            self.wake.clear()
            if self.resync_wanted and loop.time() >= next_resync:
                await self.resync(connection)
                next_resync = loop.time() + patience
            if loop.time() >= next_ping:
                await self.ping(connection)
                next_ping = loop.time() + patience

    async def login(self, connection: AmiConnection, banner: str) -> None:
        config = self.config
        # Asterisk before 12 (AMI 1.x) sent Join/Leave in class `call`, not `agent`.
        classes = "system,call,agent" if ami_version(banner) < (2, 0) else "system,agent"
        fields = {"Username": config.username, "Events": classes}
        if config.auth == "md5":
            challenge = await connection.request(
                "Challenge", {"AuthType": "MD5"}, config.ping_seconds
            )
            if challenge.get("Response") != "Success" or not challenge.get("Challenge"):
                raise AmiProtocolError(f"MD5 challenge refused: {_message(challenge)}")
            fields |= {"AuthType": "MD5", "Key": md5_key(challenge["Challenge"], config.secret)}
        else:
            fields["Secret"] = config.secret
        answer = await connection.request("Login", fields, config.ping_seconds)
        if answer.get("Response") != "Success":
            raise AuthenticationFailed(_message(answer))
        log.info("logged in to AMI at %s as %r (%s)", config.where, config.username, banner)

    async def ping(self, connection: AmiConnection) -> None:
        try:
            await connection.request("Ping", seconds=self.config.ping_seconds)
        except TimeoutError:
            raise DeadLink(f"no answer to Ping in {self.config.ping_seconds:g} s") from None

    def want_resync(self) -> None:
        self.resync_wanted = True
        self.wake.set()

    async def resync(self, connection: AmiConnection) -> None:
        """Asks QueueStatus; its answer is reconciled by `on_packets`, in stream order."""
        self.resync_wanted = False
        loop = asyncio.get_running_loop()
        snapshot = _Snapshot(connection.next_action_id(), loop.create_future())
        self.snapshot = snapshot
        self.sync.snapshot_requested()
        patience = self.config.ping_seconds
        try:
            # The whole answer within two Ping periods, as a Ping and its answer would take.
            async with asyncio.timeout(patience * 2):
                answer = await connection.request(
                    "QueueStatus", seconds=patience, action_id=snapshot.action_id
                )
                if answer.get("Response") != "Success":
                    log.warning("Asterisk refused QueueStatus: %s; asking again", _message(answer))
                    self.link.set(LinkStatus.SYNCING, "QueueStatus refused")
                    self.resync_wanted = True
                    return
                await snapshot.done
        except TimeoutError:
            raise DeadLink("no complete answer to QueueStatus") from None
        finally:
            if self.snapshot is snapshot:
                self.snapshot = None
                self.sync.snapshot_abandoned()

    # Reading: events and the QueueStatus answer, in stream order ---------------------------

    async def on_packets(self, packets: list[Packet]) -> None:
        events: list[SyncEvent] = []
        for packet in packets:
            name = packet.get("Event")
            if name is None:
                continue  # a response nobody waits for any more, e.g. a late Pong
            snapshot = self.snapshot
            if snapshot is not None and packet.get("ActionID") == snapshot.action_id:
                if is_list_end(packet):
                    await self.apply(events)
                    events = []
                    await self.finish(snapshot)
                else:
                    self.collect(snapshot, packet)
                continue
            try:
                event = translate(packet, self.config.queues, self.config.members)
            except UnmappedQueue as unmapped:
                self.listener.note_unmapped(unmapped.name)
                continue
            except UnmappedMember as unmapped:
                self.listener.note_unmapped_member(unmapped.name)
                continue
            except Unusable as unusable:
                log.warning("skipped AMI event %s: %s", name[:80], unusable)
                continue
            if event is not None:
                events.append(event)
            elif name == "FullyBooted":
                self.booted = True
                if self.reached_up:
                    # Asterisk finished booting after we read its queues: read them again.
                    self.want_resync()
            elif name == "Shutdown":
                log.info("Asterisk is shutting down (%s)", packet.get("Shutdown", "")[:40])
        await self.apply(events)

    async def apply(self, events: list[SyncEvent]) -> None:
        if events and await self.sync.apply(events):
            # What failed to apply is lost until the next reconcile: ask for one.
            self.want_resync()

    def collect(self, snapshot: _Snapshot, packet: Packet) -> None:
        name = packet.get("Event")
        try:
            if name == QUEUE_ENTRY:
                snapshot.callers.append(queued_caller(packet, self.config.queues))
            elif name == QUEUE_MEMBER:
                member = member_report(packet, self.config.queues, self.config.members)
                snapshot.members.append(member)
            elif name == QUEUE_PARAMS:
                queue_name = packet.get("Queue", "")
                queue_id = self.config.queues.queue_id(queue_name)
                if queue_id is None:
                    self.listener.note_unmapped(queue_name)
                else:
                    snapshot.queues[queue_id] = queue_name
        except UnmappedQueue as unmapped:
            self.listener.note_unmapped(unmapped.name)
        except UnmappedMember as unmapped:
            self.listener.note_unmapped_member(unmapped.name)
        except Unusable as unusable:
            log.warning("skipped a QueueStatus entry: %s", unusable)

    async def finish(self, snapshot: _Snapshot) -> None:
        self.snapshot = None
        queues = dict(snapshot.queues)
        for queue_id in self.config.queues.mapped_ids():
            queues.setdefault(queue_id, "")
        try:
            plan = await self.sync.reconcile(queues, snapshot.callers)
            await self.sync.reconcile_members(queues, snapshot.members)
        except Exception:
            log.exception("could not reconcile the waiting lists with Asterisk; trying again")
            self.link.set(LinkStatus.SYNCING, "could not update the waiting lists")
            self.resync_wanted = True
            snapshot.done.set_result(False)
            return
        log.info(
            "reconciled with Asterisk: %d waiting in %d queues; %d gone, %d added meanwhile;"
            " %d queue members",
            len(snapshot.callers),
            len(snapshot.queues),
            len(plan.departures),
            len(plan.joins),
            len(snapshot.members),
        )
        self.reached_up = True
        self.link.set(LinkStatus.UP)
        snapshot.done.set_result(True)


def _message(packet: Packet) -> str:
    return packet.get("Message", "no reason given")[:200]


def _describe(failure: BaseException) -> str:
    """A short phrase for /health: never the exception text, which may name hosts."""
    if isinstance(failure, DeadLink):
        return "no answer from Asterisk"
    if isinstance(failure, ConnectionRefusedError):
        return "connection refused"
    if isinstance(failure, ConnectionLost | ConnectionResetError | BrokenPipeError):
        return "connection lost"
    if isinstance(failure, ssl.SSLError):
        return "TLS handshake failed"
    if isinstance(failure, socket.gaierror):
        return "host not found"
    if isinstance(failure, TimeoutError):
        return "timed out"
    if isinstance(failure, AmiProtocolError):
        return "unexpected answer from Asterisk"
    if isinstance(failure, OSError):
        return "network error"
    return "unexpected error"
