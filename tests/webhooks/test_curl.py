"""The webhook client (adapters/webhooks/curl.py) against a real receiver on 127.0.0.1: one
kept-alive connection per subscriber, the environment's proxy ignored, only http and https,
refused addresses named, timeouts, and a cancelled request that leaves the client usable."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from kolejka.adapters.webhooks.curl import CurlPoster
from tests.webhooks.receiver import Receiver

HEADERS = ["Content-Type: application/json; charset=utf-8", "Accept:", "Expect:"]


@pytest.fixture
async def poster() -> AsyncIterator[CurlPoster]:
    made = CurlPoster(timeout_seconds=0.5, max_response_bytes=65536, allow_private=True)
    yield made
    await made.close()


async def test_one_subscribers_requests_go_one_after_another_over_one_connection(
    poster: CurlPoster, receiver: Receiver
) -> None:
    for number in range(20):
        assert await poster.post(receiver.url, HEADERS, b'{"n":%d}' % number) == (200, "")
    assert receiver.requests == 20
    assert receiver.connections == 1
    assert [r.body for r in receiver.accepted] == [b'{"n":%d}' % n for n in range(20)]


async def test_requests_carry_the_given_headers_and_none_of_curls_own(
    poster: CurlPoster, receiver: Receiver
) -> None:
    await poster.post(receiver.url, [*HEADERS, "X-Kolejka-Event-Id: 7"], b"{}")
    (received,) = receiver.accepted
    assert received.headers["user-agent"] == "kolejka-webhooks"
    assert received.headers["x-kolejka-event-id"] == "7"
    assert received.headers["content-type"] == "application/json; charset=utf-8"
    assert "accept" not in received.headers
    assert "expect" not in received.headers


async def test_a_proxy_in_the_environment_is_not_used(
    poster: CurlPoster, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A proxy would connect for us, past the address check; this one is not even there.
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")
    assert await poster.post(receiver.url, HEADERS, b"{}") == (200, "")


async def test_a_refused_address_is_named_and_nothing_is_sent(receiver: Receiver) -> None:
    guarded = CurlPoster(timeout_seconds=0.5, max_response_bytes=65536, allow_private=False)
    try:
        status, error = await guarded.post(
            receiver.url.replace("127.0.0.1", "localhost"), HEADERS, b"{}"
        )
    finally:
        await guarded.close()
    assert (status, error) == (0, "localhost resolves to an address that is not allowed")
    assert receiver.connections == 0


async def test_only_http_and_https_are_spoken(poster: CurlPoster) -> None:
    status, error = await poster.post("file:///etc/passwd", HEADERS, b"{}")
    assert status == 0
    assert error.startswith("UnsupportedProtocol")


async def test_a_refused_connection_and_a_silent_receiver_are_told_apart(
    poster: CurlPoster, receiver: Receiver
) -> None:
    down = Receiver()  # never started: its port refuses
    status, error = await poster.post(down.url, HEADERS, b"{}")
    assert status == 0
    assert error.startswith("ConnectError")
    receiver.script = ["stall"]
    started = time.monotonic()
    assert await poster.post(receiver.url, HEADERS, b"{}") == (0, "timed out")
    assert time.monotonic() - started < 5


async def test_a_cancelled_request_leaves_the_client_usable(
    poster: CurlPoster, receiver: Receiver
) -> None:
    receiver.script = ["stall"]
    stalled = asyncio.create_task(poster.post(receiver.url, HEADERS, b"{}"))
    await asyncio.sleep(0.1)
    stalled.cancel()
    with pytest.raises(asyncio.CancelledError):
        await stalled
    answers = await asyncio.gather(*(poster.post(receiver.url, HEADERS, b"{}") for _ in range(3)))
    assert answers == [(200, "")] * 3


async def test_subscribers_sending_at_once_each_get_their_requests_in_order(
    poster: CurlPoster,
) -> None:
    receivers = [await Receiver().start() for _ in range(5)]
    try:

        async def send(receiver: Receiver) -> list[tuple[int, str]]:
            return [await poster.post(receiver.url, HEADERS, b'{"n":%d}' % n) for n in range(30)]

        answers = await asyncio.gather(*(send(r) for r in receivers))
    finally:
        for receiver in receivers:
            await receiver.stop()
    assert answers == [[(200, "")] * 30] * 5
    for receiver in receivers:
        assert [r.body for r in receiver.accepted] == [b'{"n":%d}' % n for n in range(30)]
        assert receiver.connections == 1
