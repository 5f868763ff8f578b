"""Demo data and a simulated PBX, so a fresh `kolejka serve --demo` shows live waiting lists.

Queue 2 and customer 123 "Jan Kowalski" mirror Thulium's documented example. Piotr Zieliński and
his company share a number, so the ambiguous case (no label) is on screen too.

Agents answer the queues: one free, one paused ("Obiad", lunch), one on a call, and so on, reported
as a PBX reports its queue members (`AgentSync`), so `GET /api/agents_statuses` and the wallboard
show them. The last hour's calls are recorded too, so each waiting caller's expected wait
(`GET /api/queues/{id}/callers`) has a pace to go by from the first second; the simulated
agents then pick up the callers the simulation answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from dataclasses import dataclass
from datetime import timedelta

from kolejka.bootstrap import Components
from kolejka.domain.agents import (
    AgentCompleted,
    AgentConnected,
    AgentState,
    CompletedBy,
    MemberAdded,
    MemberReport,
    MemberStatus,
    NewAgent,
)
from kolejka.domain.connections import ConnectionQuery
from kolejka.domain.crm import ListQuery
from kolejka.domain.errors import AgentExists, DomainError
from kolejka.domain.queues import Outcome, Queue

log = logging.getLogger(__name__)

DEMO_USER = "api_user"
DEMO_PASSWORD = "api_pass"  # noqa: S105  (the seed's own example credentials)

QUEUES = [Queue(1, "Sprzedaż"), Queue(2, "Obsługa klienta"), Queue(3, "Reklamacje")]
PERSONS = [
    (123, "Jan", "Kowalski", ["746842523"]),
    (124, "Anna", "Nowak", ["+48 601 100 200", "22 123 45 67"]),
    (125, "Piotr", "Zieliński", ["+48 602 300 400"]),
    (126, "Hans", "Müller", ["+49 151 10000001"]),
]
COMPANIES = [
    ("Zieliński Transport Sp. z o.o.", "5213017228", ["0048 602 300 400"]),
    ("Kwiaciarnia Róża", "7770003274", ["+48-61-345-98-52"]),
]
# Numbers the simulated callers ring from: known customers, the shared number, strangers.
CALLERS = [
    "746842523",
    "+48601100200",
    "602300400",
    "+4915110000001",
    "613459852",
    "840526437",
    "613459851",
    "+48 500 600 700",
    "anonymous",
]


def caller_number(rng: random.Random) -> str:
    """A demo caller's number: a known one (customers, the shared number, a few strangers who
    call again and again) or, as often, a stranger's who rings once."""
    return rng.choice(CALLERS) if rng.random() < 0.5 else f"5{rng.randrange(10**8):08d}"


@dataclass(frozen=True, slots=True)
class DemoAgent:
    """A demo agent, the queues it answers, and how it starts: FREE, PAUSED (with `pause`) or
    INBOUND_CALL (talking on a call of its first queue)."""

    agent: NewAgent
    starts: AgentState
    pause: str = ""


AGENTS = [
    DemoAgent(
        NewAgent("jkowalski", "Jan", "Kowalski", number=559933, queues=(2, 1)), AgentState.FREE
    ),
    DemoAgent(
        NewAgent("anowak", "Anna", "Nowak", number=559934, queues=(2,)),
        AgentState.PAUSED,
        "Obiad",
    ),
    DemoAgent(
        NewAgent("mwisniewska", "Maria", "Wiśniewska", number=559935, queues=(2, 3)),
        AgentState.INBOUND_CALL,
    ),
    DemoAgent(
        NewAgent("pwojcik", "Paweł", "Wójcik", number=559936, queues=(1, 3)), AgentState.FREE
    ),
    DemoAgent(
        NewAgent("kkaminska", "Katarzyna", "Kamińska", number=559937, queues=(3,)),
        AgentState.PAUSED,
        "Szkolenie",
    ),
]
# The last hour of each queue, seeded once: a call every few minutes, most of them answered.
SEEDED_CALLS_PER_QUEUE = 14


async def seed(components: Components) -> None:
    """Adds the demo queues, customers and API user where they are missing."""
    lists = components.lists
    for queue in QUEUES:
        if await components.queues.get(queue.queue_id) is None:
            await components.queues.put(queue)
    if not await components.api_users.users.get(DEMO_USER):
        await components.api_users.add(DEMO_USER, DEMO_PASSWORD, ["*"])
    crm = components.crm
    if not await crm.customers(ListQuery(limit=1)):
        # Through the CRM, as POST /api/customers does, under the ids Thulium's example shows.
        await crm.add_customers(
            [
                {"name": name, "surname": surname, "phone_numbers": numbers}
                for _, name, surname, numbers in PERSONS
            ],
            ids=[customer_id for customer_id, *_ in PERSONS],
        )
        # Through the CRM, as POST /api/companies does: a company and its customer card.
        for company, nip, numbers in COMPANIES:
            await crm.add_company({"name": company, "nip": nip, "phone_numbers": numbers})
    await add_agents(components)
    await seed_history(components)
    await report_agents(components)
    if not await components.callers.waiting(2):
        start = components.clock.now() - timedelta(seconds=40)
        for offset, number in enumerate(["746842523", "840526437", "613459851"]):
            joined = start + timedelta(seconds=offset)
            await lists.join(2, f"demo-seed-{offset}", number, "", joined)


