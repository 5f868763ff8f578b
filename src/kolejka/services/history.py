"""The call history use cases: recording each queue call, reading it back, and forgetting old calls.

Every source of queue calls goes through `WaitingLists.leave` (the AMI listener's sync, the ingest
API, the demo), which hands each departure here: one place records them all. The end of an
agent's talk (AMI `AgentComplete`, once issue 13's events arrive) completes the call's row.

Rows are written a burst at a time. A departure (or an agent's pick-up or hang-up) only notes
the row. The AMI listener's burst writes what it noted at its end, in its own transaction
(`write_noted`: a few statements of many rows, one commit with the departures); otherwise a
writer task, started by the first row noted, runs once the event loop is free and hands the rows
to the store in one transaction (`ConnectionStore.write`). Until then the noted rows are this
object's: an agent's event reads the row through them, every read of the history writes them
first, and a clean stop writes them (`flush`). docs/pbx-asterisk.md ("When the rows are
written") says what a crash keeps.

Reads return domain values; the HTTP adapter writes them as Thulium does.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass, fields, replace
from datetime import datetime, timedelta
from itertools import islice
from typing import NamedTuple

from kolejka.domain.abandoned import AbandonedCalls
from kolejka.domain.agents import AgentCompleted, AgentConnected, MemberEvent
from kolejka.domain.connections import (
    MAX_FILTER_NUMBERS,
    Connection,
    ConnectionPage,
    ConnectionQuery,
    Disposition,
    completed,
    connected,
    departed,
    left_unanswered,
    lost,
    recorded_over,
)
from kolejka.domain.errors import StoreUnavailable, UnknownConnection
from kolejka.domain.phone import PhoneNumbers, number_key
from kolejka.domain.queues import Departure, WaitingCaller
from kolejka.domain.webhooks import Action, call_recorded
from kolejka.services.ports import (
    AgentDirectory,
    Change,
    ChangeFeed,
    Clock,
    ConnectionStore,
    CrmStore,
    CustomerDirectory,
    HistoryWrite,
    Topic,
)
from kolejka.services.webhooks import Webhooks

log = logging.getLogger(__name__)

PRUNE_BATCH = 500  # rows one prune statement deletes: a few milliseconds of the store
PRUNE_PAUSE_SECONDS = 0.05  # between batches, so the service's own writes go first
PRUNE_EVERY_SECONDS = 600.0
EXPORT_BATCH = 1000
# Calls whose first queue visit this object remembers (`_first_queues`): far more than a day's
# transfers can be apart. The oldest are forgotten a batch at a time, not per departure.
MAX_REMEMBERED_CALLS = 100_000
RETRY_SECONDS = 0.5  # before writing a batch again that met a store locked (by an import)
# The journal (SQLite's, migration 0015) is written into the history this long after its first
# row, or at once when it holds this many: each index page of the history is then written once
# for a batch of many bursts, not once per burst (docs/pbx-asterisk.md, docs/benchmarks.md).
SETTLE_SECONDS = 0.5
SETTLE_ROWS = 2000
# How long a stop waits for the store to take the calls not yet written (docs/operations.md):
# longer, and a service manager's own stop timeout kills the process without a word.
STOP_WAIT_SECONDS = 15.0


@dataclass(frozen=True, slots=True)
class _Noted(HistoryWrite):
    """A write of a call's row waiting for its batch: recorded, or (`whole`) saved over the row.
    `announced_at`: the row, once stored, is announced (CALL_RECORDED) as written then. It is
    the store's write itself when no one is told, so a batch is handed over as it is."""

    announced_at: datetime | None = None

    @property
    def picked_up(self) -> bool:
        """An agent's pick-up, announced with the call's departure (`_NotedPickUp`)."""
        return False


