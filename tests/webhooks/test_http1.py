"""The webhook client (adapters/webhooks/http1.py) against a real receiver on 127.0.0.1: one
kept-alive connection per subscriber, the environment's proxy ignored, only http and https,
refused addresses named, timeouts, a cancelled request that leaves the client usable, answers
framed every way HTTP/1.1 frames them, connections the receiver closes, and https verified."""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import AsyncIterator

import pytest
import trustme

from kolejka.adapters.webhooks import http1
from kolejka.adapters.webhooks.http1 import HttpPoster
from tests.webhooks.receiver import Receiver

HEADERS = ["Content-Type: application/json; charset=utf-8"]


@pytest.fixture
async def poster() -> AsyncIterator[HttpPoster]:
    made = HttpPoster(timeout_seconds=0.5, max_response_bytes=65536, allow_private=True)
    yield made
    await made.close()


async def test_one_subscribers_requests_go_one_after_another_over_one_connection(
    poster: HttpPoster, receiver: Receiver
) -> None:
    for number in range(20):
        assert await poster.post(receiver.url, HEADERS, b'{"n":%d}' % number) == (200, "")
    assert receiver.requests == 20
    assert receiver.connections == 1
    assert [r.body for r in receiver.accepted] == [b'{"n":%d}' % n for n in range(20)]


async def test_requests_carry_the_given_headers_and_no_others_but_host_and_length(
    poster: HttpPoster, receiver: Receiver
) -> None:
    await poster.post(receiver.url, [*HEADERS, "X-Kolejka-Event-Id: 7"], b"{}")
    (received,) = receiver.accepted
    assert received.headers["user-agent"] == "kolejka-webhooks"
    assert received.headers["x-kolejka-event-id"] == "7"
    assert received.headers["content-type"] == "application/json; charset=utf-8"
    assert "accept" not in received.headers
    assert "expect" not in received.headers


