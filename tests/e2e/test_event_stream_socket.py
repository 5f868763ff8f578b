"""`GET /api/queues/{id}/waiting_list/stream` against a real `kolejka serve`, over a real socket."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from kolejka.bootstrap import Components
from kolejka.services.wallboard_tokens import WallboardTokens
from tests.event_stream_client import EndOfStream, EventStreamClient
from tests.support import LiveServer, basic

STREAM = "/api/queues/2/waiting_list/stream"
TIMING = {"KOLEJKA_STREAM_HEARTBEAT_SECONDS": "0.3", "KOLEJKA_STREAM_STALL_SECONDS": "2"}


@pytest.fixture
async def people(components: Components, personas: dict[str, str], queue_2: int) -> dict[str, str]:
    """The personas, one who may only stream, a wallboard user and a wallboard token."""
    await components.api_users.add(
        "streamer", "streamer-secret", ["GET queues/:id/waiting_list/stream"]
    )
    await components.api_users.add("supervisor", "supervisor-secret", ["GET wallboard/stream"])
    token = await WallboardTokens(components.api_users).create("hall")
    return {
        **personas,
        "streamer": basic("streamer", "streamer-secret"),
        "supervisor": basic("supervisor", "supervisor-secret"),
        "token": token,
    }


@pytest.fixture
async def server(people: dict[str, str], database_path: Path) -> AsyncIterator[LiveServer]:
    live = await asyncio.to_thread(LiveServer(database_path, extra_env=TIMING).start)
    yield live
    await asyncio.to_thread(live.stop)


def request(
    server: LiveServer, method: str, path: str, auth: str, body: object = None
) -> tuple[int, bytes]:
    data = None if body is None else json.dumps(body).encode()
    sent = urllib.request.Request(f"{server.url}{path}", data=data, method=method)
    sent.add_header("Authorization", auth)
    if data is not None:
        sent.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(sent, timeout=10) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


async def join(server: LiveServer, auth: str, call_id: str, phone: str, queue_id: int = 2) -> None:
    body = {"call_id": call_id, "phone_number": phone}
    status, _ = await asyncio.to_thread(
        request, server, "POST", f"/api/queues/{queue_id}/callers", auth, body
    )
    assert status == 201


async def leave(server: LiveServer, auth: str, call_id: str) -> None:
    path = f"/api/queues/2/callers/{call_id}/leave"
    status, _ = await asyncio.to_thread(
        request, server, "POST", path, auth, {"outcome": "answered"}
    )
    assert status == 200


async def waiting_list(server: LiveServer, auth: str) -> bytes:
    status, body = await asyncio.to_thread(
        request, server, "GET", "/api/queues/2/waiting_list", auth
    )
    assert status == 200
    return body


Connect = Callable[..., Awaitable[EventStreamClient]]


@pytest.fixture
async def stream(server: LiveServer) -> AsyncIterator[Connect]:
    """Opens stream clients (to `server` unless told another port); closes them all after."""
    opened: list[EventStreamClient] = []

    async def connect(
        auth: str | None,
        path: str = STREAM,
        *,
        port: int | None = None,
        receive_buffer: int | None = None,
        **headers: str,
    ) -> EventStreamClient:
        sent = dict(headers)
        if auth is not None:
            sent["Authorization"] = auth
        client = await EventStreamClient.open(
            port or server.port, path, sent, receive_buffer=receive_buffer
        )
        opened.append(client)
        return client

    yield connect
    for client in opened:
        client.close()


async def test_the_stream_sends_the_list_exactly_as_the_list_endpoint_then_every_change(
    server: LiveServer, people: dict[str, str], stream: Connect
) -> None:
    client = await stream(people["reader"])
    assert client.status == 200
    assert client.headers["content-type"] == "text/event-stream"
    assert client.headers["cache-control"] == "no-store"
    opening = await client.block()
    assert opening.retry == 2000
    first = await client.event()
    assert first.data == "[]"
    assert first.id

    await join(server, people["admin"], "c1", "+48 746 842 523")
    joined = await client.event(timeout=3)
    assert joined.data is not None
    assert joined.data.encode() == await waiting_list(server, people["reader"])
    assert json.loads(joined.data)[0]["phone_number"] == "746842523"
    assert joined.id != first.id

    await leave(server, people["admin"], "c1")
    left = await client.event(timeout=3)
    assert left.data == "[]"
    assert left.id == first.id  # the id names the content


async def test_a_client_resuming_with_the_last_event_id_is_sent_only_what_changed(
    server: LiveServer, people: dict[str, str], stream: Connect
) -> None:
    client = await stream(people["reader"])
    seen = await client.event()

    resumed = await stream(people["reader"], **{"Last-Event-ID": seen.id or ""})
    assert (await resumed.block()).retry == 2000
    with pytest.raises(TimeoutError):
        await resumed.event(timeout=0.8)  # heartbeats only: nothing changed

    await join(server, people["admin"], "c1", "746842523")
    behind = await stream(people["reader"], **{"Last-Event-ID": seen.id or ""})
    caught_up = await behind.event(timeout=1)
    assert json.loads(caught_up.data or "")[0]["phone_number"] == "746842523"


async def test_a_quiet_stream_carries_heartbeat_comments(
    server: LiveServer, people: dict[str, str], stream: Connect
) -> None:
    client = await stream(people["reader"])
    await client.event()
    started = time.monotonic()
    beat = await client.block(timeout=2)
    assert beat.comments == ["heartbeat"]
    assert beat.data is None
    assert time.monotonic() - started < 1.5


@pytest.mark.parametrize(
    ("who", "status", "code"),
    [
        ("admin", 200, None),
        ("reader", 200, None),  # may read the list, so may stream it
        ("streamer", 200, None),
        ("ingest", 403, 403001),
        ("supervisor", 403, 403001),
        ("stranger", 401, 401002),
        (None, 401, 401001),
    ],
)
async def test_who_may_stream_a_waiting_list(
    server: LiveServer,
    people: dict[str, str],
    stream: Connect,
    who: str | None,
    status: int,
    code: int | None,
) -> None:
    client = await stream(people[who] if who else None)
    assert client.status == status
    if code is not None:
        assert client.headers["content-type"] == "application/json; charset=utf-8"
        body = json.loads(client.body)
        assert body["errors"][0]["code"] == code
        assert set(body) == {"request_id", "errors"}
    if status == 401:
        assert client.headers["www-authenticate"].startswith("Basic ")


async def test_bad_queue_ids_are_refused_before_streaming(
    server: LiveServer, people: dict[str, str], stream: Connect
) -> None:
    unknown = await stream(people["reader"], "/api/queues/99/waiting_list/stream")
    assert (unknown.status, json.loads(unknown.body)["errors"][0]["code"]) == (404, 404002)
    malformed = await stream(people["reader"], "/api/queues/x/waiting_list/stream")
    assert (malformed.status, json.loads(malformed.body)["errors"][0]["code"]) == (400, 400001)


async def test_a_wallboard_token_opens_the_wallboard_stream_and_nothing_else(
    server: LiveServer, people: dict[str, str], stream: Connect
) -> None:
    board = await stream(None, f"/api/wallboard/stream?token={people['token']}")
    assert board.status == 200
    event = json.loads((await board.event()).data or "")
    assert [q["queue_id"] for q in event["queues"]] == [2]

    other = await stream(None, f"{STREAM}?token={people['token']}")
    assert other.status == 403
    wrong = await stream(None, "/api/wallboard/stream?token=hall.x" + "y" * 40)
    assert (wrong.status, json.loads(wrong.body)["errors"][0]["code"]) == (401, 401003)
    assert "www-authenticate" not in wrong.headers  # a bad link, not a sign-in


async def test_a_client_that_never_reads_neither_slows_the_others_nor_stays_for_ever(
    server: LiveServer, people: dict[str, str], stream: Connect, components: Components
) -> None:
    # A long list makes each event large (about 90 kB), so that the slow client's socket
    # buffers (which grow to about 4 MB on loopback) fill within some fifty events.
    for n in range(1000):
        await components.lists.join(2, f"old{n}", f"+48 22 100 {n:04d}")
    slow = await stream(people["reader"], receive_buffer=4096)
    fast = await stream(people["reader"])
    await fast.event()
    delays = []
    for n in range(60):
        started = time.monotonic()
        await join(server, people["admin"], f"new{n}", f"60120{n:04d}")
        while True:
            event = await fast.event(timeout=3)
            if f"60120{n:04d}" in (event.data or ""):
                break
        delays.append(time.monotonic() - started)
    assert max(delays) < 1.0, delays

    # Stalled for longer than KOLEJKA_STREAM_STALL_SECONDS, the slow client is let go; what it
    # finally reads is a handful of events, not one per change.
    await asyncio.sleep(3.5)
    assert 1 <= await events_until_the_end(slow) < 60
    assert "dropped a stream client" in server.log()


async def events_until_the_end(client: EventStreamClient, within: float = 10) -> int:
    """How many events the client reads before the server ends the stream."""
    events = 0
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            block = await client.block(timeout=3)
        except EndOfStream:
            return events
        events += block.data is not None
    raise AssertionError(f"the stream did not end within {within} s")


async def test_streams_end_cleanly_when_the_server_stops(
    server: LiveServer, people: dict[str, str], stream: Connect
) -> None:
    client = await stream(people["reader"])
    await client.event()
    started = time.monotonic()
    await asyncio.to_thread(server.stop)
    assert await client.ended(timeout=5)
    assert client.finished  # the last chunk came: ended, not cut off
    assert time.monotonic() - started < 5
    assert "Exception in ASGI application" not in server.log()
    # Ended by the app as the server stopped, not cancelled after uvicorn's graceful timeout.
    assert "timeout graceful shutdown exceeded" not in server.log()


async def test_a_change_made_through_another_instance_reaches_the_stream(
    server: LiveServer, people: dict[str, str], stream: Connect, database_path: Path
) -> None:
    other = await asyncio.to_thread(LiveServer(database_path, extra_env=TIMING).start)
    try:
        client = await stream(people["reader"], port=other.port)
        await client.event()
        await join(server, people["admin"], "c1", "746842523")
        moved = await client.event(timeout=3)
        assert json.loads(moved.data or "")[0]["phone_number"] == "746842523"
    finally:
        await asyncio.to_thread(other.stop)


async def test_a_change_reaches_the_stream_of_another_instance_over_redis(
    people: dict[str, str], stream: Connect, database_path: Path, redis_url: str
) -> None:
    import redis.asyncio as aioredis

    prefix = f"stream-test-{uuid.uuid4().hex[:12]}"
    shared = {**TIMING, "KOLEJKA_LIVE_URL": redis_url, "KOLEJKA_REDIS_PREFIX": prefix}
    first = await asyncio.to_thread(LiveServer(database_path, extra_env=shared).start)
    second = await asyncio.to_thread(LiveServer(database_path, extra_env=shared).start)
    try:
        client = await stream(people["reader"], port=first.port)
        opening = await client.event()
        await join(second, people["admin"], "c1", "746842523")
        moved = await client.event(timeout=3)
        assert json.loads(moved.data or "")[0]["phone_number"] == "746842523"
        # Event ids name the content, so the other instance resumes the stream seamlessly.
        resumed = await stream(
            people["reader"], port=second.port, **{"Last-Event-ID": moved.id or ""}
        )
        assert (await resumed.block()).retry == 2000
        with pytest.raises(TimeoutError):
            await resumed.event(timeout=0.8)
        assert opening.id != moved.id
    finally:
        await asyncio.to_thread(first.stop)
        await asyncio.to_thread(second.stop)
        client_ = aioredis.Redis.from_url(redis_url)
        keys = [key async for key in client_.scan_iter(match="{" + prefix + "}:*")]
        if keys:
            await client_.delete(*keys)
        await client_.aclose()
