"""Agents live: `GET /api/agents_statuses/stream` and the wallboard's agents, from a real
`kolejka serve` over a real socket, while the agents' states change in its database."""

from __future__ import annotations

import asyncio
import json
import urllib.request
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from kolejka.bootstrap import Components
from kolejka.domain.agents import Membership
from tests.agents.support import ANOWAK, JKOWALSKI, pause_id, put_live
from tests.event_stream_client import Block, EventStreamClient, open_streaming
from tests.support import LiveServer, basic

SINCE = datetime(2026, 11, 30, 21, 55, 10, tzinfo=UTC)
STREAM = "/api/agents_statuses/stream"


@pytest.fixture
async def people(components: Components, personas: dict[str, str], queue_2: int) -> dict[str, str]:
    await components.agents.add(JKOWALSKI)
    await components.agents.add(ANOWAK)
    await put_live(components, "jkowalski", (Membership(2),), SINCE)
    await components.api_users.add("board", "board-secret", ["GET agents_statuses"])
    await components.api_users.add("names", "names-secret", ["GET agents"])
    return {
        **personas,
        "board": basic("board", "board-secret"),
        "names": basic("names", "names-secret"),
    }


@pytest.fixture
async def server(people: dict[str, str], database_path: Path) -> AsyncIterator[LiveServer]:
    live = await asyncio.to_thread(LiveServer(database_path).start)
    yield live
    await asyncio.to_thread(live.stop)


def data(block: Block) -> str:
    assert block.data is not None
    return block.data


def get(server: LiveServer, path: str, auth: str) -> bytes:
    sent = urllib.request.Request(f"{server.url}{path}", headers={"Authorization": auth})
    with urllib.request.urlopen(sent, timeout=10) as answer:
        body: bytes = answer.read()
        return body


async def test_the_stream_sends_agents_statuses_byte_for_byte_then_each_change(
    server: LiveServer, components: Components, people: dict[str, str]
) -> None:
    client = await EventStreamClient.open(server.port, STREAM, {"Authorization": people["board"]})
    try:
        assert client.status == 200
        assert client.headers["content-type"] == "text/event-stream"
        first = await client.event()
        listed = await asyncio.to_thread(get, server, "/api/agents_statuses", people["admin"])
        assert data(first).encode() == listed
        assert [s["status"] for s in json.loads(data(first))] == ["FREE", "OFF"]

        przerwa = await pause_id(components, "Przerwa")
        paused = Membership(2, paused=True, pause_id=przerwa)
        await put_live(components, "jkowalski", (paused,), SINCE.replace(minute=56))
        changed = await client.event()
        assert json.loads(data(changed))[0] == {
            "login": "jkowalski",
            "status": "PAUSED",
            "pause_id": przerwa,
            "last_change": "2026-11-30 22:56:10",
        }
        listed = await asyncio.to_thread(get, server, "/api/agents_statuses", people["admin"])
        assert data(changed).encode() == listed
        assert changed.id != first.id
    finally:
        client.close()


async def test_streaming_needs_the_stream_or_the_list_permission(
    server: LiveServer, people: dict[str, str]
) -> None:
    client = await EventStreamClient.open(server.port, STREAM, {"Authorization": people["names"]})
    try:
        assert client.status == 403
        assert json.loads(client.body)["errors"][0]["code"] == 403001
    finally:
        client.close()


async def test_the_wallboard_shows_each_queues_agents_with_state_and_pause(
    server: LiveServer, components: Components, people: dict[str, str]
) -> None:
    client = await open_streaming(server.port, "/api/wallboard/stream", people["admin"])
    try:
        przerwa = await pause_id(components, "Przerwa")
        paused = Membership(2, paused=True, pause_id=przerwa)
        await put_live(components, "anowak", (paused,), SINCE)
        while True:
            board = json.loads(data(await client.event()))
            (queue,) = board["queues"]
            if len(queue["agents"]) == 2:
                break
        assert queue["agents"] == [
            {
                "login": "jkowalski",
                "name": "Jan",
                "surname": "Kowalski",
                "status": "FREE",
                "pause_id": None,
                "pause": "",
                "last_change": "2026-11-30 22:55:10",
            },
            {
                "login": "anowak",
                "name": "Anna",
                "surname": "Nowak",
                "status": "PAUSED",
                "pause_id": przerwa,
                "pause": "Przerwa",
                "last_change": "2026-11-30 22:55:10",
            },
        ]
    finally:
        client.close()
