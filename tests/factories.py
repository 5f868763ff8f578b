"""Customers and companies for tests, added through the CRM as a client adds them.

Every card goes through `Crm`: the field rules and the change feed apply, as they do to the API
and the demo. `elsewhere` is a CRM of its own on the same database, as another process (the
CLI, an import) has: a running server hears of what it writes only by polling.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager

from kolejka.bootstrap import build
from kolejka.domain.agents import Device, MemberReport
from kolejka.domain.crm import Company, Customer
from kolejka.services.crm import Crm
from kolejka.settings import Settings
from tests.support import FAST_HASHER


async def add_person(
    crm: Crm, name: str, surname: str, *numbers: str, customer_id: int | None = None
) -> Customer:
    """A person with these numbers, under `customer_id` when a test needs a documented id."""
    card = {"name": name, "surname": surname, "phone_numbers": list(numbers)}
    ids = None if customer_id is None else [customer_id]
    (added,) = await crm.add_customers([card], ids=ids)
    return added


async def add_company(crm: Crm, name: str, *numbers: str) -> Company:
    """A company with these numbers on its customer card."""
    return await crm.add_company({"name": name, "phone_numbers": list(numbers)})


@contextmanager
def elsewhere(database_url: str) -> Iterator[Crm]:
    """A CRM of its own on the database at `database_url`, closed on leaving."""
    components = build(Settings(database_url=database_url), hasher=FAST_HASHER)
    try:
        yield components.crm
    finally:
        components.close()


def add_person_elsewhere(
    database_url: str, name: str, surname: str, *numbers: str, customer_id: int | None = None
) -> Customer:
    """add_person through a CRM of its own, from a test that runs no event loop."""
    with elsewhere(database_url) as crm:
        return asyncio.run(add_person(crm, name, surname, *numbers, customer_id=customer_id))


def member(**changes: object) -> MemberReport:
    """A queue member as a PBX reports it: jkowalski in queue 2, available and idle unless told."""
    values: dict[str, object] = {
        "login": "jkowalski",
        "queue_id": 2,
        "paused": False,
        "pause_reason": "",
        "in_call": False,
        "device": Device.NOT_INUSE,
    }
    values.update(changes)
    return MemberReport(**values)  # type: ignore[arg-type]
