"""Abuse against a real server: huge headers, slow clients, malformed HTTP and absurd bodies.

Each gets an answer in the error envelope (or a closed connection), never a 500, and none ties
up the server: ordinary requests keep being answered meanwhile.
"""

from __future__ import annotations

import contextlib
import json
import socket
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.e2e.client import as_json, request
from tests.e2e.seed import SEED_PASSWORD, SEED_USER
from tests.support import CANARY, LiveServer, basic

SEED = (SEED_USER, SEED_PASSWORD)


@pytest.fixture
def guarded(seeded_database: Path) -> Iterator[LiveServer]:
    live = LiveServer(
        seeded_database,
        extra_env={
            "KOLEJKA_HEADER_TIMEOUT_SECONDS": "3",
            "KOLEJKA_BODY_TIMEOUT_SECONDS": "3",
            "KOLEJKA_MAX_BODY_BYTES": "3000000",
        },
    ).start()
    yield live
    live.stop()


def raw_exchange(server: LiveServer, data: bytes, wait: float = 5.0) -> bytes:
    with socket.create_connection(("127.0.0.1", server.port), timeout=wait) as sock:
        # The server may answer and close before reading everything: then read its answer.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(data)
        chunks = []
        while True:
            try:
                chunk = sock.recv(65536)
            except (ConnectionResetError, TimeoutError):
                break
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks)


def envelope_of(response: bytes) -> tuple[int, dict[str, object]]:
    head, _, body = response.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    return status, json.loads(body)


def test_too_many_header_bytes_answer_431_and_close(guarded: LiveServer) -> None:
    huge = b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 1_000_000 + b"\r\n\r\n"
    status, body = envelope_of(raw_exchange(guarded, huge))
    assert status == 431
    assert body["errors"][0]["code"] == 431001  # type: ignore[index]


def test_many_small_headers_also_count(guarded: LiveServer) -> None:
    many = b"GET /health HTTP/1.1\r\nHost: x\r\n" + b"X-A: b\r\n" * 5000 + b"\r\n"
    status, _ = envelope_of(raw_exchange(guarded, many))
    assert status == 431


def test_a_request_trickling_in_is_dropped_and_others_are_served_meanwhile(
    guarded: LiveServer,
) -> None:
    slow = [socket.create_connection(("127.0.0.1", guarded.port)) for _ in range(50)]
    try:
        for sock in slow:
            sock.sendall(b"GET /api/queues HTTP/1.1\r\nHost: x\r\n")
        started = time.monotonic()
        # The server answers others at once while the 50 slow clients hold their connections.
        assert request(guarded.url, path="/api/queues", user=SEED).status == 200
        # Well before the 3 s deadline: it was not queued behind the slow ones.
        assert time.monotonic() - started < 2.0
        for sock in slow:
            sock.settimeout(5)
            answer = b""
            while chunk := sock.recv(4096):
                answer += chunk
            assert answer.startswith(b"HTTP/1.1 408 ")
        assert time.monotonic() - started < 6.0
    finally:
        for sock in slow:
            sock.close()


def test_a_silent_connection_is_closed(guarded: LiveServer) -> None:
    with socket.create_connection(("127.0.0.1", guarded.port), timeout=5) as sock:
        started = time.monotonic()
        assert sock.recv(100) == b""
        assert time.monotonic() - started < 6.0


def test_a_body_that_never_finishes_is_dropped(guarded: LiveServer) -> None:
    head = (
        "POST /api/queues/2/callers HTTP/1.1\r\nHost: x\r\n"
        f"Authorization: {basic(*SEED)}\r\nContent-Type: application/json\r\n"
        "Content-Length: 1000\r\n\r\n"
    )
    started = time.monotonic()
    raw_exchange(guarded, head.encode() + b'{"call_id": "', wait=5)
    assert time.monotonic() - started < 6.0
    assert request(guarded.url, path="/api/queues/2/waiting_list", user=SEED).status == 200


def test_malformed_http_answers_400_in_the_envelope(guarded: LiveServer) -> None:
    status, body = envelope_of(raw_exchange(guarded, b"GARBAGE\x00\x01 / HTTP/9.9\r\n\r\n"))
    assert status == 400
    assert body["errors"][0]["code"] == 400004  # type: ignore[index]


