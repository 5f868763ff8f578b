"""The error envelope, pinned: Thulium's shape, a stable code, a request id, two languages."""

from __future__ import annotations

import re

import pytest

from kolejka.adapters.http.app import KolejkaApp
from kolejka.adapters.http.errors import ALL_KINDS
from tests.support import ROOT, assert_envelope, call

pytestmark = pytest.mark.usefixtures("queue_2")


async def test_an_unknown_queue_is_404_in_the_envelope(
    app: KolejkaApp, personas: dict[str, str]
) -> None:
    answer = await call(app, "GET", "/api/queues/7/waiting_list", auth=personas["admin"])
    assert_envelope(answer, 404, 404002)
    assert answer.json()["errors"][0]["message"] == "Queue 7 does not exist."


@pytest.mark.parametrize(
    "bad_id",
    ["abc", "-1", "0", "1e3", "99999999999999999999999", "\x00", "٣", "٢", "1.5", "+2", " 2"],
)
async def test_an_id_that_is_not_a_positive_integer_is_400(
    app: KolejkaApp, personas: dict[str, str], bad_id: str
) -> None:
    # The server hands ASGI the percent-decoded path: %00 arrives as NUL, %D9%A3 as ٣.
    answer = await call(app, "GET", f"/api/queues/{bad_id}/waiting_list", auth=personas["admin"])
    assert_envelope(answer, 400, 400001)


@pytest.mark.parametrize("path", ["/", "/api", "/api/queue/2/waiting_list", "/api/queues/2/x"])
async def test_an_unknown_path_is_404_in_the_envelope(
    app: KolejkaApp, personas: dict[str, str], path: str
) -> None:
    assert_envelope(await call(app, "GET", path, auth=personas["admin"]), 404, 404001)


async def test_a_wrong_method_is_405_with_allow(app: KolejkaApp, personas: dict[str, str]) -> None:
    answer = await call(app, "DELETE", "/api/queues/2/waiting_list", auth=personas["admin"])
    assert_envelope(answer, 405, 405001)
    assert answer.headers["allow"] == "GET, HEAD"


async def test_head_answers_as_get_without_a_body(
    app: KolejkaApp, personas: dict[str, str]
) -> None:
    got = await call(app, "GET", "/health")
    head = await call(app, "HEAD", "/health")
    assert (head.status, head.body) == (200, b"")
    assert head.headers["content-type"] == "application/json; charset=utf-8"
    assert head.headers["content-length"] == got.headers["content-length"]
    listed = await call(app, "HEAD", "/api/queues/2/waiting_list", auth=personas["admin"])
    assert (listed.status, listed.body) == (200, b"")
    refused = await call(app, "HEAD", "/api/queues/2/waiting_list")
    assert (refused.status, refused.body) == (401, b"")
    # (`/api/queues/2/callers` takes GET too since issue 14: its callers and their waits.)
    post_only = await call(app, "HEAD", "/api/queues/2/callers/c1/leave", auth=personas["admin"])
    assert (post_only.status, post_only.headers["allow"], post_only.body) == (405, "POST", b"")


@pytest.mark.parametrize(
    ("path", "status", "code"),
    [
        ("/api/queues/2%2Fwaiting_list", 404, 404001),  # an encoded slash never separates
        ("/api/customers/2%2F3", 400, 400001),
        ("/api%2Fqueues/2/waiting_list", 404, 404001),
        ("/api/queues/2/waiting_list%2F", 404, 404001),
        ("/api/queues/2/../2/waiting_list", 404, 404001),
        ("/api/queues/%2E%2E/waiting_list", 400, 400001),
        ("/api/queues/%00/waiting_list", 400, 400001),
        ("/api/queues/%FF/waiting_list", 400, 400001),  # not UTF-8
        ("/api/queues/%ED%A0%80/waiting_list", 400, 400001),  # an encoded lone surrogate
        ("/api/queues//waiting_list", 404, 404001),
        ("/wallboard/..%2Fwallboard.css", 404, 404001),
    ],
)
async def test_path_tricks_are_refused_in_the_envelope(
    app: KolejkaApp, personas: dict[str, str], path: str, status: int, code: int
) -> None:
    assert_envelope(await call(app, "GET", path, auth=personas["admin"]), status, code)


async def test_messages_are_polish_when_the_client_prefers_polish(
    app: KolejkaApp, personas: dict[str, str]
) -> None:
    answer = await call(
        app,
        "GET",
        "/api/queues/7/waiting_list",
        auth=personas["admin"],
        headers={"Accept-Language": "pl-PL,pl;q=0.9,en;q=0.5"},
    )
    assert_envelope(answer, 404, 404002)
    assert answer.json()["errors"][0]["message"] == "Kolejka 7 nie istnieje."


async def test_english_wins_when_preferred_over_polish(
    app: KolejkaApp, personas: dict[str, str]
) -> None:
    answer = await call(
        app,
        "GET",
        "/api/queues/7/waiting_list",
        auth=personas["admin"],
        headers={"Accept-Language": "en;q=1, pl;q=0.3"},
    )
    assert answer.json()["errors"][0]["message"] == "Queue 7 does not exist."


async def test_every_response_carries_a_unique_request_id(
    app: KolejkaApp, personas: dict[str, str]
) -> None:
    ids = {
        (await call(app, "GET", "/api/queues/2/waiting_list", auth=personas["admin"])).headers[
            "x-request-id"
        ]
        for _ in range(5)
    }
    assert len(ids) == 5


def test_codes_are_unique_follow_their_status_and_are_all_documented() -> None:
    codes = [kind.code for kind in ALL_KINDS]
    assert len(codes) == len(set(codes))
    documented = (ROOT / "docs" / "api.md").read_text(encoding="utf-8")
    for kind in ALL_KINDS:
        assert kind.code // 1000 == kind.status
        assert re.search(rf"\b{kind.code}\b", documented), f"{kind.code} missing from docs/api.md"
        assert kind.pl
        assert kind.en
