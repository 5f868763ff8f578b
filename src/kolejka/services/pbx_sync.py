"""Keeping the waiting lists (and agents' states) equal to a PBX's queues: live events, and
reconciling after a gap.

A PBX adapter (the AMI listener) translates what the PBX says into `kolejka.domain.pbx` events and
hands them here. Events are applied in the order they came, and applying one twice changes
nothing, so a duplicate, or an event the snapshot already showed, does no harm.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, nullcontext

from kolejka.domain.agents import MemberEvent, MemberReport
from kolejka.domain.errors import CallerAlreadyWaiting, UnknownCaller, UnknownQueue
from kolejka.domain.pbx import (
    CallerAbandoned,
    CallerJoined,
    CallerLeft,
    PbxEvent,
    QueuedCaller,
    Reconciliation,
    reconcile,
)
from kolejka.domain.queues import Outcome, Queue, WaitingCaller
from kolejka.services.agent_sync import AgentSync
from kolejka.services.history import CallHistory
from kolejka.services.ports import Clock, QueueDirectory, WaitingCallerStore
from kolejka.services.waiting_lists import WaitingLists

log = logging.getLogger(__name__)

Transaction = Callable[[], AbstractAsyncContextManager[None]]
# What a PBX adapter hands over: caller events and member (agent) events, in stream order.
SyncEvent = PbxEvent | MemberEvent
_CALLER_EVENTS = (CallerJoined, CallerAbandoned, CallerLeft)

# Calls abandoned but whose QueueCallerLeave has not come yet; Asterisk sends it right after.
_MAX_PENDING_LEAVES = 10_000
_MAX_QUEUE_NAME = 128


class PbxSync:
    """Applies a PBX's events and snapshots to the waiting lists.

    Joins and departures go through `lists` (the use case publishes them); the queues, the
    waiting callers and the clock it reads are its own collaborators, the same stores `lists`
    was built on (bootstrap hands both the same ones).

    `transaction` (from bootstrap) lets a burst of events share one store transaction: with a
    commit per event SQLite stays below 20,000 events a second (docs/benchmarks.md). It must
    not give the event loop away, which holds for SQLite, the one store that offers it.
    """

    def __init__(
        self,
        lists: WaitingLists,
        queues: QueueDirectory,
        callers: WaitingCallerStore,
        clock: Clock,
        transaction: Transaction = nullcontext,
        agents: AgentSync | None = None,
        history: CallHistory | None = None,
    ) -> None:
        self.lists = lists
        self.agents = agents
        # The call history `lists` records departures in: a burst rolled back takes its rows.
        self.history = history
        self.queues = queues
        self.callers = callers
        self.clock = clock
        self.transaction = transaction
        self._abandoned: dict[str, None] = {}
        self._touched: set[str] | None = None

    # Live events -------------------------------------------------------------------------

    async def apply(self, events: Sequence[SyncEvent]) -> int:
        """Applies `events` in order; returns how many could not be applied (each is logged).

        A failure inside the shared transaction rolls the burst back, and the events are then
        applied one by one, so one bad event costs only itself. When an agent's state changed,
        one Change(Topic.AGENTS) follows the burst.
        """
        if len(events) > 1:
            # Only a real transaction rolls back (nullcontext keeps what was applied).
            undoes = self.history is not None and self.transaction is not nullcontext
            noted = self.history.mark() if self.history is not None and undoes else None
            try:
                async with self.transaction():
                    agents_changed = False
                    for event in events:
                        agents_changed |= await self._apply(event)
                    if self.history is not None and undoes:
                        # The burst's calls in its own transaction: one commit for both.
                        await self.history.write_noted()
            except Exception:
                log.warning("a burst of %d PBX events failed; applying them singly", len(events))
                if self.agents is not None:
                    self.agents.rolled_back()
                if self.history is not None and noted is not None:
                    self.history.forget_since(noted)
            else:
                await self._agents_changed(agents_changed)
                return 0
        failed = 0
        agents_changed = False
        for event in events:
            try:
                agents_changed |= await self._apply(event)
            except Exception:
                failed += 1
                log.exception("could not apply %s", event)
        await self._agents_changed(agents_changed)
        return failed

    async def _agents_changed(self, changed: bool) -> None:
        if changed and self.agents is not None:
            await self.agents.changed()

    async def _apply(self, event: SyncEvent) -> bool:
        """Applies one event; True when it changed an agent's state."""
        if not isinstance(event, _CALLER_EVENTS):
            return self.agents is not None and await self.agents.apply(event)
        # Callers inline, not in a coroutine of their own: a layer per event costs ~3 %.
        if self._touched is not None:
            self._touched.add(event.call_id)
        if isinstance(event, CallerJoined):
            await self._join(event)
        elif isinstance(event, CallerAbandoned):
            await self._abandon(event)
        else:
            await self._leave(event)
        return False

    async def _join(self, event: CallerJoined) -> None:
        self._abandoned.pop(event.call_id, None)
        caller = WaitingCaller(
            event.call_id,
            event.queue_id,
            event.phone_number,
            event.caller_name,
            self.clock.now(),
        )
        await self._join_caller(caller, event.queue_name)

    async def _join_caller(self, caller: WaitingCaller, queue_name: str) -> None:
        for _ in range(2):
            try:
                await self.lists.admit(caller)
                return
            except UnknownQueue:
                await self.register_queue(caller.queue_id, queue_name)
            except CallerAlreadyWaiting as moved:
                # We missed its departure from the other queue; the PBX says where it is now.
                log.info(
                    "call %s moved from queue %d to %d",
                    caller.call_id,
                    moved.queue_id,
                    caller.queue_id,
                )
                await self._depart(
                    caller.call_id, Outcome.ABANDONED, moved.queue_id, outcome_known=False
                )
        await self.lists.admit(caller)

    async def _abandon(self, event: CallerAbandoned) -> None:
        await self._depart(event.call_id, Outcome.ABANDONED, event.queue_id, event)
        # The QueueCallerLeave that follows must not count this call again, as answered.
        self._abandoned[event.call_id] = None
        if len(self._abandoned) > _MAX_PENDING_LEAVES:
            del self._abandoned[next(iter(self._abandoned))]

    async def _leave(self, event: CallerLeft) -> None:
        if event.call_id in self._abandoned:
            del self._abandoned[event.call_id]
            return
        await self._depart(
            event.call_id,
            Outcome.ANSWERED,
            event.queue_id,
            answer_announced=event.answer_announced,
        )

    async def _depart(
        self,
        call_id: str,
        outcome: Outcome,
        queue_id: int,
        abandon: CallerAbandoned | None = None,
        *,
        outcome_known: bool = True,
        answer_announced: bool = False,
    ) -> None:
        hold = abandon.hold_time if abandon is not None else None
        try:
            await self.lists.leave(
                call_id,
                outcome,
                hold,
                queue_id=queue_id,
                outcome_known=outcome_known,
                answer_announced=answer_announced,
            )
        except UnknownCaller:
            # A duplicate, or a call that joined before we were listening: nothing to remove.
            log.debug("call %s was not waiting in queue %d", call_id, queue_id)

    async def register_queue(self, queue_id: int, name: str) -> bool:
        """Adds a queue the PBX has and we lack, named as the PBX names it; never renames one."""
        if await self.queues.get(queue_id) is not None:
            return False
        await self.queues.put(Queue(queue_id, name[:_MAX_QUEUE_NAME] or str(queue_id)))
        log.info("registered queue %d (%s) from the PBX", queue_id, name)
        return True

    # Snapshots ---------------------------------------------------------------------------

    def snapshot_requested(self) -> None:
        """The PBX was just asked for a snapshot: note which calls live events touch meanwhile."""
        self._touched = set()
        if self.agents is not None:
            self.agents.snapshot_requested()

    def snapshot_abandoned(self) -> None:
        """The snapshot will not come (refused, or the link failed): stop noting calls."""
        self._touched = None
        if self.agents is not None:
            self.agents.snapshot_abandoned()

    async def reconcile_members(
        self, queues: Iterable[int], members: Sequence[MemberReport]
    ) -> int:
        """Makes agents' memberships of `queues` equal to the PBX's snapshot; how many changed."""
        if self.agents is None:
            return 0
        try:
            async with self.transaction():
                changed = await self.agents.reconcile(queues, members)
        except Exception:
            self.agents.rolled_back()
            raise
        await self._agents_changed(changed > 0)
        return changed

    async def reconcile(
        self, queues: Mapping[int, str], snapshot: Iterable[QueuedCaller]
    ) -> Reconciliation:
        """Makes our lists of `queues` (id -> the PBX's name) equal to the PBX's `snapshot`."""
        touched, self._touched = self._touched or set(), None
        async with self.transaction():
            for queue_id, name in queues.items():
                await self.register_queue(queue_id, name)
            ours = [
                caller for queue_id in queues for _, caller in await self.callers.waiting(queue_id)
            ]
            plan = reconcile(ours, snapshot, self.clock.now(), touched)
            if self.history is not None:
                # After a restart: which of these calls visited another queue before, so that
                # this visit's row is its own (docs/pbx-asterisk.md, "A call in several queues").
                await self.history.recall([caller.call_id for caller in (*ours, *plan.joins)])
            for caller in plan.departures:
                # Gone while we were not listening: answered or hung up, we cannot know. Counting
                # it as abandoned keeps an unknown hold time out of the answered-call estimates;
                # the call history records it as FAILED, its outcome unknown.
                await self._depart(
                    caller.call_id, Outcome.ABANDONED, caller.queue_id, outcome_known=False
                )
            for caller in plan.joins:
                await self._join_caller(caller, queues.get(caller.queue_id, ""))
        return plan
