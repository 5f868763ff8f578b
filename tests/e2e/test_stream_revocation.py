"""Revoking access through the `kolejka` commands ends open streams of a real `kolejka serve`.

docs/wallboard.md promises it within 2 s on every engine. On SQLite the commands are another
process: the server learns of their writes only by polling the file (KOLEJKA_CHANGE_POLL_SECONDS,
left here at its default), so this is where a revocation used to wait for the minutely recheck.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.cli import kolejka
from tests.e2e.client import request
from tests.e2e.seed import SEED_PASSWORD, SEED_USER
from tests.event_stream_client import EventStreamClient, open_streaming
from tests.support import LiveServer, basic

BOARD = "/api/wallboard/stream"
WITHIN = 2.0  # seconds, as docs/wallboard.md promises
SUPERVISOR, SUPERVISOR_PASSWORD = "supervisor", "supervisor-CANARY-secret"


@pytest.fixture
def token(seeded_database: Path) -> str:
    made = kolejka(seeded_database, "wallboard", "token", "hall")
    assert made.returncode == 0, made.stderr
    return made.stdout.strip()


@pytest.fixture
def supervisor(seeded_database: Path) -> str:
    added = kolejka(
        seeded_database,
        "users",
        "add",
        SUPERVISOR,
        "-p",
        "GET wallboard/stream",
        stdin=SUPERVISOR_PASSWORD + "\n",
    )
    assert added.returncode == 0, added.stderr
    return basic(SUPERVISOR, SUPERVISOR_PASSWORD)


@pytest.fixture
async def polling_server(
    seeded_database: Path, token: str, supervisor: str
) -> AsyncIterator[LiveServer]:
    # The default poll, not the tests' faster one: the promise must hold as deployed.
    env = {"KOLEJKA_CHANGE_POLL_SECONDS": "0.25"}
    live = await asyncio.to_thread(LiveServer(seeded_database, extra_env=env).start)
    yield live
    await asyncio.to_thread(live.stop)


async def seconds_until_ended(client: EventStreamClient) -> float:
    started = time.monotonic()
    assert await client.ended(timeout=WITHIN + 1)
    return time.monotonic() - started


async def still_streams(server: LiveServer, client: EventStreamClient) -> bool:
    """The stream carries the next change (a caller joining queue 2)."""
    answer = await asyncio.to_thread(
        request,
        server.url,
        "POST",
        "/api/queues/2/callers",
        user=(SEED_USER, SEED_PASSWORD),
        body={"call_id": "kept-1", "phone_number": "746842523"},
    )
    assert answer.status == 201
    while True:
        event = await client.event(timeout=WITHIN)
        if "746842523" in (event.data or ""):
            return True


async def test_revoking_a_token_from_the_command_line_ends_its_open_stream_within_2_s(
    polling_server: LiveServer, seeded_database: Path, token: str
) -> None:
    board = await open_streaming(polling_server.port, f"{BOARD}?token={token}")
    kept = await open_streaming(polling_server.port, BOARD, basic(SEED_USER, SEED_PASSWORD))
    revoked = await asyncio.to_thread(kolejka, seeded_database, "wallboard", "revoke", "hall")
    assert revoked.returncode == 0, revoked.stderr
    assert await seconds_until_ended(board) < WITHIN
    assert board.finished  # ended cleanly: the page's EventSource reconnects, and is refused
    again = await EventStreamClient.open(polling_server.port, f"{BOARD}?token={token}")
    assert (again.status, json.loads(again.body)["errors"][0]["code"]) == (401, 401003)
    again.close()
    assert await still_streams(polling_server, kept)
    for client in (board, kept):
        client.close()


@pytest.mark.parametrize(
    ("command", "stdin"),
    [
        (["users", "remove", SUPERVISOR], ""),
        (["users", "passwd", SUPERVISOR], "another-CANARY-secret\n"),
        (["users", "permissions", SUPERVISOR, "GET queues"], ""),
    ],
    ids=["removed", "new-password", "permission-withdrawn"],
)
async def test_an_api_user_changed_from_the_command_line_loses_its_open_stream_within_2_s(
    polling_server: LiveServer,
    seeded_database: Path,
    supervisor: str,
    command: list[str],
    stdin: str,
) -> None:
    board = await open_streaming(polling_server.port, BOARD, supervisor)
    changed = await asyncio.to_thread(kolejka, seeded_database, *command, stdin=stdin)
    assert changed.returncode == 0, changed.stderr
    assert await seconds_until_ended(board) < WITHIN
    board.close()
