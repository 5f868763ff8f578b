"""What the AMI tests share beside their fixtures (tests/ami/conftest.py): settings that point at
a fake Asterisk, and reading who waits and who left."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses

from kolejka.adapters.sqlite.database import Database
from kolejka.bootstrap import Components, build
from kolejka.domain.queues import WaitingCaller, newest_first
from kolejka.observability.metrics import EVENTS, CountingCallers
from kolejka.settings import Settings
from tests.ami.fake_asterisk import SECRET, USERNAME, FakeAsterisk
from tests.support import FAST_HASHER, FrozenClock, eventually

SUPPORT = 7  # KOLEJKA_AMI_QUEUES maps Asterisk's queue `support` here; queue `2` is itself


def ami_settings(base: Settings, fake: FakeAsterisk, **changes: object) -> Settings:
    """Settings pointing at `fake`, with short timings so that faults show within a test."""
    values: dict[str, object] = {
        "ami_host": "127.0.0.1",
        "ami_port": fake.port,
        "ami_username": USERNAME,
        "ami_secret": SECRET,
        "ami_queues": f"support={SUPPORT}",
        "ami_ping_seconds": 0.3,
        "ami_retry_max_seconds": 0.2,
        "ami_auth_retry_seconds": 0.6,
    }
    values.update(changes)
    return dataclasses.replace(base, **values)  # type: ignore[arg-type]


async def start_listening(
    settings: Settings, clock: FrozenClock
) -> tuple[Components, asyncio.Task[None]]:
    """A kolejka process's components following the fake Asterisk, once its link is up: a
    start, for the tests that stop it and start another (a restart)."""
    built = build(settings, clock=clock, hasher=FAST_HASHER)
    assert built.ami is not None
    task = asyncio.create_task(built.ami.run())
    await eventually(lambda: built.ami is not None and built.ami.link.up)
    return built, task


async def stop_listening(built: Components, task: asyncio.Task[None]) -> None:
    """A clean stop of `start_listening`'s components: the calls noted are written first."""
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    await built.history.flush()
    built.close()


async def waiting(components: Components, queue_id: int) -> list[WaitingCaller]:
    """Who waits in a queue, newest first, as the waiting list orders them."""
    return newest_first(await components.callers.waiting(queue_id))


async def until_waiting(
    components: Components, queue_id: int, call_ids: set[str], seconds: float = 5.0
) -> list[WaitingCaller]:
    """Waits until exactly `call_ids` wait in the queue; returns them, newest first."""
    callers: list[WaitingCaller] = []

    async def exactly_those() -> bool:
        nonlocal callers
        callers = await waiting(components, queue_id)
        assert {c.call_id for c in callers} == call_ids, (
            f"queue {queue_id} has {[c.call_id for c in callers]}, not {call_ids}"
        )
        return True

    await eventually(exactly_those, seconds)
    return callers


# A row's disposition as the departure it records: answered, abandoned, or lost in a gap.
_OUTCOMES = {"ANSWERED": "answered", "NO ANSWER": "abandoned", "FAILED": "lost"}


async def departures(components: Components) -> list[tuple[str, int, str, float]]:
    """(call id, queue id, outcome, wait in seconds) of every departure the call history has
    stored, oldest first: what the wait estimate reads back, once it has written what the
    listener's bursts journalled (as every read of the history does)."""
    await components.history.flush()
    assert isinstance(components.database, Database)
    rows = components.database.connection.execute(
        "SELECT connection_id, queue_id, disposition, wait_seconds FROM connections"
        " WHERE direction = 'INBOUND' ORDER BY rowid"
    )
    return [
        (call, queue, _OUTCOMES[disposition], float(wait))
        for call, queue, disposition, wait in rows
    ]


def departures_applied(components: Components) -> int:
    """How many departures the waiting lists applied (the metric's count), repeats of a call
    included, which its history row does not show."""
    callers = components.callers
    assert isinstance(callers, CountingCallers)
    counted = callers.metrics.counters.items()
    return int(sum(count for (name, label), count in counted if name == EVENTS and label != "join"))


def ami_env(asterisk: FakeAsterisk) -> dict[str, str]:
    """The environment of a `kolejka` process that follows `asterisk`, with quick retries."""
    return {
        "KOLEJKA_AMI_HOST": "127.0.0.1",
        "KOLEJKA_AMI_PORT": str(asterisk.port),
        "KOLEJKA_AMI_USERNAME": USERNAME,
        "KOLEJKA_AMI_SECRET": SECRET,
        "KOLEJKA_AMI_QUEUES": f"support={SUPPORT}",
        "KOLEJKA_AMI_PING_SECONDS": "0.5",
        "KOLEJKA_AMI_RETRY_MAX_SECONDS": "0.3",
    }


# Agents (issue 13): the capture of members by login, and jkowalski's interface in it.
AGENTS_CAPTURE = "ami_session_agents_callbacks.txt"
JK_INTERFACE = "Local/jkowalski@agent-answer/n"


def sent(asterisk: FakeAsterisk, name: str) -> list[dict[str, str]]:
    """The actions named `name` Asterisk received, without their ActionIDs."""
    return [
        {k: v for k, v in action.items() if k != "ActionID"}
        for action in asterisk.actions
        if action.get("Action") == name
    ]


def paused_as(asterisk: FakeAsterisk, queue: str, login: str = "jkowalski") -> tuple[str, str]:
    """The member's `Paused` and `PausedReason` in `queue`, as Asterisk has them."""
    member = asterisk.members[(queue, login)]
    return member["Paused"], member["PausedReason"]
