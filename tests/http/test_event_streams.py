"""The stream hub in-process: one render per change, coalescing, slow and gone clients.

These drive `EventStreams` and the app's streaming branch directly (real SQLite, real change
feed), where timing and memory can be looked at; tests/e2e/test_event_stream_socket.py checks
the same endpoints over a real socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncGenerator
from datetime import timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

import pytest
from argon2 import PasswordHasher

from kolejka.adapters.http.auth import HttpAuth
from kolejka.adapters.http.errors import ApiError
from kolejka.adapters.http.replies import send_reply
from kolejka.adapters.http.request import Message, Request, StreamReply
from kolejka.adapters.http.stream import HEARTBEAT, RECHECK_PAUSE, RETRY, EventStreams
from kolejka.adapters.http.waiting_list_view import WaitingListView
from kolejka.bootstrap import Components
from kolejka.domain.callbacks import DialOutcome
from kolejka.domain.errors import LoginThrottled, UnknownQueue
from kolejka.domain.queues import Outcome
from kolejka.services import wallboard_tokens
from kolejka.services.auth import Authenticator
from kolejka.services.ports import Change, Topic
from kolejka.services.wallboard_tokens import WallboardTokens
from tests.factories import add_person
from tests.support import FrozenClock, basic

pytestmark = pytest.mark.usefixtures("queue_2")


class CountingView(WaitingListView):
    """The real view, counting how often it renders a list from the store."""

    renders = 0

    async def waiting_list_json(self, queue_id: int) -> bytes:
        if queue_id not in self._ready:
            self.renders += 1
        return await super().waiting_list_json(queue_id)


def hub(components: Components, **timing: Any) -> tuple[EventStreams, CountingView]:
    view = CountingView(components.lists, components.changes, ZoneInfo("Europe/Warsaw"))
    streams = EventStreams(
        components.lists,
        view,
        components.changes,
        components.authenticator,
        ZoneInfo("Europe/Warsaw"),
        components.agents,
        None,
        **timing,
    )
    return streams, view


async def request(
    streams: EventStreams,
    template: str,
    auth: str | None,
    last_event_id: str | None = None,
    **params: str,
) -> Request:
    """A request for the stream route `template`, authenticated as the app's kernel does."""
    headers = [(b"authorization", auth.encode())] if auth else []
    if last_event_id is not None:
        headers.append((b"last-event-id", last_event_id.encode()))
    path = template.format(**params)
    scope = {"type": "http", "method": "GET", "path": path, "headers": headers, "query_string": b""}

    async def receive() -> Message:
        return {"type": "http.disconnect"}

    route = next(route for route in streams.routes() if route.template == template)
    credentials, principal = await HttpAuth(streams.auth).principal(scope, route)
    return Request(scope, receive, params, principal, credentials)


async def open_stream(
    streams: EventStreams, auth: str, queue_id: int = 2, last_event_id: str | None = None
) -> StreamReply:
    path = "/api/queues/{id}/waiting_list/stream"
    return await streams.waiting_list_stream(
        await request(streams, path, auth, last_event_id, id=str(queue_id))
    )


async def open_board(streams: EventStreams, auth: str) -> StreamReply:
    return await streams.wallboard_stream(await request(streams, "/api/wallboard/stream", auth))


def id_of(chunk: bytes) -> str:
    for line in chunk.decode().splitlines():
        if line.startswith("id: "):
            return line.removeprefix("id: ")
    raise AssertionError(f"no id line in {chunk!r}")


def data_of(chunk: bytes) -> Any:
    for line in chunk.decode().splitlines():
        if line.startswith("data: "):
            return json.loads(line.removeprefix("data: "))
    raise AssertionError(f"no data line in {chunk!r}")


async def next_chunk(chunks: AsyncGenerator[bytes, None], timeout: float = 2.0) -> bytes:
    return await asyncio.wait_for(anext(chunks), timeout)


async def test_a_stream_starts_with_the_retry_delay_and_the_current_list(
    components: Components, personas: dict[str, str]
) -> None:
    streams, view = hub(components)
    await components.lists.join(2, "c1", "746842523")
    reply = await open_stream(streams, personas["reader"])
    first = await next_chunk(reply.chunks)
    assert first.startswith(RETRY)
    assert data_of(first) == json.loads(await view.waiting_list_json(2))
    await reply.chunks.aclose()