async def seed_history(components: Components) -> None:
    """The last hour's calls of every demo queue, answered by its agents or abandoned, when the
    call history is empty."""
    if (await components.history.page(ConnectionQuery(limit=1, counted=False))).rows:
        return
    now = components.clock.now()
    for queue in QUEUES:
        rng = random.Random(queue.queue_id)  # the same hour on every fresh demo
        members = [a.agent.login for a in AGENTS if queue.queue_id in a.agent.queues]
        for n in range(SEEDED_CALLS_PER_QUEUE):
            call_id = f"demo-history-{queue.queue_id}-{n}"
            joined = now - timedelta(minutes=58) + timedelta(minutes=4 * n + rng.uniform(0, 3))
            hold = timedelta(seconds=rng.randint(15, 150))
            await components.lists.join(queue.queue_id, call_id, caller_number(rng), "", joined)
            if rng.random() < 0.2:
                await components.lists.leave(call_id, Outcome.ABANDONED, hold)
                continue
            await components.lists.leave(call_id, Outcome.ANSWERED, hold)
            login = rng.choice(members)
            talk = timedelta(seconds=rng.randint(40, 400))
            sync = components.agent_sync
            await sync.apply(AgentConnected(login, queue.queue_id, call_id, hold, None))
            await sync.apply(
                AgentCompleted(login, queue.queue_id, call_id, hold, talk, CompletedBy.CALLER)
            )


async def add_agents(components: Components) -> None:
    """The demo agents, named, where they are missing."""
    for demo in AGENTS:
        if await components.agents.get(demo.agent.login) is None:
            with contextlib.suppress(AgentExists):  # another process added it meanwhile
                await components.agents.add(demo.agent)


async def report_agents(components: Components) -> None:
    """Each demo agent in its queues as the PBX would report them: free, paused with a reason,
    or talking."""
    for demo in AGENTS:
        for queue_id in demo.agent.queues:
            member = MemberReport(
                login=demo.agent.login,
                queue_id=queue_id,
                paused=demo.starts is AgentState.PAUSED,
                pause_reason=demo.pause,
                in_call=demo.starts is AgentState.INBOUND_CALL and queue_id == demo.agent.queues[0],
            )
            await components.agent_sync.apply(MemberAdded(member))
    await components.agent_sync.changed()


async def simulate(components: Components, interval: float = 3.0) -> None:
    """Callers ring in and leave at random, keeping a few in every demo queue; a free agent of
    the queue picks up each answered caller and talks for a few rounds."""
    lists = components.lists
    rng = random.Random()
    serial = 0
    talking = Talks(components)
    while True:
        await asyncio.sleep(interval * rng.uniform(0.5, 1.5))
        queue = rng.choice(QUEUES)
        waiting = await components.callers.waiting(queue.queue_id)
        try:
            await talking.round(rng)
            if len(waiting) < 2 or (len(waiting) < 6 and rng.random() < 0.55):
                serial += 1
                call_id = f"demo-{components.clock.now().timestamp():.0f}-{serial}"
                await lists.join(queue.queue_id, call_id, caller_number(rng))
            else:
                _, oldest = min(waiting, key=lambda pair: pair[1].started_at)
                outcome = Outcome.ANSWERED if rng.random() < 0.8 else Outcome.ABANDONED
                gone = await lists.leave(oldest.call_id, outcome)
                if outcome is Outcome.ANSWERED:
                    await talking.pick_up(queue.queue_id, oldest.call_id, gone.hold_time, rng)
        except DomainError as error:
            log.info("demo simulator: %s", error)


class Talks:
    """The demo agents' calls: who talks on which call, for how many more rounds."""

    def __init__(self, components: Components) -> None:
        self.components = components
        # login -> (queue, call id or None for the call the demo started with, rounds left)
        self.calls: dict[str, tuple[int, str | None, int]] = {
            demo.agent.login: (demo.agent.queues[0], None, 4)
            for demo in AGENTS
            if demo.starts is AgentState.INBOUND_CALL
        }

    async def pick_up(
        self, queue_id: int, call_id: str, hold: timedelta, rng: random.Random
    ) -> None:
        """A free agent of the queue (if any) answers the call."""
        statuses = {status.login: status for status in await self.components.agents.statuses()}
        free = [
            demo.agent.login
            for demo in AGENTS
            if queue_id in demo.agent.queues
            and demo.agent.login not in self.calls
            and (found := statuses.get(demo.agent.login)) is not None
            and found.state is AgentState.FREE
        ]
        if not free:
            return
        login = rng.choice(free)
        sync = self.components.agent_sync
        await sync.apply(AgentConnected(login, queue_id, call_id, hold, None))
        await sync.changed()
        self.calls[login] = (queue_id, call_id, rng.randint(3, 8))

    async def round(self, rng: random.Random) -> None:
        """A round passes: the calls whose time is up end, the caller or the agent hanging up."""
        sync = self.components.agent_sync
        ended = False
        for login, (queue_id, call_id, left) in list(self.calls.items()):
            if left > 1:
                self.calls[login] = (queue_id, call_id, left - 1)
                continue
            del self.calls[login]
            ended = True
            if call_id is None:  # the call it started with: the PBX says the agent is idle
                idle = MemberReport(login, queue_id, paused=False, pause_reason="", in_call=False)
                await sync.apply(MemberStatus(idle))
                continue
            talk = timedelta(seconds=rng.randint(30, 300))
            by = rng.choice((CompletedBy.AGENT, CompletedBy.CALLER))
            await sync.apply(AgentCompleted(login, queue_id, call_id, None, talk, by))
        if ended:
            await sync.changed()
