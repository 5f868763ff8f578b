"""Demo data and a simulated PBX, so a fresh `kolejka serve --demo` shows live waiting lists.

Queue 2 and customer 123 "Jan Kowalski" mirror Thulium's documented example. Piotr Zieliński and
his company share a number, so the ambiguous case (no label) is on screen too.
"""

from __future__ import annotations

import asyncio
import logging
import random
from datetime import timedelta

from kolejka.bootstrap import Components
from kolejka.domain.crm import ListQuery
from kolejka.domain.errors import DomainError
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
    if not await components.callers.waiting(2):
        start = components.clock.now() - timedelta(seconds=40)
        for offset, number in enumerate(["746842523", "840526437", "613459851"]):
            joined = start + timedelta(seconds=offset)
            await lists.join(2, f"demo-seed-{offset}", number, "", joined)


async def simulate(components: Components, interval: float = 3.0) -> None:
    """Callers ring in and leave at random, keeping a few in every demo queue."""
    lists = components.lists
    rng = random.Random()
    serial = 0
    while True:
        await asyncio.sleep(interval * rng.uniform(0.5, 1.5))
        queue = rng.choice(QUEUES)
        waiting = await components.callers.waiting(queue.queue_id)
        try:
            if len(waiting) < 2 or (len(waiting) < 6 and rng.random() < 0.55):
                serial += 1
                call_id = f"demo-{components.clock.now().timestamp():.0f}-{serial}"
                await lists.join(queue.queue_id, call_id, rng.choice(CALLERS))
            else:
                _, oldest = min(waiting, key=lambda pair: pair[1].started_at)
                outcome = Outcome.ANSWERED if rng.random() < 0.8 else Outcome.ABANDONED
                await lists.leave(oldest.call_id, outcome)
        except DomainError as error:
            log.info("demo simulator: %s", error)