@pytest.mark.parametrize(
    ("payload", "status"),
    [
        (b'{"call_id": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", 400),  # absurdly deep
        (b'{"call_id": "' + b"x" * 2_000_000 + b'"}', 400),  # a string of megabytes
        (b'{"call_id": "c", "waited": 1' + b"0" * 5000 + b"}", 400),  # thousands of digits
    ],
)
def test_absurd_bodies_get_clear_errors(guarded: LiveServer, payload: bytes, status: int) -> None:
    head = (
        "POST /api/queues/2/callers HTTP/1.1\r\nHost: x\r\n"
        f"Authorization: {basic(*SEED)}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(payload)}\r\nConnection: close\r\n\r\n"
    )
    got_status, body = envelope_of(raw_exchange(guarded, head.encode() + payload, wait=20))
    assert got_status == status
    assert body["errors"][0]["code"] // 1000 == status  # type: ignore[index]
    assert as_json(request(guarded.url, path="/api/queues/2/waiting_list", user=SEED)) == []


def test_a_body_over_the_limit_is_refused_before_it_is_read(guarded: LiveServer) -> None:
    head = (
        "POST /api/queues/2/callers HTTP/1.1\r\nHost: x\r\n"
        f"Authorization: {basic(*SEED)}\r\nContent-Type: application/json\r\n"
        "Content-Length: 4000000\r\n\r\n"
    )
    # Only the head and a first slice are sent: the answer must come without the rest.
    got_status, body = envelope_of(raw_exchange(guarded, head.encode() + b'{"call_id": "xx'))
    assert got_status == 413
    assert body["errors"][0]["code"] == 413001  # type: ignore[index]


@pytest.fixture
def behind_proxy(seeded_database: Path) -> Iterator[LiveServer]:
    """A server that believes X-Forwarded-For from 127.0.0.1, as behind a local proxy."""
    live = LiveServer(seeded_database, extra_env={"KOLEJKA_TRUSTED_PROXIES": "127.0.0.1"}).start()
    yield live
    live.stop()


def clear_of_a_minute_boundary(seconds: float = 20) -> None:
    """Waits, if need be, until `seconds` remain in this wall-clock minute.

    The throttle counts failures in minute buckets and weighs the previous one by how much of the
    window it still covers: ten failures split across a boundary estimate fewer than ten.
    """
    into = time.time() % 60
    if into > 60 - seconds:
        time.sleep(60.1 - into)


def test_brute_force_through_a_real_server_is_throttled(behind_proxy: LiveServer) -> None:
    # KOLEJKA_TRUSTED_PROXIES=127.0.0.1: each client is the address its proxy names.
    clear_of_a_minute_boundary()
    attacker = {"X-Forwarded-For": "203.0.113.50"}
    for attempt in range(10):
        wrong = request(
            behind_proxy.url,
            path="/api/queues",
            user=("root", f"{CANARY}{attempt}"),
            headers=attacker,
        )
        assert wrong.status == 401
    throttled = request(behind_proxy.url, path="/api/queues", user=SEED, headers=attacker)
    assert throttled.status == 429
    assert int(throttled.headers["retry-after"]) >= 1
    office = request(
        behind_proxy.url,
        path="/api/queues",
        user=SEED,
        headers={"X-Forwarded-For": "198.51.100.1"},
    )
    assert office.status == 200


def test_a_hundred_simultaneous_guesses_get_at_most_ten_401s_and_the_rest_429(
    guarded: LiveServer,
) -> None:
    def guess(attempt: int) -> int:
        user = ("root", f"{CANARY}{attempt}")
        return request(guarded.url, path="/api/queues", user=user).status

    with ThreadPoolExecutor(max_workers=100) as pool:
        statuses = Counter(pool.map(guess, range(100)))

    assert statuses[401] <= 10
    assert statuses[401] + statuses[429] == 100


def test_a_caller_whose_call_id_holds_a_slash_joins_and_leaves(server: LiveServer) -> None:
    # uvicorn decodes %2F in `path`; the app routes on `raw_path`, so the slash stays in the id.
    joined = request(
        server.url,
        "POST",
        "/api/queues/2/callers",
        user=SEED,
        body={"call_id": "PJSIP/1001-00000001", "phone_number": "613459851"},
    )
    assert joined.status == 201
    left = request(
        server.url,
        "POST",
        "/api/queues/2/callers/PJSIP%2F1001-00000001/leave",
        user=SEED,
        body={"outcome": "answered"},
    )
    assert left.status == 200, left.body
    assert as_json(left)["call_id"] == "PJSIP/1001-00000001"
    assert as_json(request(server.url, path="/api/queues/2/waiting_list", user=SEED)) == []


# One server for all of these: each case is one request.
PATH_TRICKS = [
    ("/api/queues/2%2Fwaiting_list", 404, 404001),
    ("/api%2Fqueues", 404, 404001),
    ("/api/queues/%2E%2E/waiting_list", 400, 400001),
    ("/api/queues/2/../2/waiting_list", 404, 404001),
    ("/api/queues/%00/waiting_list", 400, 400001),
    ("/api/queues/%FF%FE/waiting_list", 400, 400001),
    ("/api/customers/1%2F2", 400, 400001),
    ("/api/customers?phone_number=%FF%ED%A0%80", 400, 400003),
    ("/api/customers?%FF=1", 400, 400003),
    ("/api/connections?%FF=1", 400, 400003),
    ("/api/connections?limit=%00", 400, 400003),
    ("/api/connections?dst=%C2%85", 400, 400003),
    ("/api/connections?date_from=2014-07-04%0A12:00", 400, 400003),
    ("/api/connections/%FF/topic", 404, 404008),
    ("/api/connections/%ED%A0%80/topic", 404, 404008),
    ("/api/connections/x%2F..%2F..%2Fqueues/topic", 404, 404008),
]


def test_path_and_query_tricks_get_envelopes_from_a_real_server(server: LiveServer) -> None:
    for path, status, code in PATH_TRICKS:
        answer = request(server.url, path=path, user=SEED)
        assert answer.status == status, (path, answer.body)
        assert as_json(answer)["errors"][0]["code"] == code, path
    for call_id in ("%FF", "%ED%A0%80"):  # not UTF-8: waits nowhere, and is no 500
        path = f"/api/queues/2/callers/{call_id}/leave"
        answer = request(server.url, "POST", path, user=SEED, body={"outcome": "answered"})
        assert (answer.status, as_json(answer)["errors"][0]["code"]) == (404, 404003), path


def test_head_on_health_answers_200_with_headers_and_no_body(server: LiveServer) -> None:
    got = request(server.url, path="/health")
    head = request(server.url, "HEAD", "/health")
    assert head.status == 200
    assert head.body == b""
    assert head.headers["content-type"] == "application/json; charset=utf-8"
    assert head.headers["content-length"] == got.headers["content-length"]
    listed = request(server.url, "HEAD", "/api/queues/2/waiting_list", user=SEED)
    assert (listed.status, listed.body) == (200, b"")
    # An event stream's HEAD ends at once: the server closes the connection within 2 s.
    started = time.monotonic()
    head_of_stream = (
        "HEAD /api/queues/2/waiting_list/stream HTTP/1.1\r\nHost: x\r\n"
        f"Authorization: {basic(*SEED)}\r\nConnection: close\r\n\r\n"
    )
    answer = raw_exchange(server, head_of_stream.encode(), wait=5)
    assert time.monotonic() - started < 2
    assert answer.startswith(b"HTTP/1.1 200 ")
    assert b"content-type: text/event-stream" in answer.lower()
    assert answer.endswith(b"\r\n\r\n")  # no body


def test_cross_site_bodies_and_lone_surrogates_are_refused_by_a_real_server(
    server: LiveServer,
) -> None:
    # What a browser sends cross-site without a preflight: text/plain, form-encoded, or no type.
    join = "/api/queues/2/callers"
    for content_type in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data"):
        answer = request(
            server.url,
            "POST",
            join,
            user=SEED,
            body={"call_id": "csrf"},
            headers={"Content-Type": content_type},
        )
        assert answer.status == 415, content_type
        assert as_json(answer)["errors"][0]["code"] == 415001
    bare = (
        f"POST {join} HTTP/1.1\r\nHost: x\r\nAuthorization: {basic(*SEED)}\r\n"
        'Content-Length: 17\r\nConnection: close\r\n\r\n{"call_id": "c"}\n'
    )
    status, body = envelope_of(raw_exchange(server, bare.encode()))
    assert (status, body["errors"][0]["code"]) == (415, 415001)  # type: ignore[index]
    # A lone surrogate: json.loads keeps it, SQLite's encoder refused it with a 500 before.
    for path, payload, field in [
        (join, {"call_id": "\ud800"}, "call_id"),
        (join, {"call_id": "c", "caller_name": "\udfff"}, "caller_name"),
        ("/api/customers", {"surname": "\ud800"}, "surname"),
        ("/api/customers", {"surname": "K", "custom_fields": {"\ud800": "x"}}, "custom_fields"),
        ("/api/batch/customers", [{"surname": "L"}, {"email": "\ud800"}], "[1].email"),
    ]:
        answer = request(server.url, "POST", path, user=SEED, body=payload)
        assert answer.status == 400, answer.body
        error = as_json(answer)["errors"][0]
        assert error["code"] == 400003
        assert f"Invalid field {field}:" in error["message"]
    assert as_json(request(server.url, path="/api/queues/2/waiting_list", user=SEED)) == []
    assert as_json(request(server.url, path="/api/customers", user=SEED)) == []
    assert request(server.url, "POST", join, user=SEED, body={"call_id": "c"}).status == 201


def guesses_from_rotating_addresses(server: LiveServer) -> int:
    """Ten wrong passwords, each for another user name from another claimed address; then the
    status of a right password from yet another claimed address."""
    clear_of_a_minute_boundary()
    for attempt in range(10):
        wrong = request(
            server.url,
            path="/api/queues",
            user=(f"guess{attempt}", f"{CANARY}{attempt}"),
            headers={"X-Forwarded-For": f"203.0.113.{attempt + 1}"},
        )
        assert wrong.status == 401
    right = request(
        server.url, path="/api/queues", user=SEED, headers={"X-Forwarded-For": "198.51.100.1"}
    )
    return right.status


def test_by_default_x_forwarded_for_cannot_dodge_the_login_throttle(server: LiveServer) -> None:
    # No proxy is trusted: the throttle counts the real peer, 127.0.0.1, whatever the header says.
    assert guesses_from_rotating_addresses(server) == 429


def test_a_trusted_proxy_names_the_client_the_throttle_counts(behind_proxy: LiveServer) -> None:
    assert guesses_from_rotating_addresses(behind_proxy) == 200