async def test_a_change_is_rendered_once_however_many_clients_stream_the_queue(
    components: Components, personas: dict[str, str]
) -> None:
    streams, view = hub(components)
    replies = [await open_stream(streams, personas["reader"]) for _ in range(50)]
    for reply in replies:
        await next_chunk(reply.chunks)
    before = view.renders
    await components.lists.join(2, "c1", "746842523")
    chunks = [await next_chunk(reply.chunks) for reply in replies]
    assert view.renders - before == 1
    assert len(set(chunks)) == 1
    assert data_of(chunks[0])[0]["phone_number"] == "746842523"
    for reply in replies:
        await reply.chunks.aclose()
    assert streams.clients == 0
    assert streams.channels == {}


async def test_a_client_that_reads_late_gets_only_the_latest_list(
    components: Components, personas: dict[str, str]
) -> None:
    streams, _ = hub(components)
    reply = await open_stream(streams, personas["reader"])
    await next_chunk(reply.chunks)
    for n in range(20):
        await components.lists.join(2, f"c{n}", f"60110{n:04d}")
        await asyncio.sleep(0)
    await asyncio.sleep(0.05)
    latest = await next_chunk(reply.chunks)
    assert len(data_of(latest)) == 20
    # Nothing else is pending: the twenty changes were one event for this client.
    with pytest.raises(TimeoutError):
        await next_chunk(reply.chunks, timeout=0.2)
    await reply.chunks.aclose()


async def test_a_list_that_changes_back_is_not_sent_again(
    components: Components, personas: dict[str, str]
) -> None:
    streams, _ = hub(components)
    reply = await open_stream(streams, personas["reader"])
    await next_chunk(reply.chunks)
    await components.lists.join(2, "c1", "746842523")
    await components.lists.leave("c1", Outcome.ABANDONED)
    await asyncio.sleep(0.05)
    with pytest.raises(TimeoutError):
        await next_chunk(reply.chunks, timeout=0.2)
    await reply.chunks.aclose()


async def test_quiet_streams_get_heartbeat_comments(
    components: Components, personas: dict[str, str]
) -> None:
    streams, _ = hub(components, heartbeat_seconds=0.1, stall_seconds=5.0)
    reply = await open_stream(streams, personas["reader"])
    await next_chunk(reply.chunks)
    assert await next_chunk(reply.chunks) == HEARTBEAT
    assert await next_chunk(reply.chunks) == HEARTBEAT
    await reply.chunks.aclose()


async def test_a_removed_api_user_loses_its_open_streams(
    components: Components, personas: dict[str, str]
) -> None:
    streams, _ = hub(components)
    reply = await open_stream(streams, personas["reader"])
    kept = await open_stream(streams, personas["admin"])
    await next_chunk(reply.chunks)
    await next_chunk(kept.chunks)
    await components.api_users.remove("reader")
    with pytest.raises(StopAsyncIteration):
        await next_chunk(reply.chunks)
    await components.lists.join(2, "c1", "746842523")
    assert data_of(await next_chunk(kept.chunks))[0]["phone_number"] == "746842523"
    await kept.chunks.aclose()


async def test_a_user_removed_by_another_process_loses_its_streams_as_soon_as_that_is_seen(
    components: Components, personas: dict[str, str]
) -> None:
    # The minutely recheck is out of the picture: only the change may end the stream.
    streams, _ = hub(components, recheck_seconds=3600.0)
    reply = await open_stream(streams, personas["reader"])
    kept = await open_stream(streams, personas["admin"])
    await next_chunk(reply.chunks)
    await next_chunk(kept.chunks)
    # As `kolejka users remove reader` in another process: the store changes behind the
    # server's back, and the SQLite watcher can say only that something changed.
    assert await components.api_users.users.remove("reader")
    await components.changes.publish(Change(Topic.ALL))
    with pytest.raises(StopAsyncIteration):
        await next_chunk(reply.chunks, timeout=1.0)
    await components.lists.join(2, "c1", "746842523")
    assert data_of(await next_chunk(kept.chunks))[0]["phone_number"] == "746842523"
    await kept.chunks.aclose()


