"""Agents across instances: a member event reported to one instance shows on another, in
`GET /api/agents_statuses` (served there from ready bytes) and in its stream, over PostgreSQL
NOTIFY or Redis pub/sub."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from tests.e2e.client import as_json
from tests.event_stream_client import EventStreamClient
from tests.multi.deployment import ADMIN, Deployment, call
from tests.support import LiveServer, basic

pytestmark = [pytest.mark.slow, pytest.mark.needs_postgres]

STATUSES = "/api/agents_statuses"


async def states(server: LiveServer) -> dict[str, str]:
    answer = await call(server, "GET", STATUSES)
    return {entry["login"]: entry["status"] for entry in as_json(answer)}


async def test_a_member_event_on_one_instance_shows_on_another_in_the_list_and_the_stream(
    any_deployment: Deployment,
) -> None:
    here, there = await any_deployment.start(2)
    assert await states(there) == {}  # `there` holds the (empty) list ready now
    stream = await EventStreamClient.open(
        there.port, STATUSES + "/stream", {"Authorization": basic(*ADMIN)}
    )
    try:
        assert stream.status == 200
        first = await stream.event()
        assert first.data == "[]"
        added = await call(here, "POST", "/api/queues/2/members/jkowalski", {"event": "added"})
        assert added.status == 200, added.body
        started = time.monotonic()
        while await states(there) != {"jkowalski": "FREE"}:
            assert time.monotonic() - started < 1.0, "not within a second"
            await asyncio.sleep(0.005)
        pushed = await stream.event()
        assert pushed.data is not None
        assert [(s["login"], s["status"]) for s in json.loads(pushed.data)] == [
            ("jkowalski", "FREE")
        ]
        paused = {"event": "paused", "reason": "Przerwa"}
        assert (await call(here, "POST", "/api/queues/2/members/jkowalski", paused)).status == 200
        pushed = await stream.event()
        assert pushed.data is not None
        assert json.loads(pushed.data)[0]["status"] == "PAUSED"
        assert await states(there) == {"jkowalski": "PAUSED"}
    finally:
        stream.close()
