"""Push updates as Server-Sent Events: the hub that serves waiting lists and the wallboard.

`GET /api/queues/{id}/waiting_list/stream` sends the queue's waiting list, byte for byte the JSON
of `GET /api/queues/{id}/waiting_list`, when a client connects and again whenever it changes.
`GET /api/wallboard/stream` sends every queue with its name, stats, waiting list and agents, for
the wallboard page, as `wallboard.board.WallboardFeed` renders it. `GET /api/agents_statuses/stream`
sends, byte for byte, the JSON of `GET /api/agents_statuses` whenever an agent's state changes.
docs/wallboard.md describes them for client writers.

How it holds up under many clients: all streams of one queue share a `Channel`. A change (from
the ChangeFeed: this instance's writes, or another instance's through a shared feed) makes the
channel render its event once, as ready bytes; then each client is marked dirty and woken, and
its own task sends the channel's latest event when it gets to run. A slow client therefore skips
the versions it had no time for (the updates coalesce) and never holds more than the one event
being written; a client that has taken no write for `stall_seconds` is dropped.

Event ids name the content (a digest of the data), not a counter: they mean the same on every
instance and after a restart, so a client that reconnects with `Last-Event-ID`, to any instance,
is sent the list again only if it changed meanwhile.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import AsyncGenerator, Awaitable, Callable
from zoneinfo import ZoneInfo

from kolejka.adapters.http.agents import AgentStatusesView
from kolejka.adapters.http.auth import challenge
from kolejka.adapters.http.errors import AUTH_REQUIRED, ApiError
from kolejka.adapters.http.request import Request, StreamReply
from kolejka.adapters.http.routing import Route
from kolejka.adapters.http.waiting_list_view import WaitingListView
from kolejka.adapters.http.wallboard.board import WALLBOARD_PERMISSIONS, WallboardFeed
from kolejka.domain.errors import DomainError, UnknownQueue
from kolejka.services.agents import Agents
from kolejka.services.auth import Authenticator
from kolejka.services.callbacks import Callbacks
from kolejka.services.ports import Change, ChangeFeed, Topic
from kolejka.services.waiting_lists import WaitingLists

log = logging.getLogger(__name__)

EVENT_STREAM = b"text/event-stream"
STREAM_PERMISSION = "GET queues/:id/waiting_list/stream"
READ_PERMISSION = "GET queues/:id/waiting_list"
# Streaming shows nothing that polling does not, and costs the server less than a poll a
# second: whoever may read the waiting list may stream it.
STREAM_PERMISSIONS = (STREAM_PERMISSION, READ_PERMISSION)
AGENTS_STREAM_PERMISSIONS = ("GET agents_statuses/stream", "GET agents_statuses")
HEARTBEAT = b": heartbeat\n\n"
# How long a browser waits before reconnecting after the stream ends or the server goes away.
RETRY = b"retry: 2000\n\n"
STREAM_HEADERS = (
    (b"cache-control", b"no-store"),
    # nginx and similar proxies otherwise hold events back to fill their buffers.
    (b"x-accel-buffering", b"no"),
)
MAX_EVENT_ID = 64
BOARD = "wallboard"
AGENTS = "agents"
# Between two checks of open streams' access that changes asked for: a burst of changes (an
# import in another process, say) costs one check of each credential now and then, not one each.
RECHECK_PAUSE = 0.5


# A channel's source renders what its event shows (the event id is a digest of that) and the
# event's data line; the two differ where the data holds something that is no news (a clock).
Render = Callable[[], Awaitable[tuple[bytes, bytes]]]


def digest(content: bytes) -> str:
    return hashlib.blake2b(content, digest_size=10).hexdigest()


class StreamClient:
    """One connected stream: what it was sent last, and whether it has something to send."""

    __slots__ = (
        "channel",
        "closed",
        "credentials",
        "heartbeat",
        "permissions",
        "sending_since",
        "sent",
        "task",
        "woken",
    )

    def __init__(
        self, channel: Channel, credentials: bytes, permissions: tuple[str, ...], sent: str
    ) -> None:
        self.channel = channel
        self.credentials = credentials
        self.permissions = permissions
        self.sent = sent
        self.woken = asyncio.Event()
        self.heartbeat = False
        self.closed = False
        self.sending_since: float | None = None
        self.task: asyncio.Task[object] | None = None

    def end(self) -> None:
        """Finishes the stream cleanly at the next chance (the client may reconnect)."""
        self.closed = True
        self.woken.set()


class Channel:
    """The latest event of one source (a queue, the wallboard), rendered once per change."""

    def __init__(
        self,
        key: int | str,
        render: Render,
        pause_seconds: float = 0.0,
        restamp: Callable[[bytes], bytes] | None = None,
    ) -> None:
        self.key = key
        self.render = render
        # After a render, further changes wait this long: they are then rendered together.
        self.pause_seconds = pause_seconds
        # What a client that connects later is sent first, given the latest event.
        self.restamp = restamp
        self.clients: set[StreamClient] = set()
        self.event_id = ""
        self.frame = b""
        self.failed = False
        self.gone = False
        self._changes = 0
        self._shown = -1
        self._stale = False
        self._refreshing: asyncio.Task[None] | None = None

    async def ready(self) -> None:
        """Renders the first event, so a stream starts with one (and a bad queue is a 404)."""
        if not self.frame:
            await self._render()

    def invalidate(self) -> None:
        self._changes += 1
        self._stale = True
        if self._refreshing is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                return
            self._refreshing = loop.create_task(self._refresh())

    async def _refresh(self) -> None:
        try:
            while self._stale:
                self._stale = False
                try:
                    await self._render()
                except UnknownQueue:
                    # The queue was removed: end its streams; a reconnect is told 404.
                    self.gone = True
                    for client in list(self.clients):
                        client.end()
                    return
                except Exception:
                    log.exception("cannot render the stream event of %s", self.key)
                    self.failed = True
                    return
                if self.pause_seconds:
                    await asyncio.sleep(self.pause_seconds)
        finally:
            self._refreshing = None

    async def _render(self) -> None:
        started = self._changes
        shown, data = await self.render()
        # An older render finishing after a newer one must not put older data back.
        if started < self._shown:
            return
        self._shown = started
        self.failed = False
        event_id = digest(shown)
        if event_id == self.event_id:
            return
        self.event_id = event_id
        self.frame = b"id: %s\ndata: %s\n\n" % (event_id.encode(), data)
        for client in self.clients:
            client.woken.set()


class EventStreams:
    """Every open stream of this instance, the channels they share, and their upkeep.

    The waiting lists' channels render through `view`; the wallboard's through a
    `WallboardFeed` made of `lists`, `view` and `time_zone`.
    """

    def __init__(
        self,
        lists: WaitingLists,
        view: WaitingListView,
        changes: ChangeFeed,
        auth: Authenticator,
        time_zone: ZoneInfo,
        agents: Agents | None,
        agent_statuses: AgentStatusesView | None = None,
        *,
        callbacks: Callbacks | None = None,
        heartbeat_seconds: float = 15.0,
        stall_seconds: float = 60.0,
        board_refresh_seconds: float = 5.0,
        recheck_seconds: float = 60.0,
    ) -> None:
        self.view = view
        self.auth = auth
        self.agent_statuses = agent_statuses
        self.board = WallboardFeed(lists, view, time_zone, agents, callbacks=callbacks)
        self.heartbeat_seconds = heartbeat_seconds
        self.stall_seconds = stall_seconds
        self.board_refresh_seconds = board_refresh_seconds
        self.recheck_seconds = recheck_seconds
        self.channels: dict[int | str, Channel] = {}
        self.clients = 0
        self._tick_seconds = min(1.0, heartbeat_seconds, stall_seconds / 4, board_refresh_seconds)
        self._ticker: asyncio.Task[None] | None = None
        self._recheck_wanted = False
        self._rechecking: asyncio.Task[None] | None = None
        changes.subscribe(self._changed)

    # Routes ------------------------------------------------------------------------------------

    def routes(self) -> list[Route]:
        # Both take a wallboard token too, for the browser's EventSource.
        return [
            Route(
                "GET",
                "/api/queues/{id}/waiting_list/stream",
                self.waiting_list_stream,
                also=STREAM_PERMISSIONS[1:],
                token=True,
            ),
            Route("GET", "/api/wallboard/stream", self.wallboard_stream, token=True),
            Route(
                "GET",
                "/api/agents_statuses/stream",
                self.agents_stream,
                also=AGENTS_STREAM_PERMISSIONS[1:],
                token=True,
            ),
        ]

    async def waiting_list_stream(self, request: Request) -> StreamReply:
        credentials = _credentials(request)
        queue_id = request.path_id("id")
        channel = await self._channel(queue_id, lambda: self._render_queue(queue_id))
        return self._open(channel, request, credentials, STREAM_PERMISSIONS)

    async def wallboard_stream(self, request: Request) -> StreamReply:
        credentials = _credentials(request)
        board = self.board
        channel = await self._channel(BOARD, board.render, board.pause_seconds, board.restamped)
        return self._open(channel, request, credentials, WALLBOARD_PERMISSIONS)

    async def agents_stream(self, request: Request) -> StreamReply:
        credentials = _credentials(request)
        channel = await self._channel(AGENTS, self._render_agents)
        return self._open(channel, request, credentials, AGENTS_STREAM_PERMISSIONS)

    async def _render_agents(self) -> tuple[bytes, bytes]:
        body = await self.agent_statuses.statuses_json() if self.agent_statuses else b"[]"
        return body, body

    async def _render_queue(self, queue_id: int) -> tuple[bytes, bytes]:
        body = await self.view.waiting_list_json(queue_id)
        return body, body

    # Streams ---------------------------------------------------------------------------------

    async def _channel(
        self,
        key: int | str,
        render: Render,
        pause: float = 0.0,
        restamp: Callable[[bytes], bytes] | None = None,
    ) -> Channel:
        """The shared channel for `key`, with its first event rendered."""
        while True:
            channel = self.channels.get(key)
            if channel is None or channel.gone:
                channel = self.channels[key] = Channel(key, render, pause, restamp)
            try:
                await channel.ready()
            except BaseException:
                if not channel.clients and self.channels.get(key) is channel:
                    del self.channels[key]
                raise
            # Another connection may have replaced the channel while this one rendered.
            if self.channels.get(key) is channel:
                return channel

    def _open(
        self,
        channel: Channel,
        request: Request,
        credentials: bytes,
        permissions: tuple[str, ...],
    ) -> StreamReply:
        last = request.header(b"last-event-id")
        last_id = last.decode("latin-1").strip() if last and len(last) <= MAX_EVENT_ID else ""
        client = StreamClient(channel, credentials, permissions, last_id)
        return StreamReply(self._events(client), EVENT_STREAM, headers=STREAM_HEADERS)

    async def _events(self, client: StreamClient) -> AsyncGenerator[bytes, None]:
        # The client joins its channel only once the stream is being sent, so that a stream the
        # server never starts holds nothing; `finally` lets go of it however the stream ends.
        loop = asyncio.get_running_loop()
        channel = client.channel
        channel.clients.add(client)
        self.clients += 1
        if self._ticker is None:
            self._ticker = loop.create_task(self._tick())
        client.task = asyncio.current_task()
        try:
            if client.sent == channel.event_id:
                first = RETRY  # resumed: the client has this list already
            elif channel.restamp is not None:
                first = RETRY + channel.restamp(channel.frame)
            else:
                first = RETRY + channel.frame
            client.sent = channel.event_id
            client.sending_since = loop.time()
            yield first
            client.sending_since = None
            while True:
                await client.woken.wait()
                client.woken.clear()
                if client.closed:
                    return
                channel = client.channel
                if client.sent != channel.event_id:
                    client.sent = channel.event_id
                    chunk = channel.frame
                elif client.heartbeat:
                    chunk = HEARTBEAT
                else:
                    continue
                client.heartbeat = False
                client.sending_since = loop.time()
                yield chunk
                client.sending_since = None
        finally:
            self._forget(client)

    def end_all(self) -> None:
        """Ends every open stream cleanly, as the server stops; clients reconnect elsewhere."""
        if self._rechecking is not None:
            self._rechecking.cancel()
        for channel in list(self.channels.values()):
            for client in list(channel.clients):
                client.end()

    def _forget(self, client: StreamClient) -> None:
        channel = client.channel
        if client not in channel.clients:
            return
        channel.clients.discard(client)
        self.clients -= 1
        if not channel.clients and self.channels.get(channel.key) is channel:
            del self.channels[channel.key]

    def _changed(self, change: Change) -> None:
        if change.topic is Topic.QUEUE and change.queue_id is not None:
            for key in (change.queue_id, BOARD):
                channel = self.channels.get(key)
                if channel is not None:
                    channel.invalidate()
        elif change.topic is Topic.CALLBACKS:
            # Scheduled, attempted or cancelled: the board's "callbacks due next".
            board = self.channels.get(BOARD)
            if board is not None:
                board.invalidate()
        elif change.topic is Topic.AGENTS:
            for key in (AGENTS, BOARD):
                channel = self.channels.get(key)
                if channel is not None:
                    channel.invalidate()
        elif change.topic in (Topic.QUEUE, Topic.CRM, Topic.ALL):
            for channel in list(self.channels.values()):
                channel.invalidate()
        if change.topic in (Topic.USERS, Topic.ALL):
            # "all" may hide a change to API users too: another process wrote to the database
            # (`kolejka wallboard revoke` on SQLite), or the link to other instances was down.
            self.recheck_soon()

    def recheck_soon(self) -> None:
        """Checks the access of every open stream now, or as soon as the current check ends."""
        self._recheck_wanted = True
        if self._rechecking is None and self.clients:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                return  # no stream is served outside an event loop; the tick will see to it
            self._rechecking = loop.create_task(self._recheck_while_wanted())

    async def _recheck_while_wanted(self) -> None:
        try:
            while self._recheck_wanted and self.clients:
                self._recheck_wanted = False
                try:
                    await self._recheck()
                except Exception:
                    log.exception("cannot check the access of open streams")
                await asyncio.sleep(RECHECK_PAUSE)
        finally:
            self._rechecking = None

    async def _tick(self) -> None:
        """Heartbeats, stalled clients, the wallboard's clock-driven stats, revoked access."""
        loop = asyncio.get_running_loop()
        next_heartbeat = loop.time() + self.heartbeat_seconds
        next_board = loop.time() + self.board_refresh_seconds
        next_recheck = loop.time() + self.recheck_seconds
        try:
            while self.clients:
                await asyncio.sleep(self._tick_seconds)
                now = loop.time()
                beat = now >= next_heartbeat
                if beat:
                    next_heartbeat = now + self.heartbeat_seconds
                for channel in list(self.channels.values()):
                    if channel.failed:
                        channel.invalidate()
                    for client in list(channel.clients):
                        since = client.sending_since
                        if since is not None and now - since > self.stall_seconds:
                            self._drop(client)
                        elif beat:
                            client.heartbeat = True
                            client.woken.set()
                board = self.channels.get(BOARD)
                if board is not None and now >= next_board:
                    next_board = now + self.board_refresh_seconds
                    # approx_wait_time moves with the clock (the longest wait grows).
                    board.invalidate()
                if now >= next_recheck:
                    # Changes to API users end streams at once; this catches any change missed.
                    next_recheck = now + self.recheck_seconds
                    self.recheck_soon()
        finally:
            self._ticker = None

    def _drop(self, client: StreamClient) -> None:
        log.warning(
            "dropped a stream client of %s that read nothing for %.0f s",
            client.channel.key,
            self.stall_seconds,
        )
        client.closed = True
        self._forget(client)
        if client.task is not None:
            client.task.cancel()

    async def _recheck(self) -> None:
        """Ends the streams of API users and tokens that were removed or lost the permission."""
        by_credentials: dict[bytes, list[StreamClient]] = {}
        for channel in list(self.channels.values()):
            for client in channel.clients:
                by_credentials.setdefault(client.credentials, []).append(client)
        for credentials, clients in by_credentials.items():
            try:
                principal = await self.auth.recheck(credentials)
            except DomainError:
                continue  # a store is down: judge these again next time
            for client in clients:
                if principal is None or not any(principal.may(p) for p in client.permissions):
                    client.end()


def _credentials(request: Request) -> bytes:
    """What the kernel authenticated the request with: a stream presents it again later."""
    if request.credentials is None:  # a stream route is never public; refuse if it were
        raise challenge(ApiError(AUTH_REQUIRED))
    return request.credentials
