"""The call history use cases: recording each queue call, reading it back, and forgetting old calls.

Every source of queue calls goes through `WaitingLists.leave` (the AMI listener's sync, the ingest
API, the demo), which hands each departure here: one place records them all. The end of an
agent's talk (AMI `AgentComplete`, once issue 13's events arrive) completes the call's row.

Reads return domain values; the HTTP adapter writes them as Thulium does.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta

from kolejka.domain.agents import AgentCompleted, AgentConnected, MemberEvent
from kolejka.domain.connections import (
    MAX_FILTER_NUMBERS,
    Connection,
    ConnectionPage,
    ConnectionQuery,
    completed,
    connected,
    departed,
    lost,
)
from kolejka.domain.errors import UnknownConnection
from kolejka.domain.phone import PhoneNumbers, number_key
from kolejka.domain.queues import Departure, WaitingCaller
from kolejka.services.ports import (
    AgentDirectory,
    Clock,
    ConnectionStore,
    CrmStore,
    CustomerDirectory,
)

log = logging.getLogger(__name__)

PRUNE_BATCH = 500  # rows one prune statement deletes: a few milliseconds of the store
PRUNE_PAUSE_SECONDS = 0.05  # between batches, so the service's own writes go first
PRUNE_EVERY_SECONDS = 600.0
EXPORT_BATCH = 1000


class CallHistory:
    """Records queue calls as they end, and answers `GET /api/connections`."""

    def __init__(
        self,
        store: ConnectionStore,
        phones: PhoneNumbers,
        clock: Clock,
        customers: CustomerDirectory | None = None,
        crm: CrmStore | None = None,
        agents: AgentDirectory | None = None,
        keep_days: int = 90,
    ) -> None:
        self._store = store
        self._phones = phones
        self._clock = clock
        self._customers = customers
        self._crm = crm
        self._agents = agents
        self.keep_days = keep_days

    # Recording ---------------------------------------------------------------------------

    async def departed(
        self, caller: WaitingCaller, gone: Departure, *, outcome_known: bool
    ) -> None:
        """A call left its queue: answered, abandoned, or (`outcome_known` False) gone in a gap.

        The first departure of a call is the one recorded; a repeat changes nothing.
        """
        # No phone-number parsing here: it costs a listener that applies tens of thousands of
        # events a second more than the write itself. Reads normalise the numbers they show.
        key = number_key(caller.phone_number)
        row = departed(caller, gone, key) if outcome_known else lost(caller, gone, key)
        await self._store.record(row)

    async def agent_event(self, event: MemberEvent) -> None:
        """What an agent did to a queue call: picked it up (the row names the agent) or ended
        the talk (the row gets the talk and who hung up). Rows are written whole, so a repeat
        of the same event changes nothing more. Other member events are no call's."""
        if isinstance(event, AgentConnected):
            known = await self._store.get(event.call_id)
            if known is not None:  # QueueCallerLeave, which comes first, wrote it
                await self._store.save(connected(known, event))
        elif isinstance(event, AgentCompleted):
            known = await self._store.get(event.call_id)
            await self._store.save(completed(known, event, self._clock.now()))

    # Reading -----------------------------------------------------------------------------

    def number_keys(self, number: str) -> tuple[str, ...]:
        """The keys under which calls from `number` (written any way) are stored; () when it is
        no phone number."""
        e164 = self._phones.normalise(number)
        return self._phones.spellings(e164) if e164 else ()

    async def page(self, query: ConnectionQuery) -> ConnectionPage:
        return await self._store.page(query)

    async def connection(self, connection_id: str) -> Connection:
        found = await self._store.get(connection_id)
        if found is None:
            raise UnknownConnection(connection_id)
        return found

    async def customer_numbers(self, customer_id: int) -> tuple[str, ...]:
        """The numbers whose calls are this customer's: those of its card that it alone owns
        (the waiting list's unambiguous rule). Empty when there is no such customer."""
        if self._crm is None or self._customers is None:
            return ()
        card = await self._crm.customer(customer_id)
        if card is None:
            return ()
        numbers = [n.e164 for n in card.fields.phone_numbers[:MAX_FILTER_NUMBERS] if n.e164]
        owners = await self._customers.sole_owners(list(dict.fromkeys(numbers)))
        mine = [number for number, owner in owners.items() if owner == customer_id]
        return tuple(key for number in mine for key in self._phones.spellings(number))

    async def names(
        self, rows: Sequence[Connection]
    ) -> tuple[Mapping[str, int], Mapping[str, str]]:
        """For a page of calls: by each `src`, the customer id of the one customer owning that
        number (the waiting list's rule, looked up when read), and each agent's "name surname".
        Two questions for the whole page, whatever its size."""
        # Keyed by each row's customer number: the caller, or the number a callback dialled.
        e164s = {n: self._phones.normalise(n) for n in {row.customer_number for row in rows}}
        numbers = list({e164 for e164 in e164s.values() if e164})
        owners = await self._customers.sole_owners(numbers) if self._customers else {}
        customers = {
            src: owners[e164] for src, e164 in e164s.items() if e164 is not None and e164 in owners
        }
        agents: dict[str, str] = {}
        if self._agents is not None and any(row.user_login for row in rows):
            agents = {
                agent.login: f"{agent.name} {agent.surname}".strip()
                for agent in await self._agents.all()
            }
        return customers, agents

    def display(self, number: str) -> str:
        return self._phones.display(number)

    async def export(
        self, date_from: datetime, date_to: datetime, queue_id: int | None = None
    ) -> AsyncIterator[tuple[Connection, int | None, str]]:
        """Every call from `date_from` to `date_to` (of one queue, if given), newest first as the
        API pages them, each with its customer id and agent's name; read in batches that resume
        after the last row, so the ten millionth row costs what the first did."""
        query = ConnectionQuery(
            limit=EXPORT_BATCH,
            date_from=date_from,
            date_to=date_to,
            queue_id=queue_id,
            counted=False,
        )
        while True:
            rows = (await self._store.page(query)).rows
            customers, agents = await self.names(rows)
            for row in rows:
                yield row, customers.get(row.customer_number), agents.get(row.user_login, "")
            if len(rows) < EXPORT_BATCH:
                return
            query = replace(query, after=(rows[-1].started_at, rows[-1].connection_id))

    # Retention ---------------------------------------------------------------------------

    async def prune(self, batch: int = PRUNE_BATCH, pause: float = PRUNE_PAUSE_SECONDS) -> int:
        """Deletes every row older than `keep_days`, `batch` rows at a time; how many went."""
        before = self._clock.now() - timedelta(days=self.keep_days)
        total = 0
        while True:
            gone = await self._store.prune(before, batch)
            total += gone
            if gone < batch:
                return total
            await asyncio.sleep(pause)

    async def prune_forever(self, every: float = PRUNE_EVERY_SECONDS) -> None:
        """The background task: prunes at start and then every `every` seconds."""
        while True:
            try:
                gone = await self.prune()
            except Exception:
                log.exception("could not prune the call history")
            else:
                if gone:
                    log.info("pruned %d calls older than %d days", gone, self.keep_days)
            await asyncio.sleep(every)
