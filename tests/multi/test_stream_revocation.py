"""Revoking access through the `kolejka` commands ends open streams on every instance within 2 s.

The commands publish the change on the shared feed (Redis pub/sub, or PostgreSQL NOTIFY); every
instance then checks the credentials of its open streams at once (docs/wallboard.md).
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time

import pytest

from tests.event_stream_client import EventStreamClient, open_streaming
from tests.multi.deployment import Deployment
from tests.support import LiveServer, basic

pytestmark = [pytest.mark.slow, pytest.mark.needs_postgres]

BOARD = "/api/wallboard/stream"
WITHIN = 2.0  # seconds, as docs/wallboard.md promises


def kolejka(server: LiveServer, *args: str, stdin: str = "") -> str:
    """Runs a `kolejka` command against the deployment's shared stores; its standard output."""
    done = subprocess.run(
        [sys.executable, "-m", "kolejka", *args],
        input=stdin,
        text=True,
        capture_output=True,
        env={**server.env},
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


async def all_end_within(clients: list[EventStreamClient], seconds: float) -> float:
    started = time.monotonic()
    await asyncio.gather(*(client.ended(timeout=seconds + 1) for client in clients))
    elapsed = time.monotonic() - started
    for client in clients:
        assert client.finished
        client.close()
    return elapsed


async def test_a_token_revoked_from_the_command_line_ends_its_streams_on_every_instance(
    any_deployment: Deployment,
) -> None:
    servers = await any_deployment.start(2)
    token = (await asyncio.to_thread(kolejka, servers[0], "wallboard", "token", "hall")).strip()
    boards = [await open_streaming(server.port, f"{BOARD}?token={token}") for server in servers]
    await asyncio.to_thread(kolejka, servers[0], "wallboard", "revoke", "hall")
    assert await all_end_within(boards, WITHIN) < WITHIN


async def test_an_api_user_removed_from_the_command_line_loses_its_streams_on_every_instance(
    any_deployment: Deployment,
) -> None:
    servers = await any_deployment.start(2)
    password = "supervisor-CANARY-secret"
    await asyncio.to_thread(
        kolejka,
        servers[0],
        "users",
        "add",
        "supervisor",
        "-p",
        "GET wallboard/stream",
        stdin=password + "\n",
    )
    auth = basic("supervisor", password)
    boards = [await open_streaming(server.port, BOARD, auth) for server in servers]
    await asyncio.to_thread(kolejka, servers[1], "users", "remove", "supervisor")
    assert await all_end_within(boards, WITHIN) < WITHIN
