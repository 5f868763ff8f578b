"""The ingest API: callers join and leave through HTTP, for PBXs without an adapter."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

import pytest

from kolejka.adapters.http.app import KolejkaApp
from kolejka.adapters.sqlite.database import Database
from kolejka.bootstrap import Components
from kolejka.domain.queues import Queue
from tests.support import Answer, FrozenClock, assert_envelope, call

pytestmark = pytest.mark.usefixtures("queue_2")
JOIN = "/api/queues/2/callers"


async def leave(app: KolejkaApp, personas: dict[str, str], call_id: str, body: object) -> Answer:
    path = f"/api/queues/2/callers/{call_id}/leave"
    return await call(app, "POST", path, auth=personas["ingest"], json_body=body)


async def test_a_caller_joins_and_shows_in_the_waiting_list(
    app: KolejkaApp, personas: dict[str, str]
) -> None:
    answer = await call(
        app,
        "POST",
        JOIN,
        auth=personas["ingest"],
        json_body={"call_id": "1795705470.0", "phone_number": "+48 613 459 851"},
    )
    assert answer.status == 201
    assert answer.json() == {
        "call_id": "1795705470.0",
        "queue_id": 2,
        "phone_number": "613459851",
        "started_at": "2014-08-06 14:30:35",
    }
    listed = await call(app, "GET", "/api/queues/2/waiting_list", auth=personas["admin"])
    assert [e["phone_number"] for e in listed.json()] == ["613459851"]


async def test_joining_twice_changes_nothing(
    app: KolejkaApp, clock: FrozenClock, personas: dict[str, str]
) -> None:
    body = {"call_id": "c1", "phone_number": "613459851"}
    first = await call(app, "POST", JOIN, auth=personas["ingest"], json_body=body)
    clock.advance(10)
    second = await call(app, "POST", JOIN, auth=personas["ingest"], json_body=body)
    assert (first.status, second.status) == (201, 200)
    assert first.json() == second.json()


async def test_a_call_waiting_in_one_queue_cannot_join_another(
    app: KolejkaApp, components: Components, personas: dict[str, str]
) -> None:
    await components.queues.put(Queue(3, "Reklamacje"))
    await call(app, "POST", JOIN, auth=personas["ingest"], json_body={"call_id": "c1"})
    answer = await call(
        app, "POST", "/api/queues/3/callers", auth=personas["ingest"], json_body={"call_id": "c1"}
    )
    assert_envelope(answer, 409, 409001)


async def test_a_caller_reported_late_keeps_the_time_already_waited(
    app: KolejkaApp, personas: dict[str, str]
) -> None:
    body = {"call_id": "late", "waited": 65}
    answer = await call(app, "POST", JOIN, auth=personas["ingest"], json_body=body)
    assert answer.json()["started_at"] == "2014-08-06 14:29:30"


async def test_null_optional_fields_count_as_not_given(
    app: KolejkaApp, clock: FrozenClock, personas: dict[str, str]
) -> None:
    # PBX integrations often send null for "unknown"; the OpenAPI document says these are nullable.
    body = {"call_id": "n1", "phone_number": None, "caller_name": None, "waited": None}
    joined = await call(app, "POST", JOIN, auth=personas["ingest"], json_body=body)
    assert joined.status == 201
    assert joined.json()["phone_number"] == ""
    assert joined.json()["started_at"] == "2014-08-06 14:30:35"
    clock.advance(7)
    left = await leave(app, personas, "n1", {"outcome": "answered", "hold_time": None})
    assert left.json()["hold_time"] == 7


async def test_leaving_records_the_outcome_and_hold_time(
    app: KolejkaApp, clock: FrozenClock, personas: dict[str, str]
) -> None:
    await call(app, "POST", JOIN, auth=personas["ingest"], json_body={"call_id": "c1"})
    clock.advance(42)
    answer = await leave(app, personas, "c1", {"outcome": "answered"})
    assert answer.status == 200
    assert answer.json() == {"call_id": "c1", "queue_id": 2, "outcome": "answered", "hold_time": 42}
    stats = await call(app, "GET", "/api/queues/2/waiting_stats", auth=personas["admin"])
    assert stats.json() == {"in_queue": 0, "approx_wait_time": "00:00:42"}


async def test_the_pbxs_hold_time_wins_for_an_abandon(
    app: KolejkaApp, personas: dict[str, str]
) -> None:
    await call(app, "POST", JOIN, auth=personas["ingest"], json_body={"call_id": "c1"})
    answer = await leave(app, personas, "c1", {"outcome": "abandoned", "hold_time": 19})
    assert answer.json()["hold_time"] == 19


async def test_leaving_an_unknown_call_is_404(app: KolejkaApp, personas: dict[str, str]) -> None:
    answer = await leave(app, personas, "nope", {"outcome": "answered"})
    assert_envelope(answer, 404, 404003)


async def test_joining_an_unknown_queue_is_404(app: KolejkaApp, personas: dict[str, str]) -> None:
    answer = await call(
        app, "POST", "/api/queues/9/callers", auth=personas["ingest"], json_body={"call_id": "c"}
    )
    assert_envelope(answer, 404, 404002)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "call_id"),
        ({"call_id": ""}, "call_id"),
        ({"call_id": 5}, "call_id"),
        ({"call_id": "x" * 129}, "call_id"),
        ({"call_id": "a\x00b"}, "call_id"),
        # Blank, or blank at an end (found by a black-box attack: stored as sent, and such a
        # caller could leave only through a percent-encoded URL).
        ({"call_id": " "}, "call_id"),
        ({"call_id": "\u3000"}, "call_id"),
        ({"call_id": "  padded  "}, "call_id"),
        ({"call_id": "\ufeff1795800000.1"}, "call_id"),
        ({"call_id": "1795800000.1\u00a0"}, "call_id"),
        ({"call_id": "1795800000.1\u2028"}, "call_id"),
        ({"call_id": "c", "phone_number": ["1"]}, "phone_number"),
        ({"call_id": "c", "waited": "10"}, "waited"),
        ({"call_id": "c", "waited": -1}, "waited"),
        ({"call_id": "c", "waited": 10**8}, "waited"),
        ({"call_id": "c", "colour": "red"}, "colour"),
    ],
)
async def test_a_malformed_join_names_the_field(
    app: KolejkaApp, personas: dict[str, str], body: dict[str, object], field: str
) -> None:
    answer = await call(app, "POST", JOIN, auth=personas["ingest"], json_body=body)
    assert_envelope(answer, 400, 400003)
    assert field in answer.json()["errors"][0]["message"]


async def test_every_wrong_field_of_a_join_is_named_in_one_answer(
    app: KolejkaApp, personas: dict[str, str]
) -> None:
    """Found by a black-box attack: only the first wrong field was named."""
    body = {"call_id": "", "waited": -1, "phone_number": 5, "zzz": 1}
    answer = await call(app, "POST", JOIN, auth=personas["ingest"], json_body=body)

    assert answer.status == 400
    named = [error["message"].split(":")[0] for error in answer.json()["errors"]]
    assert named == [
        "Invalid field zzz",
        "Invalid field call_id",
        "Invalid field phone_number",
        "Invalid field waited",
    ]


async def test_a_call_id_with_spaces_inside_is_kept_exactly(
    app: KolejkaApp, personas: dict[str, str]
) -> None:
    answer = await call(
        app, "POST", JOIN, auth=personas["ingest"], json_body={"call_id": "trunk 1/42"}
    )
    assert answer.status == 201
    assert answer.json()["call_id"] == "trunk 1/42"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "outcome"),
        ({"outcome": "transferred"}, "outcome"),
        ({"outcome": "answered", "hold_time": -1}, "hold_time"),
        ({"outcome": "answered", "hold_time": True}, "hold_time"),
        ({"outcome": "answered", "hold_time": 1.5}, "hold_time"),
        ({"outcome": "answered", "hold_time": 10**12}, "hold_time"),
    ],
)
async def test_a_malformed_leave_names_the_field(
    app: KolejkaApp, personas: dict[str, str], body: dict[str, object], field: str
) -> None:
    await call(app, "POST", JOIN, auth=personas["ingest"], json_body={"call_id": "c1"})
    answer = await leave(app, personas, "c1", body)
    assert_envelope(answer, 400, 400003)
    assert field in answer.json()["errors"][0]["message"]


@pytest.mark.parametrize(
    "raw",
    [b"{", b"not json", b"[1,2]", b'"text"', b"[" * 50_000, b'{"call_id": 1' + b"0" * 5000 + b"}"],
)
async def test_a_body_that_is_not_a_json_object_is_400(
    app: KolejkaApp, personas: dict[str, str], raw: bytes
) -> None:
    answer = await call(app, "POST", JOIN, auth=personas["ingest"], body=raw)
    assert answer.status == 400
    assert answer.json()["errors"][0]["code"] in (400002, 400003)


async def test_a_body_over_the_limit_is_413(app: KolejkaApp, personas: dict[str, str]) -> None:
    answer = await call(app, "POST", JOIN, auth=personas["ingest"], body=b" " * 70_000)
    assert_envelope(answer, 413, 413001)


async def test_a_join_while_another_process_holds_the_write_lock_is_a_503_and_loses_nothing(
    app: KolejkaApp, components: Components, database_path: Path, personas: dict[str, str]
) -> None:
    assert isinstance(components.database, Database)
    # 5 s in production; the test waits 50 ms for the lock instead.
    components.database.lock_wait_seconds = 0.05
    importer = sqlite3.connect(database_path, isolation_level=None)
    importer.execute("BEGIN IMMEDIATE")
    try:
        locked = await call(
            app, "POST", JOIN, auth=personas["ingest"], json_body={"call_id": "1795705470.0"}
        )
        assert_envelope(locked, 503, 503001)
        listed = await call(app, "GET", "/api/queues/2/waiting_list", auth=personas["admin"])
        assert listed.status == 200
        assert listed.json() == []
    finally:
        importer.execute("ROLLBACK")
        importer.close()
    retried = await call(
        app, "POST", JOIN, auth=personas["ingest"], json_body={"call_id": "1795705470.0"}
    )
    assert retried.status == 201
    listed = await call(app, "GET", "/api/queues/2/waiting_list", auth=personas["admin"])
    assert len(listed.json()) == 1


async def test_a_join_waiting_for_another_processs_write_lock_does_not_hold_up_the_others(
    app: KolejkaApp, components: Components, database_path: Path, personas: dict[str, str]
) -> None:
    # A first import of a million customers holds the lock for seconds: meanwhile the service
    # goes on answering, and the join lands as soon as the lock is free.
    importer = sqlite3.connect(database_path, isolation_level=None)
    importer.execute("BEGIN IMMEDIATE")
    body = {"call_id": "1795705470.0"}
    try:
        joining = asyncio.create_task(
            call(app, "POST", JOIN, auth=personas["ingest"], json_body=body)
        )
        await asyncio.sleep(0.2)
        started = time.monotonic()
        listed = await call(app, "GET", "/api/queues/2/waiting_list", auth=personas["admin"])
        assert listed.status == 200
        assert time.monotonic() - started < 1
        assert not joining.done()
    finally:
        importer.execute("ROLLBACK")
        importer.close()
    joined = await asyncio.wait_for(joining, 5)
    assert joined.status == 201
    listed = await call(app, "GET", "/api/queues/2/waiting_list", auth=personas["admin"])
    assert len(listed.json()) == 1


async def test_two_ingests_of_one_call_at_once_answer_201_once(
    app: KolejkaApp, database_path: Path, personas: dict[str, str]
) -> None:
    # Both wait for the write lock, as behind an import; a look before the join would see no
    # caller for either, and both would claim to have added it.
    importer = sqlite3.connect(database_path, isolation_level=None)
    importer.execute("BEGIN IMMEDIATE")
    body = {"call_id": "1795705470.0", "phone_number": "613459851"}
    try:
        joining = [
            asyncio.create_task(call(app, "POST", JOIN, auth=personas["ingest"], json_body=body))
            for _ in range(2)
        ]
        await asyncio.sleep(0.2)
        assert not any(task.done() for task in joining)
    finally:
        importer.execute("ROLLBACK")
        importer.close()
    first, second = await asyncio.wait_for(asyncio.gather(*joining), 5)
    assert sorted([first.status, second.status]) == [200, 201]
    assert first.json() == second.json()
    listed = await call(app, "GET", "/api/queues/2/waiting_list", auth=personas["admin"])
    assert len(listed.json()) == 1


@pytest.mark.parametrize(
    ("call_id", "in_path"),
    [
        ("PJSIP/1001-00000001", "PJSIP%2F1001-00000001"),  # Asterisk's channel names
        ("SIP/trunk/5551234-0000002a", "SIP%2Ftrunk%2F5551234-0000002a"),
        ("a%b", "a%25b"),
        ("zażółć 1", "za%C5%BC%C3%B3%C5%82%C4%87%201"),
    ],
)
async def test_a_caller_whose_call_id_holds_a_slash_can_leave(
    app: KolejkaApp, personas: dict[str, str], call_id: str, in_path: str
) -> None:
    joined = await call(app, "POST", JOIN, auth=personas["ingest"], json_body={"call_id": call_id})
    assert joined.status == 201
    answer = await leave(app, personas, in_path, {"outcome": "answered"})
    assert answer.status == 200, answer.body
    assert answer.json()["call_id"] == call_id
    listed = await call(app, "GET", "/api/queues/2/waiting_list", auth=personas["admin"])
    assert listed.json() == []
