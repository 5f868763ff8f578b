"""`kolejka serve` processes: an event survives SIGKILL between its change and its delivery, and
two instances on one database deliver each event once; `kolejka webhooks deliver` delivers for a
serve that leaves delivery to it."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from kolejka.bootstrap import build
from kolejka.domain.queues import Queue
from tests.support import FAST_HASHER, LiveServer, basic, eventually
from tests.webhooks.helpers import KEY, webhook_settings
from tests.webhooks.receiver import Receiver

AUTH = basic("admin", "admin-pass")


def environment(name: str) -> dict[str, str]:
    return {
        "KOLEJKA_WEBHOOK_KEY": KEY,
        "KOLEJKA_WEBHOOK_ALLOW_HTTP": "1",
        "KOLEJKA_WEBHOOK_ALLOW_PRIVATE": "1",
        "KOLEJKA_WEBHOOK_MAX_ATTEMPTS": "1000",
        "KOLEJKA_WEBHOOK_BACKOFF_SECONDS": "0.02",
        "KOLEJKA_WEBHOOK_BACKOFF_MAX_SECONDS": "0.1",
        "KOLEJKA_INSTANCE_NAME": name,
    }


async def prepare(database: Path, receiver: Receiver) -> None:
    """An admin, queue 2 and a subscription to callers joining, written before any server runs."""
    components = build(webhook_settings(database), hasher=FAST_HASHER)
    try:
        await components.api_users.add("admin", "admin-pass", ["*"])
        await components.queues.put(Queue(2, "Obsługa klienta"))
        assert components.webhooks is not None
        await components.webhooks.register(
            {"actions": ["CALLER_JOINED"], "subscription_url": receiver.url}
        )
    finally:
        components.close()


@pytest.fixture
def servers() -> Iterator[list[LiveServer]]:
    started: list[LiveServer] = []
    yield started
    for server in started:
        server.stop()


async def join(server: LiveServer, call_id: str) -> None:
    async with httpx.AsyncClient() as client:
        answer = await client.post(
            f"{server.url}/api/queues/2/callers",
            json={"call_id": call_id, "phone_number": "613459851"},
            headers={"authorization": AUTH},
        )
    assert answer.status_code == 201, answer.text


@pytest.mark.slow
async def test_an_event_committed_before_a_sigkill_is_delivered_after_the_restart(
    database_path: Path, servers: list[LiveServer]
) -> None:
    receiver = Receiver()  # down until the server is dead
    await prepare(database_path, receiver)
    first = LiveServer(database_path, extra_env=environment("one")).start()
    servers.append(first)
    await join(first, "call-1")
    assert first.process is not None
    first.process.kill()  # SIGKILL: no shutdown of any kind
    first.process.wait()
    await receiver.start()
    try:
        await asyncio.sleep(0.2)
        assert receiver.requests == 0
        servers.append(LiveServer(database_path, extra_env=environment("two")).start())
        await eventually(lambda: len(receiver.event_ids()) == 1, seconds=30)
        (received,) = {r.json()["call_id"] for r in receiver.accepted}
        assert received == "call-1"
    finally:
        await receiver.stop()


@pytest.mark.slow
async def test_two_instances_deliver_each_event_once(
    database_path: Path, servers: list[LiveServer]
) -> None:
    receiver = await Receiver().start()
    try:
        await prepare(database_path, receiver)
        one = LiveServer(database_path, extra_env=environment("one")).start()
        two = LiveServer(database_path, extra_env=environment("two")).start()
        servers.extend([one, two])
        for number in range(40):
            await join(one if number % 2 else two, f"call-{number}")
        await eventually(lambda: len(receiver.event_ids()) == 40, seconds=30)
        await asyncio.sleep(1.5)  # time for a second delivery, if there were one
        assert len(receiver.accepted) == 40
        assert receiver.event_ids() == sorted(receiver.event_ids())
    finally:
        await receiver.stop()


@pytest.mark.slow
async def test_a_delivery_process_delivers_what_a_serve_that_leaves_delivery_to_it_writes(
    database_path: Path, servers: list[LiveServer]
) -> None:
    """`kolejka serve` with KOLEJKA_WEBHOOK_DELIVER=0 sends nothing; `kolejka webhooks deliver
    --workers 2` (two processes, one subscription each) sends every event, in order, once."""
    first, second = await Receiver().start(), await Receiver().start()
    try:
        await prepare(database_path, first)
        components = build(webhook_settings(database_path), hasher=FAST_HASHER)
        try:
            assert components.webhooks is not None
            await components.webhooks.register(
                {"actions": ["CALLER_JOINED"], "subscription_url": second.url}
            )
        finally:
            components.close()
        env = {**environment("api"), "KOLEJKA_WEBHOOK_DELIVER": "0"}
        server = LiveServer(database_path, extra_env=env).start()
        servers.append(server)
        for number in range(10):
            await join(server, f"call-{number}")
        await asyncio.sleep(1.0)
        assert first.requests == second.requests == 0
        log = database_path.with_suffix(".deliver.log")
        with log.open("ab") as out:
            deliver = subprocess.Popen(
                [sys.executable, "-m", "kolejka", "webhooks", "deliver", "--workers", "2"],
                env={**server.env, "KOLEJKA_INSTANCE_NAME": "api"},
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        try:
            for number in range(10, 20):
                await join(server, f"call-{number}")

            def all_arrived() -> bool:
                return len(first.event_ids()) == len(second.event_ids()) == 20

            await eventually(all_arrived, seconds=30)
            await asyncio.sleep(1.0)  # time for a second delivery, if there were one
            with sqlite3.connect(database_path) as sql:
                holders = {row[0] for row in sql.execute("SELECT holder FROM webhooks")}
            assert len(holders) == 2  # one subscription each
            assert all(":deliver:" in holder for holder in holders)
            for receiver in (first, second):
                assert len(receiver.accepted) == 20
                calls = [r.json()["call_id"] for r in receiver.accepted]
                assert calls == [f"call-{number}" for number in range(20)]
        finally:
            deliver.terminate()
            assert deliver.wait(20) == 0, log.read_text()
            # Each worker released its leases and closed its connections on the way out.
            assert "Unclosed" not in log.read_text()
    finally:
        await first.stop()
        await second.stop()