async def test_a_revoked_token_loses_its_stream_even_while_its_secret_is_being_guessed(
    components: Components,
) -> None:
    streams, _ = hub(components, recheck_seconds=3600.0)
    tokens = WallboardTokens(components.api_users)
    header = wallboard_tokens.credentials(await tokens.create("hall"))
    assert header is not None
    reply = await open_board(streams, header.decode())
    await next_chunk(reply.chunks)
    # Enough wrong guesses to throttle the token's user name: a recheck is not a sign-in, so
    # it must still see that the token is gone.
    for _ in range(components.settings.login_failures_per_minute + 1):
        with contextlib.suppress(LoginThrottled):
            wrong = basic("wallboard-hall", "guess")
            assert await components.authenticator.authenticate(wrong.encode(), "192.0.2.7") is None
    await tokens.revoke("hall")
    with pytest.raises(StopAsyncIteration):
        await next_chunk(reply.chunks, timeout=1.0)


class CountingHasher(PasswordHasher):
    """The tests' fast argon2, counting the passwords it checks."""

    checks = 0

    def __init__(self) -> None:
        super().__init__(time_cost=1, memory_cost=1024, parallelism=1)

    def verify(self, hash: str | bytes, password: str | bytes) -> Literal[True]:
        self.checks += 1
        return super().verify(hash, password)


async def test_rechecks_for_changes_that_leave_api_users_alone_hash_no_password_again(
    components: Components, personas: dict[str, str]
) -> None:
    hasher = CountingHasher()
    auth = Authenticator(components.api_users.users, components.changes, hasher)
    view = WaitingListView(components.lists, components.changes, ZoneInfo("Europe/Warsaw"))
    streams = EventStreams(
        components.lists, view, components.changes, auth, ZoneInfo("Europe/Warsaw"), None
    )
    reply = await open_stream(streams, personas["reader"])
    await next_chunk(reply.chunks)
    # Each as another process's write to the CRM, seen by the SQLite watcher: it cannot say
    # what changed, so every open stream's access is checked again.
    for _ in range(4):
        await components.changes.publish(Change(Topic.ALL))
        await asyncio.sleep(RECHECK_PAUSE + 0.1)
    assert hasher.checks <= 2  # the sign-in, and the first recheck
    await components.api_users.set_permissions("reader", ["GET queues"])
    with pytest.raises(StopAsyncIteration):
        await next_chunk(reply.chunks, timeout=1.0)


async def test_streams_of_a_removed_queue_end_and_a_new_one_is_refused(
    components: Components, personas: dict[str, str]
) -> None:
    streams, _ = hub(components)
    reply = await open_stream(streams, personas["reader"])
    await next_chunk(reply.chunks)
    # As `kolejka queues remove 2` in another process, seen by the SQLite watcher.
    await components.queues.remove(2)
    await components.changes.publish(Change(Topic.ALL))
    with pytest.raises(StopAsyncIteration):
        await next_chunk(reply.chunks)
    with pytest.raises(UnknownQueue):
        await open_stream(streams, personas["reader"])
    assert streams.clients == 0


async def test_a_reader_of_the_waiting_list_may_stream_it_but_ingest_may_not(
    components: Components, personas: dict[str, str]
) -> None:
    streams, _ = hub(components)
    reply = await open_stream(streams, personas["reader"])
    await reply.chunks.aclose()
    with pytest.raises(ApiError) as refused:
        await open_stream(streams, personas["ingest"])
    assert refused.value.kind.code == 403001
    with pytest.raises(ApiError) as wrong:
        await open_stream(streams, basic("reader", "wrong"))
    assert wrong.value.kind.code == 401002


class Connection:
    """An ASGI server's side of one response, with a client that reads or stalls."""

    def __init__(self, *, reads: bool) -> None:
        self.reads = reads
        self.sent: list[Message] = []
        self.gone = asyncio.Event()

    async def send(self, message: Message) -> None:
        bodies = [m for m in self.sent if m["type"] == "http.response.body"]
        if not self.reads and bodies and message["type"] == "http.response.body":
            await asyncio.Event().wait()  # a full socket buffer: the write never finishes
        self.sent.append(message)

    async def receive(self) -> Message:
        await self.gone.wait()
        return {"type": "http.disconnect"}


