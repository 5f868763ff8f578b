"""The listener in real processes: inside `kolejka serve`, and alone as `kolejka ami`."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from kolejka.bootstrap import build
from kolejka.settings import Settings
from tests.ami.fake_asterisk import SECRET, FakeAsterisk, events
from tests.ami.helpers import SUPPORT, ami_env
from tests.e2e.client import as_json, request
from tests.support import FAST_HASHER, Answer, LiveServer, eventually

pytestmark = pytest.mark.slow

JOINS = events("queue_caller_events.txt", "QueueCallerJoin")


async def get(url: str, path: str, user: tuple[str, str] | None = None) -> Answer:
    return await asyncio.to_thread(request, url, "GET", path, user=user)


async def test_kolejka_serve_follows_asterisk_and_its_health_shows_the_link(
    asterisk: FakeAsterisk, database_path: Path
) -> None:
    components = build(Settings(database_url=f"sqlite:///{database_path}"), hasher=FAST_HASHER)
    await components.api_users.add("reader", "reader-secret", ["*"])
    components.close()
    live = LiveServer(database_path, extra_env=ami_env(asterisk))
    await asyncio.to_thread(live.start)
    reader = ("reader", "reader-secret")
    try:

        async def link_up() -> bool:
            return bool(as_json(await get(live.url, "/health"))["pbx"]["state"] == "up")

        await eventually(link_up, seconds=10, step=0.05)
        await asterisk.push(*JOINS)

        async def three_waiting() -> bool:
            answer = await get(live.url, f"/api/queues/{SUPPORT}/waiting_list", reader)
            return [e["phone_number"] for e in as_json(answer)] == [
                "+4915110000003",
                "+4915110000002",
                "+4915110000001",
            ]

        await eventually(three_waiting, seconds=10, step=0.05)
        await asterisk.stop()

        async def link_down() -> bool:
            health = as_json(await get(live.url, "/health"))
            return bool(health["status"] == "degraded" and health["pbx"]["state"] == "down")

        await eventually(link_down, seconds=10, step=0.05)
        # Asterisk is gone; the API still answers from the last known state.
        await eventually(three_waiting, seconds=1, step=0.05)
    finally:
        await asyncio.to_thread(live.stop)
    assert SECRET not in live.log()


async def test_kolejka_ami_runs_the_listener_alone_and_stops_on_sigterm(
    asterisk: FakeAsterisk, database_path: Path
) -> None:
    env = {
        **os.environ,
        "KOLEJKA_DATABASE_URL": f"sqlite:///{database_path}",
        "KOLEJKA_LOG_LEVEL": "DEBUG",
        **ami_env(asterisk),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "kolejka", "ami"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        await asterisk.wait_for_login(1, seconds=20)
        await asterisk.push(*JOINS[:2])

        async def two_stored() -> bool:
            components = build(Settings(database_url=f"sqlite:///{database_path}"))
            try:
                return len(await components.callers.waiting(SUPPORT)) == 2
            finally:
                components.close()

        await eventually(two_stored, seconds=10, step=0.05)
        process.send_signal(signal.SIGTERM)
        out, _ = await asyncio.to_thread(process.communicate, timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    output = out.decode()
    code = process.returncode
    assert code == 0, output
    assert "following Asterisk's queues at tcp://127.0.0.1:" in output
    assert SECRET not in output


def test_kolejka_ami_without_a_host_says_what_to_set(database_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "kolejka", "ami"],
        env={"KOLEJKA_DATABASE_URL": f"sqlite:///{database_path}", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    assert "KOLEJKA_AMI_HOST" in done.stderr