# A departure's write is noted for every call the AMI listener sees leave: filled through the
# slots' setters, as `connections.departed` fills its row, in a third of the frozen __init__'s
# time. The same frozen value `_Noted(row, False, (), left_at)` makes.
_set_row, _set_whole, _set_events, _set_announced_at = (
    getattr(_Noted, name).__set__ for name in ("row", "whole", "events", "announced_at")
)
assert tuple(field.name for field in fields(_Noted)) == ("row", "whole", "events", "announced_at")
_new_noted = object.__new__


@dataclass(frozen=True, slots=True)
class _NotedPickUp(_Noted):
    """An agent's pick-up that makes the row `ANSWERED`: announced, unless the call's departure
    is announced in the same batch, whose announcement then shows the pick-up instead (Asterisk
    sends `AgentConnect` right after `QueueCallerLeave`: one announcement for the two)."""

    @property
    def picked_up(self) -> bool:
        return True


def _noted_departure(row: Connection, left_at: datetime) -> _Noted:
    noted: _Noted = _new_noted(_Noted)
    _set_row(noted, row)
    _set_whole(noted, False)
    _set_events(noted, ())
    _set_announced_at(noted, left_at)
    return noted


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
        webhooks: Webhooks | None = None,
        changes: ChangeFeed | None = None,
    ) -> None:
        self._store = store
        self._phones = phones
        self._clock = clock
        self._customers = customers
        self._crm = crm
        self._agents = agents
        self.keep_days = keep_days
        self._webhooks = webhooks
        self._changes = changes
        # Rows noted and not yet handed to the writer, in order; and by call, every write not
        # yet stored (these and the writer's batch), which is what a read of one call sees.
        self._noted: list[_Noted] = []
        self._unstored: dict[str, list[_Noted]] = {}
        self._writer: asyncio.Task[None] | None = None
        self._in_flight = False  # the writer holds a batch it has not stored yet
        # Writes the store's journal holds (`write_noted`), in order, not yet in the history:
        # unstored as the noted ones are. The writer writes them when `_settle_now` says so (a
        # timer, a full journal, a read), and before any write of its own.
        self._journalled: list[_Noted] = []
        self._settle_now = False
        self._settle_timer: asyncio.TimerHandle | None = None
        self._recovered = False  # what a stopped process left in the journal is taken over
        # By call, the queue of its first visit, whose row is keyed by the call id itself; a
        # visit of another queue is a row of its own (`visit_id`). docs/pbx-asterisk.md.
        self._first_queues: dict[str, int] = {}

    # Recording ---------------------------------------------------------------------------

    def departed(
        self,
        caller: WaitingCaller,
        gone: Departure,
        *,
        outcome_known: bool,
        answer_announced: bool = False,
    ) -> None:
        """A call left its queue: answered, abandoned, or (`outcome_known` False) gone in a gap.
        With `answer_announced` an answer is recorded when the agent's event tells it
        (`agent_event`): until then the call is `NO ANSWER` (connections.left_unanswered).

        The first departure of a call is the one recorded; a repeat changes nothing. Not a
        coroutine: it only notes the row, and the AMI listener calls it for every departure.
        """
        # No phone-number parsing here: it costs a listener that applies tens of thousands of
        # events a second more than the write itself. Reads normalise the numbers they show.
        key = number_key(caller.phone_number)
        if not outcome_known:
            row = lost(caller, gone, key)
        elif answer_announced:
            row = left_unanswered(caller, gone, key)
        else:
            row = departed(caller, gone, key)
        # One dict operation for the common call, which visits one queue: it notes that queue.
        first = self._first_queues.setdefault(caller.call_id, caller.queue_id)
        if first != caller.queue_id:  # a transfer or an overflow into another queue
            row = replace(row, connection_id=visit_id(caller.call_id, caller.queue_id))
        self._note(_noted_departure(row, gone.left_at))

    async def agent_event(self, event: MemberEvent) -> None:
        """What an agent did to a queue call: picked it up (the row names the agent) or ended
        the talk (the row gets the talk and who hung up, and is announced again). Rows are
        written whole, so a repeat of the same event changes nothing more. Other member events
        are no call's."""
        if isinstance(event, AgentConnected):
            _, known = await self._visit(event.call_id, event.queue_id)
            if known is None:  # QueueCallerLeave, which comes first, records the call
                return
            row = connected(known, event)
            if known.disposition is Disposition.ANSWERED:  # a repeat: the row is as it was
                self._note(_Noted(row, True))
            else:  # NO ANSWER until now (or FAILED): the answer is news
                self._note(_NotedPickUp(row, True, (), self._clock.now()))
        elif isinstance(event, AgentCompleted):
            row_id, known = await self._visit(event.call_id, event.queue_id)
            if row_id != event.call_id:
                event = replace(event, call_id=row_id)  # a row it makes has the visit's id
            now = self._clock.now()
            self._note(_Noted(completed(known, event, now), True, (), now))

    async def _visit(self, call_id: str, queue_id: int) -> tuple[str, Connection | None]:
        """The id and current row of the call's visit of `queue_id`, for an agent's event.

        The row under the call id says which queue the first visit was: after a restart (or
        once the call is forgotten) that read, which an agent's event makes anyway, is what
        tells a later visit from the first."""
        first = self._first_queues.get(call_id)
        if first is not None and first != queue_id:
            row_id = visit_id(call_id, queue_id)
            return row_id, await self._current(row_id)
        known = await self._current(call_id)
        if known is None or known.queue_id == queue_id:
            if first is None and known is not None:
                self._first_queues[call_id] = queue_id
            return call_id, known
        self._first_queues[call_id] = known.queue_id
        row_id = visit_id(call_id, queue_id)
        return row_id, await self._current(row_id)

    async def recall(self, call_ids: Iterable[str]) -> None:
        """Reads which queue each call's first visit was, for calls this object does not know
        (after a restart): the resync asks it for the calls it finds waiting or gone, so their
        departures from a later queue are rows of their own. A read per call, at a resync only.
        """
        for call_id in call_ids:
            if call_id not in self._first_queues:
                known = await self._current(call_id)
                if known is not None:
                    self._first_queues[call_id] = known.queue_id

    def mark(self) -> _Mark:
        """Where the noted and journalled rows end now; `forget_since` drops what came after."""
        return _Mark(self._noted, len(self._noted), self._journalled, len(self._journalled))

    def forget_since(self, mark: _Mark) -> None:
        """A store transaction that noted rows rolled back (a failed burst): its rows go too,
        and so do those it journalled. The writer never takes rows during such a transaction,
        which never yields the loop."""
        if mark.noted is self._noted:
            self._stored(self._noted[mark.noted_length :])
            del self._noted[mark.noted_length :]
        if mark.journalled is self._journalled:
            self._stored(self._journalled[mark.journalled_length :])
            del self._journalled[mark.journalled_length :]

    async def write_noted(self) -> None:
        """Journals the noted rows now, in the store transaction the caller holds open (the AMI
        listener's burst, on SQLite): the burst's calls then commit with its departures, and a
        crash can lose neither without the other. The journal is written into the history a
        batch of many bursts later (`SETTLE_SECONDS`, `SETTLE_ROWS`); a store without one
        (`ConnectionStore.journal`) takes the rows into the history now. Not for use outside
        such a transaction."""
        if not self._recovered:
            await self.recover()
        if not self._noted or self._in_flight:
            return  # behind a batch the writer has taken: the writer writes these after it
        batch = list(self._noted)
        if await self._store.journal(batch):
            del self._noted[: len(batch)]
            self._journalled.extend(batch)  # unstored still: reads of their calls see them
            if len(self._journalled) >= SETTLE_ROWS:
                self._settle()
            elif self._settle_timer is None:
                loop = asyncio.get_running_loop()
                self._settle_timer = loop.call_later(SETTLE_SECONDS, self._settle)
            return
        # No journal, or one that does not take these: written now, after what it holds.
        journalled = self._journalled
        if journalled:
            self._journalled = []
        await self._write_batch(journalled + batch, bool(journalled))
        # The same list object: `forget_since` of a burst rolled back later finds nothing left.
        del self._noted[: len(batch)]
        self._stored(journalled + batch)

    async def recover(self) -> None:
        """Takes over what a stopped process left in the journal (a crash between a burst and
        the batch that would have written it), ahead of anything noted since, and writes it
        soon. The service does this as it starts (`prune_forever`), and any process before its
        first write; a reading process (`kolejka history export`) leaves the journal alone."""
        if self._recovered:
            return
        self._recovered = True
        entries = await self._store.journalled()
        if not entries:
            return
        log.info("writing %d calls a stopped process left in the history's journal", len(entries))
        left: list[_Noted] = [
            (_NotedPickUp if entry.picked_up else _Noted)(
                entry.row, entry.whole, (), entry.announced_at
            )
            for entry in entries
        ]
        self._journalled[:0] = left
        by_call: dict[str, list[_Noted]] = {}
        for noted in left:
            by_call.setdefault(noted.row.connection_id, []).append(noted)
        for call_id, writes in by_call.items():
            self._unstored[call_id] = writes + self._unstored.get(call_id, [])
        self._settle()

    async def get(self, connection_id: str) -> Connection | None:
        """The call's row as it is once every write noted so far is stored (none: no row), for a
        use case that must see a call the moment it ended (a callback scheduled for a caller who
        just left the queue), without writing the batch first as a page does."""
        return await self._current(connection_id)

    def _settle(self) -> None:
        """Writes the journal into the history once the event loop is free."""
        self._drop_settle_timer()  # fired, or no longer needed
        self._settle_now = True
        if self._writer is None:
            self._writer = asyncio.get_running_loop().create_task(self._write())

    def _drop_settle_timer(self) -> None:
        if self._settle_timer is not None:
            self._settle_timer.cancel()
            self._settle_timer = None

    @property
    def unwritten(self) -> int:
        """How many noted writes are not stored yet."""
        return sum(len(writes) for writes in self._unstored.values())

    async def flush(self) -> None:
        """Writes every noted row, and returns once they are stored (a clean stop, a read)."""
        while self._unstored:
            self._settle_now = True
            writer = self._writer
            if writer is None:
                writer = self._writer = asyncio.get_running_loop().create_task(self._write())
            await asyncio.wait([writer])

    async def flush_before_stop(self, seconds: float = STOP_WAIT_SECONDS) -> None:
        """`flush` for a stop: waits at most `seconds` for a store that does not answer (the
        database down), then logs, as an error, the calls that will not be in the history."""
        try:
            async with asyncio.timeout(seconds):
                await self.flush()
        except TimeoutError:
            calls = sorted(self._unstored)
            log.error(
                "stopping after %.0f s without writing %d calls to the history (the store did"
                " not take them): %s",
                seconds,
                len(calls),
                ", ".join(calls),
            )

    def _note(self, noted: _Noted) -> None:
        self._noted.append(noted)
        self._unstored.setdefault(noted.row.connection_id, []).append(noted)
        if self._writer is None:
            # Runs once the burst that noted this row gives the event loop back.
            self._writer = asyncio.get_running_loop().create_task(self._write())

    async def _current(self, call_id: str) -> Connection | None:
        """The call's row as it will be once every noted write is stored."""
        unstored = list(self._unstored.get(call_id, ()))
        wholes = [index for index, noted in enumerate(unstored) if noted.whole]
        if wholes:
            known: Connection | None = unstored[wholes[-1]].row
            unstored = unstored[wholes[-1] + 1 :]
        else:
            known = await self._store.get(call_id)
        for noted in unstored:
            known = recorded_over(known, noted.row)
        return known

    async def _write(self) -> None:
        """The writer: hands the noted rows to the store, a batch at a time, until none is left,
        and the journalled ones first, in the same transaction, whenever it writes or is told
        to (`_settle_now`)."""
        try:
            if not self._recovered:
                await self.recover()
            while self._noted or (self._journalled and self._settle_now):
                journalled, self._journalled = self._journalled, []
                noted, self._noted = self._noted, []
                settles = bool(journalled)
                if settles:
                    self._settle_now = False
                    self._drop_settle_timer()  # a write of its own may have come first
                batch = journalled + noted if settles else noted
                self._in_flight = True
                try:
                    if settles and not await self._wanted():
                        # Nothing to announce: the store copies its journal itself, and no
                        # row goes through Python again. The writes noted since come after.
                        await self._store.settle()
                        self._stored(journalled)
                        settles, journalled, batch = False, [], noted
                    if batch:
                        await self._write_batch(batch, settles)
                except (StoreUnavailable, asyncio.CancelledError) as stopped:
                    # Rolled back: written again later (`flush` at a stop).
                    self._journalled[:0] = journalled
                    self._noted[:0] = noted
                    self._settle_now = self._settle_now or settles
                    if isinstance(stopped, asyncio.CancelledError):
                        raise
                    log.warning(
                        "the call history's store is locked; writing %d calls later", len(batch)
                    )
                    await asyncio.sleep(RETRY_SECONDS)
                    continue
                except Exception:
                    log.exception(
                        "could not write %d calls at once; writing each alone", len(batch)
                    )
                    await self._write_singly(batch)
                    if settles:
                        await self._store.write([], settles=True)
                finally:
                    self._in_flight = False
                self._stored(batch)
            if not self._journalled:
                self._settle_now = False
        finally:
            self._writer = None

    async def _write_singly(self, batch: list[_Noted]) -> None:
        for noted in batch:
            try:
                await self._write_batch([noted])
            except Exception:
                log.exception("could not record call %s", noted.row.connection_id)

    async def _write_batch(self, batch: list[_Noted], settles: bool = False) -> None:
        if await self._wanted():
            await self._write_announced(batch, settles)
        else:
            await self._store.write(batch, settles=settles)

    async def _write_announced(self, batch: list[_Noted], settles: bool) -> None:
        writes: list[HistoryWrite] = list(batch)
        if any(noted.announced_at for noted in batch):
            shown = _announced_rows(batch)
            # The names of the batch's calls: two questions for all of them.
            customers, agents = await self.names(list(shown.values()))
            for index, row in shown.items():
                at = batch[index].announced_at
                assert at is not None
                event = call_recorded(
                    row,
                    self._phones.display(row.src),
                    customers.get(row.src),
                    agents.get(row.user_login, ""),
                    at,
                )
                writes[index] = HistoryWrite(batch[index].row, batch[index].whole, (event,))
            await self._store.write(writes, settles=settles)
            if self._changes is not None:  # the delivery wakes for the new events
                await self._changes.publish(Change(Topic.WEBHOOKS))
            return
        await self._store.write(writes, settles=settles)

    def _stored(self, batch: Sequence[_Noted]) -> None:
        """`batch` is stored (or dropped): reads of its calls no longer go through it."""
        first_queues = self._first_queues
        if len(first_queues) > MAX_REMEMBERED_CALLS:  # a batch at a time: forget the oldest
            for call_id in list(islice(first_queues, len(first_queues) - MAX_REMEMBERED_CALLS)):
                del first_queues[call_id]
        unstored = self._unstored
        for noted in batch:  # a loop of its own: once per call the listener records
            call_id = noted.row.connection_id
            writes = unstored[call_id]
            if len(writes) == 1:
                del unstored[call_id]
            else:
                writes.remove(noted)

    async def _wanted(self) -> bool:
        return self._webhooks is not None and await self._webhooks.wants(Action.CALL_RECORDED)

    # Reading -----------------------------------------------------------------------------

    def number_keys(self, number: str) -> tuple[str, ...]:
        """The keys under which calls from `number` (written any way) are stored; () when it is
        no phone number."""
        e164 = self._phones.normalise(number)
        return self._phones.spellings(e164) if e164 else ()

    async def page(self, query: ConnectionQuery) -> ConnectionPage:
        if self._unstored:  # a call that ended is in the history from then on
            await self.flush()
        return await self._store.page(query)

    async def answered_waits(self, queue_id: int, since: datetime, limit: int) -> list[timedelta]:
        """The wait estimate's sample (ConnectionStore.answered_waits), counting every call that
        has been answered: what is still batched is written first, as for a page. Otherwise a
        read just after an answer (a wallboard's render) misses it, and shows an estimate that
        changes later with nothing on the board saying why."""
        if self._unstored:
            await self.flush()
        return await self._store.answered_waits(queue_id, since, limit)

    async def abandoned(self, queue_id: int, since: datetime, until: datetime) -> AbandonedCalls:
        """The store's abandoned calls of a queue (AbandonedCallStore), counting every call that
        has ended: what is still batched is written first."""
        if self._unstored:
            await self.flush()
        return await self._store.abandoned(queue_id, since, until)

    async def connection(self, connection_id: str) -> Connection:
        if self._unstored:
            await self.flush()
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
            rows = (await self.page(query)).rows
            customers, agents = await self.names(rows)
            for row in rows:
                yield row, customers.get(row.customer_number), agents.get(row.user_login, "")
            if len(rows) < EXPORT_BATCH:
                return
            query = replace(query, after=(rows[-1].started_at, rows[-1].connection_id))

    # Retention ---------------------------------------------------------------------------

    async def prune(self, batch: int = PRUNE_BATCH, pause: float = PRUNE_PAUSE_SECONDS) -> int:
        """Deletes every row older than `keep_days`, `batch` rows at a time; how many went."""
        if self._unstored:  # old calls not yet written go too
            await self.flush()
        before = self._clock.now() - timedelta(days=self.keep_days)
        total = 0
        while True:
            gone = await self._store.prune(before, batch)
            total += gone
            if gone < batch:
                return total
            await asyncio.sleep(pause)

    async def prune_forever(self, every: float = PRUNE_EVERY_SECONDS) -> None:
        """The background task: takes over what a crash left in the journal, then prunes at
        start and every `every` seconds."""
        try:
            await self.recover()
        except Exception:
            log.exception("could not read the call history's journal")
        while True:
            try:
                gone = await self.prune()
            except Exception:
                log.exception("could not prune the call history")
            else:
                if gone:
                    log.info("pruned %d calls older than %d days", gone, self.keep_days)
            await asyncio.sleep(every)