async def test_a_client_that_stops_reading_is_dropped_and_others_go_on(
    components: Components, personas: dict[str, str]
) -> None:
    streams, _ = hub(components, heartbeat_seconds=0.05, stall_seconds=0.3)
    slow, fast = Connection(reads=False), Connection(reads=True)
    serving = [
        asyncio.create_task(
            send_reply(await open_stream(streams, personas["reader"]), "r", c.receive, c.send)
        )
        for c in (slow, fast)
    ]
    await asyncio.sleep(0.05)
    for n in range(5):
        await components.lists.join(2, f"c{n}", f"60110{n:04d}")
        await asyncio.sleep(0.02)
    await asyncio.wait_for(serving[0], 2.0)  # the slow one was dropped
    assert streams.clients == 1
    events = [data_of(m["body"]) for m in fast.sent if m.get("body", b"").count(b"data:")]
    assert len(events[-1]) == 5
    fast.gone.set()
    await asyncio.wait_for(serving[1], 2.0)
    assert streams.clients == 0


async def test_a_disconnected_client_is_forgotten(
    components: Components, personas: dict[str, str]
) -> None:
    streams, _ = hub(components)
    connection = Connection(reads=True)
    reply = await open_stream(streams, personas["reader"])
    serving = asyncio.create_task(send_reply(reply, "r", connection.receive, connection.send))
    await asyncio.sleep(0.05)
    assert streams.clients == 1
    connection.gone.set()
    await asyncio.wait_for(serving, 2.0)
    assert streams.clients == 0
    assert streams.channels == {}


async def test_resuming_with_the_current_event_id_sends_no_repeat_and_an_old_id_gets_the_list(
    components: Components, personas: dict[str, str]
) -> None:
    streams, _ = hub(components)
    first = await open_stream(streams, personas["reader"])
    seen = id_of(await next_chunk(first.chunks))
    await first.chunks.aclose()

    same = await open_stream(streams, personas["reader"], last_event_id=seen)
    assert await next_chunk(same.chunks) == RETRY
    await components.lists.join(2, "c1", "746842523")
    changed = await next_chunk(same.chunks)
    assert id_of(changed) != seen
    await same.chunks.aclose()

    stale = await open_stream(streams, personas["reader"], last_event_id=seen)
    resumed = await next_chunk(stale.chunks)
    assert id_of(resumed) == id_of(changed)
    assert data_of(resumed)[0]["phone_number"] == "746842523"
    await stale.chunks.aclose()


async def test_the_wallboard_event_holds_every_queue_with_its_stats_and_exact_list(
    components: Components, personas: dict[str, str]
) -> None:
    from kolejka.domain.queues import Queue

    await components.queues.put(Queue(1, "Sprzedaż"))
    await components.lists.join(2, "c1", "746842523")
    streams, view = hub(components)
    reply = await open_board(streams, personas["admin"])
    chunk = await next_chunk(reply.chunks)
    board = data_of(chunk)
    assert board["now"] == "2014-08-06 14:30:35"  # the frozen clock, in Europe/Warsaw
    assert [(q["queue_id"], q["name"]) for q in board["queues"]] == [
        (1, "Sprzedaż"),
        (2, "Obsługa klienta"),
    ]
    two = board["queues"][1]
    assert two["waiting_stats"] == {"in_queue": 1, "approx_wait_time": "00:00:00"}
    assert b'"waiting_list":' + await view.waiting_list_json(2) in chunk
    await components.lists.join(1, "c2", "613459851")
    assert len(data_of(await next_chunk(reply.chunks))["queues"][0]["waiting_list"]) == 1
    await reply.chunks.aclose()


async def test_the_wallboard_stream_needs_its_own_permission(
    components: Components, personas: dict[str, str]
) -> None:
    streams, _ = hub(components)
    with pytest.raises(ApiError) as refused:
        await open_board(streams, personas["reader"])
    assert refused.value.kind.code == 403001
    assert "GET wallboard/stream" in refused.value.message("en")


async def test_a_wallboard_that_connects_later_is_told_the_time_of_now_not_of_the_last_change(
    components: Components, personas: dict[str, str], clock: FrozenClock
) -> None:
    streams, _ = hub(components)
    early = await open_board(streams, personas["admin"])
    assert data_of(await next_chunk(early.chunks))["now"] == "2014-08-06 14:30:35"
    clock.advance(600)
    late = await open_board(streams, personas["admin"])
    chunk = await next_chunk(late.chunks)
    assert data_of(chunk)["now"] == "2014-08-06 14:40:35"
    assert id_of(chunk) == streams.channels["wallboard"].event_id
    await early.chunks.aclose()
    await late.chunks.aclose()