async def test_a_proxy_in_the_environment_is_not_used(
    poster: HttpPoster, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A proxy would connect for us, past the address check; this one is not even there.
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")
    assert await poster.post(receiver.url, HEADERS, b"{}") == (200, "")


async def test_a_refused_address_is_named_and_nothing_is_sent(receiver: Receiver) -> None:
    guarded = HttpPoster(timeout_seconds=0.5, max_response_bytes=65536, allow_private=False)
    try:
        status, error = await guarded.post(
            receiver.url.replace("127.0.0.1", "localhost"), HEADERS, b"{}"
        )
    finally:
        await guarded.close()
    assert (status, error) == (0, "localhost resolves to an address that is not allowed")
    assert receiver.connections == 0


async def test_only_http_and_https_are_spoken(poster: HttpPoster) -> None:
    status, error = await poster.post("file:///etc/passwd", HEADERS, b"{}")
    assert status == 0
    assert error.startswith("UnsupportedProtocol")


async def test_a_refused_connection_and_a_silent_receiver_are_told_apart(
    poster: HttpPoster, receiver: Receiver
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
    poster: HttpPoster, receiver: Receiver
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
    poster: HttpPoster,
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


async def test_chunked_interim_and_until_closed_answers_are_read_to_their_end(
    poster: HttpPoster, receiver: Receiver
) -> None:
    receiver.script = ["chunked", "trickle", "interim", 200, "to-close", 200]
    answers = [await poster.post(receiver.url, HEADERS, b'{"n":%d}' % n) for n in range(6)]
    assert answers == [(200, "")] * 6
    assert [r.body for r in receiver.accepted] == [b'{"n":%d}' % n for n in range(6)]
    # The chunked and the interim answers left their connection for the next request; the one
    # read to the connection's end did not.
    assert receiver.connections == 2


async def test_a_connection_the_receiver_hung_up_is_not_used_again(
    poster: HttpPoster, receiver: Receiver
) -> None:
    receiver.script = ["hang-up"]
    assert await poster.post(receiver.url, HEADERS, b'{"n":1}') == (200, "")
    assert await poster.post(receiver.url, HEADERS, b'{"n":2}') == (200, "")
    assert [r.body for r in receiver.accepted] == [b'{"n":1}', b'{"n":2}']
    assert receiver.connections == 2


async def test_a_request_a_kept_alive_connection_drops_unanswered_is_sent_once_more(
    poster: HttpPoster, receiver: Receiver
) -> None:
    receiver.script = [200, "drop"]  # as a receiver's idle timeout closing as the request came
    assert await poster.post(receiver.url, HEADERS, b'{"n":1}') == (200, "")
    assert await poster.post(receiver.url, HEADERS, b'{"n":2}') == (200, "")
    assert receiver.requests == 3
    assert receiver.connections == 2
    assert [r.body for r in receiver.accepted] == [b'{"n":1}', b'{"n":2}']


async def test_a_request_a_new_connection_drops_unanswered_is_a_failed_attempt(
    poster: HttpPoster, receiver: Receiver
) -> None:
    receiver.script = ["drop"]
    status, error = await poster.post(receiver.url, HEADERS, b"{}")
    assert (status, error) == (0, "EmptyAnswer: the connection closed unanswered")
    assert receiver.requests == 1


async def test_https_receivers_are_verified_against_the_trusted_authorities() -> None:
    authority = trustme.CA()
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("127.0.0.1").configure_cert(server)
    receiver = await Receiver(tls=server).start()
    trusting = ssl.create_default_context()
    authority.configure_trust(trusting)
    trusted = HttpPoster(0.5, 65536, allow_private=True, tls=trusting)
    default = HttpPoster(0.5, 65536, allow_private=True)  # certifi's authorities only
    try:
        assert receiver.url.startswith("https://")
        for n in range(3):
            assert await trusted.post(receiver.url, HEADERS, b'{"n":%d}' % n) == (200, "")
        status, error = await default.post(receiver.url, HEADERS, b"{}")
    finally:
        await trusted.close()
        await default.close()
        await receiver.stop()
    assert status == 0
    assert error.startswith("CertificateError")
    assert [r.body for r in receiver.accepted] == [b'{"n":%d}' % n for n in range(3)]
    assert receiver.connections == 1  # the trusted one, kept alive (a failed handshake is none)


async def test_a_connection_idle_past_the_limit_is_closed_instead_of_used(
    poster: HttpPoster, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(http1, "IDLE_SECONDS", 0.0)  # every kept connection is too old at once
    for n in range(3):
        assert await poster.post(receiver.url, HEADERS, b'{"n":%d}' % n) == (200, "")
    assert receiver.connections == 3


async def test_an_answer_longer_than_it_said_counts_and_its_connection_is_not_used_again(
    poster: HttpPoster, receiver: Receiver
) -> None:
    receiver.script = ["too-long"]
    assert await poster.post(receiver.url, HEADERS, b'{"n":1}') == (200, "")
    assert await poster.post(receiver.url, HEADERS, b'{"n":2}') == (200, "")
    assert receiver.connections == 2


@pytest.mark.parametrize(
    ("answer", "why"),
    [
        ("garbage", "BadAnswer: "),
        ("two-lengths", "BadAnswer: "),
        ("huge-head", "BadAnswer: the answer's head is too long"),
    ],
)
async def test_a_malformed_answer_is_a_failed_attempt_and_its_connection_is_dropped(
    poster: HttpPoster, receiver: Receiver, answer: str, why: str
) -> None:
    """Answers are parsed by httptools (llhttp): what it refuses is no answer, named."""
    receiver.script = [answer]
    status, error = await poster.post(receiver.url, HEADERS, b'{"n":1}')
    assert status == 0
    assert error.startswith(why), error
    assert await poster.post(receiver.url, HEADERS, b'{"n":2}') == (200, "")
    assert receiver.connections == 2