class _Mark(NamedTuple):
    """Where the noted and the journalled writes ended when a store transaction began."""

    noted: list[_Noted]
    noted_length: int
    journalled: list[_Noted]
    journalled_length: int


def visit_id(call_id: str, queue_id: int) -> str:
    """The history's id of a call's visit of a queue other than its first (a transfer, an
    overflow): `<call id>-<queue id>`, the same however often its events are heard."""
    return f"{call_id}-{queue_id}"


def _announced_rows(batch: Sequence[_Noted]) -> dict[int, Connection]:
    """By the index of each write of `batch` that is announced, the row its announcement
    shows: the call's row once the writes after it that announce nothing (a repeated pick-up)
    or that fold into it (`_NotedPickUp`, which Asterisk sends right after the departure) are
    applied too."""
    shown: dict[int, Connection] = {}
    last: dict[str, int] = {}  # by call, the index of its latest announced write
    for index, noted in enumerate(batch):
        call_id = noted.row.connection_id
        if isinstance(noted, _NotedPickUp) and call_id in last:
            shown[last[call_id]] = noted.row  # whole: the departure's announcement shows it
        elif noted.announced_at is not None:
            shown[index] = noted.row
            last[call_id] = index
        elif call_id in last:
            shown[last[call_id]] = (
                noted.row if noted.whole else recorded_over(shown[last[call_id]], noted.row)
            )
    return shown