async def test_a_burst_of_changes_is_rendered_into_a_few_wallboard_events(
    components: Components, personas: dict[str, str]
) -> None:
    streams, view = hub(components)
    board = await open_board(streams, personas["admin"])
    await next_chunk(board.chunks)
    before = view.renders
    for n in range(50):
        await components.lists.join(2, f"c{n}", f"60110{n:04d}")
        await asyncio.sleep(0.005)
    await asyncio.sleep(0.6)
    assert view.renders - before <= 5  # the burst took about 0.3 s: one render per 0.25 s
    latest = await next_chunk(board.chunks)
    assert len(data_of(latest)["queues"][0]["waiting_list"]) == 50
    await board.chunks.aclose()


async def test_a_stream_that_is_never_sent_holds_nothing(
    components: Components, personas: dict[str, str]
) -> None:
    streams, _ = hub(components)
    reply = await open_stream(streams, personas["reader"])
    await reply.chunks.aclose()
    assert streams.clients == 0
    assert all(not channel.clients for channel in streams.channels.values())


# The wallboard's "callbacks due next" ------------------------------------------------------


def board_hub(components: Components) -> EventStreams:
    view = WaitingListView(components.lists, components.changes, ZoneInfo("Europe/Warsaw"))
    return EventStreams(
        components.lists,
        view,
        components.changes,
        components.authenticator,
        ZoneInfo("Europe/Warsaw"),
        components.agents,
        None,
        callbacks=components.callbacks,
    )


def due_of(board: Any, queue_id: int = 2) -> list[dict[str, Any]]:
    (queue,) = (q for q in board["queues"] if q["queue_id"] == queue_id)
    due: list[dict[str, Any]] = queue["callbacks_due"]
    return due


async def test_the_board_lists_the_callbacks_due_next_and_follows_every_change(
    components: Components, personas: dict[str, str], clock: FrozenClock
) -> None:
    jan = await add_person(components.crm, "Jan", "Kowalski", "746842523")
    reply = await open_board(board_hub(components), personas["admin"])
    assert due_of(data_of(await next_chunk(reply.chunks))) == []
    await components.callbacks.schedule(2, "746842523", clock.now() + timedelta(minutes=30))
    after_schedule = due_of(data_of(await next_chunk(reply.chunks)))
    assert after_schedule == [
        {
            "callback_id": 1,
            "phone_number": "746842523",
            "customer_id": jan.customer_id,
            "customer_label": "Jan Kowalski",
            "call_at": "2014-08-06 15:00:35",
            "attempts": 0,
            "state": "pending",
        }
    ]
    # An earlier one comes first.
    await components.callbacks.schedule(2, "+48 613 459 851", None)
    listed = due_of(data_of(await next_chunk(reply.chunks)))
    assert [(c["callback_id"], c["customer_id"]) for c in listed] == [
        (2, None),
        (1, jan.customer_id),
    ]
    # Claimed: ringing; then busy: pending again, one attempt made, due after the interval.
    (claimed,) = await components.callbacks.claim(1, timedelta(minutes=2))
    ringing = due_of(data_of(await next_chunk(reply.chunks)))
    assert (ringing[0]["callback_id"], ringing[0]["state"]) == (2, "dialling")
    assert claimed.claim is not None
    await components.callbacks.report(2, claimed.claim, DialOutcome.BUSY)
    retried = due_of(data_of(await next_chunk(reply.chunks)))
    assert [(c["callback_id"], c["state"], c["attempts"]) for c in retried] == [
        (2, "pending", 1),
        (1, "pending", 0),
    ]
    assert retried[0]["call_at"] == "2014-08-06 14:35:35"  # five minutes on
    await components.callbacks.cancel(2, 1)
    cancelled = due_of(data_of(await next_chunk(reply.chunks)))
    assert [c["callback_id"] for c in cancelled] == [2]
    await reply.chunks.aclose()


async def test_a_board_shows_at_most_five_per_queue(
    components: Components, personas: dict[str, str], clock: FrozenClock
) -> None:
    for n in range(8):
        await components.callbacks.schedule(2, f"50033322{n}", clock.now() + timedelta(minutes=n))
    reply = await open_board(board_hub(components), personas["admin"])
    listed = due_of(data_of(await next_chunk(reply.chunks)))
    assert [c["phone_number"] for c in listed] == [f"50033322{n}" for n in range(5)]
    await reply.chunks.aclose()
